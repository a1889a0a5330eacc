//! Managing forwarding: the destinations (create, change, rotate a secret, remove) and
//! the deliveries (list, retry one, replay a period), for the API and the CLI.

use std::{collections::BTreeSet, fmt, sync::Arc};

use chrono::{DateTime, Duration as Span, Utc};
use lead_inbox_domain::{
    LeadEventKind,
    forwarding::{
        Attempt, DEFAULT_MAX_IN_FLIGHT, Delivery, DeliveryId, Destination, DestinationId,
        DestinationKind, DestinationUrl, DestinationUrlError, DisabledReason, ForwardFormat,
        NewDelivery, SECRET_BYTES, SigningSecret, StoredSecret,
    },
};
use secrecy::ExposeSecret;

use super::{
    DeliveryFilter, DeliveryStore, DestinationChange, DestinationStore, NewDestination,
    SecretSealer,
};
use crate::{
    Clock, EventSignal, LeadEventLog, LeadReader, Page, PageRequest, StorageError,
    ports::now_micros,
};

/// The most requests a destination may have open at once.
pub const MAX_IN_FLIGHT: u32 = 256;
/// How long a rotated-out secret keeps signing beside the new one.
pub const ROTATION_OVERLAP_HOURS: i64 = 24;
/// Events read per batch when a replay walks the log.
const REPLAY_BATCH: u32 = 500;

/// Why a destination was not created or changed. Each names the field and the rule.
#[derive(Debug, thiserror::Error)]
pub enum DestinationError {
    #[error("`url` is not accepted: {0}")]
    Url(#[from] DestinationUrlError),
    #[error("`url` is not a NATS URL: {0}; write it like `nats://nats.example:4222`")]
    NatsUrl(String),
    #[error("`subject` is required for a NATS destination, and not allowed for a webhook")]
    Subject,
    #[error("`events` must name at least one event")]
    NoEvents,
    #[error(
        "the `casayes` format forwards `lead.created` only (`lead.updated` has no CasaYes payload)"
    )]
    CasayesUpdates,
    #[error("`casayesToken` is sent with the `casayes` format only")]
    CasayesToken,
    #[error("`maxInFlight` must be between 1 and {MAX_IN_FLIGHT}")]
    MaxInFlight,
    #[error("`entityTypes` must not be empty; leave it out to forward every entity type")]
    NoEntityTypes,
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl DestinationError {
    /// A stable code for the rule, for API clients.
    pub fn rule(&self) -> &'static str {
        match self {
            DestinationError::Url(error) => error.rule(),
            DestinationError::NatsUrl(_) => "invalid_nats_url",
            DestinationError::Subject => "subject",
            DestinationError::NoEvents => "no_events",
            DestinationError::CasayesUpdates => "casayes_created_only",
            DestinationError::CasayesToken => "casayes_token_without_casayes_format",
            DestinationError::MaxInFlight => "max_in_flight",
            DestinationError::NoEntityTypes => "no_entity_types",
            DestinationError::Storage(_) => "storage",
        }
    }
}

/// A destination as asked for (create), before the rules are checked.
#[derive(Clone, Default)]
pub struct DestinationRequest {
    /// Defaults to `webhook`.
    pub kind: Option<DestinationKind>,
    pub url: String,
    pub subject: Option<String>,
    /// Defaults to `lead.created`.
    pub events: Option<BTreeSet<LeadEventKind>>,
    /// Defaults to `lead`.
    pub format: Option<ForwardFormat>,
    pub entity_types: Option<BTreeSet<String>>,
    pub description: Option<String>,
    /// Defaults to [`DEFAULT_MAX_IN_FLIGHT`].
    pub max_in_flight: Option<u32>,
    pub casayes_token: Option<secrecy::SecretString>,
}

impl fmt::Debug for DestinationRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestinationRequest")
            .field("kind", &self.kind)
            .field("events", &self.events)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

