//! The president (paper, section 3): running for president (Step 1), taking office with a
//! quorum's LastVotes (Step 3), beginning ballots for decree after decree (Step 4), passing
//! them (Step 5), answering reads through confirmation rounds, and a deployed president's
//! heartbeats and watch over its own progress.
//!
//! Only a presiding priest's state makes a `President` (see `ledger.rs`): the helpers here
//! that need the presiding state take one, so they cannot run on a priest that does not
//! preside.

use super::ledger::{Presidency, President};
use super::{
    merge_vote, split_at, Bug, Decree, DecreeNumber, Incs, Ledger, Msg, ParliamentPriest, Pending,
    PriestState, Read, Reads, Status, Step, Timer, Vote,
};
use crate::ballot::{Ballot, PriestIx, Priests};
use crate::kv::{Answer, Command, Op, Session, Slot, Store};
use im::{OrdMap, Vector};
use stateright::actor::Id;
use std::borrow::Cow;

impl ParliamentPriest {
    /// A president's messages: late LastVotes, its quorum's votes and confirmations, decrees
    /// passed by another president, client commands and reads, a rejoining priest's request;
    /// the rest as every priest (`step_priest`).
    pub(super) fn step_president(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        msg: Msg,
        step: &mut Step,
    ) {
        match msg {
            Msg::LastVote {
                ballot,
                base,
                votes,
                inc,
                ..
            } => {
                let Some(q) = self.ix(src) else { return };
                let office = Presidency::of(state);
                if state.ledger.last_tried != Some(ballot)
                    || !self.answered_by_member(office.incs, q, inc)
                    || q == self.me
                    || !office.members.contains(q)
                    || office.quorum.contains(q)
                {
                    return;
                }
                let mut p = President::of(state.to_mut());
                self.join_quorum(&mut p, q, base, votes, step);
            }

            // Step 5: once the priests that voted include a quorum of the members, the
            // decree is passed.
            Msg::Voted {
                ballot,
                number,
                inc,
            } => {
                let Some(q) = self.ix(src) else { return };
                let office = Presidency::of(state);
                let Some(p) = office.pending.get(&number) else {
                    return;
                };
                if state.ledger.last_tried != Some(ballot)
                    || !self.answered_by_member(office.incs, q, inc)
                    || !p.quorum.contains(q)
                    || p.voted.contains(q)
                {
                    return;
                }
                let voted = p.voted.with(q);
                let passed = self.passes(office.members, p.quorum, voted);
                let mut p = President::of(state.to_mut());
                if let Some(pending) = p.office().pending.get_mut(&number) {
                    pending.voted = voted;
                }
                if passed {
                    self.pass(&mut p, number, step);
                }
            }

            // Step 6, at a president: another president's decree was passed.
            Msg::Success { number, decree } => {
                if state.knows(number) {
                    return;
                }
                let mut p = President::of(state.to_mut());
                self.learn_presiding(&mut p, number, decree, true, step);
                self.propose_queued(&mut p, step);
            }

            Msg::Snapshot { snapshot } => self.install_presiding(state, snapshot, step),

            Msg::Confirmed { ballot, round, inc } => {
                let Some(q) = self.ix(src) else { return };
                let Presidency {
                    quorum,
                    reads,
                    incs,
                    ..
                } = Presidency::of(state);
                if state.ledger.last_tried != Some(ballot)
                    || !self.answered_by_member(incs, q, inc)
                    || round != reads.begun
                    || reads.confirmed == reads.begun
                    || !quorum.contains(q)
                    || reads.acks.contains(q)
                {
                    return;
                }
                let mut p = President::of(state.to_mut());
                let reads = p.office().reads;
                reads.acks = reads.acks.with(q);
                self.round_done(&mut p, step);
            }

            Msg::Request { client, seq, op } => {
                // A read answered before: a president remembers each client's last read.
                let read = Presidency::of(state)
                    .reads
                    .answered
                    .get(&client)
                    .and_then(|s| s.lookup(seq));
                let Some(cmd) = self.new_command(state, client, seq, op, read, step) else {
                    return;
                };
                let mut p = President::of(state.to_mut());
                if cmd.op.is_read() {
                    self.read(&mut p, cmd, step);
                } else {
                    p.office().queue.push_back(cmd);
                    self.propose_queued(&mut p, step);
                }
            }

            // A rejoining priest asks a president to take office anew: it runs again.
            Msg::Rejoin => {
                if self.answer_rejoin(state, src, step) {
                    self.rerun(President::of(state.to_mut()), step);
                }
            }

            msg => self.step_priest(state, src, msg, step),
        }
    }

