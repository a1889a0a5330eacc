//! The HTTP adapter: the CasaYes webhook, the CRM API under `/api/v1`, health checks and
//! the OpenAPI document, on poem + poem-openapi.
//!
//! Wire types (`#[derive(Object)]`) live here and only here; they convert from domain
//! types. Every error a client can see is JSON `{"code": "...", "message": "..."}` with
//! a stable `code` (see [`error`]).

mod allow;
mod api;
mod body;
pub mod client;
pub mod error;
mod export;
mod feed;
pub use feed::FeedRenderer;
mod forwarding;
pub use lead_inbox_domain::forwarding::redact_destination_url;
mod health;
mod insights;
mod leads;
pub mod limits;
mod logging;
pub mod metrics;
mod params;
pub mod serve;
mod subjects;
pub use subjects::subject_export_json;
mod views;
mod webhook;
mod work;

use std::{
    sync::{Arc, OnceLock},
    time::Duration,
};

use lead_inbox_application::{
    ApiAccess, FeedHub, LeadIntake, LeadQueries, LeadWorkflow, SubjectRights,
    forwarding::{Deliveries, Destinations},
};
use poem::{Endpoint, EndpointExt, Request, Response, Route, endpoint::BoxEndpoint, get};
use poem_openapi::{OpenApiService, Tags};

/// What the HTTP layer needs from the composition root.
#[derive(Debug, Clone)]
pub struct HttpState {
    pub intake: LeadIntake,
    pub queries: LeadQueries,
    pub workflow: LeadWorkflow,
    /// The instance's live feed: one reader, fanned out to every SSE client.
    pub feed: FeedHub,
    /// Turns `true` when the server begins to shut down: live-feed streams end then.
    pub stopping: tokio::sync::watch::Receiver<bool>,
    pub access: ApiAccess,
    pub rights: SubjectRights,
    /// Forwarding's destinations (`/api/v1/destinations`).
    pub destinations: Destinations,
    /// Forwarding's deliveries (`/api/v1/deliveries`).
    pub deliveries: Deliveries,
    pub metrics: Arc<metrics::Metrics>,
}

/// HTTP settings.
#[derive(Debug, Clone)]
pub struct HttpConfig {
    /// The largest webhook body accepted, in bytes.
    pub max_body_bytes: usize,
    /// What a `503` tells the sender to wait before retrying.
    pub retry_after: Duration,
    pub limits: limits::LimitConfig,
    /// Who may read `/metrics` on the main port.
    pub metrics_access: metrics::MetricsAccess,
    /// Peers whose `Forwarded` / `X-Forwarded-For` name the client (see [`client`]).
    pub trusted_proxies: client::TrustedProxies,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            max_body_bytes: 256 * 1024,
            retry_after: Duration::from_secs(5),
            limits: limits::LimitConfig::default(),
            metrics_access: metrics::MetricsAccess::with_key(None),
            trusted_proxies: client::TrustedProxies::default(),
        }
    }
}

#[derive(Tags)]
enum ApiTags {
    /// The CasaYes Leads Webhook: CasaYes posts each new lead here.
    Webhook,
    /// Read leads received from CasaYes.
    Leads,
    /// Payloads that could not be leads, kept for inspection and replay.
    Quarantine,
    /// The people who send leads, and counts over leads.
    Contacts,
    /// The rights of the people leads are about (GDPR): export and erase their data,
    /// and the erasure audit log.
    Privacy,
    /// Forwarding: the destinations each lead event is pushed to (signed, retried),
    /// and the deliveries on their way, failed ones included.
    Forwarding,
    /// Liveness and readiness probes.
    Health,
}

pub const API_TITLE: &str = "Lead Inbox";

type Apis = (
    webhook::WebhookApi,
    leads::LeadsApi,
    work::WorkApi,
    feed::FeedApi,
    insights::InsightsApi,
    subjects::SubjectsApi,
    forwarding::ForwardingApi,
    health::HealthApi,
);

