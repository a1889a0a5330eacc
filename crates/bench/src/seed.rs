//! Data for the read path: a million leads written straight through the storage
//! library (`SeaOrmStore` and `LeadRepository::insert_batch`, the code the server
//! itself stores with), much faster than through HTTP.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::{TimeDelta, Utc};
use lead_inbox_application::LeadRepository;
use lead_inbox_domain::{NewLead, RawPayload, casayes::parse_payload};
use lead_inbox_storage_seaorm::{SeaOrmStore, StoreOptions};

use crate::{
    BenchError,
    load::ENTITY_TYPES,
    mix::{Payloads, Random},
};

const BATCH: u64 = 1000;
const INSERTERS: u64 = 2;

/// The entity type (index into [`ENTITY_TYPES`]) for a roll in `0..100`.
pub fn entity_for(roll: u32) -> usize {
    let mut bound = 0;
    for (index, (_, share)) in ENTITY_TYPES.iter().enumerate() {
        bound += share;
        if roll % 100 < bound {
            return index;
        }
    }
    0
}

/// Stores `total` leads in the (migrated) database at `url`, spread over the entity
/// types and received a few milliseconds apart, the newest now. Returns the time taken.
pub async fn seed(url: &str, total: u64) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let store = SeaOrmStore::connect(url, &StoreOptions::default())
        .await
        .map_err(|e| BenchError::new(format!("cannot open the database to seed: {e}")))?;
    store
        .migrate()
        .await
        .map_err(|e| BenchError::new(format!("migrations: {e}")))?;
    let templates: Arc<Vec<Payloads>> = Arc::new(
        ENTITY_TYPES
            .iter()
            .map(|(entity, _)| Payloads::with_fields(&[("EntityType", entity)]))
            .collect(),
    );
    let newest = Utc::now();
    let batches = total.div_ceil(BATCH);
    let tasks: Vec<_> = (0..INSERTERS)
        .map(|task| {
            let leads = store.leads();
            let templates = templates.clone();
            tokio::spawn(async move {
                let mut random = Random::new(0x5EED + task);
                let mut batch_number = task;
                while batch_number < batches {
                    let first = batch_number * BATCH;
                    let last = (first + BATCH).min(total);
                    let mut batch = Vec::with_capacity((last - first) as usize);
                    for n in first..last {
                        let entity = entity_for(random.below(100) as u32);
                        let reference =
                            format!("CY-{}-A3bT7Y2xL6w-seed-{n:010}", ENTITY_TYPES[entity].0);
                        let raw = templates[entity].lead(&reference);
                        let details = parse_payload(&raw).map_err(|e| {
                            BenchError::new(format!("a seeded lead does not parse: {e}"))
                        })?;
                        batch.push(NewLead {
                            details,
                            raw: RawPayload::new(raw.to_vec()),
                            received_at: newest - TimeDelta::milliseconds((total - n) as i64 * 7),
                        });
                    }
                    leads
                        .insert_batch(batch)
                        .await
                        .map_err(|e| BenchError::new(format!("insert_batch: {e}")))?;
                    if (batch_number + 1) % 100 == 0 {
                        eprintln!(
                            "    seeded {:>9} of {total} leads ({:.0} s)",
                            (batch_number + 1) * BATCH,
                            started.elapsed().as_secs_f64()
                        );
                    }
                    batch_number += INSERTERS;
                }
                Ok::<(), BenchError>(())
            })
        })
        .collect();
    let mut result = Ok(());
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => result = Err(error),
            Err(_) => result = Err(BenchError::new("a seeding task panicked")),
        }
    }
    store.close().await;
    result.map(|()| started.elapsed())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_get_their_shares() {
        let mut counts = [0u32; ENTITY_TYPES.len()];
        for roll in 0..100 {
            counts[entity_for(roll)] += 1;
        }
        let shares: Vec<u32> = ENTITY_TYPES.iter().map(|(_, share)| *share).collect();
        assert_eq!(counts.to_vec(), shares);
    }
}
