//! The explorer: stateright's web interface over a model, told in the paper's words
//! (`parliament explore MODEL`, and `parliament check ... --explore` opened on a
//! counterexample).
//!
//! stateright's Explorer lists, from a state, the actions the model can take (each by its
//! `format_action`) and shows the state a chosen action leads to (by its `format_step`, or its
//! `Debug` when "Complete State?" is ticked). A model is served wrapped in [`Told`], which
//! gives both in the paper's words through the model's [`Narrate`] hooks: an action as
//! [`Narrate::tell_action`] tells it ("priest 1 receives NextBallot(1.1) from priest 0"), a
//! step as that action followed by [`Narrate::tell_state`] of the state it leads to (the
//! ballots, what each priest learned or applied).
//!
//! A path in the explorer is a URL: `#/steps/I/A1/A2/...`, the index of the initial state,
//! then of each action among those listed at its state. The actions of an actor model come
//! from hash maps whose order differs between two equal states built apart (each map has its
//! own hash keys), so stateright's own indices would not name the same path twice. [`Told`]
//! lists the actions in a fixed order (by a hash that does not vary between processes, as the
//! simulation does), so a URL names one path in any run of the same model and flags:
//! [`encode`] gives a counterexample's.
//!
//! stateright's server answers a request for a state that does not exist (an index past the
//! actions listed) with 404 and the text "Unable to find state following action indices
//! ...", and goes on serving; `tests/explorer.rs` checks both.

use super::simulation::ordered_actions;
use super::*;
use crate::models::{lifted_properties, Wraps};

/// A model as the explorer shows it: the same states, actions and properties, told in the
/// paper's words, with its actions in a fixed order.
#[derive(Clone)]
pub struct Told<M: Model> {
    model: M,
    properties: std::sync::Arc<Vec<Property<M>>>,
}

impl<M: Model> Told<M> {
    pub fn new(model: M) -> Self {
        let properties = std::sync::Arc::new(model.properties());
        Told { model, properties }
    }
}

impl<M> Model for Told<M>
where
    M: Narrate,
    M::State: Debug + Hash,
    M::Action: Clone + Debug + Hash,
{
    type State = M::State;
    type Action = M::Action;

    fn init_states(&self) -> Vec<M::State> {
        self.model.init_states()
    }

    fn actions(&self, state: &M::State, actions: &mut Vec<M::Action>) {
        actions.extend(ordered_actions(&self.model, state));
    }

    fn next_state(&self, state: &M::State, action: M::Action) -> Option<M::State> {
        self.model.next_state(state, action)
    }

    fn format_action(&self, action: &M::Action) -> String {
        self.model.tell_action(action)
    }

    fn format_step(&self, last_state: &M::State, action: M::Action) -> Option<String> {
        let told = self.model.tell_action(&action);
        let next = self.model.next_state(last_state, action)?;
        let state = self
            .model
            .tell_state(&next)
            .unwrap_or_else(|| format!("{next:#?}"));
        Some(format!("{told}\n\nthen:\n{state}"))
    }

    fn as_svg(&self, path: Path<M::State, M::Action>) -> Option<String> {
        self.model.svg(&path)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        lifted_properties(self)
    }

    fn within_boundary(&self, state: &M::State) -> bool {
        self.model.within_boundary(state)
    }
}

impl<M> Wraps for Told<M>
where
    M: Narrate,
    M::State: Debug + Hash,
    M::Action: Clone + Debug + Hash,
{
    type Inner = M;
    fn inner(&self) -> &M {
        &self.model
    }
    fn inner_state(s: &M::State) -> &M::State {
        s
    }
    fn inner_properties(&self) -> &[Property<M>] {
        &self.properties
    }
}

/// `path` as the explorer's path of action indices (`0/3/1`: the URL `#/steps/0/3/1`), in
/// [`Told`]'s order of actions.
pub fn encode<M>(model: &M, path: &Path<M::State, M::Action>) -> String
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq + Hash,
{
    let steps = path.clone().into_vec();
    let init = model
        .init_states()
        .iter()
        .position(|s| *s == steps[0].0)
        .expect("a path starts at an initial state");
    let mut indices = vec![init.to_string()];
    for (state, action) in &steps {
        if let Some(action) = action {
            let at = ordered_actions(model, state)
                .iter()
                .position(|a| a == action)
                .expect("a path's action is one of its state's");
            indices.push(at.to_string());
        }
    }
    indices.join("/")
}

/// Serves the explorer for `model` on `addr` until the process ends, calling `listening`
/// once the address is known to be free. Binds first, so that an address that cannot be had
/// is an error, not a panic in stateright's server.
pub fn serve<M>(model: M, addr: std::net::SocketAddr, listening: &dyn Fn()) -> Result<(), String>
where
    M: Narrate + Clone + Send + Sync + 'static,
    M::State: Clone + Debug + Hash + PartialEq + Send + Sync,
    M::Action: Clone + Debug + PartialEq + Hash + Send + Sync,
{
    std::net::TcpListener::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    listening();
    Told::new(model).checker().serve(addr);
    Ok(())
}
