//! The payload mix: what each request of the load is, and its body.
//!
//! About 88% new references, 10% redeliveries of recent ones, 1% with a wrong token,
//! 1% malformed bodies (issue #6). Bodies are the CasaYes documentation's example
//! (`SPEC_EXAMPLE`) with another `LeadReference`, built by splicing the reference into
//! a template so that building a body costs next to nothing beside the server.

use bytes::Bytes;
use lead_inbox_domain::casayes::SPEC_EXAMPLE;

/// What one request is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A lead with a reference never sent before: expect `200 created`.
    New,
    /// A lead acknowledged earlier, sent again: expect `200 duplicate`.
    Redelivery,
    /// A valid lead with a token the server does not know: expect `401`.
    WrongToken,
    /// A body that is not JSON: expect `400` (and a quarantined payload).
    Malformed,
}

/// Shares of each kind, in percent; they add up to 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    pub new: u32,
    pub redelivery: u32,
    pub wrong_token: u32,
    pub malformed: u32,
}

impl Mix {
    /// The issue's mix.
    pub const ISSUE: Mix = Mix {
        new: 88,
        redelivery: 10,
        wrong_token: 1,
        malformed: 1,
    };

    /// The kind for a roll in `0..100`.
    pub fn pick(&self, roll: u32) -> Kind {
        let roll = roll % 100;
        if roll < self.new {
            Kind::New
        } else if roll < self.new + self.redelivery {
            Kind::Redelivery
        } else if roll < self.new + self.redelivery + self.wrong_token {
            Kind::WrongToken
        } else {
            Kind::Malformed
        }
    }
}

