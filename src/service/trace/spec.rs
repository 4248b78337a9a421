//! Check 4 of `parliament trace check`: a replayed run of deployed priests is a behaviour of
//! `tla/Parliament.tla`.
//!
//! # The spec over unbounded numbers
//!
//! `tla/Parliament.tla` has a constant `D` of decree numbers and `MaxRound` of rounds; a
//! deployed run passes thousands of decrees in ballots of any round. The spec's actions do
//! not depend on those bounds, except that `LastVote` and `TakeOffice` range over the numbers
//! `n..D`: here they range over every number at or above `n`, which is what `D` stands for in
//! a run that never ends. So this module evaluates the spec's nine actions, guard and
//! effect as `models/parliament_spec.rs` transliterates them, on a state of unbounded
//! numbers, ballots and decrees, kept incrementally:
//!
//! | spec variable | kept as |
//! |---|---|
//! | `lastTried[p]`, `nextBal[p]` | the ballots of priest `p`'s ledger as last saved |
//! | `prevVote[p][n]` | the latest vote at `n` in any ledger `p` saved (truncation by a snapshot forgets it in the ledger, not here) |
//! | `learned[p][n]` | the decree at `n` in any ledger `p` saved; for a number under a snapshot `p` installed, the decree a `Success` named there |
//! | `office[p]` | `p`'s status while it presides (ballot `lastTried` in memory, quorum, next free number); otherwise the office it held last (a history variable) |
//! | `msgs` | every message of the five kinds sent by a step kept in the run, as a hash set |
//! | `ballots` | the ballots begun by the spec's own steps (number, ballot, president, decree, quorum) |
//!
//! Decrees are compared by value (each distinct one gets an index); `Proposes(p)` is every
//! decree, as in `check parliament-refinement`.
//!
//! One message is mapped with care. A deployed president asks the priests outside its
//! quorum again with each heartbeat, `NextBallot(b, k)` with `k` its next free number, so
//! that a late promise joins them to its quorum. The spec sends `NextBallot(b, n)` only
//! when it tries `b`, from its first unknown number `n`. The ask is mapped to that message
//! (already in `msgs`: a stutter), and the answer `LastVote(b, from k)` to the spec's
//! `LastVote(b)` from `n`: its votes at `k` and above as sent, those in `n..k` as the
//! sender's ledger held them when it answered (exactly what the spec's report would carry).
//! Nobody reads those: the president is in office in `b`, so only `JoinQuorum` can use
//! the answer, and it reads from its next free number, at least `k`. The spec stays as TLC
//! checks it (a `NextBallot` per next free number would multiply its states tenfold).
//!
//! # One step of a priest
//!
//! The merged run ([`super::Run::order`]) is walked step by step. The step of priest `p` maps
//! to a *target*: `p`'s variables after it (from the ledger it saved last and its state) and
//! the messages it sent that are new to `msgs`. The check then looks for a sequence of spec
//! actions of `p` that leads from the current state exactly to the target: a breadth-first
//! search among the actions the target suggests (a `LastVote` sent suggests `SendLastVote`, a
//! new office `TakeOffice` or `JoinQuorum`, a decree learned `Learn`, and so on), each
//! applied only where its guard holds in the state the search reached. A step of another
//! priest may only stutter. Guards are evaluated on the real state, so a step is accepted only
//! when real spec steps explain it; a search that gives up (more than [`MAX_SPEC_STEPS`]
//! actions, or another order than the suggested ones) is a failure, a false alarm at worst.
//!
//! # Steps that never happened
//!
//! The mapping counts what a priest saved as if it were durable the moment its handler ran,
//! which the host makes true (check 3: nothing leaves before its save is durable), except
//! for a priest killed before the sync: its restart begins from an earlier save (check 1
//! allows any save at or after the last `Synced`). The steps of that incarnation after the
//! save it restarted from, from the first that saved again, are *dropped*: their saves were
//! lost, and under the host's contract none of their messages left. If one did (a runtime
//! that sends before its sync), a receiver's step finds a message that is not in `msgs` and
//! the check fails there.
//!
//! # What is not mapped
//!
//! The spec has a fixed Chamber, no snapshots in messages and no lost ledgers. The check
//! stops (and says where and why, `not checked beyond`) at the first of: a priest that
//! starts with a ledger made at start (`join`, `rejoin`); a decree that changes the Chamber;
//! a `LastVote` that reports a snapshot above its `from` (the president then begins no ballot
//! below the snapshot's end and catches up instead, where the spec's `TakeOffice` would
//! begin one at each such number). Snapshots a priest takes of its own law are stutters
//! (the ledger forgets, the mapping does not); a snapshot it installs is a `Learn` of each
//! number it covers, each needing a `Success` sent for that number. Heartbeats, catch-up
//! requests, reads and client traffic are not spec messages; a `Success` sent again in
//! answer to a catch-up is already in `msgs`.
//!
//! The run starts from the spec's `Init` (with `Genesis`) when every priest bootstraps; a
//! run that begins from existing ledgers is checked from the state they map to.

use super::{Run, StepId};
use crate::ballot::{Ballot, PriestIx, Priests};
use crate::host::config::Config;
use crate::kv::{MemberOp, Op, CLIENT_BIT};
use crate::parliament::{Decree, DecreeNumber, Ledger, Msg, ParliamentPriest, Status, GENESIS};
use stateright::actor::Command;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The longest sequence of spec actions one step of a priest may stand for (a bulk of
/// `Learn`s counts as one).
pub const MAX_SPEC_STEPS: usize = 16;

/// How many search states one step may visit before the check gives up on it.
const MAX_SEARCH: usize = 20_000;

type Num = DecreeNumber;
/// A decree, by its index in [`Decrees`].
type Did = u32;
/// A vote: ballot and decree.
type SVote = (Ballot, Did);

/// The decrees met so far, each with an index.
#[derive(Default)]
struct Decrees {
    index: HashMap<Decree, Did>,
    all: Vec<Decree>,
}

impl Decrees {
    fn of(&mut self, d: &Decree) -> Did {
        if let Some(&i) = self.index.get(d) {
            return i;
        }
        let i = self.all.len() as Did;
        self.index.insert(d.clone(), i);
        self.all.push(d.clone());
        i
    }
    fn show(&self, i: Did) -> String {
        let s = self.all[i as usize].to_string();
        if s.chars().count() > 60 {
            format!("{}...", s.chars().take(60).collect::<String>())
        } else {
            s
        }
    }
}

/// A message of the spec.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum SMsg {
    NextBallot {
        bal: Ballot,
        from: Num,
    },
    /// The votes reported at numbers `>= start`, in order.
    LastVote {
        bal: Ballot,
        q: PriestIx,
        start: Num,
        votes: Arc<Vec<(Num, SVote)>>,
    },
    BeginBallot {
        bal: Ballot,
        num: Num,
        dec: Did,
        to: PriestIx,
    },
    Voted {
        bal: Ballot,
        num: Num,
        q: PriestIx,
    },
    Success {
        num: Num,
        dec: Did,
    },
}

