//! Forwarding in memory: destinations, deliveries and their attempts, kept in the
//! leads' state so that erasing or purging a lead takes its deliveries with it.

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex},
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use lead_inbox_application::{
    Page, PageRequest, StorageError,
    forwarding::{
        Backlog, DeliveryFilter, DeliveryStore, DestinationChange, DestinationStore,
        FinishedAttempt, NewDestination, creation_order,
    },
};
use lead_inbox_domain::{
    LeadId,
    forwarding::{
        Attempt, Delivery, DeliveryId, DeliveryStatus, Destination, DestinationId, NewDelivery,
    },
};

use crate::{Leads, lock};

/// A delivery as kept: the delivery, who leases it until when, and its attempts.
#[derive(Debug)]
struct Kept {
    delivery: Delivery,
    lease: Option<(String, DateTime<Utc>)>,
    attempts: Vec<Attempt>,
}

/// Forwarding's part of the in-memory state.
#[derive(Debug, Default)]
pub(crate) struct Forwarding {
    destinations: BTreeMap<DestinationId, Destination>,
    last_destination: i64,
    deliveries: BTreeMap<DeliveryId, Kept>,
    /// (destination, event, replay) of every delivery: each exists once.
    keys: HashMap<(DestinationId, i64, i64), DeliveryId>,
    last_delivery: i64,
    position: i64,
}

impl Forwarding {
    /// Removes the deliveries (with their attempts) that `keep` refuses.
    fn remove_deliveries(&mut self, keep: impl Fn(&Delivery) -> bool) {
        self.deliveries.retain(|_, kept| keep(&kept.delivery));
        let deliveries = &self.deliveries;
        self.keys.retain(|_, id| deliveries.contains_key(id));
    }

    /// Removes a lead's deliveries and their attempts (it is erased or purged).
    pub(crate) fn remove_lead(&mut self, lead: LeadId) {
        self.remove_deliveries(|delivery| delivery.lead_id != lead);
    }
}

/// Destinations and deliveries in memory ([`DestinationStore`], [`DeliveryStore`]) on
/// the state of the [`crate::InMemoryLeadRepository`] that made it
/// ([`crate::InMemoryLeadRepository::forwarding`]).
#[derive(Debug, Clone)]
pub struct InMemoryForwardingStore {
    state: Arc<Mutex<Leads>>,
}

impl InMemoryForwardingStore {
    pub(crate) fn on(state: Arc<Mutex<Leads>>) -> Self {
        InMemoryForwardingStore { state }
    }
}

#[async_trait]
impl DestinationStore for InMemoryForwardingStore {
    async fn create(&self, new: NewDestination) -> Result<Destination, StorageError> {
        let mut state = lock(&self.state);
        let forwarding = &mut state.forwarding;
        forwarding.last_destination += 1;
        let destination = Destination {
            id: DestinationId(forwarding.last_destination),
            kind: new.kind,
            url: new.url,
            subject: new.subject,
            events: new.events,
            format: new.format,
            entity_types: new.entity_types,
            description: new.description,
            max_in_flight: new.max_in_flight,
            disabled: None,
            secrets: new.secrets,
            casayes_token: new.casayes_token,
            after_event: new.after_event,
            failing_since: None,
            created_at: new.created_at,
            updated_at: new.created_at,
        };
        forwarding
            .destinations
            .insert(destination.id, destination.clone());
        Ok(destination)
    }

    async fn get(&self, id: DestinationId) -> Result<Option<Destination>, StorageError> {
        Ok(lock(&self.state).forwarding.destinations.get(&id).cloned())
    }

    async fn list(&self) -> Result<Vec<Destination>, StorageError> {
        Ok(lock(&self.state)
            .forwarding
            .destinations
            .values()
            .cloned()
            .collect())
    }

    async fn change(
        &self,
        id: DestinationId,
        change: DestinationChange,
    ) -> Result<Option<Destination>, StorageError> {
        let mut state = lock(&self.state);
        let Some(destination) = state.forwarding.destinations.get_mut(&id) else {
            return Ok(None);
        };
        apply(destination, change);
        Ok(Some(destination.clone()))
    }

