//! `/api/v1/destinations` and `/api/v1/deliveries`: forwarding (issue #18), for the
//! operator who connects a CRM. Destinations are where events go; deliveries are each
//! event on its way to one destination, with every attempt, the dead-letter view
//! included. Everything here needs the `admin` scope.
//!
//! A destination's view never holds a secret: not the signing secrets (shown once, by
//! the answer that made them), not their sealed text, not the CasaYes token (only
//! whether one is set), not the credentials a NATS URL may carry.

use std::collections::BTreeSet;

use chrono::{DateTime, FixedOffset, Utc};
use lead_inbox_application::{
    Scope, SecretString,
    forwarding::{
        DeliveryFilter, DestinationError, DestinationRequest, DestinationUpdate, WithSecret,
    },
};
use lead_inbox_domain::{
    LeadEventKind, LeadReference, format_utc,
    forwarding::{
        Attempt, Delivery, DeliveryId, DeliveryStatus, Destination, DestinationId, DestinationKind,
        DisabledReason, ForwardFormat,
    },
};
use poem_openapi::{
    ApiResponse, Enum, Object, OpenApi,
    param::{Path, Query},
    payload::Json,
    types::{Example, MaybeUndefined},
};

use crate::{
    ApiTags, HttpState,
    api::{
        ApiContext, ApiFailure, ApiKeyAuth, ApiResult, default_limit, page_request, parse_id_cursor,
    },
    error::ApiError,
};

/// How events reach a destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DestinationKindView {
    /// An HTTPS `POST`, signed (Standard Webhooks).
    Webhook,
    /// A publish to a NATS JetStream subject (`url` is `nats://…`, `subject` is given).
    Nats,
}

/// What a delivery's body is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum ForwardFormatView {
    /// The live feed's JSON for the event: `{"eventId", "kind", "at", "lead"}`.
    Lead,
    /// For `lead.created` only: the exact bytes CasaYes posted, with the destination's
    /// `casayesToken` (if set) in a `token` header.
    Casayes,
}

/// An event a destination subscribes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Enum)]
pub enum EventView {
    /// A new lead was stored.
    #[oai(rename = "lead.created")]
    LeadCreated,
    /// A lead was changed through the API.
    #[oai(rename = "lead.updated")]
    LeadUpdated,
}

/// Why a destination receives nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DisabledReasonView {
    /// An operator disabled it (API or CLI).
    Operator,
    /// It answered `410 Gone`.
    Gone,
    /// It failed continuously for `LEAD_INBOX_FORWARD_DISABLE_AFTER_HOURS`.
    Failing,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[oai(rename_all = "lowercase")]
pub enum DeliveryStatusView {
    /// Waiting for its next attempt (or being attempted).
    Pending,
    /// The destination accepted it.
    Delivered,
    /// Its retry schedule is spent, or its destination is gone: the dead-letter view.
    Failed,
}

impl From<DestinationKind> for DestinationKindView {
    fn from(kind: DestinationKind) -> Self {
        match kind {
            DestinationKind::Webhook => DestinationKindView::Webhook,
            DestinationKind::Nats => DestinationKindView::Nats,
        }
    }
}

impl From<DestinationKindView> for DestinationKind {
    fn from(kind: DestinationKindView) -> Self {
        match kind {
            DestinationKindView::Webhook => DestinationKind::Webhook,
            DestinationKindView::Nats => DestinationKind::Nats,
        }
    }
}

impl From<ForwardFormat> for ForwardFormatView {
    fn from(format: ForwardFormat) -> Self {
        match format {
            ForwardFormat::Lead => ForwardFormatView::Lead,
            ForwardFormat::Casayes => ForwardFormatView::Casayes,
        }
    }
}

impl From<ForwardFormatView> for ForwardFormat {
    fn from(format: ForwardFormatView) -> Self {
        match format {
            ForwardFormatView::Lead => ForwardFormat::Lead,
            ForwardFormatView::Casayes => ForwardFormat::Casayes,
        }
    }
}

impl From<LeadEventKind> for EventView {
    fn from(kind: LeadEventKind) -> Self {
        match kind {
            LeadEventKind::Created => EventView::LeadCreated,
            LeadEventKind::Updated => EventView::LeadUpdated,
        }
    }
}