/// `office[p]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Office {
    bal: Ballot,
    qrm: Priests,
    next: Num,
}

/// A begun ballot: president, decree, quorum.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct BallotRec {
    pres: PriestIx,
    dec: Did,
    qrm: Priests,
}

/// One priest's variables.
#[derive(Clone, Default)]
struct PriestVars {
    last_tried: Option<Ballot>,
    next_bal: Option<Ballot>,
    votes: BTreeMap<Num, SVote>,
    learned: BTreeMap<Num, Did>,
    /// Every number below it is learned.
    first_gap: Num,
    office: Option<Office>,
    /// The ledger as last saved (what the next save is compared with), and the end of its
    /// snapshot.
    saved: Option<Ledger>,
    snapshot: Num,
}

/// The shared variables, and indexes of `msgs` for the guards.
#[derive(Default)]
struct Shared {
    msgs: HashSet<SMsg>,
    /// `NextBallot(b, n)`: `n` by `b`.
    asked: HashMap<Ballot, Num>,
    /// `LastVote(b)`s by `b`.
    last_votes: HashMap<Ballot, Vec<SMsg>>,
    /// `BeginBallot(b, k, d, q)`: the decrees by `(b, k, q)`.
    begun_to: HashMap<(Ballot, Num, PriestIx), Vec<Did>>,
    /// `Success(k, d)`: `d` by `k` (two would break agreement, and fail a guard).
    chosen: HashMap<Num, Did>,
    ballots: HashMap<(Num, Ballot), BallotRec>,
}

impl Shared {
    fn add(&mut self, m: SMsg) {
        if !self.msgs.insert(m.clone()) {
            return;
        }
        match &m {
            SMsg::NextBallot { bal, from } => {
                self.asked.entry(*bal).or_insert(*from);
            }
            SMsg::LastVote { bal, .. } => self.last_votes.entry(*bal).or_default().push(m),
            SMsg::BeginBallot { bal, num, dec, to } => self
                .begun_to
                .entry((*bal, *num, *to))
                .or_default()
                .push(*dec),
            SMsg::Voted { .. } => {}
            SMsg::Success { num, dec } => {
                self.chosen.entry(*num).or_insert(*dec);
            }
        }
    }
}

/// A spec action of the priest whose step is checked.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Action {
    TryNewBallot(Ballot),
    SendLastVote {
        b: Ballot,
        n: Num,
    },
    TakeOffice(Priests),
    BeginNew(Did),
    VoteLate(Num),
    CastVote {
        b: Ballot,
        k: Num,
        d: Did,
    },
    Succeed(Num),
    Learn(Num, Did),
    /// Every `Learn` the target still needs, in a row.
    LearnAll,
    JoinQuorum(SMsg),
}

/// The search state: the priest's variables, as changes over its current ones, and what it
/// added to the shared variables.
#[derive(Clone, PartialEq, Eq, Hash)]
struct Local {
    last_tried: Option<Ballot>,
    next_bal: Option<Ballot>,
    votes: BTreeMap<Num, SVote>,
    learned: BTreeMap<Num, Did>,
    office: Option<Office>,
    sent: BTreeSet<SMsg>,
    ballots: BTreeMap<(Num, Ballot), (PriestIx, Did, Priests)>,
}

impl Local {
    /// No change to priest `v`'s variables.
    fn empty(v: &PriestVars) -> Local {
        Local {
            last_tried: v.last_tried,
            next_bal: v.next_bal,
            votes: BTreeMap::new(),
            learned: BTreeMap::new(),
            office: v.office,
            sent: BTreeSet::new(),
            ballots: BTreeMap::new(),
        }
    }
}

/// The kinds of the spec actions on a search path, each with how many actions it stands for.
type ActionPath = Vec<(&'static str, usize)>;

/// The figures of check 4.
#[derive(Clone, Debug, Default)]
pub struct SpecReport {
    /// Steps checked (each mapped to spec steps or a stutter).
    pub steps: usize,
    /// Of them, stutters (no spec variable changed).
    pub stutters: usize,
    /// Spec actions found, in all, and by kind.
    pub actions: usize,
    pub by_kind: BTreeMap<&'static str, usize>,
    /// Steps dropped: after the save a restart began from (see the module docs).
    pub dropped: usize,
    /// Decree numbers learned by some priest, and spec messages in `msgs` at the end.
    pub learned: usize,
    pub msgs: usize,
    /// Where and why the check stopped before the end of the run.
    pub not_checked: Option<String>,
    pub errors: Vec<String>,
    pub elapsed: Duration,
}

impl SpecReport {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for SpecReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "against tla/Parliament.tla: {} steps checked ({} stutters, {} dropped after a \
             restart), {} spec actions (",
            self.steps, self.stutters, self.dropped, self.actions
        )?;
        for (i, (k, n)) in self.by_kind.iter().enumerate() {
            write!(f, "{}{k} {n}", if i > 0 { ", " } else { "" })?;
        }
        write!(
            f,
            "), {} numbers learned, {} messages, {:.2} s",
            self.learned,
            self.msgs,
            self.elapsed.as_secs_f64()
        )?;
        if let Some(why) = &self.not_checked {
            write!(f, "; not checked beyond {why}")?;
        }
        Ok(())
    }
}

