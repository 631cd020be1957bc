//! The Careline desktop agent. Its building blocks are sans-IO and tested
//! on their own in virtual time: the phone (SIP registration and calls),
//! each line's audio stream, the jitter buffer, the call screen's state
//! (identity gate, hold reminders, wrap-up). `headless` drives them with
//! real sockets and clocks; the window is still to come.

pub mod api;
pub mod audio;
pub mod engine;
pub mod headless;
pub mod jitter;
pub mod phone;
pub mod screen;
pub mod stream;
pub mod ui;
pub mod wav;
