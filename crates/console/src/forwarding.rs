//! The admins' forwarding pages: the destinations (enable, disable), the deliveries
//! with the dead-letter view (`?status=failed`) and its retry button, and the rows a
//! lead's page shows of its own deliveries. They call the same use cases as
//! `/api/v1/destinations` and `/api/v1/deliveries`; every handler requires the admin
//! role, and a change the form's token.

use askama::Template;
use lead_inbox_application::{
    PageRequest, SignedIn,
    forwarding::{DeliveryFilter, DestinationError},
};
use lead_inbox_domain::{
    LeadReference,
    forwarding::{
        Attempt, Delivery, DeliveryId, DeliveryStatus, Destination, DestinationId, event_name,
        redact_destination_url,
    },
};
use poem::{
    Request, Response, handler,
    http::StatusCode,
    web::{Data, Form, Path, Query},
};
use serde::Deserialize;

use crate::{
    Console, PREFIX,
    admin::{admin_form, admin_of},
    i18n::Texts,
    leads::lead_href,
    pages::TokenOnly,
    web::{self, Frame, Nav, Shared, page, redirect, when},
};

/// Deliveries per page.
const PAGE: u32 = 50;

pub struct DestinationRow {
    pub id: i64,
    /// Credentials a NATS URL may hold are shown as `***`.
    pub url: String,
    pub description: String,
    pub events: String,
    pub format: &'static str,
    pub enabled: bool,
    /// "Enabled", or why not.
    pub state: String,
    pub failing_since: String,
    pub deliveries_href: String,
}

#[derive(Template)]
#[template(path = "destinations.html")]
struct DestinationsPage {
    frame: Frame,
    rows: Vec<DestinationRow>,
    notice: Option<String>,
}

#[derive(Deserialize)]
pub struct DoneQuery {
    done: Option<String>,
    /// How many deliveries a replay made.
    count: Option<u64>,
}

