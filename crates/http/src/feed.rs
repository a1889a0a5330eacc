//! `GET /api/v1/leads/stream`: the live feed as Server-Sent Events.

use std::{sync::Arc, time::Duration};

use futures_util::{StreamExt, stream::BoxStream};
use lead_inbox_application::{FeedItem, Scope, forwarding::EventRenderer};
use lead_inbox_domain::{LeadEventKind, format_utc};
use poem::web::sse::Event;
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Header, Query},
    payload::EventStream,
    types::ToJSON,
};

use crate::{
    ApiTags,
    api::{ApiContext, ApiKeyAuth, ApiResult, bad_request},
    metrics::Metrics,
    views::LeadView,
};

/// How often a comment line keeps an idle stream open through proxies.
pub const HEARTBEAT: Duration = Duration::from_secs(15);

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum LeadEventKindView {
    /// A new lead was stored.
    Created,
    /// A lead was changed through the API.
    Updated,
}

/// One event of the live feed: its SSE `id`, `event` is `lead.created` or
/// `lead.updated`, `data` is this object, with the lead as it is when the event is sent.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase")]
pub struct LeadEventView {
    /// The event's id (also the SSE `id`): increasing; resume after it with
    /// `Last-Event-ID`.
    pub event_id: i64,
    pub kind: LeadEventKindView,
    /// When it happened (RFC 3339, UTC).
    pub at: String,
    pub lead: LeadView,
}

impl From<FeedItem> for LeadEventView {
    fn from(item: FeedItem) -> Self {
        LeadEventView {
            event_id: item.event.id,
            kind: match item.event.kind {
                LeadEventKind::Created => LeadEventKindView::Created,
                LeadEventKind::Updated => LeadEventKindView::Updated,
            },
            at: format_utc(&item.event.at),
            lead: LeadView::from(item.lead),
        }
    }
}

impl LeadEventView {
    /// The SSE `event` field: `lead.created` or `lead.updated`.
    fn event_type(&self) -> &'static str {
        match self.kind {
            LeadEventKindView::Created => "lead.created",
            LeadEventKindView::Updated => "lead.updated",
        }
    }

    /// The SSE `data` field: this object as JSON, on one line.
    fn data(&self) -> String {
        self.to_json_string()
    }
}

/// The body of forwarding's `lead` format: exactly the `data` the live feed sends for
/// the same event, so that a destination receives what an SSE client does.
#[derive(Debug, Clone, Copy, Default)]
pub struct FeedRenderer;

impl EventRenderer for FeedRenderer {
    fn render(&self, item: &FeedItem) -> Vec<u8> {
        LeadEventView::from(item.clone()).data().into_bytes()
    }
}

type Events = BoxStream<'static, LeadEventView>;

#[derive(ApiResponse)]
pub enum StreamResponse {
    /// The event stream (`text/event-stream`), open until the client leaves or the
    /// server shuts down.
    #[oai(status = 200)]
    Ok(
        EventStream<Events>,
        #[oai(header = "Cache-Control")] String,
        #[oai(header = "X-Accel-Buffering")] String,
    ),
}

/// Counts a connected client for as long as its stream lives.
struct Connected(Arc<Metrics>);

impl Connected {
    fn new(metrics: Arc<Metrics>) -> Self {
        metrics.feed_clients(1);
        Connected(metrics)
    }
}

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.feed_clients(-1);
    }
}

pub struct FeedApi {
    api: ApiContext,
}

impl FeedApi {
    pub fn new(api: ApiContext) -> Self {
        FeedApi { api }
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl FeedApi {
    /// Follow new leads and changes
    ///
    /// Server-Sent Events: an event for each new lead (`lead.created`) and each change
    /// made through the API (`lead.updated`), in order, each with an increasing `id`
    /// and the lead as `data`. Without `Last-Event-ID` the stream starts with what
    /// happens next; with it (the header browsers' `EventSource` sends when it
    /// reconnects, or the `lastEventId` parameter) it first sends every event after
    /// that id: no gap, no repeat. `lastEventId=0` replays the whole log (events are
    /// kept 30 days). A comment line every 15 s keeps idle connections open; responses
    /// carry `Cache-Control: no-cache` and `X-Accel-Buffering: no` so that proxies pass
    /// events on at once. Every instance on one database delivers every event.
    /// Needs the `read` scope.
    #[oai(
        path = "/leads/stream",
        method = "get",
        operation_id = "streamLeadEvents",
        tag = "ApiTags::Leads"
    )]
    async fn stream(
        &self,
        auth: ApiKeyAuth,
        /// The id of the last event received: resume after it.
        #[oai(name = "Last-Event-ID")]
        last_event_id_header: Header<Option<String>>,
        /// The same as `Last-Event-ID`, for clients that cannot set headers.
        #[oai(name = "lastEventId", validator(minimum(value = "0")))]
        last_event_id: Query<Option<i64>>,
    ) -> ApiResult<StreamResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Read).await?;
        let from_header = match last_event_id_header.0.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(text) => Some(text.parse::<i64>().ok().filter(|id| *id >= 0).ok_or_else(
                || bad_request("Last-Event-ID must be the id of an event (a whole number)"),
            )?),
        };
        let after = match from_header.or(last_event_id.0) {
            Some(after) => after,
            None => state
                .feed
                .head()
                .await
                .map_err(|error| self.api.storage_failure(error))?,
        };
        tracing::info!(by = %principal.name, after, "a live-feed client connected");
        let connected = Connected::new(state.metrics.clone());
        let mut stopping = state.stopping.clone();
        let events = state
            .feed
            .follow(after)
            .map(move |item| {
                // Moved in, so that the client is counted until the stream is dropped.
                let _ = &connected;
                LeadEventView::from(item)
            })
            .take_until(async move {
                let _ = stopping.wait_for(|stop| *stop).await;
            })
            .boxed();
        let stream =
            EventStream::new(events)
                .keep_alive(HEARTBEAT)
                .to_event(|event: LeadEventView| {
                    Event::message(event.data())
                        .id(event.event_id.to_string())
                        .event_type(event.event_type())
                });
        Ok(StreamResponse::Ok(stream, "no-cache".into(), "no".into()))
    }
}