    /// A candidate's messages: LastVotes for its ballot, and client commands, which it holds
    /// until it takes office or steps down; the rest as a follower.
    pub(super) fn step_candidate(
        &self,
        state: &mut Cow<PriestState>,
        src: Id,
        msg: Msg,
        step: &mut Step,
    ) {
        match msg {
            // Step 3: with LastVotes from a quorum, take office.
            Msg::LastVote {
                ballot,
                from,
                base,
                votes,
                inc,
            } => {
                let Some(q) = self.ix(src) else { return };
                let Status::Trying {
                    from: my_from,
                    promised,
                    votes: gathered,
                    floor,
                    members,
                    incs,
                } = &state.status
                else {
                    unreachable!("a candidate is trying")
                };
                let members = *members;
                let incs = incs.clone();
                if state.ledger.last_tried != Some(ballot)
                    || from != *my_from
                    || !self.answered_by_member(&incs, q, inc)
                    || promised.contains(q)
                    || q == self.me
                    || !members.contains(q)
                {
                    return;
                }
                let promised = promised.with(q);
                let mut gathered = gathered.clone();
                for (n, v) in votes {
                    merge_vote(&mut gathered, n, v);
                }
                let floor = match *floor {
                    Some((b, _)) if b >= base => *floor,
                    _ if base > from => Some((base, q)),
                    _ => *floor,
                };
                let state = state.to_mut();
                let quorum = promised.with(self.me);
                if self.is_quorum_of(members, quorum) {
                    self.take_office(state, quorum, from, floor, gathered, step);
                    if state.is_president() {
                        self.arm_office_timers(step);
                    }
                } else {
                    state.status = Status::Trying {
                        from,
                        promised,
                        votes: gathered,
                        floor,
                        members,
                        incs,
                    };
                }
            }

            Msg::Request { client, seq, op } => {
                let Some(cmd) = self.new_command(state, client, seq, op, None, step) else {
                    return;
                };
                state.to_mut().queue.push_back(cmd);
            }

            msg => self.step_follower(state, src, msg, step),
        }
    }

    /// The election timer of a priest that does not preside: a candidate that heard no
    /// president for a whole election timeout runs for president (a deployed priest's
    /// heartbeats start the timer again, see `step_priest`; in the model the timer may fire
    /// at any moment, so the checked runs include every election a slow network allows).
    pub(super) fn election_timeout(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        if !self.may_run(state) {
            if self.chamber.is_some() && self.candidate && !state.is_president() {
                // Not a member now (a priest that joins, or one that lags): it may be later.
                step.set_timer(Timer::Election, self.election.clone());
            }
            return;
        }
        let state = state.to_mut();
        self.run_for_president(state, step);
        if self.may_run(state) {
            step.set_timer(Timer::Election, self.election.clone());
        }
        if state.is_president() {
            self.arm_office_timers(step);
        }
    }

    /// Step 1: run for president with a new ballot.
    pub(super) fn run_for_president(&self, state: &mut PriestState, step: &mut Step) {
        let round = self.next_round(&state.ledger);
        let priest = if self.bug == Bug::NoTiebreak {
            0
        } else {
            self.me
        };
        let ballot = Ballot::new(round, priest);
        let from = state.ledger.first_gap();
        // The membership in force at `from` (`may_run` checked it is known and has this
        // priest): the office is elected over it alone.
        let (members, incs) = self
            .electorate_at(state, from)
            .unwrap_or((self.everyone(), Incs::default()));
        state.ledger.last_tried = Some(ballot);
        step.save = self.bug != Bug::ForgetLastTried;
        if self.bug == Bug::SkipPhaseOneOnTakeover {
            // Takes office at once, as if every priest had promised and reported nothing.
            self.take_office(state, members, from, None, OrdMap::new(), step);
            return;
        }
        state.status = Status::Trying {
            from,
            promised: Priests::EMPTY,
            votes: OrdMap::new(),
            floor: None,
            members,
            incs: incs.clone(),
        };
        for q in members.without(self.me).iter() {
            let to = incs.of(q);
            step.send(
                self.priests[q as usize],
                Msg::NextBallot { ballot, from, to },
            );
        }
    }

    /// The genesis president (priest 0 starting with no ledger) presides over ballot `0.0`
    /// at once: every priest starts having promised it.
    pub(super) fn take_genesis_office(&self, state: &mut PriestState, step: &mut Step) {
        let (members, incs) = self
            .electorate_at(state, 0)
            .unwrap_or((self.everyone(), Incs::default()));
        state.status = Status::Presiding {
            quorum: members,
            next: 0,
            pending: OrdMap::new(),
            reads: Reads::default(),
            members,
            incs,
            votes_first: false,
        };
        step.save = true;
        self.arm_office_timers(step);
    }

    /// A new president's timers (deployed only): its heartbeat, and the election timer by
    /// which it watches its own progress (see `watch_progress`).
    pub(super) fn arm_office_timers(&self, step: &mut Step) {
        if let Some(h) = &self.heartbeat {
            step.set_timer(Timer::Heartbeat, h.clone());
            if self.rerun_when_stalled {
                step.set_timer(Timer::Election, self.election.clone());
            }
        }
    }