/// Why the run leaves the spec's scope.
struct OutOfScope(String);

/// The checker's state.
struct Checker {
    n: usize,
    quorums: Vec<Priests>,
    priests: Vec<PriestVars>,
    shared: Shared,
    decrees: Decrees,
    report: SpecReport,
}

/// Checks the replayed run `run` (replayed with [`super::Options::keep_states`]) against
/// `tla/Parliament.tla` (see the module docs).
pub fn check(run: &Run<ParliamentPriest>) -> SpecReport {
    let began = Instant::now();
    let mut report = match Checker::new(run) {
        Ok(mut c) => {
            c.walk(run);
            c.report.learned = c.priests.iter().map(|p| p.learned.len()).max().unwrap_or(0);
            c.report.msgs = c.shared.msgs.len();
            c.report
        }
        Err(OutOfScope(why)) => SpecReport {
            not_checked: Some(why),
            ..SpecReport::default()
        },
    };
    report.elapsed = began.elapsed();
    report
}

/// Replays the Parliament trace in `dir` with the states kept and checks it against the spec.
pub fn check_dir(dir: &Path) -> Result<(super::Report, SpecReport), super::TraceError> {
    let run = super::replay_parliament(dir, super::Options { keep_states: true })?;
    let spec = check(&run);
    Ok((run.report, spec))
}

impl Checker {
    fn new(run: &Run<ParliamentPriest>) -> Result<Self, OutOfScope> {
        let first = run
            .priests
            .iter()
            .find_map(|p| p.incarnations.first())
            .ok_or_else(|| OutOfScope("the start: no incarnation recorded".into()))?;
        let cfg = Config::parse_unkeyed(&first.start.config, Path::new("(recorded)"))
            .map_err(|e| OutOfScope(format!("the start: the configuration: {e}")))?;
        let n = cfg.membership.map_or(cfg.priests.len(), |m| m.founders);
        let all = Priests::all(n);
        let quorums = (1u64..(1 << n))
            .map(Priests)
            .filter(|q| q.is_subset(all) && 2 * q.len() > n)
            .collect();
        let mut priests = vec![PriestVars::default(); n];
        for pr in &run.priests {
            if pr.priest >= n {
                return Err(OutOfScope(format!(
                    "the start: priest {} is not a founder (the Chamber changed)",
                    pr.priest
                )));
            }
        }
        let mut decrees = Decrees::default();
        // The initial ledgers: each priest's first Start (the genesis ledger if none).
        for (p, vars) in priests.iter_mut().enumerate() {
            let start = run
                .priests
                .iter()
                .find(|r| r.priest == p)
                .and_then(|r| r.incarnations.first());
            if let Some(inc) = start {
                if matches!(inc.start.mode.as_str(), "join" | "rejoin") {
                    return Err(OutOfScope(format!(
                        "the start: priest {p} starts with a ledger made at start ({})",
                        inc.start.mode
                    )));
                }
            }
            let genesis = Ledger::genesis(p as PriestIx);
            let l = start
                .and_then(|i| i.start.ledger.clone())
                .unwrap_or(genesis);
            vars.last_tried = l.last_tried;
            vars.next_bal = l.next_bal;
            for (k, v) in &l.votes {
                vars.votes.insert(*k, (v.ballot, decrees.of(&v.decree)));
            }
            for (k, d) in &l.learned {
                vars.learned.insert(*k, decrees.of(d));
            }
            if let Some(s) = &l.snapshot {
                return Err(OutOfScope(format!(
                    "the start: priest {p} starts from a snapshot (decrees below {})",
                    s.upto
                )));
            }
            vars.first_gap = first_gap(&vars.learned, 0, &BTreeMap::new());
            vars.saved = Some(l);
        }
        let mut c = Checker {
            n,
            quorums,
            priests,
            shared: Shared::default(),
            decrees,
            report: SpecReport::default(),
        };
        // Genesis: priest 0 in office in ballot 0 with every priest as its quorum.
        if c.priests[0].last_tried == Some(GENESIS) {
            c.priests[0].office = Some(Office {
                bal: GENESIS,
                qrm: Priests::all(n),
                next: 0,
            });
        }
        Ok(c)
    }

    fn is_quorum(&self, q: Priests) -> bool {
        self.quorums.contains(&q)
    }

    /// Whether `set` holds a quorum.
    fn has_quorum(&self, set: Priests) -> bool {
        self.quorums.iter().any(|q| q.is_subset(set))
    }

    /// `Votes(p, Q)`: president `p` votes in a ballot of quorum `Q` as it begins it when
    /// the others of `Q` hold no quorum without it.
    fn votes_as_it_begins(&self, p: PriestIx, quorum: Priests) -> bool {
        quorum.contains(p) && !self.has_quorum(quorum.without(p))
    }

    /// The steps of each incarnation that are kept: up to the save its restart began from.
    fn kept(run: &Run<ParliamentPriest>) -> HashMap<(usize, usize), usize> {
        let mut kept = HashMap::new();
        for pr in &run.priests {
            for (i, inc) in pr.incarnations.iter().enumerate() {
                let Some(next) = pr.incarnations.get(i + 1) else {
                    continue;
                };
                if next.start.mode != "restart" {
                    continue;
                }
                let saved = |s: &super::Step<ParliamentPriest>, l: Option<&Ledger>| {
                    s.output
                        .iter()
                        .any(|c| matches!(c, Command::Save(m) if Some(m) == l))
                };
                let saves = |s: &super::Step<ParliamentPriest>| {
                    s.output.iter().any(|c| matches!(c, Command::Save(_)))
                };
                // The last step that saved the ledger the restart began from (none: it began
                // from the incarnation's own start).
                let from = inc
                    .steps
                    .iter()
                    .rposition(|s| saved(s, next.start.ledger.as_ref()));
                let first_lost = inc
                    .steps
                    .iter()
                    .enumerate()
                    .skip(from.map_or(0, |f| f + 1))
                    .find(|(_, s)| saves(s))
                    .map(|(k, _)| k);
                if let Some(k) = first_lost {
                    kept.insert((pr.priest, i), k);
                }
            }
        }
        kept
    }

