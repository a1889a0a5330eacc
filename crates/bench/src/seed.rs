//! Data for the read path: a million leads written straight through the storage
//! library (`SeaOrmStore` and `LeadWriter::insert_batch`, the code the server
//! itself stores with), much faster than through HTTP.
//!
//! Every seeded lead is a pure function of its number `n` and the total ([`SeedLead`]),
//! so that the checks can tell what each answer must hold without asking the
//! database ([`Seeded`]): senders are reused (about [`LEADS_PER_SENDER`] leads each, so
//! contacts have several), about one sender in eight is a Silva ([`COMMON_TERM`]), and
//! [`RARE_LEADS`] leads, spread over the whole range, come from people named
//! [`RARE_NAME`], a name no other lead holds ([`RARE_TERM`]).

use std::{
    collections::HashSet,
    time::{Duration, Instant},
};

use chrono::{TimeDelta, Utc};
use lead_inbox_application::LeadWriter;
use lead_inbox_domain::{NewLead, RawPayload, casayes::parse_payload, search::fold};
use lead_inbox_storage_seaorm::{SeaOrmStore, StoreOptions};

use crate::{
    BenchError,
    mix::{Payloads, Random},
};

const BATCH: u64 = 1000;
const INSERTERS: u64 = 2;

/// The entity types the read path filters on, and how the seeded leads are spread
/// over them (percent).
pub const ENTITY_TYPES: [(&str, u32); 5] = [
    ("Listing", 60),
    ("Office", 15),
    ("BusinessForm", 10),
    ("User", 10),
    ("EvaluationForm", 5),
];

/// Seeded leads per sender, on average.
pub const LEADS_PER_SENDER: u64 = 4;
/// Leads from people named [`RARE_NAME`]: the rare search must find exactly these.
pub const RARE_LEADS: u64 = 5;
/// A surname no other seeded lead's sender has.
pub const RARE_NAME: &str = "Zéfiroqua";
/// [`RARE_NAME`] as a user would type it: no accent, lower case.
pub const RARE_TERM: &str = "zefiroqua";
/// A surname about one sender in eight has.
pub const COMMON_TERM: &str = "silva";

const FIRST_NAMES: [&str; 8] = [
    "João", "Inês", "Mário", "Sofia", "Tomás", "Beatriz", "André", "Leonor",
];
const SURNAMES: [&str; 8] = [
    "Silva",
    "Santos",
    "Ferreira",
    "Pereira",
    "Oliveira",
    "Costa",
    "Rodrigues",
    "Martins",
];

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

/// Who sent a seeded lead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Sender {
    /// One of the `total / LEADS_PER_SENDER` reused senders.
    Regular(u64),
    /// The `k`-th person named [`RARE_NAME`] (one lead each).
    Rare(u64),
}

impl Sender {
    pub fn name(self) -> String {
        match self {
            Sender::Regular(s) => {
                let first = FIRST_NAMES[(s % FIRST_NAMES.len() as u64) as usize];
                let last =
                    SURNAMES[((s / FIRST_NAMES.len() as u64) % SURNAMES.len() as u64) as usize];
                format!("{first} {last}")
            }
            Sender::Rare(_) => format!("Ana {RARE_NAME}"),
        }
    }

    /// Lower case already: as the API gives it normalised.
    pub fn email(self) -> String {
        match self {
            Sender::Regular(s) => format!("sender{s}@example.com"),
            Sender::Rare(k) => format!("{RARE_TERM}{k}@example.org"),
        }
    }

    /// A Portuguese mobile number (`+3519…` in E.164).
    pub fn phone(self) -> String {
        match self {
            Sender::Regular(s) => format!("91{:07}", s % 10_000_000),
            Sender::Rare(k) => format!("96{:07}", k % 10_000_000),
        }
    }
}

/// Seeded lead number `n` (of `total`): `n = total - 1` is the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedLead {
    pub n: u64,
    /// Index into [`ENTITY_TYPES`].
    pub entity: usize,
    pub sender: Sender,
}

impl SeedLead {
    pub fn of(n: u64, total: u64) -> SeedLead {
        let mut random = Random::new(0x5EED_0000 + n);
        let entity = entity_for(random.below(100) as u32);
        let senders = (total / LEADS_PER_SENDER).max(1);
        let sender = match rare_index(n, total) {
            Some(k) => Sender::Rare(k),
            None => Sender::Regular(random.below(senders)),
        };
        SeedLead { n, entity, sender }
    }

    /// Of CasaYes's documented shape, `CY-<EntityType>-<EntityPublicId>-<uuid>`, the
    /// UUID ending in `n` (so that it reads back without an anomaly).
    pub fn reference(&self) -> String {
        format!(
            "CY-{}-A3bT7Y2xL6w-5eed0000-0000-4000-8000-{:012}",
            ENTITY_TYPES[self.entity].0, self.n
        )
    }

