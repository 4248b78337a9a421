//! Snapshots of the law (see "Snapshots of the law" in the module docs): a priest
//! snapshots its law and truncates its ledger below it; a priest asked for decrees it no
//! longer keeps sends its snapshot; a priest that receives a snapshot newer than its law
//! installs it.

use super::ledger::President;
use super::{
    split_at, Bug, DecreeNumber, Msg, ParliamentPriest, PriestState, Snapshot, Status, Step, Timer,
};
use crate::kv::Command;
use std::borrow::Cow;

impl ParliamentPriest {
    /// The snapshot timer: if at least `snapshot_after` decrees were applied since the last
    /// snapshot (deployed: or `snapshot_bytes` of commands), snapshot the law (decrees
    /// `0..applied`: every one of them was passed) and drop every vote and decree below it
    /// from the ledger, saved in this step (after the ledger as it stood: see "Snapshots of
    /// the law").
    pub(super) fn snapshot_timeout(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        let Some(after) = self.snapshot_after else {
            return;
        };
        step.set_timer(Timer::Snapshot, self.snapshot_period.clone());
        let upto = state.applied;
        let base = state.ledger.base();
        // The seeded bug truncates up to its highest vote, past what it applied.
        let truncate_to = match self.bug {
            Bug::TruncateUnchosen => state
                .ledger
                .votes
                .keys()
                .next_back()
                .map_or(upto, |&n| upto.max(n + 1)),
            _ => upto,
        };
        // By count only, or (deployed) by count or bytes of commands. The size of the law
        // does not matter: the runtime records a snapshot as the decrees it covers.
        let due = upto >= base + after.max(1);
        let due = match self.snapshot_bytes {
            None => due,
            Some(least) => {
                let since: u64 = (state.ledger.learned.range(base..upto))
                    .flat_map(|(_, d)| d.commands())
                    .map(|c| c.size() as u64)
                    .sum();
                upto > base && (due || since >= least)
            }
        };
        if !due && truncate_to == upto {
            return;
        }
        let state = state.to_mut();
        step.covered = Some(state.ledger.clone());
        let mut law = state.law.clone();
        if self.bug == Bug::SnapshotWithoutSessions {
            law.sessions = Default::default();
        }
        state.ledger.snapshot = Some(Snapshot { upto, law });
        state.ledger.truncate(truncate_to);
        step.save = true;
    }

    /// A `Catchup` for decrees from `from`: the snapshot first if the ledger no longer keeps
    /// some of them, then every decree it knows from there.
    pub(super) fn send_decrees(
        &self,
        state: &PriestState,
        from: DecreeNumber,
        to: stateright::actor::Id,
        step: &mut Step,
    ) {
        let base = state.ledger.base();
        if from < base {
            if let Some(snapshot) = &state.ledger.snapshot {
                step.send(
                    to,
                    Msg::Snapshot {
                        snapshot: snapshot.clone(),
                    },
                );
            }
        }
        for (n, d) in state.ledger.learned.range(from.max(base)..) {
            step.send(
                to,
                Msg::Success {
                    number: *n,
                    decree: d.clone(),
                },
            );
        }
    }

    /// A snapshot from another priest: installed if it covers more decrees than this
    /// priest applied (an older one is ignored: its law would go back). The ledger keeps it
    /// and drops the votes and decrees below it; the law becomes the snapshot's, and the
    /// decrees known above it are applied. A president's ballots below it were decided
    /// without it: their commands wait for new numbers, unless the law executed them.
    /// Returns whether it was installed.
    pub(super) fn install(
        &self,
        state: &mut Cow<PriestState>,
        snapshot: Snapshot,
        step: &mut Step,
    ) -> bool {
        let stale = match self.bug {
            Bug::InstallStaleSnapshot => snapshot.upto == state.applied,
            _ => snapshot.upto <= state.applied,
        };
        if stale {
            return false;
        }
        let state = state.to_mut();
        let upto = snapshot.upto;
        let reply = state.is_president() && self.bug != Bug::ReplyBeforeChosen;
        let answers = reply && self.bug != Bug::InstallDropsReplies;
        // The commands this priest holds that the snapshot's decrees carry: in decrees it
        // knows but has not applied, in its ballots below the snapshot, in its queue.
        let mut held: Vec<Command> = state
            .ledger
            .learned
            .range(state.applied..upto)
            .flat_map(|(_, d)| d.commands().iter().cloned())
            .collect();
        if let Status::Presiding { pending, .. } = &mut state.status {
            let below;
            (below, *pending) = split_at(pending, upto);
            held.extend(
                below
                    .values()
                    .flat_map(|p| p.decree.commands().iter().cloned()),
            );
        }
        held.extend(state.queue.iter().cloned());
        state.law = snapshot.law.clone();
        state.applied = upto;
        state.ledger.truncate(upto);
        state.ledger.snapshot = Some(snapshot);
        step.save = true;
        // A president answers those the law executed, from its sessions (as if it had
        // applied their decrees); the others wait for new numbers.
        // Each command once, however many copies of it the priest held.
        let law = &state.law;
        let mut seen = std::collections::BTreeSet::new();
        let mut back: Vec<Command> = Vec::new();
        for c in held {
            if !seen.insert((c.client, c.seq)) {
                continue;
            }
            match law.lookup_under(c.client, c.seq, self.dedup()) {
                Some(outcome) if answers => {
                    if let Some(msg) = Msg::to_client(c.seq, &outcome) {
                        step.send(c.client, msg);
                    }
                }
                Some(_) => {}
                None => back.push(c),
            }
        }
        state.queue = back.into_iter().collect();
        self.apply_known(state, reply, step);
        true
    }

    /// A snapshot, at a president: installed as by every priest; then the reads that may
    /// now be answered, and the commands it holds.
    pub(super) fn install_presiding(
        &self,
        state: &mut Cow<PriestState>,
        snapshot: Snapshot,
        step: &mut Step,
    ) {
        if self.install(state, snapshot, step) {
            let mut p = President::of(state.to_mut());
            self.answer_reads(&mut p, step);
            self.propose_queued(&mut p, step);
        }
    }
}