    /// Step 3: with a quorum's LastVotes, promise, re-propose what the quorum voted for, fill
    /// gaps with olive-day decrees, then propose queued commands. `floor`: the highest
    /// snapshot end a LastVote reported above `from`, and who reported it: every decree
    /// below it was passed, so no ballot begins there, and the president asks that priest for
    /// what it is missing.
    fn take_office(
        &self,
        state: &mut PriestState,
        quorum: Priests,
        from: DecreeNumber,
        floor: Option<(DecreeNumber, PriestIx)>,
        reported: OrdMap<DecreeNumber, Vote>,
        step: &mut Step,
    ) {
        // The membership the candidate ran over (the one in force at `from`).
        let (members, incs) = match &state.status {
            Status::Trying { members, incs, .. } => (*members, incs.clone()),
            _ => self
                .electorate_at(state, from)
                .unwrap_or((self.everyone(), Incs::default())),
        };
        let ballot = state.ledger.last_tried.expect("running implies lastTried");
        if state.ledger.next_bal.is_some_and(|n| n > ballot) {
            // Promised a higher ballot meanwhile: this ballot is dead.
            state.status = Status::Follower;
            return;
        }
        state.ledger.next_bal = Some(ballot);
        if let Some((_, q)) = floor {
            let from = state.ledger.first_gap();
            step.send(self.priests[q as usize], Msg::Catchup { from });
        }
        // Every decree below a snapshot's end was passed: one a quorum member reported
        // (`floor`), or this priest's own, taken while it ran (it learned decrees at or
        // above its NextBallot's `from` meanwhile). No ballot begins there.
        let from = floor
            .map_or(from, |(f, _)| f.max(from))
            .max(state.ledger.base());
        let mut votes = split_at(&reported, from).1;
        for (n, v) in state.ledger.votes.range(from..) {
            merge_vote(&mut votes, *n, v.clone());
        }
        let top = votes.keys().next_back().copied();
        let last_known = state.ledger.learned.keys().next_back().map(|n| n + 1);
        let next = [Some(from), top.map(|t| t + 1), last_known]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(0);
        state.status = Status::Presiding {
            members,
            incs,
            quorum,
            next,
            pending: OrdMap::new(),
            reads: Reads {
                own: if self.bug == Bug::ReadIgnoresEarlierPresidents {
                    0
                } else {
                    next
                },
                ..Reads::default()
            },
            votes_first: false,
        };
        step.save = true;
        for q in std::mem::take(&mut state.rejoiners).iter() {
            step.send(
                self.priests[q as usize],
                Msg::Rejoined {
                    ballot,
                    until: next,
                },
            );
        }
        let mut p = President::of(state);
        self.repropose(&mut p, from, &votes, step);
        // Commands re-proposed from the votes need not be proposed again.
        let office = p.office();
        let proposed: Vec<(Id, u64)> = office
            .pending
            .values()
            .flat_map(|p| p.decree.commands().iter().map(|c| (c.client, c.seq)))
            .collect();
        office
            .queue
            .retain(|c| !proposed.contains(&(c.client, c.seq)));
        self.propose_queued(&mut p, step);
    }

    /// A president runs again with a new ballot (a stalled one, or one a rejoining priest
    /// asked): the commands it had begun or held go back to its queue, so the new ballot
    /// proposes them again (those a quorum voted for come back through the LastVotes).
    fn rerun(&self, mut p: President, step: &mut Step) {
        if self.next_round(&p.priest().ledger) > self.max_round {
            return;
        }
        let office = p.office();
        let mut held: Vec<Command> = office
            .pending
            .values()
            .flat_map(|p| p.decree.commands().iter().cloned())
            .collect();
        held.extend(office.reads.waiting.iter().map(|r| r.cmd.clone()));
        for c in held.into_iter().rev() {
            office.queue.push_front(c);
        }
        self.run_for_president(p.into_priest(), step);
    }

    /// Whether a ballot that asked `asked` passed with the votes of `voted`: the voters
    /// include a quorum of the members (seeded bug `quorum-of-the-asked`: a majority of the
    /// priests asked, whether or not that is a quorum of the members).
    fn passes(&self, members: Priests, asked: Priests, voted: Priests) -> bool {
        if self.bug == Bug::QuorumOfTheAsked {
            return 2 * Priests(voted.0 & asked.0).len() > asked.len();
        }
        self.is_quorum_of(members, voted)
    }