/// xorshift64*: a fast, seedable generator; the load needs no better randomness.
#[derive(Debug, Clone)]
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Random {
        // Spread small seeds (worker numbers) over the state; never zero.
        Random(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
}

/// The references a worker had acknowledged lately, to redeliver some of them.
#[derive(Debug)]
pub struct Recent {
    ring: Vec<String>,
    next: usize,
}

impl Recent {
    pub const CAPACITY: usize = 256;

    pub fn new() -> Recent {
        Recent {
            ring: Vec::with_capacity(Self::CAPACITY),
            next: 0,
        }
    }

    pub fn remember(&mut self, reference: &str) {
        if self.ring.len() < Self::CAPACITY {
            self.ring.push(reference.to_owned());
        } else {
            self.ring[self.next].clear();
            self.ring[self.next].push_str(reference);
            self.next = (self.next + 1) % Self::CAPACITY;
        }
    }

    /// One of the remembered references, or `None` before the first.
    pub fn pick(&self, random: &mut Random) -> Option<&str> {
        if self.ring.is_empty() {
            return None;
        }
        Some(&self.ring[random.below(self.ring.len() as u64) as usize])
    }
}

impl Default for Recent {
    fn default() -> Self {
        Recent::new()
    }
}

const PLACEHOLDER: &str = "__BENCH_REFERENCE__";

/// Request bodies: the documentation's example around a reference.
#[derive(Debug, Clone)]
pub struct Payloads {
    prefix: String,
    suffix: String,
}

impl Payloads {
    pub fn new() -> Payloads {
        Payloads::with_fields(&[])
    }

    /// The example with `fields` (name, JSON string value) replaced as well.
    pub fn with_fields(fields: &[(&str, &str)]) -> Payloads {
        let mut value: serde_json::Value =
            serde_json::from_str(SPEC_EXAMPLE).unwrap_or(serde_json::Value::Null);
        value["LeadReference"] = serde_json::Value::String(PLACEHOLDER.to_owned());
        for (name, text) in fields {
            value[*name] = serde_json::Value::String((*text).to_owned());
        }
        let text = value.to_string();
        let (prefix, suffix) = text
            .split_once(PLACEHOLDER)
            .map(|(p, s)| (p.to_owned(), s.to_owned()))
            .unwrap_or_default();
        Payloads { prefix, suffix }
    }

    /// The lead with `reference` (a reference of [`reference`]'s shape: nothing to
    /// escape in JSON).
    pub fn lead(&self, reference: &str) -> Bytes {
        let mut body =
            String::with_capacity(self.prefix.len() + reference.len() + 1 + self.suffix.len());
        body.push_str(&self.prefix);
        body.push_str(reference);
        body.push_str(&self.suffix);
        Bytes::from(body)
    }

    /// A body cut short in the middle: not JSON.
    pub fn malformed(&self, reference: &str) -> Bytes {
        let lead = self.lead(reference);
        lead.slice(..lead.len() / 2)
    }
}

impl Default for Payloads {
    fn default() -> Self {
        Payloads::new()
    }
}

/// A fresh reference of CasaYes's documented shape, unique to `run`, `worker`, `n`.
pub fn reference(run: &str, worker: usize, n: u64) -> String {
    format!("CY-Listing-A3bT7Y2xL6w-{run}-{worker:04x}-{n:010x}")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn the_mix_has_the_issues_proportions() {
        let mut random = Random::new(7);
        let mut counts: BTreeMap<Kind, u64> = BTreeMap::new();
        let draws = 200_000;
        for _ in 0..draws {
            *counts
                .entry(Mix::ISSUE.pick(random.below(100) as u32))
                .or_default() += 1;
        }
        let share = |kind| counts.get(&kind).copied().unwrap_or(0) as f64 / draws as f64;
        assert!((share(Kind::New) - 0.88).abs() < 0.005, "{counts:?}");
        assert!((share(Kind::Redelivery) - 0.10).abs() < 0.005, "{counts:?}");
        assert!((share(Kind::WrongToken) - 0.01).abs() < 0.002, "{counts:?}");
        assert!((share(Kind::Malformed) - 0.01).abs() < 0.002, "{counts:?}");
    }

    #[test]
    fn every_roll_maps_to_exactly_its_share() {
        let mut counts: BTreeMap<Kind, u32> = BTreeMap::new();
        for roll in 0..100 {
            *counts.entry(Mix::ISSUE.pick(roll)).or_default() += 1;
        }
        assert_eq!(counts[&Kind::New], 88);
        assert_eq!(counts[&Kind::Redelivery], 10);
        assert_eq!(counts[&Kind::WrongToken], 1);
        assert_eq!(counts[&Kind::Malformed], 1);
    }

    #[test]
    fn lead_bodies_parse_with_their_reference_and_malformed_ones_do_not() {
        let payloads = Payloads::new();
        let reference = reference("r1", 3, 42);
        let lead = lead_inbox_domain::casayes::parse_payload(&payloads.lead(&reference))
            .expect("a lead body parses");
        assert_eq!(lead.reference.as_str(), reference);
        let other = Payloads::with_fields(&[("EntityType", "Office")]);
        let lead =
            lead_inbox_domain::casayes::parse_payload(&other.lead(&reference)).expect("parses");
        assert_eq!(
            lead.entity_type.as_ref().map(|t| t.as_str()),
            Some("Office")
        );
        let refused = lead_inbox_domain::casayes::parse_payload(&payloads.malformed(&reference))
            .expect_err("half a body is not a lead");
        assert_eq!(refused.kind, lead_inbox_domain::RejectionKind::NotJson);
    }

    #[test]
    fn recent_keeps_the_latest_references_only() {
        let mut recent = Recent::new();
        let mut random = Random::new(1);
        assert_eq!(recent.pick(&mut random), None);
        for n in 0..(Recent::CAPACITY as u64 + 10) {
            recent.remember(&reference("r", 0, n));
        }
        for _ in 0..1000 {
            let picked = recent.pick(&mut random).expect("some").to_owned();
            let oldest_kept = reference("r", 0, 10);
            assert!(picked >= oldest_kept, "{picked} was forgotten");
        }
    }

    #[test]
    fn references_are_unique_and_valid() {
        let a = reference("run", 1, 2);
        assert_ne!(a, reference("run", 2, 1));
        assert_ne!(a, reference("other", 1, 2));
        assert!(lead_inbox_domain::LeadReference::parse(&a).is_ok());
    }
}