    async fn record_health(
        &self,
        id: DestinationId,
        failing_since: Option<DateTime<Utc>>,
    ) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        Ok(match state.forwarding.destinations.get_mut(&id) {
            Some(destination) => {
                destination.failing_since = failing_since;
                true
            }
            None => false,
        })
    }

    async fn delete(&self, id: DestinationId) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        let forwarding = &mut state.forwarding;
        if forwarding.destinations.remove(&id).is_none() {
            return Ok(false);
        }
        forwarding.remove_deliveries(|delivery| delivery.destination_id != id);
        Ok(true)
    }
}

/// Applies `change` to `destination` as [`DestinationStore::change`] says.
fn apply(destination: &mut Destination, change: DestinationChange) {
    let DestinationChange {
        url,
        subject,
        events,
        format,
        entity_types,
        description,
        max_in_flight,
        disabled,
        secrets,
        casayes_token,
        updated_at,
    } = change;
    fn set<T>(field: &mut T, value: Option<T>) {
        if let Some(value) = value {
            *field = value;
        }
    }
    set(&mut destination.url, url);
    set(&mut destination.subject, subject);
    set(&mut destination.events, events);
    set(&mut destination.format, format);
    set(&mut destination.entity_types, entity_types);
    set(&mut destination.description, description);
    set(&mut destination.max_in_flight, max_in_flight);
    set(&mut destination.secrets, secrets);
    set(&mut destination.casayes_token, casayes_token);
    if let Some(disabled) = disabled {
        if disabled.is_none() {
            destination.failing_since = None;
        }
        destination.disabled = disabled;
    }
    destination.updated_at = updated_at;
}

#[async_trait]
impl DeliveryStore for InMemoryForwardingStore {
    async fn fanout_position(&self) -> Result<i64, StorageError> {
        Ok(lock(&self.state).forwarding.position)
    }

    async fn enqueue(
        &self,
        deliveries: Vec<NewDelivery>,
        position: i64,
    ) -> Result<u64, StorageError> {
        let mut deliveries = deliveries;
        deliveries.sort_by_key(creation_order);
        let mut state = lock(&self.state);
        let Leads {
            rows, forwarding, ..
        } = &mut *state;
        let mut created = 0;
        for new in deliveries {
            let key = (new.destination_id, new.event_id, new.replay);
            if forwarding.keys.contains_key(&key)
                || !forwarding.destinations.contains_key(&new.destination_id)
                || !rows.contains_key(&new.lead_id)
            {
                continue;
            }
            forwarding.last_delivery += 1;
            let id = DeliveryId(forwarding.last_delivery);
            forwarding.keys.insert(key, id);
            forwarding.deliveries.insert(
                id,
                Kept {
                    delivery: Delivery {
                        id,
                        destination_id: new.destination_id,
                        event_id: new.event_id,
                        kind: new.kind,
                        event_at: new.event_at,
                        lead_id: new.lead_id,
                        lead_reference: new.lead_reference,
                        replay: new.replay,
                        message_id: new.message_id,
                        status: DeliveryStatus::Pending,
                        attempts: 0,
                        next_attempt_at: Some(new.created_at),
                        created_at: new.created_at,
                        updated_at: new.created_at,
                    },
                    lease: None,
                    attempts: Vec::new(),
                },
            );
            created += 1;
        }
        forwarding.position = forwarding.position.max(position);
        Ok(created)
    }

    async fn claim(
        &self,
        destination: DestinationId,
        owner: &str,
        now: DateTime<Utc>,
        lease_until: DateTime<Utc>,
        limit: u32,
    ) -> Result<Vec<Delivery>, StorageError> {
        let mut state = lock(&self.state);
        let claimed = state
            .forwarding
            .deliveries
            .values_mut()
            .filter(|kept| {
                let delivery = &kept.delivery;
                delivery.destination_id == destination
                    && delivery.status == DeliveryStatus::Pending
                    && delivery.next_attempt_at.is_some_and(|due| due <= now)
                    && kept.lease.as_ref().is_none_or(|(_, until)| *until < now)
            })
            .take(limit as usize)
            .map(|kept| {
                kept.lease = Some((owner.to_owned(), lease_until));
                kept.delivery.clone()
            })
            .collect();
        Ok(claimed)
    }

