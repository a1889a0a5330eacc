//! The inbox, its live stream of new leads, and one lead's page with its work form.

use std::{
    collections::BTreeSet,
    sync::Mutex,
    time::{Duration, Instant},
};

use askama::Template;
use futures_util::StreamExt;
use lead_inbox_application::{
    LeadFilter, PageRequest, SignedIn, StorageError, WorkOutcome, WorkRequest,
};
use lead_inbox_domain::{Lead, LeadEventKind, LeadReference, LeadStatus, WorkChange, WorkError};
use poem::{
    IntoResponse, Request, Response, handler,
    http::StatusCode,
    web::{
        Data, Form, Path, Query,
        sse::{Event, SSE},
    },
};
use serde::Deserialize;

use crate::{
    Console, PREFIX,
    i18n::Texts,
    pages::{cursor_text, parse_cursor},
    web::{self, Frame, Nav, Shared, page, redirect, signed_in, when},
};

/// The counts per status, over every lead, kept for a while: counting a million leads
/// on every page would cost more than the page (the p95 target is 30 ms).
#[derive(Debug, Default)]
pub struct CountsCache(Mutex<Option<Counted>>);

/// Counts per status, and when they were counted.
type Counted = (Instant, Vec<(LeadStatus, u64)>);

/// How long the counts per status are reused.
const COUNTS_FOR: Duration = Duration::from_secs(15);

impl CountsCache {
    async fn get(&self, console: &Console) -> Result<Vec<(LeadStatus, u64)>, StorageError> {
        if let Some((at, counts)) = &*self.lock()
            && at.elapsed() < COUNTS_FOR
        {
            return Ok(counts.clone());
        }
        let stats = console.state.queries.stats(None, None).await?;
        let mut counts = stats.by_status;
        counts.sort_by_key(|(status, _)| *status);
        *self.lock() = Some((Instant::now(), counts.clone()));
        Ok(counts)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Counted>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The inbox's filters, as its form sends them.
#[derive(Debug, Default, Deserialize)]
pub struct InboxQuery {
    #[serde(default)]
    q: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    entity_type: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    tag: String,
    /// `YYYY-MM-DD`, in the console's zone.
    #[serde(default)]
    from: String,
    #[serde(default)]
    to: String,
    #[serde(default)]
    contact: String,
    #[serde(default)]
    after: String,
}

fn some(text: &str) -> Option<String> {
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_owned())
}

impl InboxQuery {
    fn filter(&self, console: &Console) -> LeadFilter {
        let day = |text: &str, plus: i64| {
            let date = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()?;
            let start = (date + chrono::Duration::days(plus)).and_hms_opt(0, 0, 0)?;
            start
                .and_local_timezone(console.settings.timezone)
                .earliest()
                .map(|at| at.to_utc())
        };
        LeadFilter {
            search: some(&self.q).map(|q| lead_inbox_domain::search::fold(&q)),
            status: LeadStatus::from_code(self.status.trim()),
            entity_type: some(&self.entity_type),
            assignee: some(&self.assignee),
            tag: some(&self.tag).map(|t| t.to_lowercase()),
            received_from: day(&self.from, 0),
            received_to: day(&self.to, 1),
            contact_id: some(&self.contact),
            ..LeadFilter::default()
        }
    }

