//! The checked models, built from the actors in `src/`.

pub mod synod;
pub mod parliament;
