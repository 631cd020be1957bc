//! The Careline desktop agent's building blocks, sans-IO and tested on
//! their own: the jitter buffer and the call screen's state (identity gate,
//! hold reminders, wrap-up). The window and the phone come next.

pub mod jitter;
pub mod phone;
pub mod screen;
