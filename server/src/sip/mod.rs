//! The server's SIP side, sans-IO: digest challenges and lock-outs, the
//! registrar, and the endpoint that puts transactions, validation and the
//! method handlers together. Nothing here reads the clock or awaits.

pub mod digest;
pub mod endpoint;
pub mod registrar;
/// Registering to providers' trunks: the shared registration client.
pub mod trunk_registration {
    pub use careline_shared::sip::registration::{
        Account as TrunkAccount, RegistrationEvent as TrunkEvent,
        Registrations as TrunkRegistrations,
    };
}