    /// A LastVote that came after the president took office (its promise and the first
    /// LastVotes made a quorum): the priest joins its quorum, so from its next free decree
    /// number on, its ballots ask it too, and a decree passes with whichever quorum of
    /// them votes first. Ballots already begun keep the priests they asked. The newcomer may
    /// have voted, in an earlier ballot, for numbers at or above the next free one (nobody
    /// already in the quorum did: they reported every such vote on taking office): B3 for
    /// the grown quorum means re-proposing those decrees, with olive-day decrees in the gaps
    /// below them, exactly as on taking office.
    fn join_quorum(
        &self,
        p: &mut President,
        q: PriestIx,
        base: DecreeNumber,
        votes: Vec<(DecreeNumber, Vote)>,
        step: &mut Step,
    ) {
        let office = p.office();
        *office.quorum = office.quorum.with(q);
        if base > *office.next {
            // The newcomer applied decrees this president has not begun: passed under a
            // later ballot. Ask for them, and begin nothing below them.
            *office.next = base;
            let from = office.ledger.first_gap();
            step.send(self.priests[q as usize], Msg::Catchup { from });
        }
        let first = *office.next;
        let mut reported = OrdMap::new();
        for (n, v) in votes.into_iter().filter(|(n, _)| *n >= first) {
            merge_vote(&mut reported, n, v);
        }
        if let Some(&top) = reported.keys().next_back() {
            *office.next = top + 1;
        }
        self.repropose(p, first, &reported, step);
        self.propose_queued(p, step);
    }

    /// B3 for decree numbers `from` up to the highest reported: begins a ballot for each
    /// number not known to be passed, with the decree of the highest-numbered vote
    /// reported for it, or an olive-day decree where nobody reported one.
    fn repropose(
        &self,
        p: &mut President,
        from: DecreeNumber,
        votes: &OrdMap<DecreeNumber, Vote>,
        step: &mut Step,
    ) {
        let Some(&top) = votes.keys().next_back() else {
            return;
        };
        let members = p.office().members;
        // Votes at numbers another membership votes on wait for an office elected over it.
        let limit = self.office_limit(p.priest(), members);
        for n in (from..=top).take_while(|&n| n < limit) {
            if self.chamber.is_some() && (p.priest().knows(n) || n < p.priest().applied) {
                continue;
            }
            let office = p.office();
            if office.ledger.learned.contains_key(&n) {
                continue;
            }
            let decree = match votes.get(&n) {
                Some(_) if self.bug == Bug::FillGapWithOwnDecree && !office.queue.is_empty() => {
                    let cmds: Vec<Command> = std::mem::take(office.queue).into_iter().collect();
                    Decree::Commands(cmds.into())
                }
                Some(v) => v.decree.clone(),
                None if self.bug == Bug::GapFillerWrites => Decree::Commands(
                    vec![Command {
                        client: self.priests[self.me as usize],
                        seq: 1,
                        op: Op::Put {
                            key: "x".into(),
                            value: "".into(),
                        },
                    }]
                    .into(),
                ),
                None => Decree::OliveDay,
            };
            self.begin_ballot(p, n, decree, step);
        }
    }

    /// Step 4 for decree number `n`: the president votes (saved in this step, before any
    /// message leaves) and asks every other priest of its quorum to vote.
    fn begin_ballot(&self, p: &mut President, n: DecreeNumber, decree: Decree, step: &mut Step) {
        let ballot = p.ballot;
        let office = p.office();
        let (members, quorum) = (office.members, *office.quorum);
        // With `vote_after`, the president leaves its vote out while the others could pass
        // the decree without it, and arms its vote timer unless an earlier ballot of its
        // quorum already waits for its vote (the timer then covers this one too). Once the
        // timer ran out on ballots the others had not passed, it votes first again until
        // its next heartbeat: a follower that is gone would otherwise cost every decree the
        // timer's wait.
        let late = self.vote_after.as_ref().filter(|_| {
            !*office.votes_first
                && quorum.contains(self.me)
                && self.is_quorum_of(members, quorum.without(self.me))
        });
        if let Some(after) = late {
            if !office.pending.values().any(|p| self.awaits_own_vote(p)) {
                step.set_timer(Timer::Vote, after.clone());
            }
        }
        let voted = if quorum.contains(self.me) && late.is_none() {
            self.save_own_vote(office.ledger, n, ballot, decree.clone(), step);
            Priests::single(self.me)
        } else {
            Priests::EMPTY
        };
        office.pending.insert(
            n,
            Pending {
                decree: decree.clone(),
                quorum,
                voted,
            },
        );
        for q in quorum.iter().filter(|&q| q != self.me) {
            step.send(
                self.priests[q as usize],
                Msg::BeginBallot {
                    ballot,
                    number: n,
                    decree: decree.clone(),
                    to: office.incs.of(q),
                },
            );
        }
        if self.bug == Bug::ReplyBeforeChosen {
            self.reply_tentatively(p, n, step);
        }
        // A Chamber of one passes on the president's own vote.
        let passed = self.bug == Bug::PrematureSuccess || self.passes(members, quorum, voted);
        if passed {
            self.pass(p, n, step);
        }
    }