impl From<EventView> for LeadEventKind {
    fn from(event: EventView) -> Self {
        match event {
            EventView::LeadCreated => LeadEventKind::Created,
            EventView::LeadUpdated => LeadEventKind::Updated,
        }
    }
}

impl From<DisabledReason> for DisabledReasonView {
    fn from(reason: DisabledReason) -> Self {
        match reason {
            DisabledReason::Operator => DisabledReasonView::Operator,
            DisabledReason::Gone => DisabledReasonView::Gone,
            DisabledReason::Failing => DisabledReasonView::Failing,
        }
    }
}

impl From<DeliveryStatus> for DeliveryStatusView {
    fn from(status: DeliveryStatus) -> Self {
        match status {
            DeliveryStatus::Pending => DeliveryStatusView::Pending,
            DeliveryStatus::Delivered => DeliveryStatusView::Delivered,
            DeliveryStatus::Failed => DeliveryStatusView::Failed,
        }
    }
}

impl From<DeliveryStatusView> for DeliveryStatus {
    fn from(status: DeliveryStatusView) -> Self {
        match status {
            DeliveryStatusView::Pending => DeliveryStatus::Pending,
            DeliveryStatusView::Delivered => DeliveryStatus::Delivered,
            DeliveryStatusView::Failed => DeliveryStatus::Failed,
        }
    }
}

/// A destination: where events go and which. Never holds a secret. `disabledReason`
/// says why it receives nothing (absent while enabled).
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct DestinationView {
    pub id: i64,
    pub kind: DestinationKindView,
    /// The webhook's URL, or the NATS server's (any credentials in it shown as `***`).
    pub url: String,
    /// The JetStream subject (NATS only).
    pub subject: Option<String>,
    pub events: Vec<EventView>,
    pub format: ForwardFormatView,
    /// Only leads of these entity types; absent: every lead.
    pub entity_types: Option<Vec<String>>,
    pub description: Option<String>,
    /// At most this many requests are open to the destination at once.
    pub max_in_flight: u32,
    /// Whether it receives events.
    pub enabled: bool,
    pub disabled_reason: Option<DisabledReasonView>,
    /// Whether a `casayesToken` is set (the token itself is never shown).
    pub casayes_token_set: bool,
    /// Since when every attempt has failed (RFC 3339, UTC); absent when the last one
    /// succeeded.
    pub failing_since: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// RFC 3339, UTC.
    pub updated_at: String,
}

impl From<&Destination> for DestinationView {
    fn from(destination: &Destination) -> Self {
        DestinationView {
            id: destination.id.0,
            kind: destination.kind.into(),
            url: lead_inbox_domain::forwarding::redact_destination_url(&destination.url),
            subject: destination.subject.clone(),
            events: destination
                .events
                .iter()
                .map(|kind| EventView::from(*kind))
                .collect(),
            format: destination.format.into(),
            entity_types: destination
                .entity_types
                .as_ref()
                .map(|types| types.iter().cloned().collect()),
            description: destination.description.clone(),
            max_in_flight: destination.max_in_flight,
            enabled: destination.enabled(),
            disabled_reason: destination.disabled.map(DisabledReasonView::from),
            casayes_token_set: destination.casayes_token.is_some(),
            failing_since: destination.failing_since.as_ref().map(format_utc),
            created_at: format_utc(&destination.created_at),
            updated_at: format_utc(&destination.updated_at),
        }
    }
}

impl Example for DestinationView {
    fn example() -> Self {
        DestinationView {
            id: 1,
            kind: DestinationKindView::Webhook,
            url: "https://crm.example.com/hooks/lead-inbox".into(),
            subject: None,
            events: vec![EventView::LeadCreated, EventView::LeadUpdated],
            format: ForwardFormatView::Lead,
            entity_types: Some(vec!["Listing".into()]),
            description: Some("Our CRM".into()),
            max_in_flight: 8,
            enabled: true,
            disabled_reason: None,
            casayes_token_set: false,
            failing_since: None,
            created_at: "2026-12-02T10:00:00.000000Z".into(),
            updated_at: "2026-12-02T10:00:00.000000Z".into(),
        }
    }
}

