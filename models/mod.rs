//! The checked models, built from the actors in `src/`.

pub mod parliament;
pub mod synod;