    fn walk(&mut self, run: &Run<ParliamentPriest>) {
        let kept = Self::kept(run);
        for &id in &run.order {
            if kept
                .get(&(id.priest, id.incarnation))
                .is_some_and(|&k| id.step >= k)
            {
                self.report.dropped += 1;
                continue;
            }
            match self.step(run, id) {
                Ok(()) => {}
                Err(Failure::Out(OutOfScope(why))) => {
                    self.report.not_checked = Some(format!(
                        "priest {}, incarnation {}, step {}: {why}",
                        id.priest, id.incarnation, id.step
                    ));
                    return;
                }
                Err(Failure::Broken(e)) => {
                    let step = run.step(id);
                    self.report.errors.push(format!(
                        "priest {}, incarnation {}, step {} ({}): {e}",
                        id.priest,
                        id.incarnation,
                        id.step,
                        super::brief(&step.input)
                    ));
                    if self.report.errors.len() >= 20 {
                        return;
                    }
                    // The state is the target's from here on (the check goes on from what
                    // the priest did, to find more).
                }
            }
        }
    }

    /// Maps a message `p` sent to `dst`.
    fn map_msg(&mut self, p: PriestIx, dst: usize, m: &Msg) -> Result<Option<SMsg>, OutOfScope> {
        if dst as u64 & CLIENT_BIT != 0 || dst >= self.n {
            return Ok(None);
        }
        Ok(Some(match m {
            // A president asking again (with its heartbeat) from its next free number: the
            // spec's NextBallot of the ballot, from its first `n` (see the module docs).
            Msg::NextBallot { ballot, from, .. } => SMsg::NextBallot {
                bal: *ballot,
                from: *self.shared.asked.get(ballot).unwrap_or(from),
            },
            Msg::LastVote {
                ballot,
                from,
                base,
                votes,
                ..
            } => {
                if base > from {
                    return Err(OutOfScope(format!(
                        "a LastVote({ballot}) from priest {p} reports a snapshot of the decrees \
                         below {base}, above its from ({from})"
                    )));
                }
                let mut vs: Vec<(Num, SVote)> = votes
                    .iter()
                    .map(|(k, v)| (*k, (v.ballot, self.decrees.of(&v.decree))))
                    .collect();
                // The answer to a president asking again from a later number than its
                // ballot's first `n`: the spec's report from `n`, the numbers below `from`
                // told by the sender's ledger as it stood (the president reads none of
                // them: it is in office, and `JoinQuorum` reads from its next free
                // number on).
                let start = match self.shared.asked.get(ballot) {
                    Some(&n) if n < *from => {
                        let none = Local::empty(&self.priests[p as usize]);
                        vs.extend(
                            self.report_of(p, &none, *ballot, n)
                                .into_iter()
                                .take_while(|(k, _)| k < from),
                        );
                        n
                    }
                    _ => *from,
                };
                vs.sort();
                SMsg::LastVote {
                    bal: *ballot,
                    q: p,
                    start,
                    votes: Arc::new(vs),
                }
            }
            Msg::BeginBallot {
                ballot,
                number,
                decree,
                ..
            } => {
                if decree
                    .commands()
                    .iter()
                    .any(|c| matches!(&c.op, Op::Member(m) if !matches!(m, MemberOp::List)))
                {
                    return Err(OutOfScope(format!(
                        "priest {p} begins a decree that changes the Chamber, at number {number}"
                    )));
                }
                SMsg::BeginBallot {
                    bal: *ballot,
                    num: *number,
                    dec: self.decrees.of(decree),
                    to: dst as PriestIx,
                }
            }
            Msg::Voted { ballot, number, .. } => SMsg::Voted {
                bal: *ballot,
                num: *number,
                q: p,
            },
            Msg::Success { number, decree } => SMsg::Success {
                num: *number,
                dec: self.decrees.of(decree),
            },
            _ => return Ok(None),
        }))
    }

    /// Checks step `id` and moves the state to its target.
    fn step(&mut self, run: &Run<ParliamentPriest>, id: StepId) -> Result<(), Failure> {
        let p = id.priest;
        let pi = p as PriestIx;
        let step = run.step(id);
        // The target: the messages new to `msgs`, the ledger saved last, the office.
        let mut sent = BTreeSet::new();
        let mut save = None;
        for c in &step.output {
            match c {
                Command::Send(dst, m) => {
                    if let Some(sm) = self.map_msg(pi, usize::from(*dst), m)? {
                        if !self.shared.msgs.contains(&sm) {
                            sent.insert(sm);
                        }
                    }
                }
                Command::Save(l) => save = Some(l),
                _ => {}
            }
        }
        let vars = &self.priests[p];
        let current = Local::empty(vars);
        let mut target = Local {
            sent,
            ..Local::empty(vars)
        };
        let mut snapshot = vars.snapshot;
        if let Some(l) = save {
            target.last_tried = l.last_tried;
            target.next_bal = l.next_bal;
            let prev = vars.saved.clone().unwrap_or_default();
            for d in prev.votes.diff(&l.votes) {
                if let im::ordmap::DiffItem::Add(k, v)
                | im::ordmap::DiffItem::Update { new: (k, v), .. } = d
                {
                    let sv = (v.ballot, self.decrees.of(&v.decree));
                    if self.priests[p].votes.get(k) != Some(&sv) {
                        target.votes.insert(*k, sv);
                    }
                }
            }
            for d in prev.learned.diff(&l.learned) {
                if let im::ordmap::DiffItem::Add(k, dec)
                | im::ordmap::DiffItem::Update { new: (k, dec), .. } = d
                {
                    let sd = self.decrees.of(dec);
                    if self.priests[p].learned.get(k) != Some(&sd) {
                        target.learned.insert(*k, sd);
                    }
                }
            }
            if l.rejoin.is_some() {
                return Err(OutOfScope(format!("priest {p} rejoins (its ledger was lost)")).into());
            }
            // A snapshot installed: every number it covers is learned, the decree a Success
            // named there.
            let upto = l.snapshot.as_ref().map_or(0, |s| s.upto);
            if upto > snapshot {
                let vars = &self.priests[p];
                let mut k = vars.first_gap;
                while k < upto {
                    if !vars.learned.contains_key(&k) && !target.learned.contains_key(&k) {
                        let Some(&d) = self.shared.chosen.get(&k) else {
                            return Err(Failure::Broken(format!(
                                "priest {p} holds a snapshot of the decrees below {upto}, but no \
                                 Success was sent for number {k}"
                            )));
                        };
                        target.learned.insert(k, d);
                    }
                    k += 1;
                }
                snapshot = upto;
            }
        }
        if let Some(after) = &step.after {
            if let Status::Presiding { quorum, next, .. } = &after.status {
                let bal = after
                    .ledger
                    .last_tried
                    .ok_or_else(|| Failure::Broken("a president with no lastTried".into()))?;
                target.office = Some(Office {
                    bal,
                    qrm: *quorum,
                    next: *next,
                });
            }
        }
        let result = if Self::reached(&current, &target) {
            self.report.stutters += 1;
            Ok(current)
        } else {
            self.search(pi, current, &target)
        };
        self.report.steps += 1;
        let broken = match result {
            Ok(reached) => {
                // The ballots the spec's steps began (the target has none of its own).
                target.ballots = reached.ballots;
                None
            }
            Err(e) => Some(e),
        };
        self.commit(p, target, save, snapshot);
        match broken {
            None => Ok(()),
            Some(e) => Err(Failure::Broken(e)),
        }
    }