    /// `Timer::Vote`: the president votes in every ballot of its own still pending that it
    /// left its vote out of, and each whose voters now make a quorum is passed. The votes
    /// are saved before any message leaves, like every vote. If there was any, the others
    /// are slow: it votes first in the ballots it begins until its next heartbeat.
    pub(super) fn vote_late(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        let office = Presidency::of(state);
        let late: Vec<DecreeNumber> = office
            .pending
            .iter()
            .filter(|(_, p)| self.awaits_own_vote(p))
            .map(|(n, _)| *n)
            .collect();
        if late.is_empty() {
            return;
        }
        let mut p = President::of(state.to_mut());
        let ballot = p.ballot;
        *p.office().votes_first = true;
        for n in late {
            // A number it learned meanwhile (by a catch-up or a snapshot) needs no vote:
            // its ballot is over.
            if p.priest().knows(n) {
                let learned = p.priest().ledger.learned.get(&n).cloned();
                self.end_ballot(&mut p, n, learned.as_ref());
                continue;
            }
            let office = p.office();
            let Some(pending) = office.pending.get_mut(&n) else {
                continue;
            };
            pending.voted = pending.voted.with(self.me);
            let (decree, quorum, voted) = (pending.decree.clone(), pending.quorum, pending.voted);
            self.save_own_vote(office.ledger, n, ballot, decree, step);
            if self.bug == Bug::LateVotePassesAlone || self.passes(office.members, quorum, voted) {
                self.pass(&mut p, n, step);
            }
        }
    }

    /// Ends the president's pending ballot at `n`, a number it learned another way, as
    /// `passed` (`None`: covered by a snapshot, the decree unknown): the commands it held,
    /// unless they are the decree passed, wait for a new number.
    fn end_ballot(&self, p: &mut President, n: DecreeNumber, passed: Option<&Decree>) {
        let office = p.office();
        if let Some(begun) = office.pending.remove(&n) {
            if passed != Some(&begun.decree) {
                for c in begun.decree.commands().iter().rev() {
                    office.queue.push_front(c.clone());
                }
            }
        }
    }

    /// Whether the pending ballot `p` asked the president's quorum with the president in it,
    /// and the president has not voted in it yet (it left its vote for its vote timer).
    fn awaits_own_vote(&self, p: &Pending) -> bool {
        p.quorum.contains(self.me) && !p.voted.contains(self.me)
    }

    /// The president's own vote for `decree` at `n` in `ballot`, written in its ledger and
    /// saved with this step (seeded bug `president-forgets-own-vote`: counted, never
    /// written).
    fn save_own_vote(
        &self,
        ledger: &mut Ledger,
        n: DecreeNumber,
        ballot: Ballot,
        decree: Decree,
        step: &mut Step,
    ) {
        if self.bug != Bug::PresidentForgetsOwnVote {
            ledger.votes.insert(n, Vote { ballot, decree });
            step.save = true;
        }
    }

    /// Seeded bug: answer the clients of decree `n` from the president's tentative order.
    fn reply_tentatively(&self, p: &mut President, n: DecreeNumber, step: &mut Step) {
        let office = p.office();
        let mut law = office.law.clone();
        for (m, p) in office.pending.range(..=n) {
            p.decree.apply_to(*m, &mut law, self.dedup(), |c, outcome| {
                if let (true, Some(msg)) = (*m == n, Msg::to_client(c.seq, &outcome)) {
                    step.send(c.client, msg);
                }
            });
        }
    }

    /// Proposes queued commands while the window has room. With no command waiting and a
    /// change of the Chamber passed but not yet in force (a lookahead above 1), it passes
    /// olive-day decrees up to the number the change is in force from, so that the change
    /// comes into force without client traffic.
    pub(super) fn propose_queued(&self, p: &mut President, step: &mut Step) {
        loop {
            let limit = {
                let members = p.office().members;
                self.office_limit(p.priest(), members)
            };
            let in_force_from = p
                .priest()
                .law
                .chamber
                .as_ref()
                .and_then(|c| c.next.as_ref())
                .map(|c| c.at);
            let office = p.office();
            let fill = office.queue.is_empty()
                && in_force_from.is_some_and(|at| *office.next < at)
                && self.bug != Bug::NoOliveDayFillers;
            if office.pending.len() >= self.window
                || (office.queue.is_empty() && !fill)
                || *office.next >= self.max_decrees
                || *office.next >= limit
            {
                return;
            }
            if self.chamber.is_some() {
                // Never a number another office may have passed under another membership:
                // from the first one this priest does not know on.
                let gap = office.ledger.first_gap().max(*office.applied);
                if *office.next < gap {
                    *office.next = gap;
                    continue;
                }
            }
            let n = *office.next;
            *office.next += 1;
            let mut take = 0;
            let mut bytes = 0;
            for c in office.queue.iter().take(self.batch) {
                bytes += c.size();
                if take > 0 && bytes > self.batch_bytes {
                    break;
                }
                take += 1;
            }
            if take == 0 {
                self.begin_ballot(p, n, Decree::OliveDay, step);
                continue;
            }
            let cmds: Vec<Command> = office.queue.slice(..take).into_iter().collect();
            let stamp = self.stamp(n);
            self.begin_ballot(p, n, Decree::of(stamp, cmds), step);
        }
    }

