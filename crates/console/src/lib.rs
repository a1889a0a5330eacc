//! The web console at `/inbox`: server-rendered HTML (askama templates, checked when
//! compiled) for agents and operators, enhanced by htmx where JavaScript runs, usable
//! without it. It is an adapter like `http`: it calls the same use cases as the API and
//! holds no SQL of its own.
//!
//! Security, in every answer (see [`web::secure`]): a `Content-Security-Policy` of
//! `default-src 'self'` with no inline script or style and no framing, a
//! `Referrer-Policy`, `nosniff`. Every lead field goes through askama's HTML escaping;
//! none is marked safe. Sessions are server-side ([`ConsoleAccess`]), in an `HttpOnly;
//! SameSite=Lax` cookie scoped to `/inbox`, `Secure` over TLS; every form carries the
//! session's token, checked before anything changes.

mod admin;
pub mod assets;
mod chart;
mod forwarding;
pub mod i18n;
mod leads;
mod pages;
mod web;

use std::sync::Arc;

use chrono_tz::Tz;
use lead_inbox_application::{
    ConsoleAccess, CredentialManagement, FeedHub, LeadIntake, LeadQueries, LeadWorkflow,
    SubjectRights,
    forwarding::{Deliveries, Destinations},
};
use poem::{Endpoint, EndpointExt, Route, get, post};

/// Where the console is served.
pub const PREFIX: &str = "/inbox";

/// What the console needs from the composition root: the application's use cases.
#[derive(Debug, Clone)]
pub struct ConsoleState {
    pub access: ConsoleAccess,
    pub queries: LeadQueries,
    pub workflow: LeadWorkflow,
    pub feed: FeedHub,
    pub intake: LeadIntake,
    pub credentials: CredentialManagement,
    /// A person's data (GDPR): find and erase.
    pub rights: SubjectRights,
    /// Forwarding's destinations and deliveries.
    pub forwarding: ConsoleForwarding,
    /// Turns `true` when the server begins to shut down: live streams end then.
    pub stopping: tokio::sync::watch::Receiver<bool>,
}

/// Forwarding's use cases, as the API's `/destinations` and `/deliveries` use them.
#[derive(Debug, Clone)]
pub struct ConsoleForwarding {
    pub destinations: Destinations,
    pub deliveries: Deliveries,
}

/// The console's settings.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// Times are shown in this zone (`LEAD_INBOX_TIMEZONE`).
    pub timezone: Tz,
    /// Served over TLS: cookies get `Secure`.
    pub secure_cookies: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            timezone: chrono_tz::Europe::Lisbon,
            secure_cookies: false,
        }
    }
}

/// Everything a handler reaches.
pub(crate) struct Console {
    pub state: ConsoleState,
    pub settings: ConsoleSettings,
    pub counts: leads::CountsCache,
}

/// The console's routes, relative to [`PREFIX`] (the composition root nests them
/// there).
pub fn routes(state: ConsoleState, settings: ConsoleSettings) -> impl Endpoint {
    let console = Arc::new(Console {
        state,
        settings,
        counts: leads::CountsCache::default(),
    });
    Route::new()
        .at("/", get(leads::inbox))
        .at("/login", get(pages::login_form).post(pages::login))
        .at("/logout", post(pages::logout))
        .at("/events", get(leads::events))
        .at(
            "/leads/:reference",
            get(leads::lead_view).post(leads::change),
        )
        .at("/contacts", get(pages::contacts))
        .at("/statistics", get(pages::statistics))
        .at("/quarantine", get(admin::quarantine))
        .at("/quarantine/:id/replay", post(admin::replay))
        .at("/quarantine/:id/delete", post(admin::discard))
        .at("/admin", get(admin::admin_home))
        .at(
            "/admin/person",
            get(admin::person).post(admin::erase_person),
        )
        .at("/admin/users", post(admin::create_user))
        .at("/admin/users/:username/disable", post(admin::disable_user))
        .at("/admin/credentials/:kind", post(admin::issue))
        .at("/admin/credentials/:kind/:id/revoke", post(admin::revoke))
        .at("/destinations", get(forwarding::destinations))
        .at("/destinations/:id/replay", post(forwarding::replay))
        .at("/destinations/:id/:action", post(forwarding::set_enabled))
        .at("/deliveries", get(forwarding::deliveries))
        .at("/deliveries/:id/retry", post(forwarding::retry))
        .at("/static/:hash/:name", get(pages::asset))
        .data(console)
        .around(web::secure)
}
