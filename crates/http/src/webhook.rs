//! `POST /webhooks/casayes/leads`.

use lead_inbox_application::{InsertOutcome, IntakeError, LeadIntake, SecretString};
use poem_openapi::{ApiResponse, OpenApi, SecurityScheme, auth::ApiKey, payload::Json};

use std::sync::Arc;

use crate::{
    ApiTags, HttpConfig,
    body::CasaYesBody,
    error::ApiError,
    metrics::{LeadOutcome, Metrics},
    views::DeliveryAccepted,
};

/// The `token` header CasaYes sends with every delivery.
#[derive(SecurityScheme)]
#[oai(
    rename = "webhookToken",
    ty = "api_key",
    key_name = "token",
    key_in = "header"
)]
pub struct WebhookToken(ApiKey);

#[derive(ApiResponse)]
#[oai(bad_request_handler = "delivery_bad_request")]
pub enum DeliveryResponse {
    /// The lead is durably stored: now (`created`) or by an earlier delivery
    /// (`duplicate`); or it was erased at its subject's request and is not stored again
    /// (`erased`). Either way CasaYes need not send it again.
    #[oai(status = 200)]
    Accepted(Json<DeliveryAccepted>),
    /// The body cannot be a lead: not JSON, not an object, or no usable `LeadReference`.
    /// It is kept in the quarantine; `code` names the problem.
    #[oai(status = 400)]
    BadRequest(Json<ApiError>),
    /// The `token` header is missing or not valid. Nothing was kept.
    #[oai(status = 401)]
    Unauthorized(Json<ApiError>),
    /// The body is larger than the limit (256 KiB by default). Its first bytes are quarantined.
    #[oai(status = 413)]
    PayloadTooLarge(Json<ApiError>),
    /// The request took longer than the request timeout (`request_timeout`); nothing was stored.
    #[oai(status = 408)]
    RequestTimeout(Json<ApiError>),
    /// Too many failed authentications from this address (`too_many_requests`); retry after `Retry-After` seconds.
    #[oai(status = 429)]
    TooManyRequests(Json<ApiError>, #[oai(header = "Retry-After")] u64),
    /// Storage is unavailable: nothing was stored. Send the lead again after `Retry-After` seconds.
    #[oai(status = 503)]
    Unavailable(Json<ApiError>, #[oai(header = "Retry-After")] u64),
}

fn delivery_bad_request(error: poem::Error) -> DeliveryResponse {
    let (status, body) = crate::error::error_body(&error);
    if status == poem::http::StatusCode::UNAUTHORIZED {
        DeliveryResponse::Unauthorized(ApiError::unauthorized("webhook token"))
    } else {
        DeliveryResponse::BadRequest(Json(body))
    }
}

pub struct WebhookApi {
    intake: Option<LeadIntake>,
    metrics: Option<Arc<Metrics>>,
    config: HttpConfig,
}

impl WebhookApi {
    pub fn new(intake: LeadIntake, metrics: Arc<Metrics>, config: HttpConfig) -> Self {
        WebhookApi {
            intake: Some(intake),
            metrics: Some(metrics),
            config,
        }
    }

    /// An API with no use case behind it: only for generating the OpenAPI document.
    pub fn detached() -> Self {
        WebhookApi {
            intake: None,
            metrics: None,
            config: HttpConfig::default(),
        }
    }

    fn count(&self, outcome: LeadOutcome) {
        if let Some(metrics) = &self.metrics {
            metrics.lead(outcome);
        }
    }

    fn unavailable(&self) -> DeliveryResponse {
        DeliveryResponse::Unavailable(ApiError::unavailable(), self.config.retry_after.as_secs())
    }
}

#[OpenApi]
impl WebhookApi {
    /// Receive a CasaYes lead
    ///
    /// CasaYes calls this for every new lead. The answer is `200` only once the lead
    /// is durably stored. Redeliveries of a stored `LeadReference` (retries, parallel
    /// deliveries) answer `200` with `duplicate` and change nothing. A lead with odd
    /// fields (unknown `EntityType`, a date without zone, income as a string, ...) is
    /// stored with those oddities listed as anomalies: only a body that is not a JSON
    /// object, or has no usable `LeadReference`, is refused (`400`) and quarantined.
    #[oai(
        path = "/webhooks/casayes/leads",
        method = "post",
        operation_id = "receiveCasaYesLead",
        tag = "ApiTags::Webhook"
    )]
    async fn receive(
        &self,
        request: &poem::Request,
        token: WebhookToken,
        body: CasaYesBody,
    ) -> DeliveryResponse {
        let Some(intake) = &self.intake else {
            return self.unavailable();
        };
        // Two `token` headers are ambiguous: refuse rather than pick one.
        let token = (request.headers().get_all("token").iter().count() == 1)
            .then(|| SecretString::from(token.0.key));
        let delivery = match intake.authenticate(token.as_ref()).await {
            Ok(delivery) => delivery,
            Err(error) => return self.refusal(error),
        };
        let body = match body.read(self.config.max_body_bytes).await {
            Ok(body) => body,
            Err(error) => {
                tracing::warn!(error = %error, "the webhook body could not be read");
                return DeliveryResponse::BadRequest(ApiError::json(
                    "body_unreadable",
                    "the request body could not be read",
                ));
            }
        };
        match intake.receive(delivery, body).await {
            Ok(received) => {
                self.count(match received.outcome {
                    InsertOutcome::Created => LeadOutcome::Created,
                    InsertOutcome::Duplicate => LeadOutcome::Duplicate,
                    InsertOutcome::Erased => LeadOutcome::Erased,
                });
                DeliveryResponse::Accepted(Json(DeliveryAccepted {
                    lead_reference: received.reference.as_str().to_owned(),
                    status: received.outcome.into(),
                }))
            }
            Err(error) => self.refusal(error),
        }
    }
}

impl WebhookApi {
    fn refusal(&self, error: IntakeError) -> DeliveryResponse {
        match error {
            IntakeError::Unauthorized => {
                DeliveryResponse::Unauthorized(ApiError::unauthorized("webhook token"))
            }
            IntakeError::Rejected(rejection) => {
                self.count(LeadOutcome::Quarantined);
                tracing::info!(reason = rejection.kind.code(), "payload quarantined");
                DeliveryResponse::BadRequest(ApiError::json(
                    rejection.kind.code(),
                    rejection.message,
                ))
            }
            IntakeError::PayloadTooLarge { limit } => {
                self.count(LeadOutcome::Quarantined);
                tracing::info!(limit, "oversized payload quarantined");
                DeliveryResponse::PayloadTooLarge(ApiError::json(
                    "payload_too_large",
                    format!("the body is larger than {limit} bytes"),
                ))
            }
            IntakeError::Storage(error) => {
                tracing::error!(error = %error, cause = ?std::error::Error::source(&error), "a delivery could not be stored");
                self.unavailable()
            }
        }
    }
}