    /// Step 5: decree `n` is passed; tell everyone, learn it, propose more. The president
    /// learns it without a save: the decree is chosen whatever happens to this priest (its
    /// quorum's votes are durable), so the answers to its clients and the next ballot need
    /// not wait for a disk write. The record goes to disk with the president's next save
    /// (its next vote or heartbeat); a president that crashes before then learns the decree
    /// again like any lagging priest.
    fn pass(&self, p: &mut President, n: DecreeNumber, step: &mut Step) {
        let office = p.office();
        let Some(passed) = office.pending.remove(&n) else {
            return;
        };
        if self.rerun_when_stalled {
            // Progress, for the president's own election timer (see `watch_progress`).
            *office.progress = true;
        }
        // Everyone it tells before the decree is applied (a priest it removes hears of its
        // removal) and after (a priest it adds hears of its addition).
        let before = self.recipients(p.priest());
        let pending_before = p.priest().law.chamber.as_ref().map(|c| c.next.clone());
        self.learn_presiding(p, n, passed.decree.clone(), false, step);
        let mut told = before.clone();
        told.extend(
            self.recipients(p.priest())
                .into_iter()
                .filter(|q| !before.contains(q)),
        );
        for q in told {
            step.send(
                q,
                Msg::Success {
                    number: n,
                    decree: passed.decree.clone(),
                },
            );
        }
        self.welcome(p.priest(), pending_before, step);
        if self.bug != Bug::StrandQueuedCommands {
            self.propose_queued(p, step);
        }
    }

    /// A change this president just applied adds priests (a new index, or a new incarnation
    /// of one): it sends each of them what it knows, its snapshot and its decrees, so that
    /// it catches up to the decree that adds it and learns its incarnation (a priest that
    /// joins takes part only then). Without this, a newcomer would wait for a heartbeat.
    fn welcome(
        &self,
        state: &PriestState,
        pending_before: Option<Option<crate::kv::Change>>,
        step: &mut Step,
    ) {
        let Some(c) = &state.law.chamber else { return };
        let Some(next) = c
            .next
            .as_ref()
            .filter(|n| pending_before != Some(Some((*n).clone())))
        else {
            return;
        };
        for m in next.members.iter().filter(|m| !c.members.contains(m)) {
            if let Some(&id) = self.priests.get(m.ix as usize) {
                self.send_decrees(state, 0, id, step);
            }
        }
    }

    /// Step 6 at a president: as every priest learns (`write_decree`), and the president
    /// answers the clients of the commands it applies and the reads that may now be
    /// answered. A decree of another president passed as number `n`: the commands this
    /// president had begun there wait for a new number.
    fn learn_presiding(
        &self,
        p: &mut President,
        n: DecreeNumber,
        decree: Decree,
        save: bool,
        step: &mut Step,
    ) {
        if p.priest().knows(n) {
            return;
        }
        self.end_ballot(p, n, Some(&decree));
        let reply = self.bug != Bug::ReplyBeforeChosen;
        if self.write_decree(p.priest(), n, decree, save, reply, step) {
            self.answer_reads(p, step);
        }
    }

    /// A president's read: held until a confirmation round begun after it came succeeds
    /// (no higher ballot had been promised by a quorum, so no later president had passed
    /// anything) and the decrees of earlier presidents are applied; then answered from the
    /// law. No decree, no disk write.
    fn read(&self, p: &mut President, cmd: Command, step: &mut Step) {
        let office = p.office();
        if self.bug == Bug::ReadWithoutConfirm {
            answer_read(office.law, &cmd, step);
            return;
        }
        let round = office.reads.begun + 1;
        office.reads.waiting.push_back(Read { cmd, round });
        // While the membership changes, it passes as a decree instead.
        if self.reads_to_decrees(p, step) {
            return;
        }
        let office = p.office();
        if office.reads.confirmed == office.reads.begun {
            self.begin_round(p, step);
        }
    }

    /// Begins a confirmation round: asks the rest of the quorum whether they still promise
    /// nothing above this president's ballot (the president's own promise counts at once).
    fn begin_round(&self, p: &mut President, step: &mut Step) {
        if self.reads_to_decrees(p, step) {
            return;
        }
        let ballot = p.ballot;
        let office = p.office();
        office.reads.begun += 1;
        office.reads.acks = Priests::single(self.me);
        let round = office.reads.begun;
        for q in office.quorum.iter().filter(|&q| q != self.me) {
            let to = office.incs.of(q);
            step.send(self.priests[q as usize], Msg::Confirm { ballot, round, to });
        }
        self.round_done(p, step);
    }

    /// If the priests that confirmed the round in flight include a quorum of the members, it
    /// succeeded: answer what can be answered, and begin the next round if reads came
    /// meanwhile.
    fn round_done(&self, p: &mut President, step: &mut Step) {
        let office = p.office();
        let members = office.members;
        let reads = office.reads;
        if reads.confirmed == reads.begun || !self.is_quorum_of(members, reads.acks) {
            return;
        }
        reads.confirmed = reads.begun;
        self.answer_reads(p, step);
        let reads = p.office().reads;
        if reads.waiting.iter().any(|r| r.round > reads.confirmed) {
            self.begin_round(p, step);
        }
    }