    /// Moves priest `p`'s variables and the shared ones to `t`.
    fn commit(&mut self, p: usize, t: Local, save: Option<&Ledger>, snapshot: Num) {
        let v = &mut self.priests[p];
        v.last_tried = t.last_tried;
        v.next_bal = t.next_bal;
        v.votes.extend(t.votes);
        let grew = !t.learned.is_empty();
        v.learned.extend(t.learned);
        if grew {
            v.first_gap = first_gap(&v.learned, v.first_gap, &BTreeMap::new());
        }
        v.office = t.office;
        if let Some(l) = save {
            v.saved = Some(l.clone());
        }
        v.snapshot = snapshot;
        for m in t.sent {
            self.shared.add(m);
        }
        for ((k, b), (pres, dec, qrm)) in t.ballots {
            self.shared
                .ballots
                .entry((k, b))
                .or_insert(BallotRec { pres, dec, qrm });
        }
    }

    /// A shortest sequence of spec actions of `p` from `from` to `target`, if one exists
    /// among the ones the target suggests.
    fn search(&mut self, p: PriestIx, from: Local, target: &Local) -> Result<Local, String> {
        let candidates = self.candidates(p, &from, target);
        let mut seen: HashSet<Local> = HashSet::new();
        let mut queue: VecDeque<(Local, usize, ActionPath)> = VecDeque::new();
        seen.insert(from.clone());
        queue.push_back((from.clone(), 0, Vec::new()));
        let mut visited = 0;
        while let Some((s, depth, path)) = queue.pop_front() {
            if depth >= MAX_SPEC_STEPS {
                continue;
            }
            for a in &candidates {
                visited += 1;
                if visited > MAX_SEARCH {
                    return Err(self.describe(p, &from, target, "the search gave up"));
                }
                let Some(t) = self.apply(p, &s, a, target) else {
                    continue;
                };
                if !Self::within(&t, target) || !seen.insert(t.clone()) {
                    continue;
                }
                let mut path = path.clone();
                // A bulk of Learns counts as the Learns it is.
                let count = match a {
                    Action::LearnAll => t.learned.len() - s.learned.len(),
                    _ => 1,
                };
                path.push((kind(a), count));
                if Self::reached(&t, target) {
                    for (k, count) in path {
                        self.report.actions += count;
                        *self.report.by_kind.entry(k).or_default() += count;
                    }
                    return Ok(t);
                }
                queue.push_back((t, depth + 1, path));
            }
        }
        Err(self.describe(
            p,
            &from,
            target,
            "no sequence of its spec actions leads there",
        ))
    }

    fn reached(t: &Local, target: &Local) -> bool {
        t.last_tried == target.last_tried
            && t.next_bal == target.next_bal
            && t.votes == target.votes
            && t.learned == target.learned
            && t.office == target.office
            && t.sent == target.sent
    }

    /// Whether `t` goes nowhere the target does not: spec actions only add messages, votes
    /// and decrees and raise ballots, so a path to the target passes only through such states.
    fn within(t: &Local, target: &Local) -> bool {
        t.sent.is_subset(&target.sent)
            && t.learned
                .iter()
                .all(|(k, d)| target.learned.get(k) == Some(d))
            && t.last_tried <= target.last_tried
            && t.next_bal <= target.next_bal
    }

    fn describe(&self, p: PriestIx, from: &Local, target: &Local, why: &str) -> String {
        let mut parts = Vec::new();
        if from.last_tried != target.last_tried {
            parts.push(format!(
                "lastTried {} -> {}",
                show_ballot(from.last_tried),
                show_ballot(target.last_tried)
            ));
        }
        if from.next_bal != target.next_bal {
            parts.push(format!(
                "nextBal {} -> {}",
                show_ballot(from.next_bal),
                show_ballot(target.next_bal)
            ));
        }
        for (k, (b, d)) in target.votes.iter().take(4) {
            parts.push(format!("prevVote[{k}] := {} in {b}", self.decrees.show(*d)));
        }
        for (k, d) in target.learned.iter().take(4) {
            parts.push(format!("learned[{k}] := {}", self.decrees.show(*d)));
        }
        if target.learned.len() > 4 {
            parts.push(format!("{} numbers learned", target.learned.len()));
        }
        if from.office != target.office {
            parts.push(format!(
                "office {} -> {}",
                show_office(from.office),
                show_office(target.office)
            ));
        }
        for m in target.sent.iter().take(6) {
            parts.push(format!("sends {}", self.show_msg(m)));
        }
        if target.sent.len() > 6 {
            parts.push(format!("{} messages sent", target.sent.len()));
        }
        format!(
            "{why}: priest {p}'s step changes {}",
            if parts.is_empty() {
                "nothing the spec has".into()
            } else {
                parts.join("; ")
            }
        )
    }