/// A destination with its new signing secret: shown in this answer only, never again.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DestinationWithSecret {
    pub destination: DestinationView,
    /// The signing secret (`whsec_` + base64 of 32 random bytes), for verifying the
    /// `webhook-signature` header (Standard Webhooks). Keep it: it is not shown again.
    pub secret: String,
}

impl From<WithSecret> for DestinationWithSecret {
    fn from(made: WithSecret) -> Self {
        DestinationWithSecret {
            destination: DestinationView::from(&made.destination),
            secret: made.secret.expose(),
        }
    }
}

impl Example for DestinationWithSecret {
    fn example() -> Self {
        DestinationWithSecret {
            destination: DestinationView::example(),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw2tBnTIJk1hk=".into(),
        }
    }
}

/// Every destination, by id.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DestinationList {
    pub items: Vec<DestinationView>,
}

impl Example for DestinationList {
    fn example() -> Self {
        DestinationList {
            items: vec![DestinationView::example()],
        }
    }
}

/// A destination to create. Only `url` is required. `kind` is `webhook` (default) or
/// `nats`; `format` is `lead` (default) or `casayes`.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DestinationCreate {
    pub kind: Option<DestinationKindView>,
    /// A webhook's `https://` URL (`http://`, and hosts on loopback, private,
    /// link-local or cloud-metadata addresses, are refused unless
    /// `LEAD_INBOX_FORWARD_ALLOW_PRIVATE` is set), or a NATS server's `nats://` or
    /// `tls://` URL.
    #[oai(validator(max_length = 2048))]
    pub url: String,
    /// The JetStream subject to publish to: required for `nats`, refused for `webhook`.
    #[oai(validator(max_length = 255))]
    pub subject: Option<String>,
    /// Default `["lead.created"]`.
    pub events: Option<Vec<EventView>>,
    pub format: Option<ForwardFormatView>,
    /// Only leads of these entity types (`Listing`, `Office`, …, as CasaYes spells
    /// them); absent: every lead.
    #[oai(validator(max_items = 32))]
    pub entity_types: Option<Vec<String>>,
    /// For people; shown in lists.
    #[oai(validator(max_length = 500))]
    pub description: Option<String>,
    /// At most this many requests open to the destination at once, 1 to 256; default 8.
    pub max_in_flight: Option<u32>,
    /// Sent as the `token` header with the `casayes` format (write-only: never shown).
    #[oai(validator(max_length = 512))]
    pub casayes_token: Option<String>,
}

impl Example for DestinationCreate {
    fn example() -> Self {
        DestinationCreate {
            kind: None,
            url: "https://crm.example.com/hooks/lead-inbox".into(),
            subject: None,
            events: Some(vec![EventView::LeadCreated, EventView::LeadUpdated]),
            format: Some(ForwardFormatView::Lead),
            entity_types: Some(vec!["Listing".into()]),
            description: Some("Our CRM".into()),
            max_in_flight: Some(8),
            casayes_token: None,
        }
    }
}

/// A change to a destination: give only what changes.
#[derive(Object)]
#[oai(rename_all = "camelCase", example)]
pub struct DestinationPatch {
    #[oai(validator(max_length = 2048))]
    pub url: Option<String>,
    /// NATS only.
    #[oai(validator(max_length = 255))]
    pub subject: Option<String>,
    pub events: Option<Vec<EventView>>,
    /// `null` removes the filter (every lead).
    #[oai(validator(max_items = 32))]
    pub entity_types: MaybeUndefined<Vec<String>>,
    /// `null` removes it.
    #[oai(validator(max_length = 500))]
    pub description: MaybeUndefined<String>,
    pub max_in_flight: Option<u32>,
    /// `false` stops forwarding to it (its pending deliveries wait); `true` resumes,
    /// and forgets the failures that disabled it.
    pub enabled: Option<bool>,
    /// `null` removes it (write-only: never shown).
    #[oai(validator(max_length = 512))]
    pub casayes_token: MaybeUndefined<String>,
}