fn service(state: Option<(HttpState, HttpConfig)>) -> OpenApiService<Apis, ()> {
    let (webhook, api, health) = match state {
        Some((state, config)) => (
            webhook::WebhookApi::new(state.intake.clone(), state.metrics.clone(), config.clone()),
            api::ApiContext::new(state.clone(), config),
            health::HealthApi::new(Some(state.queries)),
        ),
        None => (
            webhook::WebhookApi::detached(),
            api::ApiContext::detached(),
            health::HealthApi::new(None),
        ),
    };
    let (leads, work, feed, insights, subjects, forwarding) = (
        leads::LeadsApi::new(api.clone()),
        work::WorkApi::new(api.clone()),
        feed::FeedApi::new(api.clone()),
        insights::InsightsApi::new(api.clone()),
        subjects::SubjectsApi::new(api.clone()),
        forwarding::ForwardingApi::new(api),
    );
    OpenApiService::new(
        (
            webhook, leads, work, feed, insights, subjects, forwarding, health,
        ),
        API_TITLE,
        env!("CARGO_PKG_VERSION"),
    )
    // No `.summary(..)`: `info.summary` is an OpenAPI 3.1 field, and poem-openapi writes
    // a 3.0.0 document, which validators then reject. The description's first sentence
    // says what the service is.
    .description(include_str!("openapi-description.md"))
}

/// The OpenAPI document as JSON, exactly as `/openapi.json` serves it.
pub fn openapi_json() -> String {
    service(None).spec()
}

/// The OpenAPI document as YAML, exactly as `/openapi.yaml` serves it.
pub fn openapi_yaml() -> String {
    service(None).spec_yaml()
}

/// `next.call(request)` in a box of its own. Each middleware layer's future would
/// otherwise hold the futures of every layer inside it; nested four deep, that made one
/// 46 KB future per request (measured), where boxed layers take a few KB in all.
fn call_boxed<E: Endpoint>(
    next: &E,
    request: Request,
) -> std::pin::Pin<Box<impl Future<Output = poem::Result<E::Output>> + Send + '_>> {
    Box::pin(next.call(request))
}

/// The Swagger UI under `/docs`, built on its first request. Its page inlines the UI's
/// script and the document (about 3 MB), which a server nobody browses need not hold
/// from its start.
#[derive(Default)]
struct SwaggerUi(OnceLock<BoxEndpoint<'static, Response>>);

impl Endpoint for SwaggerUi {
    type Output = Response;

    async fn call(&self, request: Request) -> poem::Result<Response> {
        self.0
            .get_or_init(|| service(None).swagger_ui().map_to_response().boxed())
            .call(request)
            .await
    }
}

/// Every route of the service, with request logging and JSON errors.
pub fn routes(state: HttpState, config: HttpConfig) -> impl Endpoint {
    let limits = limits::Limits::new(config.limits);
    let proxies = Arc::new(config.trusted_proxies.clone());
    let metrics = state.metrics.clone();
    let metrics_endpoint =
        metrics::guarded_endpoint(metrics.clone(), config.metrics_access.clone());
    let api = service(Some((state, config)));
    let spec = api.spec();
    let known = allow::Routes::from_spec(&spec);
    let counted = known.clone();
    let rules = params::ParamRules::from_spec(&spec, known.clone());
    let json = api.spec_endpoint();
    let yaml = api.spec_endpoint_yaml();
    Route::new()
        .nest("/", api)
        .at("/openapi.json", get(json))
        .at("/openapi.yaml", get(yaml))
        .nest("/docs", SwaggerUi::default())
        .at("/metrics", get(metrics_endpoint))
        .around(move |next, request| error::json_errors(rules.clone(), next, request))
        .around(move |next, request| allow::add_allow_header(known.clone(), next, request))
        .around(move |next, request| limits::enforce(limits.clone(), next, request))
        .around(move |next, request| {
            metrics::record(metrics.clone(), counted.clone(), next, request)
        })
        .around(logging::log_request)
        .around(move |next, request| client::resolve(proxies.clone(), next, request))
}
