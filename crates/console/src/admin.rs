//! The admins' pages: the quarantine (replay, delete), and users, webhook tokens and
//! API keys. Every handler here first requires the admin role (`403` for an agent),
//! then, for a change, the form's token.

use askama::Template;
use lead_inbox_application::{
    AdminOnly, CredentialKind, CredentialRecord, ExposeSecret, PageRequest, Replay, Role, Scope,
    SecretString, SignedIn, UserError,
};
use lead_inbox_domain::QuarantineId;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use crate::{
    Console, PREFIX,
    leads::payload_text,
    pages::TokenOnly,
    web::{self, Frame, Nav, Shared, page, redirect, signed_in, when},
};

/// The signed-in admin, or the answer to give instead.
pub(crate) async fn admin_of(console: &Console, request: &Request) -> Result<SignedIn, Response> {
    let user = signed_in(console, request).await?;
    if user.admin().is_err() {
        return Err(web::forbidden(request, &user));
    }
    Ok(user)
}

/// As [`admin_of`], for a change: the form's token checked too.
pub(crate) async fn admin_form(
    console: &Console,
    request: &Request,
    csrf: &str,
) -> Result<SignedIn, Response> {
    let user = admin_of(console, request).await?;
    if user.check_form(csrf).is_err() {
        return Err(web::bad_form(request, &user));
    }
    Ok(user)
}

pub struct QuarantineRow {
    pub id: i64,
    pub received: String,
    pub reason: String,
    pub payload: String,
}

