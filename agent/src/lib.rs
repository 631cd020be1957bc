//! The Careline desktop agent's building blocks. The window, the phone and
//! the patient card come with the agent issue; what is here is sans-IO and
//! tested on its own.

pub mod jitter;