    /// This query's link to the page after `cursor`.
    fn next_href(&self, cursor: &str) -> String {
        let pairs = [
            ("q", &self.q),
            ("status", &self.status),
            ("entity_type", &self.entity_type),
            ("assignee", &self.assignee),
            ("tag", &self.tag),
            ("from", &self.from),
            ("to", &self.to),
            ("contact", &self.contact),
        ];
        let mut kept: Vec<(&str, &str)> = pairs
            .iter()
            .filter(|(_, v)| !v.trim().is_empty())
            .map(|(k, v)| (*k, v.as_str()))
            .collect();
        kept.push(("after", cursor));
        format!(
            "{PREFIX}?{}",
            serde_urlencoded::to_string(&kept).unwrap_or_default()
        )
    }
}

/// A lead as a row of the inbox.
pub struct LeadRow {
    pub reference: String,
    pub href: String,
    pub received: String,
    pub name: String,
    pub status: &'static str,
    pub anomalies: usize,
}

pub(crate) fn lead_href(reference: &LeadReference) -> String {
    format!("{PREFIX}/leads/{}", urlencode_path(reference.as_str()))
}

/// A path segment, percent-encoded (a reference is plain ASCII, but be safe).
fn urlencode_path(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn row(console: &Console, t: &Texts, lead: &Lead) -> LeadRow {
    LeadRow {
        reference: lead.reference().as_str().to_owned(),
        href: lead_href(lead.reference()),
        received: when(console, &lead.received_at),
        name: lead.details.sender.name.clone().unwrap_or_default(),
        status: t.status_name(lead.work.status),
        anomalies: lead.details.anomalies.len(),
    }
}

/// A status for a `<select>`: its code, its name, whether it is chosen.
pub struct StatusOption {
    pub code: &'static str,
    pub name: &'static str,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage {
    frame: Frame,
    query: InboxQuery,
    statuses: Vec<StatusOption>,
    counts: Vec<(&'static str, String, u64)>,
    leads: Vec<LeadRow>,
    next: Option<String>,
}

/// `GET /inbox`: leads newest first, with search, filters, counts per status and a
/// link to the next page; new leads arrive live where JavaScript runs.
#[handler]
pub async fn inbox(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(query): Query<InboxQuery>,
) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let after = parse_cursor(query.after.trim());
    let Ok(wanted) = PageRequest::new(Some(50), after) else {
        return web::not_found(request, Some(&user));
    };
    let filter = query.filter(console);
    let (found, counts) = match tokio::try_join!(
        console.state.queries.leads(&filter, wanted),
        console.counts.get(console)
    ) {
        Ok(both) => both,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Inbox, Some(&user));
    let t = frame.t;
    let chosen = LeadStatus::from_code(query.status.trim());
    let statuses = LeadStatus::ALL
        .into_iter()
        .map(|status| StatusOption {
            code: status.code(),
            name: t.status_name(status),
            selected: chosen == Some(status),
        })
        .collect();
    let title = t.inbox.to_owned();
    page(
        StatusCode::OK,
        &InboxPage {
            statuses,
            counts: counts
                .iter()
                .map(|(status, n)| {
                    let href = format!("{PREFIX}?status={}", status.code());
                    (t.status_name(*status), href, *n)
                })
                .collect(),
            leads: found
                .items
                .iter()
                .map(|lead| row(console, t, lead))
                .collect(),
            next: found
                .next
                .map(|cursor| query.next_href(&cursor_text(&cursor))),
            query,
            frame: Frame { title, ..frame },
        },
    )
}

/// `GET /inbox/events`: new leads as Server-Sent Events (`event: lead`, JSON data),
/// from now on, for the inbox's live rows. Ends when the server shuts down.
#[handler]
pub async fn events(request: &Request, Data(console): Data<&Shared>) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(_) => return StatusCode::UNAUTHORIZED.into_response(),
    };
    let head = match console.state.feed.head().await {
        Ok(head) => head,
        Err(error) => return web::unavailable(request, &error),
    };
    let lang = web::lang_of(request);
    let shared = console.clone();
    let mut stopping = console.state.stopping.clone();
    let stopped = async move {
        let _ = stopping.wait_for(|stop| *stop).await;
    };
    drop(user);
    let stream = console
        .state
        .feed
        .follow(head)
        .filter(|item| std::future::ready(item.event.kind == LeadEventKind::Created))
        .map(move |item| {
            let t = lang.texts();
            let lead = row(&shared, t, &item.lead);
            let name = if lead.name.is_empty() {
                lead.reference.clone()
            } else {
                lead.name.clone()
            };
            let data = serde_json::json!({
                "reference": lead.reference,
                "url": lead.href,
                "received": lead.received,
                "name": lead.name,
                "status": lead.status,
                "anomalies": lead.anomalies.to_string(),
                "announcement": format!("{}: {name}", t.live_new_lead),
            });
            Event::message(data.to_string())
                .event_type("lead")
                .id(item.event.id.to_string())
        })
        .take_until(Box::pin(stopped));
    SSE::new(stream)
        .keep_alive(Duration::from_secs(15))
        .into_response()
}