    /// Answers, from the law, every read whose round succeeded, once the decrees of earlier
    /// presidents are applied.
    pub(super) fn answer_reads(&self, p: &mut President, step: &mut Step) {
        if self.reads_to_decrees(p, step) {
            return;
        }
        let office = p.office();
        let reads = office.reads;
        if reads.waiting.is_empty() || *office.applied < reads.own {
            return;
        }
        let confirmed = reads.confirmed;
        let (ready, wait): (Vector<Read>, Vector<Read>) = std::mem::take(&mut reads.waiting)
            .into_iter()
            .partition(|r| r.round <= confirmed);
        reads.waiting = wait;
        // A read of a key whose deadline this president's clock passed, and the law's clock
        // not yet, passes as a decree: its stamp moves the law's clock past the deadline
        // first, so the read does not see a key that expired (see "Keys that expire").
        // The clock is read only when some key has a deadline.
        let clock = (!ready.is_empty() && !office.law.map.deadlines().is_empty())
            .then(|| self.clock_at(*office.next));
        let (ready, expiring): (Vec<Read>, Vec<Read>) = ready
            .into_iter()
            .partition(|r| clock.is_none_or(|c| !reads_expired(office.law, &r.cmd.op, c)));
        let moved = !expiring.is_empty();
        for r in expiring {
            office.queue.push_back(r.cmd);
        }
        for r in ready {
            if let Some(answer) = answer_read(office.law, &r.cmd, step) {
                let seq = r.cmd.seq;
                reads
                    .answered
                    .insert(r.cmd.client, Session { seq, answer, at: 0 });
                // Bounded: the lowest client ids go first. A copy of an evicted client's
                // read begins a round of its own and is answered again, still rightly.
                while reads.answered.len() > self.read_cache {
                    let Some(oldest) = reads.answered.keys().next().copied() else {
                        break;
                    };
                    reads.answered.remove(&oldest);
                }
            }
        }
        if moved {
            self.propose_queued(p, step);
        }
    }

    /// Whether the Chamber is changing under this office: a change passed and not yet in
    /// force, another membership in force than the office's, or decrees this president
    /// knows were passed (a snapshot's end reported to it) not yet applied, which may hold
    /// a change.
    fn changing(&self, p: &mut President) -> bool {
        let members = p.office().members;
        let own = p.office().reads.own;
        let state = p.priest();
        state.law.chamber.as_ref().is_some_and(|c| c.next.is_some())
            || self.members_at(state, state.applied) != Some(members)
            || (self.chamber.is_some() && state.applied < own)
    }

    /// While the Chamber changes, the reads waiting for a round pass as decrees instead: a
    /// round of this office's quorum may not speak for the next office's. Whether it moved
    /// them (none are left waiting).
    fn reads_to_decrees(&self, p: &mut President, step: &mut Step) -> bool {
        if self.chamber.is_none() || !self.changing(p) {
            return false;
        }
        let office = p.office();
        for r in std::mem::take(&mut office.reads.waiting) {
            office.queue.push_back(r.cmd);
        }
        office.reads.confirmed = office.reads.begun;
        self.propose_queued(p, step);
        true
    }

    /// One office, one membership: once another membership is in force at the first decree
    /// number this president has not applied, and nothing it began is pending, its office
    /// has done all it may. It runs again, over the membership in force, or, no member of
    /// it, steps down. Called after every handler of a presiding priest.
    pub(super) fn follow_the_chamber(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        if state.law.chamber.is_none()
            || !state.is_president()
            || self.bug == Bug::OldQuorumAfterChange
        {
            return;
        }
        let office = Presidency::of(state);
        let gap = state.ledger.first_gap();
        let in_force = self.members_at(state, state.applied) == Some(office.members);
        // Numbers below `next` that nobody began (votes reported above the office's limit):
        // a new office asks for them again.
        let skipped =
            in_force && gap < office.next && self.office_limit(state, office.members) > gap;
        if !office.pending.is_empty() || (in_force && !skipped) {
            return;
        }
        let member = self
            .members_at(state, gap)
            .is_some_and(|m| m.contains(self.me));
        if member && self.next_round(&state.ledger) > self.max_round {
            // No ballot left to run with (the model's bound): it stays, beginning nothing.
            return;
        }
        let state = state.to_mut();
        if member {
            self.rerun(President::of(state), step);
        } else {
            self.hand_over(state, step);
        }
    }

    /// A president the change removed steps down and hands over: the lowest-numbered member
    /// of the membership in force is told to run now (`Handover`), and gets the commands
    /// this president held (queued, and reads waiting for a round; nothing is pending).
    fn hand_over(&self, state: &mut PriestState, step: &mut Step) {
        let mut cmds: Vec<Command> = std::mem::take(&mut state.queue).into_iter().collect();
        if let Status::Presiding { reads, .. } = &state.status {
            cmds.extend(reads.waiting.iter().map(|r| r.cmd.clone()));
        }
        state.status = Status::Follower;
        let Some(to) = self.successor(state) else {
            state.queue = cmds.into_iter().collect();
            return;
        };
        let id = self.priests[to as usize];
        step.send(id, Msg::Handover);
        for c in cmds {
            step.send(id, c.into());
        }
    }

