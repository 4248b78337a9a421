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

/// A model that wraps another (a refinement check around an actor model) and checks the
/// wrapped model's properties on the wrapped state, as its own.
pub trait Wraps: stateright::Model + Sized {
    type Inner: stateright::Model;
    fn inner(&self) -> &Self::Inner;
    fn inner_state(s: &Self::State) -> &<Self::Inner as stateright::Model>::State;
    /// The wrapped model's properties to lift (at most [`LIFTABLE`]).
    fn inner_properties(&self) -> &[stateright::Property<Self::Inner>];
}

/// How many properties [`lifted_properties`] can lift: a property's condition is a plain
/// function, so each lifted one is an instance of `lifted` for its index.
pub const LIFTABLE: usize = 20;

fn lifted<M: Wraps, const I: usize>(m: &M, s: &M::State) -> bool {
    (m.inner_properties()[I].condition)(m.inner(), M::inner_state(s))
}

/// The wrapped model's properties, each checked on the wrapped state.
pub fn lifted_properties<M: Wraps>(m: &M) -> Vec<stateright::Property<M>> {
    let conditions: [fn(&M, &M::State) -> bool; LIFTABLE] = [
        lifted::<M, 0>,
        lifted::<M, 1>,
        lifted::<M, 2>,
        lifted::<M, 3>,
        lifted::<M, 4>,
        lifted::<M, 5>,
        lifted::<M, 6>,
        lifted::<M, 7>,
        lifted::<M, 8>,
        lifted::<M, 9>,
        lifted::<M, 10>,
        lifted::<M, 11>,
        lifted::<M, 12>,
        lifted::<M, 13>,
        lifted::<M, 14>,
        lifted::<M, 15>,
        lifted::<M, 16>,
        lifted::<M, 17>,
        lifted::<M, 18>,
        lifted::<M, 19>,
    ];
    m.inner_properties()
        .iter()
        .zip(conditions)
        .map(|(p, condition)| stateright::Property {
            expectation: p.expectation.clone(),
            name: p.name,
            condition,
        })
        .collect()
}