    async fn finish_all(
        &self,
        owner: &str,
        finished: &[FinishedAttempt],
    ) -> Result<Vec<bool>, StorageError> {
        let mut state = lock(&self.state);
        let mut recorded = Vec::with_capacity(finished.len());
        for done in finished {
            let Some(kept) = state.forwarding.deliveries.get_mut(&done.id) else {
                recorded.push(false);
                continue;
            };
            if kept
                .lease
                .as_ref()
                .is_none_or(|(holder, _)| holder != owner)
            {
                recorded.push(false);
                continue;
            }
            let (status, next_attempt_at) = done.outcome.status_after();
            kept.lease = None;
            kept.attempts.push(done.attempt.clone());
            let delivery = &mut kept.delivery;
            delivery.attempts += 1;
            delivery.status = status;
            delivery.next_attempt_at = next_attempt_at;
            delivery.updated_at = done.attempt.at;
            recorded.push(true);
        }
        Ok(recorded)
    }

    async fn get(&self, id: DeliveryId) -> Result<Option<(Delivery, Vec<Attempt>)>, StorageError> {
        Ok(lock(&self.state)
            .forwarding
            .deliveries
            .get(&id)
            .map(|kept| (kept.delivery.clone(), kept.attempts.clone())))
    }

    async fn list(
        &self,
        filter: &DeliveryFilter,
        page: PageRequest<DeliveryId>,
    ) -> Result<Page<(Delivery, Vec<Attempt>), DeliveryId>, StorageError> {
        let state = lock(&self.state);
        let items = state
            .forwarding
            .deliveries
            .values()
            .rev()
            .filter(|kept| {
                page.after().is_none_or(|after| kept.delivery.id < *after)
                    && filter.matches(&kept.delivery)
            })
            .take(page.limit() as usize + 1)
            .map(|kept| (kept.delivery.clone(), kept.attempts.clone()))
            .collect();
        Ok(Page::from_overfetch(
            items,
            page.limit(),
            |(delivery, _)| delivery.id,
        ))
    }

    async fn retry(&self, id: DeliveryId, now: DateTime<Utc>) -> Result<bool, StorageError> {
        let mut state = lock(&self.state);
        let Some(kept) = state.forwarding.deliveries.get_mut(&id) else {
            return Ok(false);
        };
        if kept.delivery.status == DeliveryStatus::Delivered {
            return Ok(false);
        }
        kept.lease = None;
        kept.delivery.status = DeliveryStatus::Pending;
        kept.delivery.next_attempt_at = Some(now);
        kept.delivery.updated_at = now;
        Ok(true)
    }

    async fn release(&self, owner: &str, ids: &[DeliveryId]) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let mut released = 0;
        for id in ids {
            if let Some(kept) = state.forwarding.deliveries.get_mut(id)
                && kept
                    .lease
                    .as_ref()
                    .is_some_and(|(holder, _)| holder == owner)
            {
                kept.lease = None;
                released += 1;
            }
        }
        Ok(released)
    }

    async fn fail_pending(&self, destination: DestinationId) -> Result<u64, StorageError> {
        let mut state = lock(&self.state);
        let now = Utc::now();
        let mut failed = 0;
        for kept in state.forwarding.deliveries.values_mut() {
            let delivery = &mut kept.delivery;
            if delivery.destination_id == destination && delivery.status == DeliveryStatus::Pending
            {
                kept.lease = None;
                delivery.status = DeliveryStatus::Failed;
                delivery.next_attempt_at = None;
                delivery.updated_at = now;
                failed += 1;
            }
        }
        Ok(failed)
    }

    async fn backlog(&self) -> Result<Vec<Backlog>, StorageError> {
        let state = lock(&self.state);
        let mut backlogs: BTreeMap<DestinationId, Backlog> = BTreeMap::new();
        for kept in state.forwarding.deliveries.values() {
            let delivery = &kept.delivery;
            if delivery.status != DeliveryStatus::Pending {
                continue;
            }
            let backlog = backlogs
                .entry(delivery.destination_id)
                .or_insert_with(|| Backlog {
                    destination_id: delivery.destination_id,
                    pending: 0,
                    oldest_pending_at: None,
                });
            backlog.pending += 1;
            backlog.oldest_pending_at = Some(
                backlog
                    .oldest_pending_at
                    .map_or(delivery.created_at, |oldest| {
                        oldest.min(delivery.created_at)
                    }),
            );
        }
        Ok(backlogs.into_values().collect())
    }
}
