//! Rejoining after a lost ledger (see "Rejoining after a lost ledger" in the module docs):
//! a rejoining priest learns decrees like any priest, and promises, votes, confirms and runs
//! for nothing until every other priest told it its highest ballot, a president took office
//! after it began, and it learned every decree below that president's first own number.
//! And the other side: a priest that a rejoining priest asks answers it.

use super::{Ledger, Msg, ParliamentPriest, PriestState, Step, Timer};
use stateright::actor::Id;
use std::borrow::Cow;

impl ParliamentPriest {
    /// A priest that lost its ledger starts rejoining: it asks every other priest for its
    /// highest ballot (and a president to take office anew), again on each election timeout.
    pub(super) fn start_rejoining(&self, ledger: Ledger, step: &mut Step) -> PriestState {
        let state = self.rebuild(ledger);
        for q in self.others() {
            step.send(q, Msg::Rejoin);
        }
        if self.heartbeat.is_some() {
            step.set_timer(Timer::Election, self.election.clone());
        }
        state
    }

    /// A rejoining priest's election timer (deployed): it asks again, until clear (lost
    /// messages, or no president yet).
    pub(super) fn ask_again(&self, step: &mut Step) {
        for q in self.others() {
            step.send(q, Msg::Rejoin);
        }
        step.set_timer(Timer::Election, self.election.clone());
    }

    /// A rejoining priest's messages: the other priests' highest ballots, a president's offer,
    /// decrees (learned like any priest), commands (forwarded like a follower). It promises,
    /// votes, confirms and answers other rejoining priests in nothing: what it knows is not
    /// what it knew.
    pub(super) fn step_rejoining(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        msg: Msg,
        step: &mut Step,
    ) {
        match msg {
            Msg::Highest { ballot } => {
                let Some(q) = self.ix(src) else { return };
                let r = rejoin_of(state);
                if r.heard.contains(q) && ballot <= r.highest {
                    return;
                }
                let state = state.to_mut();
                let r = rejoin_of_mut(state);
                r.heard = r.heard.with(q);
                r.highest = r.highest.max(ballot);
                step.save = true;
                self.clear_rejoin(state, step);
            }

            Msg::Rejoined { ballot, until } => {
                if rejoin_of(state).offer.is_some_and(|(b, _)| b >= ballot) {
                    return;
                }
                let state = state.to_mut();
                rejoin_of_mut(state).offer = Some((ballot, until));
                step.save = true;
                self.clear_rejoin(state, step);
            }

            Msg::Success { .. } | Msg::Snapshot { .. } | Msg::Request { .. } => {
                self.step_follower(state, src, msg, step)
            }
            Msg::Heartbeat { .. } | Msg::Catchup { .. } => self.step_priest(state, src, msg, step),

            Msg::NextBallot { .. }
            | Msg::BeginBallot { .. }
            | Msg::Confirm { .. }
            | Msg::Rejoin
            | Msg::LastVote { .. }
            | Msg::Voted { .. }
            | Msg::Confirmed { .. }
            | Msg::Reply { .. }
            | Msg::Expired { .. }
            | Msg::Handover => {}
        }
    }

    /// A priest that lost its ledger asks for the highest ballot this one tried or promised,
    /// and for a president to take office anew: this priest remembers it, to tell it when
    /// it next takes office (`Rejoined`), and answers. Whether it answered.
    pub(super) fn answer_rejoin(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        step: &mut Step,
    ) -> bool {
        let Some(q) = self.ix(src).filter(|&q| q != self.me) else {
            return false;
        };
        let ballot = state.ledger.last_tried.max(state.ledger.next_bal);
        let state = state.to_mut();
        state.rejoiners = state.rejoiners.with(q);
        step.send(src, Msg::Highest { ballot });
        true
    }

    /// A rejoining priest is clear once every other priest told it its highest ballot `h`,
    /// a president told it that it took office with a ballot `b > h` (so after the rejoiner
    /// began, and without it), and it has learned every decree below that president's first
    /// own number. It then promises `b` and takes part again (see "Rejoining after a lost
    /// ledger"). Nothing for a priest that is not rejoining.
    pub(super) fn clear_rejoin(&self, state: &mut PriestState, step: &mut Step) {
        let Some(r) = &state.ledger.rejoin else {
            return;
        };
        let Some((ballot, until)) = r.offer else {
            return;
        };
        if !self.others_set().is_subset(r.heard)
            || r.highest.is_some_and(|h| ballot <= h)
            || state.ledger.first_gap() < until
        {
            return;
        }
        state.ledger.rejoin = None;
        if state.ledger.next_bal.is_none_or(|n| n < ballot) {
            state.ledger.next_bal = Some(ballot);
        }
        step.save = true;
    }
}

/// The rejoining progress of a priest the dispatch found rejoining.
fn rejoin_of(state: &PriestState) -> &super::Rejoin {
    state
        .ledger
        .rejoin
        .as_ref()
        .expect("a rejoining priest's ledger says so")
}

fn rejoin_of_mut(state: &mut PriestState) -> &mut super::Rejoin {
    state
        .ledger
        .rejoin
        .as_mut()
        .expect("a rejoining priest's ledger says so")
}
