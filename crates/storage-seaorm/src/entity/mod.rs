//! sea-orm entities. Private to this crate: rows become domain types in `mapping`.

pub mod console_session;
pub mod console_user;
pub mod credential;
pub mod delivery;
pub mod delivery_attempt;
pub mod destination;
pub mod erased_lead;
pub mod erasure;
pub mod forwarding_state;
pub mod lead;
pub mod lead_event;
pub mod lead_history;
pub mod lead_note;
pub mod lead_tag;
pub mod quarantine;
pub mod setting;