    /// The CasaYes payload of this lead.
    fn payload(&self) -> bytes::Bytes {
        let (name, email, phone) = (self.sender.name(), self.sender.email(), self.sender.phone());
        Payloads::with_fields(&[
            ("EntityType", ENTITY_TYPES[self.entity].0),
            ("SenderName", &name),
            ("SenderEmail", &email),
            ("SenderPhone", &phone),
        ])
        .lead(&self.reference())
    }
}

/// Which of the [`RARE_LEADS`] lead `n` is, if it is one: they sit at 10%, 30%, …,
/// 90% of the range, so that no part of the table holds them all.
fn rare_index(n: u64, total: u64) -> Option<u64> {
    (0..RARE_LEADS).find(|k| n == total * (2 * k + 1) / (2 * RARE_LEADS))
}

/// What a seeded database holds, worked out from the generator alone: the answers
/// the read path's checks expect.
#[derive(Debug, Clone, Copy)]
pub struct Seeded {
    pub total: u64,
}

impl Seeded {
    /// Seeded leads, newest first.
    fn newest_first(self) -> impl Iterator<Item = SeedLead> {
        (0..self.total)
            .rev()
            .map(move |n| SeedLead::of(n, self.total))
    }

    /// The references of the first `limit` leads whose sender name holds `term`
    /// (folded: no accents, lower case), newest first, as the list returns them. The
    /// seeded emails, phones and messages never hold [`RARE_TERM`] or
    /// [`COMMON_TERM`], so the name decides.
    pub fn named(self, term: &str, limit: usize) -> Vec<String> {
        let term = fold(term);
        self.newest_first()
            .filter(|lead| fold(&lead.sender.name()).contains(&term))
            .take(limit)
            .map(|lead| lead.reference())
            .collect()
    }

    /// Contacts `skip..skip + take` as the API lists them (most recently active first):
    /// `(email, leads)`.
    pub fn contacts(self, skip: usize, take: usize) -> Vec<(String, u64)> {
        let senders = (self.total / LEADS_PER_SENDER).max(1) as usize;
        let mut leads = vec![0u64; senders];
        for n in 0..self.total {
            if let Sender::Regular(s) = SeedLead::of(n, self.total).sender {
                leads[s as usize] += 1;
            }
        }
        let mut seen = HashSet::new();
        self.newest_first()
            .filter(|lead| seen.insert(lead.sender))
            .skip(skip)
            .take(take)
            .map(|lead| {
                let count = match lead.sender {
                    Sender::Regular(s) => leads[s as usize],
                    Sender::Rare(_) => 1,
                };
                (lead.sender.email(), count)
            })
            .collect()
    }

    /// How many contacts there are.
    pub fn contact_count(self) -> usize {
        (0..self.total)
            .map(|n| SeedLead::of(n, self.total).sender)
            .collect::<HashSet<_>>()
            .len()
    }

    /// Leads per entity type, in [`ENTITY_TYPES`]' order.
    pub fn by_entity_type(self) -> [u64; ENTITY_TYPES.len()] {
        let mut counts = [0; ENTITY_TYPES.len()];
        for n in 0..self.total {
            counts[SeedLead::of(n, self.total).entity] += 1;
        }
        counts
    }

    /// The newest and the oldest lead's reference: the first and last an export of
    /// everything holds.
    pub fn newest_and_oldest(self) -> (String, String) {
        (
            SeedLead::of(self.total.saturating_sub(1), self.total).reference(),
            SeedLead::of(0, self.total).reference(),
        )
    }
}

/// The store at `url`, its schema brought up to date.
pub async fn open_migrated(url: &str, options: &StoreOptions) -> Result<SeaOrmStore, BenchError> {
    let store = SeaOrmStore::connect(url, options)
        .await
        .map_err(|e| BenchError::new(format!("cannot open the database: {e}")))?;
    store
        .migrate()
        .await
        .map_err(|e| BenchError::new(format!("migrations: {e}")))?;
    Ok(store)
}

/// The console user the read path signs in as, to time the inbox page (issue #20).
pub const CONSOLE_USER: &str = "bench";
pub const CONSOLE_PASSWORD: &str = "bench-console-password";

/// Creates the console user of the read path in the database at `url`, unless it
/// exists (a kept database measured again).
pub async fn console_user(url: &str) -> Result<(), BenchError> {
    use lead_inbox_application::{ConsoleAccess, Role, SecretString, SystemClock, UserError};
    let store = open_migrated(url, &StoreOptions::default()).await?;
    let people = std::sync::Arc::new(store.console());
    let access = ConsoleAccess::new(
        people.clone(),
        people,
        std::sync::Arc::new(SystemClock),
        Duration::from_secs(3600),
    );
    let created = access
        .create_user(
            CONSOLE_USER,
            Role::Agent,
            SecretString::from(CONSOLE_PASSWORD.to_owned()),
        )
        .await;
    store.close().await;
    match created {
        Ok(_) | Err(UserError::Taken(_)) => Ok(()),
        Err(error) => Err(BenchError::new(format!("the console user: {error}"))),
    }
}