impl Example for DestinationPatch {
    fn example() -> Self {
        DestinationPatch {
            url: None,
            subject: None,
            events: None,
            entity_types: MaybeUndefined::Undefined,
            description: MaybeUndefined::Undefined,
            max_in_flight: None,
            enabled: Some(true),
            casayes_token: MaybeUndefined::Undefined,
        }
    }
}

/// A replay: every event since `since` that the destination wants, sent again.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ReplayRequest {
    /// RFC 3339.
    pub since: DateTime<FixedOffset>,
}

impl Example for ReplayRequest {
    fn example() -> Self {
        ReplayRequest {
            since: DateTime::parse_from_rfc3339("2026-12-01T00:00:00Z")
                .unwrap_or_else(|_| unreachable!("a valid instant")),
        }
    }
}

/// What a replay did.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example)]
pub struct ReplayView {
    /// The new deliveries made (each with a new `webhook-id`).
    pub deliveries: u64,
}

impl Example for ReplayView {
    fn example() -> Self {
        ReplayView { deliveries: 42 }
    }
}

/// One try to hand a delivery over.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct AttemptView {
    /// When it was made (RFC 3339, UTC).
    pub at: String,
    /// The HTTP status answered (webhooks), when there was an answer.
    pub status_code: Option<u16>,
    /// How long it took, in milliseconds.
    pub latency_ms: u64,
    /// What went wrong: a network error, a timeout, a refused address, a missing stream.
    pub error: Option<String>,
    /// The first 1 KiB of the answer's body (as text).
    pub response: Option<String>,
}

impl From<&Attempt> for AttemptView {
    fn from(attempt: &Attempt) -> Self {
        AttemptView {
            at: format_utc(&attempt.at),
            status_code: attempt.status_code,
            latency_ms: u64::try_from(attempt.latency.as_millis()).unwrap_or(u64::MAX),
            error: attempt.error.clone(),
            response: attempt.response.clone(),
        }
    }
}

impl Example for AttemptView {
    fn example() -> Self {
        AttemptView {
            at: "2026-12-02T10:00:01.250000Z".into(),
            status_code: Some(500),
            latency_ms: 84,
            error: None,
            response: Some("{\"error\":\"database is down\"}".into()),
        }
    }
}