/// A change asked for (`PATCH`): each `Some` replaces that field.
#[derive(Clone, Default)]
pub struct DestinationUpdate {
    pub url: Option<String>,
    pub subject: Option<String>,
    pub events: Option<BTreeSet<LeadEventKind>>,
    /// `Some(None)` removes the filter.
    pub entity_types: Option<Option<BTreeSet<String>>>,
    pub description: Option<Option<String>>,
    pub max_in_flight: Option<u32>,
    pub enabled: Option<bool>,
    /// `Some(None)` removes the token.
    pub casayes_token: Option<Option<secrecy::SecretString>>,
}

impl fmt::Debug for DestinationUpdate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DestinationUpdate")
            .field("events", &self.events)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// A destination just created, or whose secret was just rotated, with the new
/// secret: shown once, never again.
pub struct WithSecret {
    pub destination: Destination,
    pub secret: SigningSecret,
}

impl fmt::Debug for WithSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WithSecret")
            .field("destination", &self.destination.id)
            .finish_non_exhaustive()
    }
}

/// The use cases on destinations.
#[derive(Clone)]
pub struct Destinations {
    store: Arc<dyn DestinationStore>,
    events: Arc<dyn LeadEventLog>,
    sealer: Arc<dyn SecretSealer>,
    clock: Arc<dyn Clock>,
    signal: EventSignal,
    allow_private: bool,
}

impl fmt::Debug for Destinations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Destinations")
            .field("allow_private", &self.allow_private)
            .finish_non_exhaustive()
    }
}

impl Destinations {
    /// `allow_private`: `LEAD_INBOX_FORWARD_ALLOW_PRIVATE` (http, and private and
    /// loopback addresses, are accepted).
    pub fn new(
        store: Arc<dyn DestinationStore>,
        events: Arc<dyn LeadEventLog>,
        sealer: Arc<dyn SecretSealer>,
        clock: Arc<dyn Clock>,
        signal: EventSignal,
        allow_private: bool,
    ) -> Self {
        Destinations {
            store,
            events,
            sealer,
            clock,
            signal,
            allow_private,
        }
    }

    /// Creates a destination, with a new signing secret. It receives the events that
    /// happen from now on.
    pub async fn create(
        &self,
        request: DestinationRequest,
    ) -> Result<WithSecret, DestinationError> {
        let kind = request.kind.unwrap_or(DestinationKind::Webhook);
        let format = request.format.unwrap_or(ForwardFormat::Lead);
        let events = request
            .events
            .unwrap_or_else(|| BTreeSet::from([LeadEventKind::Created]));
        let max_in_flight = request.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
        let url = self.checked_url(kind, &request.url)?;
        check_subject(kind, request.subject.as_deref())?;
        check_rules(
            format,
            &events,
            max_in_flight,
            request.entity_types.as_ref(),
        )?;
        if request.casayes_token.is_some() && format != ForwardFormat::Casayes {
            return Err(DestinationError::CasayesToken);
        }
        let secret = new_signing_secret()?;
        let now = now_micros(self.clock.as_ref());
        let destination = self
            .store
            .create(NewDestination {
                kind,
                url,
                subject: request.subject,
                events,
                format,
                entity_types: request.entity_types,
                description: request.description,
                max_in_flight,
                secrets: vec![StoredSecret {
                    sealed: self.sealer.seal(&secret.expose()),
                    expires_at: None,
                }],
                casayes_token: request
                    .casayes_token
                    .map(|token| self.sealer.seal(token.expose_secret())),
                after_event: self.events.last_event_id().await?,
                created_at: now,
            })
            .await?;
        Ok(WithSecret {
            destination,
            secret,
        })
    }

    pub async fn get(&self, id: DestinationId) -> Result<Option<Destination>, StorageError> {
        self.store.get(id).await
    }

    pub async fn list(&self) -> Result<Vec<Destination>, StorageError> {
        self.store.list().await
    }