/// One field of the lead's table, with its anomalies.
pub struct FieldRow {
    pub name: &'static str,
    pub value: String,
    pub anomalies: Vec<String>,
}

/// One change of the history.
pub struct HistoryRow {
    pub at: String,
    pub actor: String,
    pub field: String,
    pub before: String,
    pub after: String,
    pub reopened: bool,
}

pub struct NoteRow {
    pub at: String,
    pub author: String,
    pub text: String,
}

#[derive(Template)]
#[template(path = "lead.html")]
struct LeadPage {
    frame: Frame,
    reference: String,
    action: String,
    version: i64,
    status: &'static str,
    statuses: Vec<StatusOption>,
    assignee: String,
    tags: String,
    fields: Vec<FieldRow>,
    others: Vec<LeadRow>,
    history: Vec<HistoryRow>,
    notes: Vec<NoteRow>,
    payload: String,
    notice: Option<String>,
    error: Option<String>,
    /// Its deliveries (admins only), with the retry buttons coming back here.
    deliveries: Vec<crate::forwarding::DeliveryRow>,
    back: String,
}

/// What the lead page says above the form.
enum Said {
    Nothing,
    Saved,
    /// One of its deliveries was retried.
    Retried,
    Conflict,
    Refused(WorkError),
}

async fn lead_page(
    console: &Console,
    request: &Request,
    user: &SignedIn,
    reference: &LeadReference,
    said: Said,
) -> Response {
    let (lead, history) = match console.state.workflow.history(reference).await {
        Ok(Some(found)) => found,
        Ok(None) => return web::not_found(request, Some(user)),
        Err(error) => return web::unavailable(request, &error),
    };
    let notes = match console.state.workflow.notes(reference).await {
        Ok(notes) => notes.unwrap_or_default(),
        Err(error) => return web::unavailable(request, &error),
    };
    let others = match lead.details.contact_id() {
        Some(contact) => {
            let filter = LeadFilter {
                contact_id: Some(contact),
                ..LeadFilter::default()
            };
            match PageRequest::new(Some(21), None) {
                Ok(wanted) => match console.state.queries.leads(&filter, wanted).await {
                    Ok(found) => found.items,
                    Err(error) => return web::unavailable(request, &error),
                },
                Err(_) => Vec::new(),
            }
        }
        None => Vec::new(),
    };
    let deliveries = match crate::forwarding::of_lead(console, user, reference).await {
        Ok(deliveries) => deliveries,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Inbox, Some(user));
    let t = frame.t;
    let status = lead.work.status;
    let statuses = std::iter::once(status)
        .chain(
            LeadStatus::ALL
                .into_iter()
                .filter(|to| status.transition(*to).is_ok()),
        )
        .map(|s| StatusOption {
            code: s.code(),
            name: t.status_name(s),
            selected: s == status,
        })
        .collect();
    let (notice, error) = match said {
        Said::Nothing => (None, None),
        Said::Saved => (Some(t.saved.to_owned()), None),
        Said::Retried => (Some(t.retried.to_owned()), None),
        Said::Conflict => (None, Some(t.conflict.to_owned())),
        Said::Refused(why) => (None, Some(format!("{}: {why}", t.refused))),
    };
    let code = match (&notice, &error) {
        (_, Some(_)) => StatusCode::CONFLICT,
        _ => StatusCode::OK,
    };
    let title = format!("{} {}", t.lead, lead.reference().as_str());
    page(
        code,
        &LeadPage {
            reference: lead.reference().as_str().to_owned(),
            action: lead_href(lead.reference()),
            version: lead.work.version,
            status: t.status_name(status),
            statuses,
            assignee: lead.work.assignee.clone().unwrap_or_default(),
            tags: lead
                .work
                .tags
                .iter()
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            fields: fields(console, t, &lead),
            others: others
                .iter()
                .filter(|other| other.id != lead.id)
                .take(20)
                .map(|other| row(console, t, other))
                .collect(),
            history: history
                .iter()
                .rev()
                .map(|entry| HistoryRow {
                    at: when(console, &entry.at),
                    actor: entry.actor.clone(),
                    field: entry.field.clone(),
                    before: entry.before.clone().unwrap_or_default(),
                    after: entry.after.clone().unwrap_or_default(),
                    reopened: entry.reopened,
                })
                .collect(),
            notes: notes
                .iter()
                .map(|note| NoteRow {
                    at: when(console, &note.at),
                    author: note.author.clone(),
                    text: note.text.clone(),
                })
                .collect(),
            payload: payload_text(lead.raw.as_bytes()),
            deliveries: crate::forwarding::delivery_rows(console, t, &deliveries),
            back: lead_href(lead.reference()),
            notice,
            error,
            frame: Frame { title, ..frame },
        },
    )
}