/// One event on its way to one destination, with every attempt so far. `kind` is the
/// event's: `lead.created` or `lead.updated`.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", example, skip_serializing_if_is_none)]
pub struct DeliveryView {
    pub id: i64,
    pub destination_id: i64,
    /// The event's id in the live feed.
    pub event_id: i64,
    pub kind: EventView,
    pub lead_reference: String,
    pub status: DeliveryStatusView,
    /// The `webhook-id` (NATS: `Nats-Msg-Id`): the same on every retry, for receivers
    /// to deduplicate.
    pub message_id: String,
    /// Oldest first.
    pub attempts: Vec<AttemptView>,
    /// When the next attempt is due (pending only; RFC 3339, UTC).
    pub next_attempt_at: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl From<(Delivery, Vec<Attempt>)> for DeliveryView {
    fn from((delivery, attempts): (Delivery, Vec<Attempt>)) -> Self {
        DeliveryView {
            id: delivery.id.0,
            destination_id: delivery.destination_id.0,
            event_id: delivery.event_id,
            kind: delivery.kind.into(),
            lead_reference: delivery.lead_reference.as_str().to_owned(),
            status: delivery.status.into(),
            message_id: delivery.message_id,
            attempts: attempts.iter().map(AttemptView::from).collect(),
            next_attempt_at: delivery.next_attempt_at.as_ref().map(format_utc),
            created_at: format_utc(&delivery.created_at),
        }
    }
}

impl Example for DeliveryView {
    fn example() -> Self {
        DeliveryView {
            id: 17,
            destination_id: 1,
            event_id: 311,
            kind: EventView::LeadCreated,
            lead_reference: "6d1c1a3f-0a8e-4c7e-9f3e-2b1d5c9a7e11".into(),
            status: DeliveryStatusView::Pending,
            message_id: "msg_3f9a1c0e5b7d42e8a6c1f0b9d8e7a6c5".into(),
            attempts: vec![AttemptView::example()],
            next_attempt_at: Some("2026-12-02T10:00:06.250000Z".into()),
            created_at: "2026-12-02T10:00:01.000000Z".into(),
        }
    }
}

/// A page of deliveries, newest first.
#[derive(Debug, Object)]
#[oai(rename_all = "camelCase", skip_serializing_if_is_none, example)]
pub struct DeliveryPage {
    pub items: Vec<DeliveryView>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

impl Example for DeliveryPage {
    fn example() -> Self {
        DeliveryPage {
            items: vec![DeliveryView::example()],
            next_cursor: Some("17".into()),
        }
    }
}

#[derive(ApiResponse)]
pub enum CreatedResponse {
    /// Created: the destination and its signing secret, shown this once.
    #[oai(status = 201)]
    Created(Json<DestinationWithSecret>),
    /// The body is not `application/json` (`unsupported_media_type`; answered by the
    /// framework before the operation runs).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ApiError>),
}

#[derive(ApiResponse)]
pub enum DestinationListResponse {
    /// Every destination, by id.
    #[oai(status = 200)]
    Ok(Json<DestinationList>),
}

#[derive(ApiResponse)]
pub enum DestinationResponse {
    /// The destination.
    #[oai(status = 200)]
    Ok(Json<DestinationView>),
}

#[derive(ApiResponse)]
pub enum DestinationPatchResponse {
    /// Changed: the destination as it is now.
    #[oai(status = 200)]
    Ok(Json<DestinationView>),
    /// The body is not `application/json` (`unsupported_media_type`; answered by the
    /// framework before the operation runs).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ApiError>),
}

#[derive(ApiResponse)]
pub enum RotatedResponse {
    /// The new signing secret, shown this once; the previous one keeps signing beside
    /// it for 24 hours.
    #[oai(status = 200)]
    Ok(Json<DestinationWithSecret>),
}

#[derive(ApiResponse)]
pub enum RemovedResponse {
    /// Removed, with its deliveries.
    #[oai(status = 204)]
    Removed,
}

#[derive(ApiResponse)]
pub enum ReplayResponse {
    /// The replay is queued: this many new deliveries.
    #[oai(status = 200)]
    Ok(Json<ReplayView>),
    /// The body is not `application/json` (`unsupported_media_type`; answered by the
    /// framework before the operation runs).
    #[oai(status = 415)]
    UnsupportedMediaType(Json<ApiError>),
}

#[derive(ApiResponse)]
pub enum DeliveryPageResponse {
    /// A page of deliveries, newest first.
    #[oai(status = 200)]
    Ok(Json<DeliveryPage>),
}

#[derive(ApiResponse)]
pub enum DeliveryResponse {
    /// The delivery with its attempts.
    #[oai(status = 200)]
    Ok(Json<DeliveryView>),
}

#[derive(ApiResponse)]
pub enum RetryResponse {
    /// Pending and due now: the delivery as it is now.
    #[oai(status = 200)]
    Ok(Json<DeliveryView>),
    /// It was delivered already (`already_delivered`): nothing to retry (a replay
    /// sends it again).
    #[oai(status = 409)]
    Delivered(Json<ApiError>),
}

fn destination_not_found() -> ApiFailure {
    ApiFailure::NotFound(ApiError::json("not_found", "no destination has this id"))
}

fn delivery_not_found() -> ApiFailure {
    ApiFailure::NotFound(ApiError::json("not_found", "no delivery has this id"))
}

/// The events named, each once.
fn event_set(events: Vec<EventView>) -> BTreeSet<LeadEventKind> {
    events.into_iter().map(LeadEventKind::from).collect()
}

fn entity_types(types: Vec<String>) -> BTreeSet<String> {
    types
        .into_iter()
        .map(|name| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .collect()
}

pub struct ForwardingApi {
    api: ApiContext,
}

impl ForwardingApi {
    pub fn new(api: ApiContext) -> Self {
        ForwardingApi { api }
    }

    /// A refused destination: `400` with the rule as `code` and the use case's message;
    /// a storage failure as every operation answers one.
    fn refused(&self, error: DestinationError) -> ApiFailure {
        match error {
            DestinationError::Storage(error) => self.api.storage_failure(error),
            rule => ApiFailure::BadRequest(ApiError::json(rule.rule(), rule.to_string())),
        }
    }

    async fn delivery(&self, state: &HttpState, id: i64) -> ApiResult<DeliveryView> {
        state
            .deliveries
            .get(DeliveryId(id))
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .map(DeliveryView::from)
            .ok_or_else(delivery_not_found)
    }
}

#[OpenApi(prefix_path = "/api/v1")]
impl ForwardingApi {
    /// Create a destination
    ///
    /// A destination receives every event it subscribes to from now on (`lead.created`
    /// by default), signed (Standard Webhooks: `webhook-id`, `webhook-timestamp`,
    /// `webhook-signature`), retried until it lands. The answer holds its signing
    /// secret, shown this once. A destination that breaks a rule is refused with `400`
    /// and the rule as `code`: `https_required`, `invalid_url`, `credentials_in_url`,
    /// the address rules (`loopback_address`, `private_address`,
    /// `link_local_address`, `cloud_metadata_address`, `shared_address_space`,
    /// `unspecified_address`, `multicast_address`, `reserved_address`),
    /// `invalid_nats_url`, `subject`, `no_events`,
    /// `casayes_created_only`, `casayes_token_without_casayes_format`,
    /// `max_in_flight`, `no_entity_types`. Needs the `admin` scope.
    #[oai(
        path = "/destinations",
        method = "post",
        operation_id = "createDestination",
        tag = "ApiTags::Forwarding"
    )]
    async fn create_destination(
        &self,
        auth: ApiKeyAuth,
        body: Json<DestinationCreate>,
    ) -> ApiResult<CreatedResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let body = body.0;
        let request = DestinationRequest {
            kind: body.kind.map(DestinationKind::from),
            url: body.url,
            subject: body.subject,
            events: body.events.map(event_set),
            format: body.format.map(ForwardFormat::from),
            entity_types: body.entity_types.map(entity_types),
            description: body.description,
            max_in_flight: body.max_in_flight,
            casayes_token: body.casayes_token.map(SecretString::from),
        };
        let made = state
            .destinations
            .create(request)
            .await
            .map_err(|error| self.refused(error))?;
        tracing::info!(by = %principal.name, destination = made.destination.id.0, "destination created");
        Ok(CreatedResponse::Created(Json(made.into())))
    }

