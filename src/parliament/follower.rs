//! What every priest does, president or not (paper, section 3): promising (Step 2), voting
//! (Step 4), learning passed decrees and applying them to the law (Step 6), catching up on
//! the decrees it missed, answering confirmation rounds, stepping down when it learns of a
//! higher ballot, and forwarding client commands to the president.

use super::{
    Bug, Decree, DecreeNumber, Ledger, Msg, ParliamentPriest, PriestState, Status, Step, Timer,
    Vote,
};
use crate::ballot::{Ballot, Priests};
use crate::kv::{Command, Op, Outcome};
use im::{OrdMap, Vector};
use stateright::actor::Id;
use std::borrow::Cow;

impl ParliamentPriest {
    /// A follower's messages (a candidate's too, but for its LastVotes and commands): it
    /// learns decrees, forwards client commands to its president, answers a rejoining
    /// priest; the rest as every priest.
    pub(super) fn step_follower(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        msg: Msg,
        step: &mut Step,
    ) {
        match msg {
            // Step 6: write the passed decree in the ledger.
            Msg::Success { number, decree } => {
                if state.knows(number) {
                    return;
                }
                self.learn(state.to_mut(), number, decree, true, step);
            }

            Msg::Snapshot { snapshot } => {
                if self.install(state, snapshot, step) {
                    self.clear_rejoin(state.to_mut(), step);
                }
            }

            Msg::Request { client, seq, op } => {
                let Some(cmd) = self.new_command(state, client, seq, op, None, step) else {
                    return;
                };
                // The president it follows; a priest a change removed, which follows
                // nobody else, hands commands to a member.
                let owner = match state.ledger.next_bal.map(|b| b.priest) {
                    Some(o) if o == self.me => self.successor(state),
                    owner => owner,
                };
                let state = state.to_mut();
                match owner {
                    Some(owner) if owner != self.me => {
                        step.send(self.priests[owner as usize], cmd.into());
                    }
                    _ => state.queue.push_back(cmd),
                }
            }

            // The president handed over: run now, if this priest may.
            Msg::Handover => {
                if matches!(state.status, Status::Follower) && self.may_run(state) {
                    let state = state.to_mut();
                    self.run_for_president(state, step);
                    if state.is_president() {
                        self.arm_office_timers(step);
                    }
                }
            }

            Msg::Rejoin => {
                self.answer_rejoin(state, src, step);
            }

            // For a president or a candidate; for a rejoining priest; for a client.
            Msg::LastVote { .. }
            | Msg::Voted { .. }
            | Msg::Confirmed { .. }
            | Msg::Highest { .. }
            | Msg::Rejoined { .. }
            | Msg::Reply { .. }
            | Msg::Expired { .. } => {}

            msg => self.step_priest(state, src, msg, step),
        }
    }