    fn show_msg(&self, m: &SMsg) -> String {
        match m {
            SMsg::NextBallot { bal, from } => format!("NextBallot({bal}, {from})"),
            SMsg::LastVote {
                bal,
                q,
                start,
                votes,
            } => format!(
                "LastVote({bal}) from {q} at {start}.. ({} votes)",
                votes.len()
            ),
            SMsg::BeginBallot { bal, num, dec, to } => format!(
                "BeginBallot({bal}, #{num}, {}) to {to}",
                self.decrees.show(*dec)
            ),
            SMsg::Voted { bal, num, q } => format!("Voted({bal}, #{num}) from {q}"),
            SMsg::Success { num, dec } => {
                format!("Success(#{num}, {})", self.decrees.show(*dec))
            }
        }
    }

    /// The actions the target suggests.
    fn candidates(&self, p: PriestIx, from: &Local, target: &Local) -> Vec<Action> {
        let mut out = Vec::new();
        if let (Some(b), true) = (target.last_tried, target.last_tried != from.last_tried) {
            out.push(Action::TryNewBallot(b));
        }
        let mut begun: BTreeSet<Did> = BTreeSet::new();
        let olive = self.decrees.index.get(&Decree::OliveDay).copied();
        for m in &target.sent {
            match m {
                SMsg::LastVote { bal, start, .. } => {
                    out.push(Action::SendLastVote { b: *bal, n: *start })
                }
                SMsg::BeginBallot { dec, .. } if Some(*dec) != olive => {
                    begun.insert(*dec);
                }
                SMsg::Voted { bal, num, .. } => {
                    for &d in self
                        .shared
                        .begun_to
                        .get(&(*bal, *num, p))
                        .into_iter()
                        .flatten()
                    {
                        out.push(Action::CastVote {
                            b: *bal,
                            k: *num,
                            d,
                        });
                    }
                }
                SMsg::Success { num, .. } => out.push(Action::Succeed(*num)),
                _ => {}
            }
        }
        for (k, (b, d)) in &target.votes {
            let a = Action::CastVote {
                b: *b,
                k: *k,
                d: *d,
            };
            if !out.contains(&a)
                && self
                    .shared
                    .begun_to
                    .get(&(*b, *k, p))
                    .is_some_and(|ds| ds.contains(d))
            {
                out.push(a);
            }
            if b.priest == p && Some(*b) == target.last_tried {
                out.push(Action::VoteLate(*k));
            }
        }
        out.extend(begun.into_iter().map(Action::BeginNew));
        if target.office != from.office {
            for &q in &self.quorums {
                if q.contains(p) {
                    out.push(Action::TakeOffice(q));
                }
            }
            if let Some(b) = target.last_tried {
                for m in self.shared.last_votes.get(&b).into_iter().flatten() {
                    out.push(Action::JoinQuorum(m.clone()));
                }
            }
        }
        if target.learned.len() > 4 {
            out.push(Action::LearnAll);
        } else {
            out.extend(target.learned.iter().map(|(k, d)| Action::Learn(*k, *d)));
        }
        out
    }

    // Reading the priest's variables through the search state's changes.

    fn vote_at(&self, p: PriestIx, s: &Local, k: Num) -> Option<SVote> {
        s.votes
            .get(&k)
            .or_else(|| self.priests[p as usize].votes.get(&k))
            .copied()
    }

    fn learned_at(&self, p: PriestIx, s: &Local, k: Num) -> Option<Did> {
        s.learned
            .get(&k)
            .or_else(|| self.priests[p as usize].learned.get(&k))
            .copied()
    }

    fn has_msg(&self, s: &Local, m: &SMsg) -> bool {
        self.shared.msgs.contains(m) || s.sent.contains(m)
    }

    fn ballot(&self, s: &Local, k: Num, b: Ballot) -> Option<BallotRec> {
        s.ballots
            .get(&(k, b))
            .map(|&(pres, dec, qrm)| BallotRec { pres, dec, qrm })
            .or_else(|| self.shared.ballots.get(&(k, b)).copied())
    }

    /// `FirstGap(p)`.
    fn first_gap(&self, p: PriestIx, s: &Local) -> Num {
        first_gap(
            &self.priests[p as usize].learned,
            self.priests[p as usize].first_gap,
            &s.learned,
        )
    }

    /// `ReportOf(p, b, n)`: every vote at or above `n`, a learned decree as a vote in `b`.
    fn report_of(&self, p: PriestIx, s: &Local, b: Ballot, n: Num) -> Vec<(Num, SVote)> {
        let v = &self.priests[p as usize];
        let mut out: BTreeMap<Num, SVote> = BTreeMap::new();
        for (k, vote) in v.votes.range(n..).chain(s.votes.range(n..)) {
            out.insert(*k, *vote);
        }
        for (k, d) in v.learned.range(n..).chain(s.learned.range(n..)) {
            out.insert(*k, (b, *d));
        }
        out.into_iter().collect()
    }