    /// The member a priest that is no longer one hands over to: the lowest-numbered member of
    /// the membership in force at its first unapplied number (`None` when it is a member, or
    /// the Chamber is fixed).
    pub(super) fn successor(&self, state: &PriestState) -> Option<crate::ballot::PriestIx> {
        state.law.chamber.as_ref()?;
        let members = self.members_at(state, state.applied)?;
        if members.contains(self.me) {
            return None;
        }
        members.iter().next()
    }

    /// A deployed president's election timer: it watches its own progress. If a decree
    /// stayed pending for a whole election timeout (no decree passed, although the lost
    /// messages were asked for again on every heartbeat), too many of its quorum are gone
    /// for a quorum to vote: take a new ballot, whose quorum is whichever priests answer.
    pub(super) fn watch_progress(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        if !self.rerun_when_stalled {
            return;
        }
        let stalled = !state.progress && !Presidency::of(state).pending.is_empty();
        let state = state.to_mut();
        state.progress = false;
        if stalled && self.next_round(&state.ledger) <= self.max_round {
            self.rerun(President::of(state), step);
        }
        step.set_timer(Timer::Election, self.election.clone());
    }

    /// A deployed president's heartbeat: it tells the others it is alive and how far it
    /// knows, and asks again for what may have been lost.
    pub(super) fn heartbeat(&self, state: &mut Cow<PriestState>, step: &mut Step) {
        let Some(h) = &self.heartbeat else { return };
        let Some(ballot) = state.ledger.last_tried else {
            return;
        };
        // The decrees it learned as it passed them reach its disk at least once per
        // heartbeat, even when it writes no vote (see `pass`).
        step.save = true;
        let known = state.ledger.first_gap();
        for q in self.recipients(state) {
            step.send(q, Msg::Heartbeat { ballot, known });
        }
        // It leaves its vote for its vote timer again: if the follower that was slow
        // still is, this costs one wait of the timer per heartbeat.
        if Presidency::of(state).votes_first {
            *President::of(state.to_mut()).office().votes_first = false;
        }
        // A BeginBallot or its Voted may have been lost: ask again every member of the
        // quorum whose vote has not arrived (a priest that already voted answers Voted
        // again). Without this, one lost message would stall the decree, and behind it every
        // later one, while the heartbeats keep the president in office.
        let Presidency {
            members,
            incs,
            quorum,
            next,
            pending,
            reads,
            ..
        } = Presidency::of(state);
        // Ask the members outside its quorum (down when it ran, or their LastVote lost) for
        // their promise again, from its next free decree number, so that a late LastVote lets
        // them join the quorum.
        for q in members.iter().filter(|q| !quorum.contains(*q)) {
            let (from, to) = (next, incs.of(q));
            step.send(
                self.priests[q as usize],
                Msg::NextBallot { ballot, from, to },
            );
        }
        if reads.confirmed != reads.begun {
            for q in quorum.iter().filter(|&q| !reads.acks.contains(q)) {
                let (round, to) = (reads.begun, incs.of(q));
                step.send(self.priests[q as usize], Msg::Confirm { ballot, round, to });
            }
        }
        for (n, p) in pending {
            for q in p
                .quorum
                .iter()
                .filter(|&q| q != self.me && !p.voted.contains(q))
            {
                step.send(
                    self.priests[q as usize],
                    Msg::BeginBallot {
                        ballot,
                        number: *n,
                        decree: p.decree.clone(),
                        to: incs.of(q),
                    },
                );
            }
        }
        step.set_timer(Timer::Heartbeat, h.clone());
    }
}

/// Whether the read `op` touches a key whose deadline is at or before `clock` (for a read of
/// the whole map: whether any key's is). The law holds no key whose deadline is at or before
/// its own clock.
fn reads_expired(law: &Store, op: &Op, clock: u64) -> bool {
    let deadlines = law.map.deadlines();
    if deadlines.earliest().is_none_or(|at| at > clock) {
        return false;
    }
    match op {
        Op::Count | Op::Keys { .. } | Op::Scan { .. } => true,
        op => op
            .keys()
            .into_iter()
            .any(|k| deadlines.get(&Slot::of(k)).is_some_and(|at| at <= clock)),
    }
}

/// Answers the read `cmd` from `law` (a get: nothing is executed).
fn answer_read(law: &Store, cmd: &Command, step: &mut Step) -> Option<Answer> {
    let answer = law.map.read(&cmd.op)?;
    let seq = cmd.seq;
    step.send(
        cmd.client,
        Msg::Reply {
            seq,
            answer: answer.clone(),
        },
    );
    Some(answer)
}