/// `GET /inbox/destinations`: where events go, each with its state and the button to
/// enable or disable it. Destinations are added with the API or `lead-inbox
/// destinations add`, which show the signing secret once.
#[handler]
pub async fn destinations(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(query): Query<DoneQuery>,
) -> Response {
    let user = match admin_of(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let forwarding = &console.state.forwarding;
    let listed = match forwarding.destinations.list().await {
        Ok(listed) => listed,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Destinations, Some(&user));
    let t = frame.t;
    let notice = match query.done.as_deref() {
        Some("enabled") => Some(t.destination_enabled.to_owned()),
        Some("disabled") => Some(t.destination_disabled.to_owned()),
        Some("replayed") => Some(format!(
            "{}: {}",
            t.replay_queued,
            query.count.unwrap_or_default()
        )),
        Some("bad-since") => Some(t.replay_bad_since.to_owned()),
        _ => None,
    };
    let title = t.destinations.to_owned();
    page(
        StatusCode::OK,
        &DestinationsPage {
            rows: listed
                .iter()
                .map(|destination| destination_row(console, t, destination))
                .collect(),
            notice,
            frame: Frame { title, ..frame },
        },
    )
}

fn destination_row(console: &Console, t: &Texts, destination: &Destination) -> DestinationRow {
    let mut url = redact_destination_url(&destination.url);
    if let Some(subject) = &destination.subject {
        url.push_str(&format!(" ({subject})"));
    }
    DestinationRow {
        id: destination.id.0,
        url,
        description: destination.description.clone().unwrap_or_default(),
        events: destination
            .events
            .iter()
            .map(|kind| event_name(*kind))
            .collect::<Vec<_>>()
            .join(", "),
        format: destination.format.as_str(),
        enabled: destination.enabled(),
        state: match destination.disabled {
            None => t.enabled.to_owned(),
            Some(reason) => format!("{} ({})", t.disabled, reason.as_str()),
        },
        failing_since: destination
            .failing_since
            .map(|since| when(console, &since))
            .unwrap_or_default(),
        deliveries_href: format!("{PREFIX}/deliveries?destination={}", destination.id.0),
    }
}

/// `POST /inbox/destinations/{id}/enable` and `.../disable`.
#[handler]
pub async fn set_enabled(
    request: &Request,
    Data(console): Data<&Shared>,
    Path((id, action)): Path<(i64, String)>,
    Form(form): Form<TokenOnly>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let enabled = match action.as_str() {
        "enable" => true,
        "disable" => false,
        _ => return web::not_found(request, Some(&user)),
    };
    let forwarding = &console.state.forwarding;
    match forwarding
        .destinations
        .set_enabled(DestinationId(id), enabled)
        .await
    {
        Ok(Some(_)) => {
            tracing::info!(user = %user.user.username, destination = id, enabled,
                "a destination was switched in the console");
            redirect(&format!(
                "{PREFIX}/destinations?done={}",
                if enabled { "enabled" } else { "disabled" }
            ))
        }
        Ok(None) => web::not_found(request, Some(&user)),
        Err(DestinationError::Storage(error)) => web::unavailable(request, &error),
        Err(error) => {
            // Enabling or disabling checks no rule, so this is not expected; say it.
            tracing::warn!(rule = error.rule(), "a destination could not be switched");
            web::not_found(request, Some(&user))
        }
    }
}

#[derive(Deserialize)]
pub struct ReplayForm {
    #[serde(default)]
    csrf: String,
    /// `YYYY-MM-DDTHH:MM` (an `<input type="datetime-local">`), in the console's zone.
    #[serde(default)]
    since: String,
}

/// `POST /inbox/destinations/{id}/replay`: every event since the time given that the
/// destination wants is sent again, as new deliveries (as
/// `POST /api/v1/destinations/{id}/replay`).
#[handler]
pub async fn replay(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(id): Path<i64>,
    Form(form): Form<ReplayForm>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let Some(since) = local_time(console, &form.since) else {
        return redirect(&format!("{PREFIX}/destinations?done=bad-since"));
    };
    match console
        .state
        .forwarding
        .deliveries
        .replay(DestinationId(id), since)
        .await
    {
        Ok(Some(count)) => {
            tracing::info!(user = %user.user.username, destination = id, count,
                "a replay was asked for in the console");
            redirect(&format!(
                "{PREFIX}/destinations?done=replayed&count={count}"
            ))
        }
        Ok(None) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}

/// A `datetime-local` value in the console's zone, as UTC (the earlier one when a
/// clock change makes it ambiguous).
fn local_time(console: &Console, text: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    let naive = chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M")
        .or_else(|_| chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S"))
        .ok()?;
    naive
        .and_local_timezone(console.settings.timezone)
        .earliest()
        .map(|at| at.to_utc())
}

/// A delivery as the console shows it.
pub struct DeliveryRow {
    pub id: i64,
    pub destination: i64,
    pub reference: String,
    pub href: String,
    pub event: &'static str,
    /// `pending`, `delivered` or `failed`, for the badge's class.
    pub status_code: &'static str,
    pub status: &'static str,
    pub attempts: u32,
    /// The last attempt: its HTTP status, or what went wrong.
    pub last: String,
    pub last_at: String,
    pub next: String,
    /// Whether the retry button is shown (not for a delivered one).
    pub retry: bool,
}

/// The rows of deliveries, with their attempts.
pub fn delivery_rows(
    console: &Console,
    t: &Texts,
    items: &[(Delivery, Vec<Attempt>)],
) -> Vec<DeliveryRow> {
    items
        .iter()
        .map(|(delivery, attempts)| {
            let last = attempts.iter().max_by_key(|attempt| attempt.at);
            DeliveryRow {
                id: delivery.id.0,
                destination: delivery.destination_id.0,
                reference: delivery.lead_reference.as_str().to_owned(),
                href: lead_href(&delivery.lead_reference),
                event: event_name(delivery.kind),
                status_code: delivery.status.as_str(),
                status: t.delivery_status(delivery.status),
                attempts: delivery.attempts,
                last: last.map(attempt_text).unwrap_or_default(),
                last_at: last
                    .map(|attempt| when(console, &attempt.at))
                    .unwrap_or_default(),
                next: delivery
                    .next_attempt_at
                    .filter(|_| delivery.status == DeliveryStatus::Pending)
                    .map(|at| when(console, &at))
                    .unwrap_or_default(),
                retry: delivery.status != DeliveryStatus::Delivered,
            }
        })
        .collect()
}

/// An attempt in a few words: `HTTP 500`, or the error (which never holds a secret).
fn attempt_text(attempt: &Attempt) -> String {
    match (attempt.status_code, &attempt.error) {
        (Some(code), _) => format!("HTTP {code}"),
        (None, Some(error)) => error.chars().take(160).collect(),
        (None, None) => String::new(),
    }
}

/// A filter link above the deliveries.
pub struct FilterLink {
    pub label: &'static str,
    pub href: String,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "deliveries.html")]
struct DeliveriesPage {
    frame: Frame,
    filters: Vec<FilterLink>,
    deliveries: Vec<DeliveryRow>,
    next: Option<String>,
    notice: Option<String>,
    /// Where the retry buttons come back to.
    back: String,
}

#[derive(Deserialize)]
pub struct DeliveriesQuery {
    status: Option<String>,
    destination: Option<i64>,
    after: Option<i64>,
    done: Option<String>,
}

/// `GET /inbox/deliveries`: newest first, filtered by status (`?status=failed` is the
/// dead-letter view) and destination, each with its last attempt and a retry button.
#[handler]
pub async fn deliveries(
    request: &Request,
    Data(console): Data<&Shared>,
    Query(query): Query<DeliveriesQuery>,
) -> Response {
    let user = match admin_of(console, request).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let forwarding = &console.state.forwarding;
    let status = match query.status.as_deref().filter(|s| !s.is_empty()) {
        None => None,
        Some(text) => match text.parse::<DeliveryStatus>() {
            Ok(status) => Some(status),
            Err(_) => return web::not_found(request, Some(&user)),
        },
    };
    let filter = DeliveryFilter {
        destination: query.destination.map(DestinationId),
        status,
        lead_reference: None,
    };
    let Ok(wanted) = PageRequest::new(Some(PAGE), query.after.map(DeliveryId)) else {
        return web::not_found(request, Some(&user));
    };
    let found = match forwarding.deliveries.list(&filter, wanted).await {
        Ok(found) => found,
        Err(error) => return web::unavailable(request, &error),
    };
    let frame = Frame::new(request, "", Nav::Deliveries, Some(&user));
    let t = frame.t;
    let href = |status: Option<DeliveryStatus>, after: Option<i64>| {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if let Some(status) = status {
            pairs.push(("status", status.as_str().to_owned()));
        }
        if let Some(destination) = query.destination {
            pairs.push(("destination", destination.to_string()));
        }
        if let Some(after) = after {
            pairs.push(("after", after.to_string()));
        }
        let query = serde_urlencoded::to_string(pairs).unwrap_or_default();
        match query.is_empty() {
            true => format!("{PREFIX}/deliveries"),
            false => format!("{PREFIX}/deliveries?{query}"),
        }
    };
    let filters = [
        None,
        Some(DeliveryStatus::Failed),
        Some(DeliveryStatus::Pending),
        Some(DeliveryStatus::Delivered),
    ]
    .into_iter()
    .map(|option| FilterLink {
        label: match option {
            None => t.all,
            Some(status) => t.delivery_status(status),
        },
        href: href(option, None),
        current: option == status,
    })
    .collect();
    let notice = match query.done.as_deref() {
        Some("retried") => Some(t.retried.to_owned()),
        _ => None,
    };
    let title = match status {
        Some(DeliveryStatus::Failed) => t.dead_letters.to_owned(),
        _ => t.deliveries.to_owned(),
    };
    page(
        StatusCode::OK,
        &DeliveriesPage {
            filters,
            deliveries: delivery_rows(console, t, &found.items),
            next: found.next.map(|id| href(status, Some(id.0))),
            notice,
            back: href(status, None),
            frame: Frame { title, ..frame },
        },
    )
}

#[derive(Deserialize)]
pub struct RetryForm {
    #[serde(default)]
    csrf: String,
    /// The console page to come back to.
    #[serde(default)]
    back: String,
}

/// `POST /inbox/deliveries/{id}/retry`: the delivery is due now (a failed one leaves
/// the dead-letter view); back to the page the button was on.
#[handler]
pub async fn retry(
    request: &Request,
    Data(console): Data<&Shared>,
    Path(id): Path<i64>,
    Form(form): Form<RetryForm>,
) -> Response {
    let user = match admin_form(console, request, &form.csrf).await {
        Ok(user) => user,
        Err(answer) => return answer,
    };
    let forwarding = &console.state.forwarding;
    match forwarding.deliveries.retry(DeliveryId(id)).await {
        Ok(true) => {
            tracing::info!(user = %user.user.username, delivery = id, "a delivery was retried in the console");
            redirect(&back_to(&form.back))
        }
        Ok(false) => web::not_found(request, Some(&user)),
        Err(error) => web::unavailable(request, &error),
    }
}

/// Where a form returns: a console path given by the form, else the deliveries. Never
/// another site (`//host` or a scheme), so the field cannot redirect elsewhere.
fn back_to(back: &str) -> String {
    let console_path = back.starts_with(&format!("{PREFIX}/"))
        && !back.contains("//")
        && !back.contains('\\')
        && back.chars().all(|c| c.is_ascii_graphic());
    let mut target = match console_path {
        true => back.to_owned(),
        false => format!("{PREFIX}/deliveries"),
    };
    target.push_str(if target.contains('?') { "&" } else { "?" });
    target.push_str("done=retried");
    target
}

/// A lead's deliveries, for its page: only an admin sees them (as in the API).
pub async fn of_lead(
    console: &Console,
    user: &SignedIn,
    reference: &LeadReference,
) -> Result<Vec<(Delivery, Vec<Attempt>)>, lead_inbox_application::StorageError> {
    let forwarding = &console.state.forwarding;
    if !user.is_admin() {
        return Ok(Vec::new());
    }
    let filter = DeliveryFilter {
        lead_reference: Some(reference.clone()),
        ..DeliveryFilter::default()
    };
    let wanted = PageRequest::new(Some(PAGE), None).expect("a valid page size");
    Ok(forwarding.deliveries.list(&filter, wanted).await?.items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_form_comes_back_only_to_a_console_page() {
        assert_eq!(
            back_to("/inbox/leads/CY-1"),
            "/inbox/leads/CY-1?done=retried"
        );
        assert_eq!(
            back_to("/inbox/deliveries?status=failed"),
            "/inbox/deliveries?status=failed&done=retried"
        );
        for elsewhere in [
            "https://evil.example/inbox/",
            "//evil.example/inbox/",
            "/inbox//evil.example",
            "/inbox/\\evil",
            "/inboxes",
            "",
            "/inbox/a b",
        ] {
            assert_eq!(
                back_to(elsewhere),
                "/inbox/deliveries?done=retried",
                "{elsewhere}"
            );
        }
    }
}