    /// The LastVotes of ballot `b` from the members of `quorum` other than `p`.
    fn last_votes_of<'a>(
        &'a self,
        s: &'a Local,
        b: Ballot,
        quorum: Priests,
        p: PriestIx,
    ) -> Vec<&'a SMsg> {
        self.shared
            .last_votes
            .get(&b)
            .into_iter()
            .flatten()
            .chain(
                s.sent
                    .iter()
                    .filter(|m| matches!(m, SMsg::LastVote { bal, .. } if *bal == b)),
            )
            .filter(|m| matches!(m, SMsg::LastVote { q, .. } if *q != p && quorum.contains(*q)))
            .collect()
    }

    fn olive(&mut self) -> Did {
        self.decrees.of(&Decree::OliveDay)
    }

    /// Applies spec action `a` of priest `p` to `s` if its guard holds.
    fn apply(&mut self, p: PriestIx, s: &Local, a: &Action, target: &Local) -> Option<Local> {
        let mut t = s.clone();
        match a {
            Action::TryNewBallot(b) => {
                if b.priest != p || Some(*b) <= s.last_tried || Some(*b) <= s.next_bal {
                    return None;
                }
                t.last_tried = Some(*b);
                t.sent.insert(SMsg::NextBallot {
                    bal: *b,
                    from: self.first_gap(p, s),
                });
            }
            Action::SendLastVote { b, n } => {
                let asked = SMsg::NextBallot { bal: *b, from: *n };
                if !self.has_msg(s, &asked) || b.priest == p || Some(*b) <= s.next_bal {
                    return None;
                }
                t.next_bal = Some(*b);
                t.sent.insert(SMsg::LastVote {
                    bal: *b,
                    q: p,
                    start: *n,
                    votes: Arc::new(self.report_of(p, s, *b, *n)),
                });
            }
            Action::TakeOffice(quorum) => {
                let b = s.last_tried?;
                if s.office.is_some_and(|o| o.bal == b)
                    || s.next_bal >= Some(b)
                    || !quorum.contains(p)
                    || !self.is_quorum(*quorum)
                {
                    return None;
                }
                let lvs: Vec<SMsg> = self
                    .last_votes_of(s, b, *quorum, p)
                    .into_iter()
                    .cloned()
                    .collect();
                let heard = lvs.iter().fold(Priests::EMPTY, |acc, m| match m {
                    SMsg::LastVote { q, .. } => acc.with(*q),
                    _ => acc,
                });
                if heard.with(p) != *quorum {
                    return None;
                }
                let n = *self.shared.asked.get(&b).or_else(|| {
                    s.sent.iter().find_map(|m| match m {
                        SMsg::NextBallot { bal, from } if *bal == b => Some(from),
                        _ => None,
                    })
                })?;
                // The latest vote reported at each number from `n` on, its own counted (not
                // what it learned).
                let mut latest: BTreeMap<Num, SVote> = BTreeMap::new();
                let mut put = |k: Num, v: SVote| {
                    let e = latest.entry(k).or_insert(v);
                    if v.0 > e.0 {
                        *e = v;
                    }
                };
                for m in &lvs {
                    if let SMsg::LastVote { start, votes, .. } = m {
                        for &(k, v) in votes.iter() {
                            if k >= *start && k >= n {
                                put(k, v);
                            }
                        }
                    }
                }
                let own: Vec<(Num, SVote)> = self.priests[p as usize]
                    .votes
                    .range(n..)
                    .chain(s.votes.range(n..))
                    .map(|(k, v)| (*k, *v))
                    .collect();
                for (k, v) in own {
                    put(k, v);
                }
                let top = latest.keys().next_back().copied();
                let known = self.priests[p as usize]
                    .learned
                    .keys()
                    .next_back()
                    .into_iter()
                    .chain(s.learned.keys().next_back())
                    .max()
                    .map_or(0, |k| k + 1);
                let olive = self.olive();
                if let Some(top) = top {
                    for k in n..=top {
                        if self.learned_at(p, s, k).is_some() {
                            continue;
                        }
                        let dec = latest.get(&k).map_or(olive, |v| v.1);
                        if self.votes_as_it_begins(p, *quorum) {
                            set_vote(self, p, &mut t, k, (b, dec));
                        }
                        t.ballots.insert((k, b), (p, dec, *quorum));
                        for q in quorum.without(p).iter() {
                            t.sent.insert(SMsg::BeginBallot {
                                bal: b,
                                num: k,
                                dec,
                                to: q,
                            });
                        }
                    }
                }
                let next = n.max(top.map_or(0, |t| t + 1)).max(known);
                t.next_bal = Some(b);
                t.office = Some(Office {
                    bal: b,
                    qrm: *quorum,
                    next,
                });
            }
            Action::BeginNew(d) => {
                let b = s.last_tried?;
                let o = s.office?;
                if o.bal != b || s.next_bal != Some(b) {
                    return None;
                }
                let k = o.next;
                if self.votes_as_it_begins(p, o.qrm) {
                    set_vote(self, p, &mut t, k, (b, *d));
                }
                t.office = Some(Office { next: k + 1, ..o });
                t.ballots.insert((k, b), (p, *d, o.qrm));
                for q in o.qrm.without(p).iter() {
                    t.sent.insert(SMsg::BeginBallot {
                        bal: b,
                        num: k,
                        dec: *d,
                        to: q,
                    });
                }
            }
            Action::VoteLate(k) => {
                let b = s.last_tried?;
                let o = s.office?;
                if o.bal != b
                    || s.next_bal != Some(b)
                    || self.vote_at(p, s, *k).is_some_and(|(vb, _)| vb == b)
                    || self.learned_at(p, s, *k).is_some()
                {
                    return None;
                }
                let r = self.ballot(s, *k, b)?;
                if r.pres != p {
                    return None;
                }
                set_vote(self, p, &mut t, *k, (b, r.dec));
            }
            Action::CastVote { b, k, d } => {
                let asked = SMsg::BeginBallot {
                    bal: *b,
                    num: *k,
                    dec: *d,
                    to: p,
                };
                if !self.has_msg(s, &asked)
                    || Some(*b) < s.next_bal
                    || self.vote_at(p, s, *k).is_some_and(|(vb, _)| vb == *b)
                {
                    return None;
                }
                t.next_bal = Some(*b);
                set_vote(self, p, &mut t, *k, (*b, *d));
                t.sent.insert(SMsg::Voted {
                    bal: *b,
                    num: *k,
                    q: p,
                });
            }
            Action::Succeed(k) => {
                let b = s.last_tried?;
                if self.learned_at(p, s, *k).is_some() {
                    return None;
                }
                let r = self.ballot(s, *k, b)?;
                if r.pres != p {
                    return None;
                }
                // Its own vote, if it voted, and the Voted it holds from the others of the
                // quorum make a quorum.
                let own = self.vote_at(p, s, *k).is_some_and(|(vb, _)| vb == b);
                let voted: Priests = r
                    .qrm
                    .iter()
                    .filter(|&q| {
                        if q == p {
                            own
                        } else {
                            self.has_msg(s, &SMsg::Voted { bal: b, num: *k, q })
                        }
                    })
                    .collect();
                let m = SMsg::Success {
                    num: *k,
                    dec: r.dec,
                };
                if !self.has_quorum(voted) || self.has_msg(s, &m) {
                    return None;
                }
                t.sent.insert(m);
            }
            Action::Learn(k, d) => {
                if self.learned_at(p, s, *k).is_some()
                    || !self.has_msg(s, &SMsg::Success { num: *k, dec: *d })
                {
                    return None;
                }
                t.learned.insert(*k, *d);
            }
            Action::LearnAll => {
                let mut any = false;
                for (k, d) in &target.learned {
                    if self.learned_at(p, s, *k).is_some() {
                        continue;
                    }
                    if !self.has_msg(s, &SMsg::Success { num: *k, dec: *d }) {
                        return None;
                    }
                    t.learned.insert(*k, *d);
                    any = true;
                }
                if !any {
                    return None;
                }
            }
            Action::JoinQuorum(m) => {
                let SMsg::LastVote {
                    bal,
                    q,
                    start,
                    votes,
                } = m
                else {
                    return None;
                };
                let b = s.last_tried?;
                let o = s.office?;
                let grown = o.qrm.with(*q);
                if *bal != b || o.bal != b || s.next_bal != Some(b) || *q == p || o.qrm.contains(*q)
                {
                    return None;
                }
                let first = o.next;
                let reported: BTreeMap<Num, SVote> = votes
                    .iter()
                    .filter(|(k, _)| *k >= *start && *k >= first)
                    .copied()
                    .collect();
                let top = reported.keys().next_back().copied();
                let olive = self.olive();
                if let Some(top) = top {
                    for k in first..=top {
                        if self.learned_at(p, s, k).is_some() {
                            continue;
                        }
                        let dec = reported.get(&k).map_or(olive, |v| v.1);
                        if self.votes_as_it_begins(p, grown) {
                            set_vote(self, p, &mut t, k, (b, dec));
                        }
                        t.ballots.insert((k, b), (p, dec, grown));
                        for r in grown.without(p).iter() {
                            t.sent.insert(SMsg::BeginBallot {
                                bal: b,
                                num: k,
                                dec,
                                to: r,
                            });
                        }
                    }
                }
                t.office = Some(Office {
                    bal: b,
                    qrm: grown,
                    next: top.map_or(first, |t| t + 1),
                });
            }
        }
        Some(t)
    }
}

