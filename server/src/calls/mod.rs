//! The call core, sans-IO: who gets offered which call and when. The queue
//! and its agents ([`acd`]) decide; the B2BUA turns the decisions into SIP
//! legs. Every fact is an [`event::Event`], the one stream that the audit
//! trail, the live feeds and the indicators fold.

pub mod acd;
pub mod agents;
pub mod b2bua;
pub mod event;
pub mod media;
pub(crate) mod timers;