    /// List destinations
    ///
    /// Every destination, by id, without secrets. Needs the `admin` scope.
    #[oai(
        path = "/destinations",
        method = "get",
        operation_id = "listDestinations",
        tag = "ApiTags::Forwarding"
    )]
    async fn list_destinations(&self, auth: ApiKeyAuth) -> ApiResult<DestinationListResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Admin).await?;
        let destinations = state
            .destinations
            .list()
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(DestinationListResponse::Ok(Json(DestinationList {
            items: destinations.iter().map(DestinationView::from).collect(),
        })))
    }

    /// Get a destination
    ///
    /// The destination, without secrets. Needs the `admin` scope.
    #[oai(
        path = "/destinations/:id",
        method = "get",
        operation_id = "getDestination",
        tag = "ApiTags::Forwarding"
    )]
    async fn get_destination(
        &self,
        auth: ApiKeyAuth,
        /// The destination's id.
        id: Path<i64>,
    ) -> ApiResult<DestinationResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Admin).await?;
        let destination = state
            .destinations
            .get(DestinationId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(destination_not_found)?;
        Ok(DestinationResponse::Ok(Json(DestinationView::from(
            &destination,
        ))))
    }

    /// Change a destination
    ///
    /// Changes the fields given; the same rules as at creation apply (`400` naming the
    /// rule). `enabled: false` stops forwarding to it; `enabled: true` resumes, also
    /// after it was disabled for answering `410` or failing too long. Needs the `admin`
    /// scope.
    #[oai(
        path = "/destinations/:id",
        method = "patch",
        operation_id = "updateDestination",
        tag = "ApiTags::Forwarding"
    )]
    async fn update_destination(
        &self,
        auth: ApiKeyAuth,
        /// The destination's id.
        id: Path<i64>,
        body: Json<DestinationPatch>,
    ) -> ApiResult<DestinationPatchResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let patch = body.0;
        let optional = |value: MaybeUndefined<String>| match value {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(value) => Some(Some(value)),
        };
        let update = DestinationUpdate {
            url: patch.url,
            subject: patch.subject,
            events: patch.events.map(event_set),
            entity_types: match patch.entity_types {
                MaybeUndefined::Undefined => None,
                MaybeUndefined::Null => Some(None),
                MaybeUndefined::Value(types) => Some(Some(entity_types(types))),
            },
            description: optional(patch.description),
            max_in_flight: patch.max_in_flight,
            enabled: patch.enabled,
            casayes_token: optional(patch.casayes_token).map(|token| token.map(SecretString::from)),
        };
        let changed = state
            .destinations
            .update(DestinationId(id.0), update)
            .await
            .map_err(|error| self.refused(error))?
            .ok_or_else(destination_not_found)?;
        tracing::info!(by = %principal.name, destination = id.0, enabled = changed.enabled(), "destination changed");
        Ok(DestinationPatchResponse::Ok(Json(DestinationView::from(
            &changed,
        ))))
    }

    /// Remove a destination
    ///
    /// Removes the destination with its deliveries (pending ones are not sent).
    /// Needs the `admin` scope.
    #[oai(
        path = "/destinations/:id",
        method = "delete",
        operation_id = "deleteDestination",
        tag = "ApiTags::Forwarding"
    )]
    async fn delete_destination(
        &self,
        auth: ApiKeyAuth,
        /// The destination's id.
        id: Path<i64>,
    ) -> ApiResult<RemovedResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let removed = state
            .destinations
            .delete(DestinationId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        if !removed {
            return Err(destination_not_found());
        }
        tracing::info!(by = %principal.name, destination = id.0, "destination removed");
        Ok(RemovedResponse::Removed)
    }

    /// Rotate a destination's signing secret
    ///
    /// A new signing secret, shown this once. The previous one keeps signing beside it
    /// for 24 hours (two signatures in one `webhook-signature` header), so that the
    /// receiver can switch without losing an event. Needs the `admin` scope.
    #[oai(
        path = "/destinations/:id/rotate-secret",
        method = "post",
        operation_id = "rotateDestinationSecret",
        tag = "ApiTags::Forwarding"
    )]
    async fn rotate_secret(
        &self,
        auth: ApiKeyAuth,
        /// The destination's id.
        id: Path<i64>,
    ) -> ApiResult<RotatedResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let rotated = state
            .destinations
            .rotate_secret(DestinationId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(destination_not_found)?;
        tracing::info!(by = %principal.name, destination = id.0, "destination secret rotated");
        Ok(RotatedResponse::Ok(Json(rotated.into())))
    }

    /// Replay events to a destination
    ///
    /// Sends every event since `since` that the destination subscribes to again, as
    /// new deliveries (new `webhook-id`s), whatever became of the first ones: for
    /// example after the CRM restored a backup. Events are kept 30 days; events of
    /// erased or purged leads are gone. Needs the `admin` scope.
    #[oai(
        path = "/destinations/:id/replay",
        method = "post",
        operation_id = "replayDestination",
        tag = "ApiTags::Forwarding"
    )]
    async fn replay(
        &self,
        auth: ApiKeyAuth,
        /// The destination's id.
        id: Path<i64>,
        body: Json<ReplayRequest>,
    ) -> ApiResult<ReplayResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let since = body.0.since.with_timezone(&Utc);
        let deliveries = state
            .deliveries
            .replay(DestinationId(id.0), since)
            .await
            .map_err(|error| self.api.storage_failure(error))?
            .ok_or_else(destination_not_found)?;
        tracing::info!(by = %principal.name, destination = id.0, deliveries, "replay queued");
        Ok(ReplayResponse::Ok(Json(ReplayView { deliveries })))
    }

    /// List deliveries
    ///
    /// Deliveries, newest first, each with its attempts: `status=failed` is the
    /// dead-letter view. Every filter given narrows the list. Pass `nextCursor` back as
    /// `cursor`, with the same filters, until it is absent. Needs the `admin` scope.
    #[oai(
        path = "/deliveries",
        method = "get",
        operation_id = "listDeliveries",
        tag = "ApiTags::Forwarding"
    )]
    async fn list_deliveries(
        &self,
        auth: ApiKeyAuth,
        /// Only deliveries to this destination (its id).
        destination: Query<Option<i64>>,
        /// Only deliveries in this state.
        status: Query<Option<DeliveryStatusView>>,
        /// Only deliveries of this lead.
        #[oai(name = "leadReference", validator(max_length = 128))]
        lead_reference: Query<Option<String>>,
        /// Items per page, 1 to 500.
        #[oai(
            default = "default_limit",
            validator(minimum(value = "1"), maximum(value = "500"))
        )]
        limit: Query<u32>,
        /// The `nextCursor` of the previous page.
        #[oai(validator(pattern = "^[0-9]{1,18}$"))]
        cursor: Query<Option<String>>,
    ) -> ApiResult<DeliveryPageResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Admin).await?;
        let after = cursor
            .0
            .as_deref()
            .map(parse_id_cursor)
            .transpose()?
            .map(DeliveryId);
        let lead_reference = match lead_reference.0 {
            // No lead has a reference that is not valid: nothing matches.
            Some(text) => match LeadReference::parse(&text) {
                Ok(reference) => Some(reference),
                Err(_) => {
                    return Ok(DeliveryPageResponse::Ok(Json(DeliveryPage {
                        items: Vec::new(),
                        next_cursor: None,
                    })));
                }
            },
            None => None,
        };
        let filter = DeliveryFilter {
            destination: destination.0.map(DestinationId),
            status: status.0.map(DeliveryStatus::from),
            lead_reference,
        };
        let page = state
            .deliveries
            .list(&filter, page_request(Some(limit.0), after)?)
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        Ok(DeliveryPageResponse::Ok(Json(DeliveryPage {
            next_cursor: page.next.map(|id| id.0.to_string()),
            items: page.items.into_iter().map(DeliveryView::from).collect(),
        })))
    }

    /// Get a delivery
    ///
    /// The delivery with every attempt: when, the status answered, how long it took,
    /// what went wrong, and the first 1 KiB of the answer. Needs the `admin` scope.
    #[oai(
        path = "/deliveries/:id",
        method = "get",
        operation_id = "getDelivery",
        tag = "ApiTags::Forwarding"
    )]
    async fn get_delivery(
        &self,
        auth: ApiKeyAuth,
        /// The delivery's id.
        id: Path<i64>,
    ) -> ApiResult<DeliveryResponse> {
        let (state, _) = self.api.authorize(auth, Scope::Admin).await?;
        Ok(DeliveryResponse::Ok(Json(
            self.delivery(state, id.0).await?,
        )))
    }

    /// Retry a delivery
    ///
    /// Makes a failed (dead-lettered) or pending delivery due now, with the same
    /// `webhook-id`. A delivered one answers `409`.
    /// Needs the `admin` scope.
    #[oai(
        path = "/deliveries/:id/retry",
        method = "post",
        operation_id = "retryDelivery",
        tag = "ApiTags::Forwarding"
    )]
    async fn retry_delivery(
        &self,
        auth: ApiKeyAuth,
        /// The delivery's id.
        id: Path<i64>,
    ) -> ApiResult<RetryResponse> {
        let (state, principal) = self.api.authorize(auth, Scope::Admin).await?;
        let retried = state
            .deliveries
            .retry(DeliveryId(id.0))
            .await
            .map_err(|error| self.api.storage_failure(error))?;
        let delivery = self.delivery(state, id.0).await?;
        if !retried {
            return Ok(RetryResponse::Delivered(ApiError::json(
                "already_delivered",
                "this delivery was delivered: nothing to retry (replay the destination to send it again)",
            )));
        }
        tracing::info!(by = %principal.name, delivery = id.0, "delivery retried");
        Ok(RetryResponse::Ok(Json(delivery)))
    }
}
