//! Signing in and out, the contacts, the statistics and the static files.

use askama::Template;
use lead_inbox_application::{ContactSummary, LeadCursor, PageRequest, SecretString, SignInError};
use lead_inbox_domain::LeadId;
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::{
    PREFIX, assets, chart,
    web::{
        self, Frame, LOGIN_COOKIE, Nav, SESSION_COOKIE, Shared, page, redirect, set_cookie,
        signed_in, when,
    },
};

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    frame: Frame,
    form_token: String,
    username: String,
    error: Option<String>,
}

/// A random token in hex, for the sign-in form.
fn random_hex() -> String {
    let mut bytes = [0u8; 16];
    // Without randomness the form cannot be protected: an empty token never matches.
    if getrandom::fill(&mut bytes).is_err() {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn login_page(
    console: &Shared,
    request: &Request,
    status: StatusCode,
    username: String,
    error: Option<&'static str>,
) -> Response {
    let token = random_hex();
    let frame = Frame::new(request, "", Nav::None, None);
    let title = frame.t.sign_in.to_owned();
    let mut response = page(
        status,
        &LoginPage {
            frame: Frame { title, ..frame },
            form_token: token.clone(),
            username,
            error: error.map(str::to_owned),
        },
    );
    if let Ok(value) = set_cookie(console, LOGIN_COOKIE, &token, None).parse() {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

/// `GET /inbox/login`.
#[handler]
pub async fn login_form(request: &Request, Data(console): Data<&Shared>) -> Response {
    login_page(console, request, StatusCode::OK, String::new(), None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
}

/// `POST /inbox/login`: a session cookie and the inbox, or the form again with one
/// message that does not say which field was wrong.
#[handler]
pub async fn login(
    request: &Request,
    Data(console): Data<&Shared>,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = web::cookie(request, LOGIN_COOKIE).unwrap_or_default();
    let same: bool = expected.as_bytes().ct_eq(form.csrf.as_bytes()).into();
    if !same || expected.is_empty() {
        let t = web::lang_of(request).texts();
        return login_page(
            console,
            request,
            StatusCode::FORBIDDEN,
            form.username,
            Some(t.expired_form),
        );
    }
    let password = SecretString::from(form.password);
    match console.state.access.sign_in(&form.username, password).await {
        Ok(session) => {
            let mut response = redirect(PREFIX);
            use lead_inbox_application::ExposeSecret;
            let cookie = set_cookie(console, SESSION_COOKIE, session.token.expose_secret(), None);
            if let Ok(value) = cookie.parse() {
                response.headers_mut().append("set-cookie", value);
            }
            if let Ok(value) = set_cookie(console, LOGIN_COOKIE, "", Some(0)).parse() {
                response.headers_mut().append("set-cookie", value);
            }
            tracing::info!(user = %session.signed_in.user.username, "console sign-in");
            response
        }
        Err(SignInError::Refused) => {
            tracing::info!("a console sign-in was refused");
            let t = web::lang_of(request).texts();
            login_page(
                console,
                request,
                StatusCode::UNAUTHORIZED,
                form.username,
                Some(t.wrong_credentials),
            )
        }
        Err(SignInError::Storage(error)) => web::unavailable(request, &error),
    }
}

#[derive(Deserialize)]
pub struct TokenOnly {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /inbox/logout`: ends the session (server-side) and clears the cookie.
#[handler]
pub async fn logout(
    request: &Request,
    Data(console): Data<&Shared>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    if user.check_form(&form.csrf).is_err() {
        return web::bad_form(request, &user);
    }
    if let Some(token) = web::session_token(request)
        && let Err(error) = console.state.access.sign_out(&token).await
    {
        return web::unavailable(request, &error);
    }
    let mut response = redirect(&format!("{PREFIX}/login"));
    if let Ok(value) = set_cookie(console, SESSION_COOKIE, "", Some(0)).parse() {
        response.headers_mut().append("set-cookie", value);
    }
    response
}

/// A contact, as the page shows it.
pub struct ContactRow {
    pub name: String,
    pub email: String,
    pub phone: String,
    pub leads: u64,
    pub last: String,
    pub href: String,
}

#[derive(Template)]
#[template(path = "contacts.html")]
struct ContactsPage {
    frame: Frame,
    contacts: Vec<ContactRow>,
    next: Option<String>,
}

#[derive(Deserialize)]
pub struct AfterQuery {
    after: Option<String>,
}

/// `a_b`: a lead cursor as the pages pass it on (as the API's).
pub fn cursor_text(cursor: &LeadCursor) -> String {
    format!("{}_{}", cursor.at.timestamp_micros(), cursor.id.0)
}

pub fn parse_cursor(text: &str) -> Option<LeadCursor> {
    let (micros, id) = text.split_once('_')?;
    Some(LeadCursor {
        at: chrono::DateTime::from_timestamp_micros(micros.parse().ok()?)?,
        id: LeadId(id.parse().ok()?),
    })
}

/// `GET /inbox/contacts`.
#[handler]
pub async fn contacts(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(query): Query<AfterQuery>,
) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let after = query.after.as_deref().and_then(parse_cursor);
    let Ok(request_page) = PageRequest::new(Some(50), after) else {
        return web::not_found(request, Some(&user));
    };
    let found = match console.state.queries.contacts(request_page).await {
        Ok(found) => found,
        Err(error) => return web::unavailable(request, &error),
    };
    let row = |c: &ContactSummary| ContactRow {
        name: c.latest.details.sender.name.clone().unwrap_or_default(),
        email: c
            .latest
            .details
            .sender
            .email
            .as_ref()
            .map(|e| e.given().to_owned())
            .unwrap_or_default(),
        phone: c
            .latest
            .details
            .sender
            .phone
            .as_ref()
            .map(|p| p.given().to_owned())
            .unwrap_or_default(),
        leads: c.leads,
        last: when(console, &c.last_received_at),
        href: format!(
            "{PREFIX}?{}",
            serde_urlencoded::to_string([("contact", c.id.as_str())]).unwrap_or_default()
        ),
    };
    let frame = Frame::new(request, "", Nav::Contacts, Some(&user));
    let title = frame.t.contacts.to_owned();
    page(
        StatusCode::OK,
        &ContactsPage {
            frame: Frame { title, ..frame },
            contacts: found.items.iter().map(row).collect(),
            next: found
                .next
                .map(|c| format!("{PREFIX}/contacts?after={}", cursor_text(&c))),
        },
    )
}

#[derive(Template)]
#[template(path = "statistics.html")]
struct StatisticsPage {
    frame: Frame,
    total: u64,
    chart: chart::BarChart,
    by_type: Vec<(String, u64)>,
    by_status: Vec<(String, u64)>,
}

/// `GET /inbox/statistics`: leads per day over the last 30 days (a chart drawn on the
/// server as SVG, with its numbers as a table too), and counts by entity type and
/// status.
#[handler]
pub async fn statistics(request: &Request, Data(console): Data<&Shared>) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let now = chrono::Utc::now();
    let from = now - chrono::Duration::days(30);
    let stats = match console.state.queries.stats(Some(from), None).await {
        Ok(stats) => stats,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Statistics, Some(&user));
    let t = frame.t;
    let title = t.statistics.to_owned();
    page(
        StatusCode::OK,
        &StatisticsPage {
            total: stats.total,
            chart: chart::BarChart::per_day(&stats.by_day, from, now),
            by_type: stats
                .by_entity_type
                .iter()
                .map(|(kind, n)| (kind.clone().unwrap_or_else(|| t.none.to_owned()), *n))
                .collect(),
            by_status: stats
                .by_status
                .iter()
                .map(|(status, n)| (t.status_name(*status).to_owned(), *n))
                .collect(),
            frame: Frame { title, ..frame },
        },
    )
}

/// `GET /inbox/static/<hash>/<name>`: open to all (the sign-in page needs them).
#[handler]
pub fn asset(request: &Request, Path((hash, name)): Path<(String, String)>) -> Response {
    assets::serve(request, &hash, &name)
}