#[derive(Template)]
#[template(path = "quarantine.html")]
struct QuarantinePage {
    frame: Frame,
    entries: Vec<QuarantineRow>,
    next: Option<String>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct QuarantineQuery {
    after: Option<i64>,
    done: Option<String>,
    reason: Option<String>,
}

/// `GET /inbox/quarantine`: payloads that could not be leads, newest first, each with
/// its reason, its payload (escaped) and the buttons to replay or delete it.
#[handler]
pub async fn quarantine(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(query): Query<QuarantineQuery>,
) -> Response {
    let user = match admin_of(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Ok(wanted) = PageRequest::new(Some(20), query.after.map(QuarantineId)) else {
        return web::not_found(request, Some(&user));
    };
    let found = match console.state.queries.quarantine(wanted).await {
        Ok(found) => found,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Quarantine, Some(&user));
    let t = frame.t;
    let notice = match query.done.as_deref() {
        Some("replayed") => Some(t.replayed.to_owned()),
        Some("deleted") => Some(t.deleted.to_owned()),
        Some("refused") => Some(format!(
            "{}: {}",
            t.still_refused,
            query.reason.unwrap_or_default()
        )),
        _ => None,
    };
    let title = t.quarantine.to_owned();
    page(
        StatusCode::OK,
        &QuarantinePage {
            entries: found
                .items
                .iter()
                .map(|entry| QuarantineRow {
                    id: entry.id.0,
                    received: when(console, &entry.received_at),
                    reason: format!(
                        "{}: {}",
                        entry.rejection.kind.code(),
                        entry.rejection.message
                    ),
                    payload: payload_text(entry.raw.as_bytes()),
                })
                .collect(),
            next: found
                .next
                .map(|id| format!("{PREFIX}/quarantine?after={}", id.0)),
            notice,
            frame: Frame { title, ..frame },
        },
    )
}

/// `POST /inbox/quarantine/{id}/replay`: parse the payload again; a lead now leaves the
/// quarantine.
#[handler]
pub async fn replay(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(id): Path<i64>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    match console.state.intake.replay(QuarantineId(id)).await {
        Ok(Some(Replay::Stored(received))) => {
            tracing::info!(user = %user.user.username, quarantine_id = id, "replayed from the console");
            redirect(&format!("{PREFIX}/leads/{}", received.reference.as_str()))
        }
        Ok(Some(Replay::StillRefused(rejection))) => redirect(&format!(
            "{PREFIX}/quarantine?{}",
            serde_urlencoded::to_string([("done", "refused"), ("reason", rejection.kind.code())])
                .unwrap_or_default()
        )),
        Ok(None) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}

/// `POST /inbox/quarantine/{id}/delete`.
#[handler]
pub async fn discard(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(id): Path<i64>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    match console.state.intake.discard(QuarantineId(id)).await {
        Ok(true) => {
            tracing::info!(user = %user.user.username, quarantine_id = id, "deleted from the quarantine in the console");
            redirect(&format!("{PREFIX}/quarantine?done=deleted"))
        }
        Ok(false) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}

pub struct UserRow {
    pub username: String,
    pub role: &'static str,
    pub created: String,
    pub disabled: Option<String>,
    pub disable_action: String,
}

pub struct CredentialRow {
    pub id: i64,
    pub name: String,
    pub scopes: String,
    pub created: String,
    pub state: String,
    pub active: bool,
    pub revoke_action: String,
}

/// A secret just issued, shown once.
pub struct NewSecret {
    pub what: String,
    pub secret: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    frame: Frame,
    users: Vec<UserRow>,
    tokens: Vec<CredentialRow>,
    keys: Vec<CredentialRow>,
    secret: Option<NewSecret>,
    error: Option<String>,
    token_action: String,
    key_action: String,
}

/// The kinds as the paths name them.
fn kind_path(kind: CredentialKind) -> &'static str {
    match kind {
        CredentialKind::WebhookToken => "webhook-tokens",
        CredentialKind::ApiKey => "api-keys",
    }
}

fn kind_of(path: &str) -> Option<CredentialKind> {
    [CredentialKind::WebhookToken, CredentialKind::ApiKey]
        .into_iter()
        .find(|kind| kind_path(*kind) == path)
}

async fn admin_page(
    console: &Console,
    request: &Request,
    admin: AdminOnly<'_>,
    status: StatusCode,
    secret: Option<NewSecret>,
    error: Option<String>,
) -> Response {
    let state = &console.state;
    let (users, tokens, keys) = match tokio::try_join!(
        state.access.users(),
        state.credentials.list(CredentialKind::WebhookToken),
        state.credentials.list(CredentialKind::ApiKey),
    ) {
        Ok(all) => all,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Admin, Some(admin.by));
    let t = frame.t;
    let now = state.credentials.now();
    let credential = |record: &CredentialRecord| CredentialRow {
        id: record.id,
        name: record.name.clone(),
        scopes: record
            .scopes
            .iter()
            .map(|s| s.code())
            .collect::<Vec<_>>()
            .join(", "),
        created: when(console, &record.created_at),
        state: match record.revoked_at {
            Some(at) => format!("{} {}", t.revoked, when(console, &at)),
            None if record.is_valid_at(now) => t.valid.to_owned(),
            None => "expired".to_owned(),
        },
        active: record.is_valid_at(now),
        revoke_action: format!(
            "{PREFIX}/admin/credentials/{}/{}/revoke",
            kind_path(record.kind),
            record.id
        ),
    };
    let title = t.admin.to_owned();
    page(
        status,
        &AdminPage {
            users: users
                .iter()
                .map(|user| UserRow {
                    username: user.username.to_string(),
                    role: user.role.code(),
                    created: when(console, &user.created_at),
                    disabled: user.disabled_at.map(|at| when(console, &at)),
                    disable_action: format!("{PREFIX}/admin/users/{}/disable", user.username),
                })
                .collect(),
            tokens: tokens.iter().map(credential).collect(),
            keys: keys.iter().map(credential).collect(),
            secret,
            error,
            token_action: format!("{PREFIX}/admin/credentials/webhook-tokens"),
            key_action: format!("{PREFIX}/admin/credentials/api-keys"),
            frame: Frame { title, ..frame },
        },
    )
}

/// `GET /inbox/admin`.
#[handler]
pub async fn admin_home(request: &Request, Data(console): Data<&Shared>) -> Response {
    let user = match admin_of(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Ok(admin) = user.admin() else {
        return web::forbidden(request, &user);
    };
    admin_page(console, request, admin, StatusCode::OK, None, None).await
}

#[derive(Deserialize)]
pub struct NewUserForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    role: String,
    #[serde(default)]
    password: String,
}

/// `POST /inbox/admin/users`.
#[handler]
pub async fn create_user(
    request: &Request,
    Data(console): Data<&Shared>,
    Form(form): Form<NewUserForm>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Ok(admin) = user.admin() else {
        return web::forbidden(request, &user);
    };
    let role = Role::from_code(form.role.trim()).unwrap_or(Role::Agent);
    let password = SecretString::from(form.password);
    match console
        .state
        .access
        .create_user(&form.username, role, password)
        .await
    {
        Ok(created) => {
            tracing::info!(by = %user.user.username, user = %created.username, role = created.role.code(), "console user created");
            redirect(&format!("{PREFIX}/admin"))
        }
        Err(UserError::Storage(error)) => web::unavailable(request, &error),
        Err(error) => {
            admin_page(
                console,
                request,
                admin,
                StatusCode::UNPROCESSABLE_ENTITY,
                None,
                Some(error.to_string()),
            )
            .await
        }
    }
}

/// `POST /inbox/admin/users/{username}/disable`: also ends their sessions.
#[handler]
pub async fn disable_user(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(username): Path<String>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    match console.state.access.disable_user(&username).await {
        Ok(disabled) => {
            tracing::info!(by = %user.user.username, user = %disabled.username, "console user disabled");
            redirect(&format!("{PREFIX}/admin"))
        }
        Err(UserError::Storage(error)) => web::unavailable(request, &error),
        Err(_) => web::not_found(request, Some(&user)),
    }
}

#[derive(Deserialize)]
pub struct IssueForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    read: Option<String>,
    #[serde(default)]
    write: Option<String>,
    #[serde(default, rename = "admin")]
    admin_scope: Option<String>,
}

/// `POST /inbox/admin/credentials/{webhook-tokens|api-keys}`: a new secret, shown
/// once on the page this answers (never redirected to, never cached).
#[handler]
pub async fn issue(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(kind): Path<String>,
    Form(form): Form<IssueForm>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Ok(admin) = user.admin() else {
        return web::forbidden(request, &user);
    };
    let Some(kind) = kind_of(&kind) else {
        return web::not_found(request, Some(&user));
    };
    let name = form.name.trim().to_owned();
    if name.is_empty() || name.len() > 128 {
        let t = web::lang_of(request).texts();
        return admin_page(
            console,
            request,
            admin,
            StatusCode::UNPROCESSABLE_ENTITY,
            None,
            Some(format!("{}: {}", t.bad_request, t.name)),
        )
        .await;
    }
    let scopes: Vec<Scope> = [
        (form.read.is_some(), Scope::Read),
        (form.write.is_some(), Scope::Write),
        (form.admin_scope.is_some(), Scope::Admin),
    ]
    .into_iter()
    .filter_map(|(on, scope)| on.then_some(scope))
    .collect();
    match console
        .state
        .credentials
        .issue(kind, name.clone(), scopes, None)
        .await
    {
        Ok(issued) => {
            tracing::info!(by = %user.user.username, kind = kind.code(), id = issued.record.id, "credential issued in the console");
            let secret = NewSecret {
                what: name,
                secret: issued.secret.expose_secret().to_owned(),
            };
            admin_page(console, request, admin, StatusCode::OK, Some(secret), None).await
        }
        Err(error) => web::unavailable(request, &error),
    }
}

/// `POST /inbox/admin/credentials/{kind}/{id}/revoke`.
#[handler]
pub async fn revoke(
    request: &Request,
    Data(console): Data<&Shared>,
    Path((kind, id)): Path<(String, i64)>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Some(kind) = kind_of(&kind) else {
        return web::not_found(request, Some(&user));
    };
    match console.state.credentials.revoke(kind, id).await {
        Ok(Some(_)) => {
            tracing::info!(by = %user.user.username, kind = kind.code(), id, "credential revoked in the console");
            redirect(&format!("{PREFIX}/admin"))
        }
        Ok(None) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}

#[derive(Template)]
#[template(path = "person.html")]
struct PersonPage {
    frame: Frame,
    email: String,
    phone: String,
    searched: bool,
    leads: Vec<crate::leads::LeadRow>,
    quarantined: usize,
    notice: Option<String>,
    error: Option<String>,
}

/// A person, as the form names them: by email, else by phone.
#[derive(Debug, Default, Deserialize)]
pub struct PersonForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    phone: String,
}

impl PersonForm {
    /// `None` when neither is given; the subject, or why it is not one.
    fn subject(&self) -> Option<Result<lead_inbox_domain::Subject, String>> {
        let parsed = match (self.email.trim(), self.phone.trim()) {
            ("", "") => return None,
            ("", phone) => lead_inbox_domain::Subject::phone(phone),
            (email, _) => lead_inbox_domain::Subject::email(email),
        };
        Some(parsed.map_err(|error| error.to_string()))
    }
}

async fn person_page(
    console: &Console,
    request: &Request,
    user: &SignedIn,
    form: PersonForm,
    notice: Option<String>,
) -> Response {
    let frame = Frame::new(request, "", Nav::Admin, Some(user));
    let t = frame.t;
    let (mut leads, mut quarantined, mut error, mut searched) = (Vec::new(), 0, None, false);
    match form.subject() {
        None => {}
        Some(Err(why)) => error = Some(format!("{}: {why}", t.bad_request)),
        Some(Ok(subject)) => match console.state.rights.export(&subject).await {
            Ok(data) => {
                searched = true;
                leads = data
                    .leads
                    .iter()
                    .map(|lead| crate::leads::row(console, t, lead))
                    .collect();
                quarantined = data.quarantined.len();
            }
            Err(failure) => return web::unavailable(request, &failure),
        },
    }
    let title = t.person.to_owned();
    page(
        if error.is_some() {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            StatusCode::OK
        },
        &PersonPage {
            email: form.email,
            phone: form.phone,
            searched,
            leads,
            quarantined,
            notice,
            error,
            frame: Frame { title, ..frame },
        },
    )
}

/// `GET /inbox/admin/person?email=…` (or `phone=`): what is held about a person.
#[handler]
pub async fn person(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(form): Query<PersonForm>,
) -> Response {
    let user = match admin_of(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    person_page(console, request, &user, form, None).await
}

/// `POST /inbox/admin/person`: erases everything about the person (GDPR Art. 17), as
/// `lead-inbox erase` does; the audit log names the admin.
#[handler]
pub async fn erase_person(
    request: &Request,
    Data(console): Data<&Shared>,
    Form(form): Form<PersonForm>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Some(Ok(subject)) = form.subject() else {
        return person_page(console, request, &user, form, None).await;
    };
    let by = format!("console:{}", user.user.username);
    match console.state.rights.erase(&subject, &by).await {
        Ok(record) => {
            tracing::info!(by = %user.user.username, leads = record.leads, quarantined = record.quarantined, "a person was erased from the console");
            let t = web::lang_of(request).texts();
            let notice = format!("{}: {} + {}", t.erased, record.leads, record.quarantined);
            person_page(console, request, &user, form, Some(notice)).await
        }
        Err(error) => web::unavailable(request, &error),
    }
}
