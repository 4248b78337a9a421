//! The checked models, built from the actors in `src/`.

pub mod determinism;
pub mod parliament;
pub mod parliament_refinement;
pub mod parliament_spec;
pub mod paxos_spec;
pub mod symmetry;
pub mod synod;
pub mod synod_refinement;
pub mod synod_spec;

/// Parses a model's flags (as `parliament check MODEL FLAGS` takes them) into its clap `Args`:
/// the one source of each model's defaults.
pub fn parse_flags<A: clap::Args>(flags: &[&str]) -> Result<A, String> {
    #[derive(clap::Parser)]
    struct Flags<A: clap::Args> {
        #[command(flatten)]
        model: A,
    }
    use clap::Parser;
    Flags::<A>::try_parse_from(std::iter::once("parliament").chain(flags.iter().copied()))
        .map(|f| f.model)
        .map_err(|e| e.to_string())
}