/// Sets `prevVote[p][k]` in the search state (kept only where it differs from the current).
fn set_vote(c: &Checker, p: PriestIx, t: &mut Local, k: Num, v: SVote) {
    if c.priests[p as usize].votes.get(&k) == Some(&v) {
        t.votes.remove(&k);
    } else {
        t.votes.insert(k, v);
    }
}

/// The first number at or above `from` learned neither in `base` nor in `extra`.
fn first_gap(base: &BTreeMap<Num, Did>, from: Num, extra: &BTreeMap<Num, Did>) -> Num {
    let mut k = from;
    while base.contains_key(&k) || extra.contains_key(&k) {
        k += 1;
    }
    k
}

fn kind(a: &Action) -> &'static str {
    match a {
        Action::TryNewBallot(_) => "TryNewBallot",
        Action::SendLastVote { .. } => "SendLastVote",
        Action::TakeOffice(_) => "TakeOffice",
        Action::BeginNew(_) => "BeginNew",
        Action::VoteLate(_) => "VoteLate",
        Action::CastVote { .. } => "CastVote",
        Action::Succeed(_) => "Succeed",
        Action::Learn(..) | Action::LearnAll => "Learn",
        Action::JoinQuorum(_) => "JoinQuorum",
    }
}

fn show_ballot(b: Option<Ballot>) -> String {
    b.map_or("none".into(), |b| b.to_string())
}

fn show_office(o: Option<Office>) -> String {
    o.map_or("none".into(), |o| {
        format!("{} with {} from #{}", o.bal, o.qrm, o.next)
    })
}

/// Why a step could not be checked.
enum Failure {
    Out(OutOfScope),
    Broken(String),
}

impl From<OutOfScope> for Failure {
    fn from(o: OutOfScope) -> Self {
        Failure::Out(o)
    }
}

#[cfg(test)]
mod tests {
    use crate::host::config::{Config, ConfigFile, PriestFile, Protocol};
    use crate::service::parliament::{check_seeded_bug, priest};
    use std::path::Path;

    fn config(bug: Option<&str>) -> Config {
        let mut file = ConfigFile::new("ledger", "cluster.key", Protocol::Parliament);
        for i in 0..3 {
            let mut p = PriestFile::new(i, format!("127.0.0.1:{}", 7000 + i).parse().unwrap());
            p.client_address = Some(format!("127.0.0.1:{}", 8000 + i));
            file.priest.push(p);
        }
        file.seeded_bug = bug.map(String::from);
        Config::parse_unkeyed(&file.to_toml(), Path::new("test.toml")).unwrap()
    }

    /// `seeded_bug` runs only where it is allowed, names a real bug, and reaches the priest
    /// (so a replay builds the same buggy actor the recording ran).
    #[test]
    fn a_seeded_bug_is_refused_unless_allowed_and_reaches_the_priest() {
        assert!(check_seeded_bug(&config(None), false).is_ok());
        let buggy = config(Some("forget-vote"));
        let e = check_seeded_bug(&buggy, false).unwrap_err();
        assert!(e.contains("PARLIAMENT_SEEDED_BUGS=1"), "{e}");
        assert!(check_seeded_bug(&buggy, true).is_ok());
        assert_eq!(priest(&buggy, 1).bug, crate::parliament::Bug::ForgetVote);
        assert_eq!(priest(&config(None), 1).bug, crate::parliament::Bug::None);
        let e = check_seeded_bug(&config(Some("no-such-bug")), true).unwrap_err();
        assert!(e.contains("no-such-bug"), "{e}");
    }
}