    /// What every priest that is not rejoining does, whatever its role: promise, vote,
    /// hear a president's heartbeat, send a lagging priest the decrees it asks for, confirm.
    pub(super) fn step_priest(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        msg: Msg,
        step: &mut Step,
    ) {
        match msg {
            // Step 2: promise for every decree number from `from` on; report the votes.
            Msg::NextBallot { ballot, from, to } => {
                let Some(inc) = self.accepts(state, to) else {
                    return;
                };
                if state.ledger.next_bal.is_some_and(|n| ballot <= n) {
                    return;
                }
                let state = state.to_mut();
                state.ledger.next_bal = Some(ballot);
                step.save = self.bug != Bug::ForgetPromise;
                // Its votes, and the decrees it knows were passed, reported as votes in this
                // ballot (the highest any report can carry): a passed decree is the only one
                // any later ballot may propose for its number. (A priest that lost its votes
                // and rejoined still reports what it learned since.)
                let mut votes: OrdMap<DecreeNumber, Vote> = state
                    .ledger
                    .votes
                    .range(from..)
                    .map(|(n, v)| (*n, v.clone()))
                    .collect();
                for (n, d) in state.ledger.learned.range(from..) {
                    votes.insert(
                        *n,
                        Vote {
                            ballot,
                            decree: d.clone(),
                        },
                    );
                }
                let votes = votes.into_iter().collect();
                let base = state.ledger.base();
                step.send(
                    src,
                    Msg::LastVote {
                        ballot,
                        from,
                        base,
                        votes,
                        inc,
                    },
                );
                if ballot.priest != self.me || self.bug == Bug::NoTiebreak {
                    self.step_down(state, ballot, step);
                }
            }

            // Step 4: vote for decree number `number`, unless promised a higher ballot.
            Msg::BeginBallot {
                ballot,
                number,
                decree,
                to,
            } => {
                let Some(inc) = self.accepts(state, to) else {
                    return;
                };
                if state.ledger.next_bal.is_some_and(|n| n > ballot) {
                    return;
                }
                if state
                    .ledger
                    .votes
                    .get(&number)
                    .is_some_and(|v| v.ballot == ballot)
                {
                    // Voted already (and saved that vote before saying so): the president
                    // asks again because the answer was lost. Answer again.
                    step.send(
                        src,
                        Msg::Voted {
                            ballot,
                            number,
                            inc,
                        },
                    );
                    return;
                }
                let state = state.to_mut();
                let promises = state.ledger.next_bal != Some(ballot);
                if promises {
                    state.ledger.next_bal = Some(ballot);
                    // The promise is saved (with the vote) even under `forget-vote`.
                    step.save = true;
                }
                state.ledger.votes.insert(number, Vote { ballot, decree });
                step.save |= self.bug != Bug::ForgetVote;
                step.send(
                    src,
                    Msg::Voted {
                        ballot,
                        number,
                        inc,
                    },
                );
                if promises {
                    self.step_down(state, ballot, step);
                }
            }

            Msg::Heartbeat { ballot, known } => {
                if state.ledger.next_bal.is_some_and(|n| n > ballot) {
                    return;
                }
                let gap = state.ledger.first_gap();
                // The president is alive: a candidate's election timer starts again, so it
                // runs only after a whole election timeout with no heartbeat.
                if self.heartbeat.is_some() && self.may_run(state) {
                    step.set_timer(Timer::Election, self.election.clone());
                }
                if gap < known {
                    step.send(src, Msg::Catchup { from: gap });
                }
                // A president (or candidate) of a lower ballot hears it was deposed: it
                // steps down and hands its commands to the new president.
                let deposed = !matches!(state.status, Status::Follower)
                    && state.ledger.last_tried.is_some_and(|t| t < ballot)
                    && ballot.priest != self.me;
                if deposed {
                    self.step_down(state.to_mut(), ballot, step);
                }
            }

            Msg::Catchup { from } => self.send_decrees(state, from, src, step),

            // A read-only question: answered from the promise already in the ledger.
            Msg::Confirm { ballot, round, to } => {
                let Some(inc) = self.accepts(state, to) else {
                    return;
                };
                let promised_at_most = |n: Ballot| match self.bug {
                    Bug::ConfirmNeedsLowerPromise => n < ballot,
                    _ => n <= ballot,
                };
                if state.ledger.next_bal.is_none_or(promised_at_most) {
                    step.send(src, Msg::Confirmed { ballot, round, inc });
                }
            }

            // Each role handles the others before they get here.
            Msg::LastVote { .. }
            | Msg::Voted { .. }
            | Msg::Success { .. }
            | Msg::Snapshot { .. }
            | Msg::Confirmed { .. }
            | Msg::Rejoin
            | Msg::Highest { .. }
            | Msg::Rejoined { .. }
            | Msg::Request { .. }
            | Msg::Reply { .. }
            | Msg::Expired { .. }
            | Msg::Handover => {}
        }
    }

    /// A client's request, unless answered before: a write, by the law's session of the
    /// client; a read, by `read` (a president's last read of the client). Then the answer
    /// again, or nothing for an older request. Nothing also if the priest already holds the
    /// command (queued, in flight, or passed but not yet applied).
    pub(super) fn new_command(
        &self,
        state: &PriestState,
        client: Id,
        seq: u64,
        op: Op,
        read: Option<Outcome>,
        step: &mut Step,
    ) -> Option<Command> {
        let write = (self.bug != Bug::NoSessionDedup)
            .then(|| state.law.lookup_under(client, seq, self.dedup()))
            .flatten();
        if let Some(outcome) = write.or(read) {
            let held = in_force_from(&outcome).is_some_and(|at| at > state.applied);
            if let (false, Some(msg)) = (held, Msg::to_client(seq, &outcome)) {
                step.send(client, msg);
            }
            return None;
        }
        if state.holds(client, seq) {
            return None;
        }
        Some(Command { client, seq, op })
    }

    /// Step 6 at a priest that does not preside: write decree `n` in the ledger (saved with
    /// this step if `save`) and apply what can be applied; a rejoining priest may now be
    /// clear.
    pub(super) fn learn(
        &self,
        state: &mut PriestState,
        n: DecreeNumber,
        decree: Decree,
        save: bool,
        step: &mut Step,
    ) {
        if state.knows(n) {
            return;
        }
        if self.write_decree(state, n, decree, save, false, step) {
            self.clear_rejoin(state, step);
        }
    }

