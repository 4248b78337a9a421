//! The checked models, built from the actors in `src/`.

pub mod synod;
