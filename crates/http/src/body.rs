//! The webhook body: documented as the CasaYes payload, read as raw bytes.
//!
//! The OpenAPI document shows the 15 fields CasaYes documents, with their types and
//! the spec's example. The handler, though, must see the exact bytes: lenient parsing
//! is the domain's job, the raw payload is kept verbatim, and a body that is not JSON at
//! all must still be quarantined. So the extractor takes the body unread, whatever the
//! `Content-Type` (CasaYes may send none, or `text/plain`).

use futures_util::StreamExt;
use lead_inbox_application::DeliveryBody;
use poem::{Request, RequestBody};
use poem_openapi::{
    ApiExtractor, ApiExtractorType, ExtractParamOptions, Object,
    registry::{MetaMediaType, MetaRequest, Registry},
    types::{Example, ParseFromJSON, Type},
};

/// The CasaYes Leads Webhook body, as CasaYes documents it. Every field but
/// `LeadReference` may be missing or odd: such a lead is still stored, with the
/// oddities listed as anomalies.
#[derive(Debug, Object)]
#[oai(rename_all = "PascalCase", example)]
pub struct CasaYesLeadPayload {
    /// `Listing`, `Office`, `BusinessForm`, `User` or `EvaluationForm` (other values are kept and flagged).
    entity_type: Option<String>,
    /// Entity CasaYes publicId.
    entity_public_id: Option<String>,
    /// Entity external reference.
    entity_reference: Option<String>,
    /// Lead publicId, `CY-<EntityType>-<EntityPublicId>-<uuid>`: the idempotency key.
    /// Required; at most 256 characters, not blank, no control characters.
    #[oai(validator(
        min_length = 1,
        max_length = 256,
        pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
    ))]
    lead_reference: String,
    /// `CasaYes`.
    source: Option<String>,
    /// Lead created date, RFC 3339 with up to 9 fractional digits (.NET sends 7).
    created_date: Option<String>,
    /// Lead message (free text from the public).
    message: Option<String>,
    /// Sender name.
    sender_name: Option<String>,
    /// Sender email.
    sender_email: Option<String>,
    /// Sender phone; Portuguese national numbers come without the country code.
    sender_phone: Option<String>,
    /// Projected residents for the apartment (from the sender's profile; may be missing).
    number_residents: Option<i64>,
    /// Has pets (from the sender's profile; may be missing).
    has_pets: Option<bool>,
    /// `Soon`, `Flexible`, `ExactDate`, or a datetime (an exact date) (from the sender's profile; may be missing).
    estimated_date_to_move: Option<String>,
    /// Monthly income (from the sender's profile; may be missing).
    monthly_income: Option<i64>,
    /// Presentation letter (from the sender's profile; may be missing or empty).
    presentation_letter: Option<String>,
}

/// The `LeadReference` of the documentation's example.
pub const SPEC_EXAMPLE_REFERENCE: &str =
    "CY-Listing-A3bT7Y2xL6w-b24e6f80-17c9-4a8f-92b3-7e123d4bcf90";

impl Example for CasaYesLeadPayload {
    /// The example of the CasaYes documentation, verbatim.
    fn example() -> Self {
        let value = serde_json::from_str(lead_inbox_domain::casayes::SPEC_EXAMPLE).ok();
        CasaYesLeadPayload::parse_from_json(value)
            .unwrap_or_else(|_| unreachable!("the documented example fits the documented schema"))
    }
}

/// The webhook body, not yet read.
pub struct CasaYesBody(poem::Body);

impl CasaYesBody {
    /// Reads at most `limit` bytes. A longer body (announced by `Content-Length` or
    /// found while reading a chunked one) stops the reading: its first `limit` bytes
    /// come back as [`DeliveryBody::TooLarge`].
    pub async fn read(self, limit: usize) -> Result<DeliveryBody, std::io::Error> {
        let mut stream = self.0.into_bytes_stream();
        let mut bytes = Vec::new();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            let room = limit - bytes.len();
            if chunk.len() > room {
                bytes.extend_from_slice(&chunk[..room]);
                return Ok(DeliveryBody::TooLarge {
                    prefix: bytes,
                    limit,
                });
            }
            bytes.extend_from_slice(&chunk);
        }
        Ok(DeliveryBody::Complete(bytes))
    }
}

impl<'a> ApiExtractor<'a> for CasaYesBody {
    const TYPES: &'static [ApiExtractorType] = &[ApiExtractorType::RequestObject];

    type ParamType = ();
    type ParamRawType = ();

    fn register(registry: &mut Registry) {
        CasaYesLeadPayload::register(registry);
    }

    fn request_meta() -> Option<MetaRequest> {
        Some(MetaRequest {
            description: Some(
                "The lead, as CasaYes sends it. Read whatever the Content-Type (none and text/plain are accepted).",
            ),
            content: vec![MetaMediaType {
                content_type: "application/json",
                schema: CasaYesLeadPayload::schema_ref(),
            }],
            required: true,
        })
    }

    async fn from_request(
        _request: &'a Request,
        body: &mut RequestBody,
        _param_opts: ExtractParamOptions<Self::ParamType>,
    ) -> poem::Result<Self> {
        Ok(CasaYesBody(body.take()?))
    }
}
