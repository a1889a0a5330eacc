//! sea-orm entities. Private to this crate: rows become domain types in `mapping`.

pub mod lead;
pub mod quarantine;
pub mod webhook_token;