    /// Applies `update`; `None` when there is no such destination. Enabling one clears
    /// the failures that disabled it.
    pub async fn update(
        &self,
        id: DestinationId,
        update: DestinationUpdate,
    ) -> Result<Option<Destination>, DestinationError> {
        let Some(current) = self.store.get(id).await? else {
            return Ok(None);
        };
        let url = match &update.url {
            Some(url) => Some(self.checked_url(current.kind, url)?),
            None => None,
        };
        if update.subject.is_some() {
            check_subject(current.kind, update.subject.as_deref())?;
        }
        let events = update.events.as_ref().unwrap_or(&current.events);
        let entity_types = match &update.entity_types {
            Some(types) => types.as_ref(),
            None => current.entity_types.as_ref(),
        };
        check_rules(
            current.format,
            events,
            update.max_in_flight.unwrap_or(current.max_in_flight),
            entity_types,
        )?;
        if matches!(update.casayes_token, Some(Some(_))) && current.format != ForwardFormat::Casayes
        {
            return Err(DestinationError::CasayesToken);
        }
        let enabling = update.enabled == Some(true) && !current.enabled();
        let changed = self
            .store
            .change(
                id,
                DestinationChange {
                    url,
                    subject: update.subject.map(Some),
                    events: update.events,
                    entity_types: update.entity_types,
                    description: update.description,
                    max_in_flight: update.max_in_flight,
                    disabled: update
                        .enabled
                        .map(|enabled| (!enabled).then_some(DisabledReason::Operator)),
                    casayes_token: update
                        .casayes_token
                        .map(|token| token.map(|token| self.sealer.seal(token.expose_secret()))),
                    updated_at: now_micros(self.clock.as_ref()),
                    ..DestinationChange::default()
                },
            )
            .await?;
        if enabling {
            self.store.record_health(id, None).await?;
            self.signal.bump();
        }
        Ok(changed)
    }

    /// Enables or disables a destination; `None` when there is none.
    pub async fn set_enabled(
        &self,
        id: DestinationId,
        enabled: bool,
    ) -> Result<Option<Destination>, DestinationError> {
        let update = DestinationUpdate {
            enabled: Some(enabled),
            ..DestinationUpdate::default()
        };
        self.update(id, update).await
    }

    /// A new signing secret; the current one keeps signing beside it for
    /// [`ROTATION_OVERLAP_HOURS`] (older ones stop now). `None` when there is no such
    /// destination.
    pub async fn rotate_secret(
        &self,
        id: DestinationId,
    ) -> Result<Option<WithSecret>, StorageError> {
        let Some(current) = self.store.get(id).await? else {
            return Ok(None);
        };
        let now = now_micros(self.clock.as_ref());
        let secret = new_signing_secret()?;
        let mut secrets = vec![StoredSecret {
            sealed: self.sealer.seal(&secret.expose()),
            expires_at: None,
        }];
        secrets.extend(
            current
                .secrets
                .into_iter()
                .filter(|old| old.expires_at.is_none())
                .map(|old| StoredSecret {
                    sealed: old.sealed,
                    expires_at: Some(now + Span::hours(ROTATION_OVERLAP_HOURS)),
                }),
        );
        let change = DestinationChange {
            secrets: Some(secrets),
            updated_at: now,
            ..DestinationChange::default()
        };
        Ok(self
            .store
            .change(id, change)
            .await?
            .map(|destination| WithSecret {
                destination,
                secret,
            }))
    }

    /// Removes a destination with its deliveries; whether it existed.
    pub async fn delete(&self, id: DestinationId) -> Result<bool, StorageError> {
        self.store.delete(id).await
    }

    fn checked_url(&self, kind: DestinationKind, text: &str) -> Result<String, DestinationError> {
        match kind {
            DestinationKind::Webhook => Ok(DestinationUrl::parse(text, self.allow_private)?
                .as_str()
                .to_owned()),
            DestinationKind::Nats => check_nats_url(text),
        }
    }
}