    /// Step 6, as every priest does it: writes decree `n` (not yet known) in the ledger
    /// (saved with this step if `save`) and applies to the law, in decree-number order, what
    /// can be applied, answering the commands' clients if `reply`. False when the seeded
    /// bug `apply-out-of-order` applied `n` alone: the step stops there.
    pub(super) fn write_decree(
        &self,
        state: &mut PriestState,
        n: DecreeNumber,
        decree: Decree,
        save: bool,
        reply: bool,
        step: &mut Step,
    ) -> bool {
        // A decree this priest voted for comes back in its Success as a copy of its own:
        // keep the one it holds, so a follower's memory holds each decree once, not twice.
        let decree = match state.ledger.votes.get(&n) {
            Some(v) if v.decree == decree => v.decree.clone(),
            _ => decree,
        };
        state.ledger.learned.insert(n, decree);
        step.save |= save;
        if self.bug == Bug::ApplyOutOfOrder {
            // Applies `n` at once, skipping any gap below it.
            if n >= state.applied {
                state.applied = n;
                self.apply(state, reply, step);
            }
            return false;
        }
        self.apply_known(state, reply, step);
        true
    }

    /// Applies to the law, in decree-number order, every decree known from the first not yet
    /// applied (never skipping a number).
    pub(super) fn apply_known(&self, state: &mut PriestState, reply: bool, step: &mut Step) {
        while state.ledger.learned.contains_key(&state.applied) {
            self.apply(state, reply, step);
            if self.bug == Bug::ApplyOnePerDecreeLearned {
                break;
            }
        }
    }

    /// Applies the next decree, number `applied`, to the law; a president answers the
    /// commands' clients (`reply`).
    fn apply(&self, state: &mut PriestState, reply: bool, step: &mut Step) {
        let n = state.applied;
        state.applied += 1;
        let applied = state.applied;
        let decree = state.ledger.learned[&n].clone();
        let dedup = self.dedup_in(state);
        let PriestState {
            law, queue, held, ..
        } = state;
        decree.apply_to(n, law, dedup, |c, outcome| {
            queue.retain(|q| !(q.client == c.client && q.seq == c.seq));
            if let (true, Some(msg)) = (reply, Msg::to_client(c.seq, &outcome)) {
                match in_force_from(&outcome) {
                    // A change is answered once it is in force.
                    Some(at) if at > applied => held.push_back((at, c.client, msg)),
                    _ => step.send(c.client, msg),
                }
            }
        });
        if !state.held.is_empty() {
            let (now, later): (Vector<_>, Vector<_>) = std::mem::take(&mut state.held)
                .into_iter()
                .partition(|(at, _, _)| *at <= applied);
            state.held = later;
            for (_, client, msg) in now {
                step.send(client, msg);
            }
        }
    }

    /// The priest learned of ballot `ballot` of another priest, higher than its own: it is
    /// no longer president (or candidate), and hands its commands to that ballot's owner.
    fn step_down(&self, state: &mut PriestState, ballot: Ballot, step: &mut Step) {
        let mut cmds: Vec<Command> = std::mem::take(&mut state.queue).into_iter().collect();
        let was_running = !matches!(state.status, Status::Follower);
        if let Status::Presiding { pending, reads, .. } = &state.status {
            for p in pending.values() {
                cmds.extend(p.decree.commands().iter().cloned());
            }
            cmds.extend(reads.waiting.iter().map(|r| r.cmd.clone()));
        }
        state.status = Status::Follower;
        if self.bug == Bug::StepDownDropsCommands {
            cmds.clear();
        }
        let owner = self.priests.get(ballot.priest as usize).copied();
        match owner {
            Some(owner) if ballot.priest != self.me => {
                for c in cmds {
                    step.send(owner, c.into());
                }
            }
            _ => state.queue = cmds.into_iter().collect(),
        }
        if was_running && self.may_run(state) {
            step.set_timer(Timer::Election, self.election.clone());
        }
    }

    /// A priest's state from its ledger on starting: a follower whose law is its snapshot's,
    /// with every decree it knows applied, up to its first gap.
    pub(super) fn rebuild(&self, ledger: Ledger) -> PriestState {
        let (law, applied) = match &ledger.snapshot {
            Some(s) => (s.law.clone(), s.upto),
            None => (self.genesis_law(), 0),
        };
        let mut state = PriestState {
            ledger,
            status: Status::Follower,
            law,
            applied,
            queue: Vector::new(),
            progress: false,
            rejoiners: Priests::EMPTY,
            held: Vector::new(),
        };
        self.apply_known(&mut state, false, &mut Step::default());
        state
    }
}

/// The decree number a change of the Chamber is in force from, if `outcome` is the answer to
/// one that passed.
fn in_force_from(outcome: &Outcome) -> Option<DecreeNumber> {
    match outcome {
        Outcome::Executed(crate::kv::Answer::Member(crate::kv::MemberAnswer::Changed { at }))
        | Outcome::Retry(crate::kv::Answer::Member(crate::kv::MemberAnswer::Changed { at })) => {
            Some(*at)
        }
        _ => None,
    }
}
