//! Careline server.