/// The signing secrets of a destination that sign at `now`, opened, the current one
/// first.
pub fn signing_secrets(
    destination: &Destination,
    sealer: &dyn SecretSealer,
    now: DateTime<Utc>,
) -> Result<Vec<SigningSecret>, super::SealError> {
    let mut live: Vec<&StoredSecret> = destination
        .secrets
        .iter()
        .filter(|secret| secret.expires_at.is_none_or(|expires| expires > now))
        .collect();
    live.sort_by_key(|secret| secret.expires_at.is_some());
    live.into_iter()
        .map(|secret| {
            let opened = sealer.open(&secret.sealed)?;
            SigningSecret::parse(opened.expose_secret())
                .map_err(|error| super::SealError(error.to_string()))
        })
        .collect()
}

fn new_signing_secret() -> Result<SigningSecret, StorageError> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| {
        StorageError::unexpected(format!("no randomness for a signing secret: {error}"))
    })?;
    Ok(SigningSecret::from_random(bytes))
}

/// A new message id: `msg_` and 32 hex digits (128 random bits).
pub fn new_message_id() -> Result<String, StorageError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|error| {
        StorageError::unexpected(format!("no randomness for a message id: {error}"))
    })?;
    Ok(format!(
        "msg_{}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ))
}

fn check_nats_url(text: &str) -> Result<String, DestinationError> {
    let text = text.trim();
    let rest = text
        .strip_prefix("nats://")
        .or_else(|| text.strip_prefix("tls://"))
        .ok_or_else(|| DestinationError::NatsUrl("it must start with nats:// or tls://".into()))?;
    let host = rest.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return Err(DestinationError::NatsUrl("it has no host".into()));
    }
    Ok(text.to_owned())
}

fn check_subject(kind: DestinationKind, subject: Option<&str>) -> Result<(), DestinationError> {
    let valid = |subject: &str| {
        !subject.is_empty()
            && !subject.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
            && subject.split('.').all(|token| !token.is_empty())
    };
    match (kind, subject) {
        (DestinationKind::Nats, Some(subject)) if valid(subject) => Ok(()),
        (DestinationKind::Webhook, None) => Ok(()),
        _ => Err(DestinationError::Subject),
    }
}

fn check_rules(
    format: ForwardFormat,
    events: &BTreeSet<LeadEventKind>,
    max_in_flight: u32,
    entity_types: Option<&BTreeSet<String>>,
) -> Result<(), DestinationError> {
    if events.is_empty() {
        return Err(DestinationError::NoEvents);
    }
    if format == ForwardFormat::Casayes && events.contains(&LeadEventKind::Updated) {
        return Err(DestinationError::CasayesUpdates);
    }
    if !(1..=MAX_IN_FLIGHT).contains(&max_in_flight) {
        return Err(DestinationError::MaxInFlight);
    }
    if entity_types.is_some_and(BTreeSet::is_empty) {
        return Err(DestinationError::NoEntityTypes);
    }
    Ok(())
}

/// The use cases on deliveries: the dead-letter view, retries, replays.
#[derive(Clone)]
pub struct Deliveries {
    deliveries: Arc<dyn DeliveryStore>,
    destinations: Arc<dyn DestinationStore>,
    events: Arc<dyn LeadEventLog>,
    leads: Arc<dyn LeadReader>,
    clock: Arc<dyn Clock>,
    signal: EventSignal,
}

impl fmt::Debug for Deliveries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Deliveries").finish_non_exhaustive()
    }
}

impl Deliveries {
    pub fn new(
        deliveries: Arc<dyn DeliveryStore>,
        destinations: Arc<dyn DestinationStore>,
        events: Arc<dyn LeadEventLog>,
        leads: Arc<dyn LeadReader>,
        clock: Arc<dyn Clock>,
        signal: EventSignal,
    ) -> Self {
        Deliveries {
            deliveries,
            destinations,
            events,
            leads,
            clock,
            signal,
        }
    }