/// A payload as text: pretty JSON when it is JSON, else its bytes read leniently.
/// Always shown escaped, in `<pre>`.
pub fn payload_text(bytes: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(bytes) {
        Ok(value) => serde_json::to_string_pretty(&value)
            .unwrap_or_else(|_| String::from_utf8_lossy(bytes).into_owned()),
        Err(_) => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// Every field of the lead, with the anomalies found on it.
fn fields(console: &Console, t: &Texts, lead: &Lead) -> Vec<FieldRow> {
    let details = &lead.details;
    let sender = &details.sender;
    let profile = &details.profile;
    let yes_no = |b: bool| if b { t.yes } else { t.no }.to_owned();
    let rows: Vec<(&'static str, &'static str, Option<String>)> = vec![
        (
            t.reference,
            "LeadReference",
            Some(details.reference.as_str().to_owned()),
        ),
        (t.received, "", Some(when(console, &lead.received_at))),
        (
            t.created_at_portal,
            "CreatedDate",
            details.created_date.map(|d| when(console, &d.to_utc())),
        ),
        (
            t.entity_type,
            "EntityType",
            details.entity_type.as_ref().map(|e| e.as_str().to_owned()),
        ),
        (
            t.entity_public_id,
            "EntityPublicId",
            details.entity_public_id.clone(),
        ),
        (
            t.entity_reference,
            "EntityReference",
            details.entity_reference.clone(),
        ),
        (t.source, "Source", details.source.clone()),
        (t.name, "SenderName", sender.name.clone()),
        (
            t.email,
            "SenderEmail",
            sender.email.as_ref().map(|e| e.given().to_owned()),
        ),
        (
            t.phone,
            "SenderPhone",
            sender.phone.as_ref().map(|p| p.given().to_owned()),
        ),
        (
            t.message,
            "Message",
            details.message.as_ref().map(|m| m.as_str().to_owned()),
        ),
        (
            t.residents,
            "NumberResidents",
            profile.number_residents.map(|n| n.to_string()),
        ),
        (t.pets, "HasPets", profile.has_pets.map(yes_no)),
        (
            t.move_timeline,
            "MoveTimeline",
            profile.move_timeline.as_ref().map(|m| match m.date() {
                Some(date) => format!("{} {}", m.kind_code(), when(console, &date.to_utc())),
                None => m.kind_code().to_owned(),
            }),
        ),
        (
            t.income,
            "MonthlyIncome",
            profile.monthly_income.map(|n| n.to_string()),
        ),
        (
            t.letter,
            "PresentationLetter",
            profile.presentation_letter.clone(),
        ),
    ];
    let mut shown: BTreeSet<String> = BTreeSet::new();
    let mut out: Vec<FieldRow> = rows
        .into_iter()
        .map(|(name, wire, value)| {
            let anomalies: Vec<String> = details
                .anomalies
                .iter()
                .filter(|a| !wire.is_empty() && a.field().wire_name().eq_ignore_ascii_case(wire))
                .map(describe_anomaly)
                .collect();
            if !anomalies.is_empty() {
                shown.insert(wire.to_ascii_lowercase());
            }
            FieldRow {
                name,
                value: value.unwrap_or_default(),
                anomalies,
            }
        })
        .collect();
    // Anomalies of fields not in the table above still show, under their wire name.
    for anomaly in &details.anomalies {
        let wire = anomaly.field().wire_name().to_owned();
        if !shown.contains(&wire.to_ascii_lowercase()) {
            out.push(FieldRow {
                name: t.anomaly_mark,
                value: wire,
                anomalies: vec![describe_anomaly(anomaly)],
            });
        }
    }
    out
}

fn describe_anomaly(anomaly: &lead_inbox_domain::Anomaly) -> String {
    match anomaly.original() {
        Some(original) => format!("{} ({original})", anomaly.kind().code()),
        None => anomaly.kind().code().to_owned(),
    }
}

fn parse_reference(text: &str) -> Option<LeadReference> {
    LeadReference::parse(text).ok()
}

/// `GET /inbox/leads/{leadReference}`.
#[handler]
pub async fn lead_view(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(reference): Path<String>,
) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Some(reference) = parse_reference(&reference) else {
        return web::not_found(request, Some(&user));
    };
    let said = if web::query_value(request, "saved").is_some() {
        Said::Saved
    } else if web::query_value(request, "done").as_deref() == Some("retried") {
        Said::Retried
    } else {
        Said::Nothing
    };
    lead_page(console, request, &user, &reference, said).await
}

/// The lead page's work form.
#[derive(Debug, Deserialize)]
pub struct WorkForm {
    #[serde(default)]
    csrf: String,
    version: i64,
    #[serde(default)]
    status: String,
    #[serde(default)]
    assignee: String,
    #[serde(default)]
    tags: String,
    #[serde(default)]
    note: String,
}

/// `POST /inbox/leads/{leadReference}`: the change, checked against the version the
/// form was drawn from, as the API's `If-Match`. A lead changed meanwhile is shown as
/// it is now, with a message, and nothing is written.
#[handler]
pub async fn change(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(reference): Path<String>,
    Form(form): Form<WorkForm>,
) -> Response {
    let user = match signed_in(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let checked = match user.check_form(&form.csrf) {
        Ok(checked) => checked,
        Err(_) => return web::bad_form(request, &user),
    };
    let Some(reference) = parse_reference(&reference) else {
        return web::not_found(request, Some(&user));
    };
    let current = match console.state.queries.lead(&reference).await {
        Ok(Some(lead)) => lead,
        Ok(None) => return web::not_found(request, Some(&user)),
        Err(error) => return web::unavailable(request, &error),
    };
    // Only what the form changed: a field left as it was drawn is not sent, so that
    // it cannot undo another agent's change to it.
    let status = LeadStatus::from_code(form.status.trim()).filter(|s| *s != current.work.status);
    let assignee = some(&form.assignee);
    let assignee = (assignee != current.work.assignee).then_some(assignee);
    let tags: Vec<String> = form
        .tags
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .collect();
    let now: BTreeSet<String> = tags.iter().map(|t| t.to_lowercase()).collect();
    let tags = (now != current.work.tags).then_some(tags);
    let note = some(&form.note);
    let change = WorkChange {
        status,
        assignee,
        tags,
        note,
    };
    let actor = checked.by.user.username.to_string();
    let outcome = console
        .state
        .workflow
        .update(
            &reference,
            WorkRequest {
                change,
                expected_version: form.version,
                actor: actor.clone(),
                author: Some(actor),
            },
        )
        .await;
    match outcome {
        Ok(WorkOutcome::Updated(_)) => redirect(&format!("{}?saved=1", lead_href(&reference))),
        Ok(WorkOutcome::Stale(_)) => {
            lead_page(console, request, &user, &reference, Said::Conflict).await
        }
        Ok(WorkOutcome::Refused(why)) => {
            lead_page(console, request, &user, &reference, Said::Refused(why)).await
        }
        Ok(WorkOutcome::NotFound) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}
