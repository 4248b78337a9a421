//! The checked models, built from the actors in `src/`.

pub mod determinism;
pub mod parliament;
pub mod paxos_spec;
pub mod symmetry;
pub mod synod;
pub mod synod_refinement;
pub mod synod_spec;