/// Stores `total` leads ([`SeedLead`]) in the (migrated) database at `url`, received
/// 7 ms apart, the newest now. Returns the time taken.
pub async fn seed(url: &str, total: u64) -> Result<Duration, BenchError> {
    let started = Instant::now();
    let store = open_migrated(url, &StoreOptions::default()).await?;
    let newest = Utc::now();
    let batches = total.div_ceil(BATCH);
    let tasks: Vec<_> = (0..INSERTERS)
        .map(|task| {
            let leads = store.leads();
            tokio::spawn(async move {
                let mut batch_number = task;
                while batch_number < batches {
                    let first = batch_number * BATCH;
                    let last = (first + BATCH).min(total);
                    let batch = (first..last)
                        .map(|n| new_lead(SeedLead::of(n, total), newest, total))
                        .collect::<Result<Vec<_>, _>>()?;
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
    if result.is_ok() {
        // Planner statistics and SQLite's search index, as a database that has been
        // running has them.
        result = store
            .settle_after_bulk_load()
            .await
            .map_err(|e| BenchError::new(format!("settling after the bulk load: {e}")));
    }
    store.close().await;
    result.map(|()| started.elapsed())
}

/// `lead` as the storage library takes it, received `7 ms × (total - n)` before
/// `newest`.
fn new_lead(
    lead: SeedLead,
    newest: chrono::DateTime<Utc>,
    total: u64,
) -> Result<NewLead, BenchError> {
    parsed_lead(
        &lead.payload(),
        newest - TimeDelta::milliseconds((total - lead.n) as i64 * 7),
    )
}

/// The lead a generated webhook `body` holds, as the storage library takes it.
pub fn parsed_lead(body: &[u8], received_at: chrono::DateTime<Utc>) -> Result<NewLead, BenchError> {
    let details = parse_payload(body)
        .map_err(|e| BenchError::new(format!("a generated lead does not parse: {e}")))?;
    Ok(NewLead {
        details,
        raw: RawPayload::new(body.to_vec()),
        received_at,
    })
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

    #[test]
    fn entity_shares_add_up_to_100() {
        assert_eq!(
            ENTITY_TYPES.iter().map(|(_, share)| share).sum::<u32>(),
            100
        );
    }

    #[test]
    fn seeded_leads_are_the_same_every_time_and_parse() {
        let total = 10_000;
        for n in [0, 1, 4_999, total - 1] {
            let lead = SeedLead::of(n, total);
            assert_eq!(lead, SeedLead::of(n, total));
            let details = parse_payload(&lead.payload()).expect("a seeded lead parses");
            assert_eq!(details.reference.as_str(), lead.reference());
            assert_eq!(
                details.sender.name.as_deref(),
                Some(lead.sender.name().as_str())
            );
            assert_eq!(
                details.sender.email.as_ref().and_then(|e| e.normalised()),
                Some(lead.sender.email().as_str())
            );
            assert!(
                details
                    .sender
                    .phone
                    .as_ref()
                    .and_then(|p| p.e164())
                    .is_some()
            );
            assert!(details.anomalies.is_empty(), "{:?}", details.anomalies);
        }
    }

    #[test]
    fn the_rare_name_is_rare_and_the_common_one_common() {
        let seeded = Seeded { total: 20_000 };
        let rare = seeded.named(RARE_TERM, 50);
        assert_eq!(rare.len() as u64, RARE_LEADS);
        let n = |reference: &String| reference.rsplit('-').next().map(str::to_owned);
        assert!(
            rare.windows(2).all(|pair| n(&pair[0]) > n(&pair[1])),
            "newest first: {rare:?}"
        );
        let common = seeded.named(COMMON_TERM, usize::MAX).len() as f64;
        let share = common / seeded.total as f64;
        assert!((0.09..0.16).contains(&share), "{share}");
        // Nothing else in a lead holds either term.
        let message = fold(lead_inbox_domain::casayes::SPEC_EXAMPLE);
        let lead = SeedLead::of(7, seeded.total);
        for text in [message, lead.sender.email(), lead.sender.phone()] {
            assert!(
                !text.contains(RARE_TERM) && !text.contains(COMMON_TERM),
                "{text}"
            );
        }
    }

    #[test]
    fn senders_are_reused_so_contacts_have_several_leads() {
        let seeded = Seeded { total: 20_000 };
        let contacts = seeded.contact_count();
        assert!(
            (3_500..=5_000 + RARE_LEADS as usize).contains(&contacts),
            "{contacts}"
        );
        let first = seeded.contacts(0, 50);
        assert_eq!(first.len(), 50);
        assert!(first.iter().filter(|(_, leads)| *leads > 1).count() > 40);
        let newest = SeedLead::of(seeded.total - 1, seeded.total);
        assert_eq!(first[0].0, newest.sender.email());
        let deep = seeded.contacts(450, 50);
        assert!(deep.iter().all(|contact| !first.contains(contact)));
        assert_eq!(seeded.by_entity_type().iter().sum::<u64>(), seeded.total);
    }
}