    /// Deliveries newest first, with their attempts.
    pub async fn list(
        &self,
        filter: &DeliveryFilter,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<(Delivery, Vec<Attempt>), DeliveryId>, StorageError> {
        self.deliveries.list(filter, page).await
    }

    pub async fn get(
        &self,
        id: DeliveryId,
    ) -> Result<Option<(Delivery, Vec<Attempt>)>, StorageError> {
        self.deliveries.get(id).await
    }

    /// Makes a failed (or pending) delivery due now; `false` when there is no such
    /// delivery or it was delivered.
    pub async fn retry(&self, id: DeliveryId) -> Result<bool, StorageError> {
        let retried = self
            .deliveries
            .retry(id, now_micros(self.clock.as_ref()))
            .await?;
        if retried {
            self.signal.bump();
        }
        Ok(retried)
    }

    /// Sends every event since `since` that the destination wants again, as new
    /// deliveries (new message ids), whatever became of the first ones. Returns how
    /// many; `None` when there is no such destination.
    pub async fn replay(
        &self,
        destination: DestinationId,
        since: DateTime<Utc>,
    ) -> Result<Option<u64>, StorageError> {
        let Some(destination) = self.destinations.get(destination).await? else {
            return Ok(None);
        };
        let now = now_micros(self.clock.as_ref());
        let replay = now.timestamp_micros();
        let mut after = 0;
        let mut created = 0;
        loop {
            let events = self.events.events_after(after, REPLAY_BATCH).await?;
            let Some(last) = events.last() else { break };
            after = last.id;
            let mut batch = Vec::new();
            for event in events.into_iter().filter(|event| event.at >= since) {
                // An event whose lead is gone (erased, purged) has nothing to send.
                let Some(lead) = self.leads.get_by_id(event.lead_id).await? else {
                    continue;
                };
                let entity_type = lead.details.entity_type.as_ref().map(|t| t.as_str());
                if !destination.wants(event.kind, entity_type) {
                    continue;
                }
                batch.push(NewDelivery {
                    destination_id: destination.id,
                    event_id: event.id,
                    kind: event.kind,
                    event_at: event.at,
                    lead_id: lead.id,
                    lead_reference: lead.reference().clone(),
                    replay,
                    message_id: new_message_id()?,
                    created_at: now,
                });
            }
            if !batch.is_empty() {
                created += self.deliveries.enqueue(batch, 0).await?;
            }
        }
        if created > 0 {
            self.signal.bump();
        }
        Ok(Some(created))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destination_rules_name_what_is_wrong() {
        let created = BTreeSet::from([LeadEventKind::Created]);
        let both = BTreeSet::from([LeadEventKind::Created, LeadEventKind::Updated]);
        assert!(check_rules(ForwardFormat::Lead, &both, 8, None).is_ok());
        assert!(matches!(
            check_rules(ForwardFormat::Casayes, &both, 8, None),
            Err(DestinationError::CasayesUpdates)
        ));
        assert!(matches!(
            check_rules(ForwardFormat::Lead, &BTreeSet::new(), 8, None),
            Err(DestinationError::NoEvents)
        ));
        assert!(matches!(
            check_rules(ForwardFormat::Lead, &created, 0, None),
            Err(DestinationError::MaxInFlight)
        ));
        assert!(matches!(
            check_rules(ForwardFormat::Lead, &created, 8, Some(&BTreeSet::new())),
            Err(DestinationError::NoEntityTypes)
        ));
        assert!(check_subject(DestinationKind::Nats, Some("leads.casayes")).is_ok());
        for bad in [
            None,
            Some(""),
            Some("leads.*"),
            Some("leads..x"),
            Some("a b"),
        ] {
            assert!(
                check_subject(DestinationKind::Nats, bad).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_subject(DestinationKind::Webhook, Some("x")).is_err());
        assert!(check_nats_url("nats://user:pw@127.0.0.1:4222").is_ok());
        assert!(check_nats_url("https://127.0.0.1").is_err());
        assert!(check_nats_url("nats://").is_err());
    }

    #[test]
    fn message_ids_are_new_each_time_and_well_formed() {
        let first = new_message_id().unwrap();
        let second = new_message_id().unwrap();
        assert_ne!(first, second);
        assert_eq!(first.len(), 4 + 32);
        assert!(first.starts_with("msg_"));
        assert!(first[4..].bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
