//! `parliament trace check DIR`: a recorded run of deployed priests ([`crate::host::trace`]),
//! replayed and checked against the actor and against the host's contract.
//!
//! # What is checked
//!
//! The trace directory holds one file per priest, `priest-<i>.trace`; each is a sequence of
//! *incarnations* (a `Start`, then that run's records), one per start of the priest.
//!
//! 1. **Replay.** For each priest and each incarnation, the actor is built again from the
//!    configuration text its `Start` recorded (for the Parliament: [`super::parliament::priest`],
//!    exactly as `serve` builds it), `on_start` runs on the recorded ledger, then the
//!    actor's own handler on each recorded input, in order, with the recorded wall-clock
//!    values ([`crate::clock`]). Each handler must give exactly the recorded output: the same
//!    commands in the same order (sends with the same recipient and message, the same
//!    ledgers saved, timers set and cancelled), and read the clock exactly as often as
//!    recorded. The first difference ends that incarnation's replay and is reported with the
//!    priest, the step, its input and the first differing command.
//!
//!    **Durable state across a restart.** An incarnation started with `restart` begins from
//!    the ledger its journal kept. It must be a ledger the previous incarnation saved at or
//!    after the step named by its last `Synced` (the journal may hold a save that was written
//!    but not yet recorded as synced when the priest was killed, never an older one); if the
//!    previous incarnation recorded no `Synced`, its own starting ledger is allowed too. Any
//!    other ledger is lost (or invented) durable state. Incarnations started with
//!    `bootstrap`, `join` or `rejoin` begin from a ledger made at start, and are not
//!    compared.
//! 2. **Merge.** Every message a priest received from another priest (a sender id without
//!    [`crate::kv::CLIENT_BIT`]) was sent to it by that priest: some replayed step of the
//!    sender's trace has a `Send` to the receiver of an equal message. The network may lose,
//!    repeat and reorder messages; it may not invent them. Messages from clients are recorded
//!    by no priest, and are counted but not matched. Matching a receipt with the *earliest*
//!    equal send makes the sends and receipts a partial order (each priest's steps in order,
//!    each send before the receipts matched with it); the run is given in one order that
//!    respects it ([`Run::order`]), and if none exists that is an error too.
//! 3. **The runtime's contract.** The host sends a message of step `k` only once every save
//!    of the steps up to `k` of the same incarnation is durable (`host` module docs: early
//!    sends, of handlers that ran with no unsaved change before them, leave before their
//!    batch's sync, and the rule holds for them since every earlier save is already
//!    durable). Checked: for each message named by a `Sent` record, with `s` the last step
//!    `<= k` of the incarnation that saved, a `Synced(j)` with `j >= s` comes before that
//!    `Sent` in the file. Every `Sent` must also name a `Send` of a recorded step, and every
//!    `Synced` a step that saved.
//!
//! A file that cannot be read, or holds a damaged record before its end, is unreadable
//! ([`TraceError`]), with the file and offset; a torn last record (a priest killed while
//! writing) ends that incarnation and is reported, not an error.
//!
//! # The replayed run, for further checks
//!
//! [`replay`] returns the whole run ([`Run`]): per priest and incarnation, every step's
//! input, replayed output, and (with [`Options::keep_states`]) the actor's state after it;
//! for each receipt from a priest, the step that sent it; and a merged order of all steps.
//! A refinement check (each step mapped to the spec) can walk [`Run::order`].

use crate::host::config::Config;
use crate::host::journal::Durable;
use crate::host::trace::{self, Cmd, CmdOf, Input, Record, Saved, StartRecord};
use crate::kv::CLIENT_BIT;
use crate::parliament::ParliamentPriest;
use serde::de::DeserializeOwned;
use stateright::actor::{Actor, Command, Id, Out};
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt::{self, Debug};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why a trace could not be read at all (exit status 2).
#[derive(Debug)]
pub struct TraceError(pub String);

impl fmt::Display for TraceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for TraceError {}

/// How to replay.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Keep the actor's state after every step ([`Step::after`]); otherwise only the
    /// figures and the order are kept.
    pub keep_states: bool,
}

/// A step of the run: which priest, which of its incarnations, which step of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StepId {
    pub priest: usize,
    /// The incarnation's index in the priest's file (0 for its first start).
    pub incarnation: usize,
    /// The step's number in the incarnation (`on_start` is 0).
    pub step: usize,
}

/// A `stateright` command of actor `A`.
pub type CommandOf<A> =
    Command<<A as Actor>::Msg, <A as Actor>::Timer, <A as Actor>::Random, <A as Actor>::Storage>;

/// One replayed handler.
pub struct Step<A: Actor> {
    pub input: Input<A::Msg, A::Timer, A::Random>,
    /// The output the actor gave on replay (equal to the recorded one, up to the first
    /// mismatch, after which the incarnation is not replayed further).
    pub output: Vec<CommandOf<A>>,
    /// The wall-clock values the handler read.
    pub clock: Vec<u64>,
    /// The actor's state after the step (with [`Options::keep_states`]); before step `k` is
    /// after step `k - 1`.
    pub after: Option<A::State>,
    /// For a message from a priest: the step that sent it (the earliest equal send).
    pub sent_by: Option<StepId>,
}

/// What the host recorded between steps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostEvent {
    /// The save of this step is durable.
    Synced(u64),
    /// These messages left: (step, index of the `Send` in its output).
    Sent(Vec<(u64, u32)>),
}

/// One start of a priest and what followed.
pub struct Incarnation<A: Actor>
where
    A::Storage: Durable,
{
    pub start: StartRecord<A::Storage>,
    /// The offset of its `Start` record in the file.
    pub offset: u64,
    pub steps: Vec<Step<A>>,
    /// The host's events, each with how many steps were recorded before it.
    pub events: Vec<(usize, HostEvent)>,
    /// Whether every recorded step replayed (false after a mismatch).
    pub replayed: bool,
    /// Whether its trace ended with a torn record (the priest was killed while writing).
    pub torn: bool,
}

/// One priest's trace.
pub struct PriestRun<A: Actor>
where
    A::Storage: Durable,
{
    pub priest: usize,
    pub file: PathBuf,
    pub bytes: u64,
    pub incarnations: Vec<Incarnation<A>>,
}

/// The figures of a check.
#[derive(Clone, Debug, Default)]
pub struct Report {
    pub priests: usize,
    pub incarnations: usize,
    /// Steps replayed with the recorded output.
    pub steps: usize,
    /// Bytes of trace read.
    pub bytes: u64,
    /// Messages received from priests, and how many of them matched a send.
    pub received_from_priests: usize,
    pub matched: usize,
    /// Messages received from clients (not matched).
    pub from_clients: usize,
    /// Messages named by `Sent` records, each checked against the syncs (check 3).
    pub sent_checked: usize,
    /// `Synced` records.
    pub syncs: usize,
    /// Restarts whose starting ledger was checked against the previous incarnation's saves.
    pub restarts_checked: usize,
    /// Incarnations that ended with a torn record.
    pub torn: usize,
    pub elapsed: Duration,
    /// Every failed check, as a sentence naming priest, incarnation and step.
    pub errors: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> bool {
        self.errors.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} priests, {} incarnations ({} restarts checked, {} torn tails), {} steps \
             replayed, {} messages from priests matched of {} ({} from clients), {} sends \
             checked against {} syncs, {:.1} MB of trace in {:.2} s",
            self.priests,
            self.incarnations,
            self.restarts_checked,
            self.torn,
            self.steps,
            self.matched,
            self.received_from_priests,
            self.from_clients,
            self.sent_checked,
            self.syncs,
            self.bytes as f64 / 1e6,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The replayed, merged run.
pub struct Run<A: Actor>
where
    A::Storage: Durable,
{
    pub priests: Vec<PriestRun<A>>,
    /// Every replayed step once, each priest's in order and every send before the receipts
    /// matched with it (empty if no such order exists: see [`Report::errors`]).
    pub order: Vec<StepId>,
    pub report: Report,
}

impl<A: Actor> Run<A>
where
    A::Storage: Durable,
{
    /// The step `id`.
    pub fn step(&self, id: StepId) -> &Step<A> {
        let p = self
            .priests
            .iter()
            .find(|p| p.priest == id.priest)
            .expect("a priest of the run");
        &p.incarnations[id.incarnation].steps[id.step]
    }

    /// The state before step `id` (with [`Options::keep_states`]; `None` before `on_start`).
    pub fn before(&self, id: StepId) -> Option<&A::State> {
        let p = self.priests.iter().find(|p| p.priest == id.priest)?;
        let inc = &p.incarnations[id.incarnation];
        id.step
            .checked_sub(1)
            .and_then(|k| inc.steps[k].after.as_ref())
    }
}

/// Checks the Parliament trace in `dir` (see the module docs).
pub fn check(dir: &Path) -> Result<Report, TraceError> {
    replay_parliament(dir, Options::default()).map(|r| r.report)
}

/// Replays the Parliament trace in `dir` (see the module docs).
pub fn replay_parliament(
    dir: &Path,
    options: Options,
) -> Result<Run<ParliamentPriest>, TraceError> {
    replay(dir, options, |start: &StartRecord<_>| {
        let me = start.priest as usize;
        let cfg = Config::parse_unkeyed(&start.config, Path::new("(recorded configuration)"))?;
        cfg.check_priest(me)?;
        super::parliament::check_seeded_bug(&cfg, true)?;
        Ok(super::parliament::priest(&cfg, me))
    })
}

/// The trace files in `dir`, by priest index.
fn files(dir: &Path) -> Result<Vec<(usize, PathBuf)>, TraceError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        TraceError(format!(
            "cannot read trace directory {}: {e}",
            dir.display()
        ))
    })?;
    let mut files = Vec::new();
    for e in entries {
        let e = e.map_err(|e| TraceError(format!("cannot read {}: {e}", dir.display())))?;
        let name = e.file_name().to_string_lossy().to_string();
        if let Some(i) = name
            .strip_prefix("priest-")
            .and_then(|r| r.strip_suffix(".trace"))
            .and_then(|i| i.parse::<usize>().ok())
        {
            files.push((i, e.path()));
        }
    }
    if files.is_empty() {
        return Err(TraceError(format!(
            "no trace files (priest-<i>.trace) in {}",
            dir.display()
        )));
    }
    files.sort();
    Ok(files)
}

/// A short rendering of a value for an error message.
fn brief(v: &impl Debug) -> String {
    let s = format!("{v:?}");
    if s.chars().count() > 300 {
        format!("{}...", s.chars().take(300).collect::<String>())
    } else {
        s
    }
}

/// A recorded command (not a save) for an error message.
fn brief_cmd<A: Actor>(c: &CmdOf<A>) -> String
where
    A::Storage: Durable,
{
    match c {
        Cmd::CancelTimer(t) => format!("CancelTimer({})", brief(t)),
        Cmd::SetTimer(t, r) => format!("SetTimer({}, {r:?})", brief(t)),
        Cmd::Send(d, m) => format!("Send({d}, {})", brief(m)),
        Cmd::ChooseRandom(k, rs) => format!("ChooseRandom({k:?}, {})", brief(rs)),
        Cmd::Save(_) => "a save of another ledger".into(),
    }
}

/// Whether a replayed command (not a save) is the recorded one.
fn same_command<A: Actor>(
    replayed: &Command<A::Msg, A::Timer, A::Random, A::Storage>,
    recorded: &CmdOf<A>,
) -> bool
where
    A::Storage: Durable,
    A::Random: PartialEq,
{
    match (replayed, recorded) {
        (Command::CancelTimer(a), Cmd::CancelTimer(b)) => a == b,
        (Command::SetTimer(a, ra), Cmd::SetTimer(b, rb)) => a == b && ra == rb,
        (Command::Send(d, m), Cmd::Send(e, n)) => usize::from(*d) as u64 == *e && m == n,
        (Command::ChooseRandom(k, a), Cmd::ChooseRandom(l, b)) => k == l && a == b,
        _ => false,
    }
}

/// Whether the replayed save `replayed` is the recorded one, given the save before it
/// (`prev`, equal on both sides so far). The recorder wrote [`Durable::delta`] from the save
/// before (or the whole ledger when it returned `None`); the same function on the replayed
/// ledgers must give the same bytes: `apply` rebuilds a saved ledger from its delta and the
/// one before, so equal deltas from equal ledgers mean equal ledgers, and the deltas of
/// ledgers that share most of their structure are cheap to take, where comparing two whole
/// ledgers built apart is not.
fn same_save<S: Durable + PartialEq>(
    replayed: &S,
    prev: Option<&S>,
    recorded: &Saved<S, S::Delta>,
) -> bool {
    match (prev.and_then(|p| replayed.delta(p)), recorded) {
        (Some(d), Saved::Delta(r)) => postcard::to_stdvec(&d).ok() == postcard::to_stdvec(r).ok(),
        (None, Saved::Whole(w)) => w == replayed,
        _ => false,
    }
}

/// Replays and checks the trace in `dir`, building each incarnation's actor with `build`
/// from its `Start` record (see the module docs). `Err` only when a file is unreadable.
pub fn replay<A, B>(dir: &Path, options: Options, build: B) -> Result<Run<A>, TraceError>
where
    A: Actor,
    A::Msg: DeserializeOwned,
    A::Timer: DeserializeOwned,
    A::Random: DeserializeOwned + PartialEq,
    A::Storage: Durable + PartialEq,
    B: Fn(&StartRecord<A::Storage>) -> Result<A, String>,
{
    let began = Instant::now();
    let mut report = Report::default();
    let mut priests = Vec::new();
    for (ix, path) in files(dir)? {
        let read: trace::Read<_, _, _, _, _> =
            trace::read::<A::Msg, A::Timer, A::Random, A::Storage, <A::Storage as Durable>::Delta>(
                &path,
            )
            .map_err(|e| TraceError(e.to_string()))?;
        let bytes = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        report.bytes += bytes;
        let run = replay_priest::<A, _>(ix, &path, read, options, &build, &mut report)?;
        priests.push(PriestRun {
            priest: ix,
            file: path,
            bytes,
            incarnations: run,
        });
    }
    report.priests = priests.len();
    report.incarnations = priests.iter().map(|p| p.incarnations.len()).sum();
    let order = merge(&mut priests, &mut report);
    report.elapsed = began.elapsed();
    Ok(Run {
        priests,
        order,
        report,
    })
}

/// Checks 1 and 3 for one priest's file.
fn replay_priest<A, B>(
    ix: usize,
    path: &Path,
    read: trace::ReadOf<A>,
    options: Options,
    build: &B,
    report: &mut Report,
) -> Result<Vec<Incarnation<A>>, TraceError>
where
    A: Actor,
    A::Random: PartialEq,
    A::Storage: Durable + PartialEq,
    B: Fn(&StartRecord<A::Storage>) -> Result<A, String>,
{
    let file = path.display().to_string();
    let mut incarnations: Vec<Incarnation<A>> = Vec::new();
    // Per incarnation, while reading it.
    let mut actor: Option<A> = None;
    let mut state: Option<A::State> = None;
    // The ledger of the last save replayed (or the Start ledger): the recorder took each
    // save's delta from the one before, and so does the comparison.
    let mut prev_saved: Option<A::Storage> = None;
    // Steps that saved, in order; the highest step synced.
    let mut saving_steps: Vec<u64> = Vec::new();
    let mut synced: Option<u64> = None;
    // Sends per step (how many commands its output has), for `Sent` records.
    let mut outputs: Vec<Vec<bool>> = Vec::new();
    // The saves of the incarnation at or after its last `Synced` (with their steps): where
    // the next restart may begin.
    let mut since_sync: Vec<(u64, A::Storage)> = Vec::new();
    let mut start_ledger: Option<Option<A::Storage>> = None;
    for (offset, record) in read.records {
        match record {
            Record::Start(start) => {
                let i = incarnations.len();
                if start.priest as usize != ix {
                    return Err(TraceError(format!(
                        "{file}: the Start at offset {offset} is priest {}'s, in priest {ix}'s file",
                        start.priest
                    )));
                }
                // Durable state across a restart (the previous incarnation's saves are known
                // if it replayed to its end).
                let prev_replayed = incarnations.last().is_some_and(|p| p.replayed);
                if let (Some(prev_start), "restart", true) =
                    (&start_ledger, start.mode.as_str(), prev_replayed)
                {
                    report.restarts_checked += 1;
                    let ok = since_sync
                        .iter()
                        .any(|(_, l)| Some(l) == start.ledger.as_ref())
                        || (synced.is_none() && *prev_start == start.ledger);
                    if !ok {
                        report.errors.push(format!(
                            "priest {ix}, incarnation {i} (offset {offset} of {file}): restarted \
                             from a ledger its previous incarnation did not save at or after its \
                             last sync (step {}): durable state lost",
                            synced.map_or("none".into(), |s| s.to_string())
                        ));
                    }
                }
                actor = match build(&start) {
                    Ok(a) => Some(a),
                    Err(e) => {
                        report.errors.push(format!(
                            "priest {ix}, incarnation {i}: cannot build the actor from the \
                             recorded configuration: {e}"
                        ));
                        None
                    }
                };
                state = None;
                prev_saved = start.ledger.clone();
                saving_steps.clear();
                synced = None;
                outputs.clear();
                since_sync.clear();
                start_ledger = Some(start.ledger.clone());
                incarnations.push(Incarnation {
                    start,
                    offset,
                    steps: Vec::new(),
                    events: Vec::new(),
                    replayed: true,
                    torn: false,
                });
            }
            Record::Step(step) => {
                let i = incarnations.len().saturating_sub(1);
                let Some(inc) = incarnations.last_mut() else {
                    return Err(TraceError(format!(
                        "{file}: a step before any Start, at offset {offset}"
                    )));
                };
                let where_ = format!("priest {ix}, incarnation {i}, step {}", step.seq);
                if step.seq as usize != inc.steps.len() {
                    report.errors.push(format!(
                        "{where_}: recorded as step {} after {} steps (offset {offset} of {file})",
                        step.seq,
                        inc.steps.len()
                    ));
                    inc.replayed = false;
                }
                let output = step.output;
                if output.iter().any(|c| matches!(c, Cmd::Save(_))) {
                    saving_steps.push(step.seq);
                }
                outputs.push(output.iter().map(|c| matches!(c, Cmd::Send(..))).collect());
                // Replay.
                let mut replayed_out = Vec::new();
                if let (true, Some(a)) = (inc.replayed, &actor) {
                    let id = Id::from(ix);
                    let mut out = Out::new();
                    crate::clock::replaying(&step.clock);
                    let bad_input = match (&step.input, state.take()) {
                        (Input::Start, None) => {
                            state = Some(a.on_start(id, &inc.start.ledger, &mut out));
                            false
                        }
                        (Input::Msg(src, m), Some(s)) => {
                            let mut cow = Cow::Owned(s);
                            a.on_msg(id, &mut cow, Id::from(*src as usize), m.clone(), &mut out);
                            state = Some(cow.into_owned());
                            false
                        }
                        (Input::Timeout(t), Some(s)) => {
                            let mut cow = Cow::Owned(s);
                            a.on_timeout(id, &mut cow, t, &mut out);
                            state = Some(cow.into_owned());
                            false
                        }
                        (Input::Random(r), Some(s)) => {
                            let mut cow = Cow::Owned(s);
                            a.on_random(id, &mut cow, r, &mut out);
                            state = Some(cow.into_owned());
                            false
                        }
                        _ => true,
                    };
                    let (unread, missing) = crate::clock::take_replayed();
                    let out: Vec<_> = out.into_iter().collect();
                    let mismatch = if bad_input {
                        Some(format!(
                            "input {} where {} was expected",
                            brief(&step.input),
                            if inc.steps.is_empty() {
                                "the start"
                            } else {
                                "a handler's input"
                            }
                        ))
                    } else if unread > 0 || missing > 0 {
                        Some(format!(
                            "input {}: the handler read the clock {} times, {} recorded",
                            brief(&step.input),
                            step.clock.len() - unread + missing,
                            step.clock.len()
                        ))
                    } else {
                        // The first command that differs; saves are compared by their
                        // deltas from the save before, as recorded.
                        let mut prev = prev_saved.clone();
                        let mut first = None;
                        for j in 0..out.len().max(output.len()) {
                            let same = match (out.get(j), output.get(j)) {
                                (Some(Command::Save(r)), Some(Cmd::Save(c))) => {
                                    let same = same_save(r, prev.as_ref(), c);
                                    prev = Some(r.clone());
                                    same
                                }
                                (Some(r), Some(c)) => same_command::<A>(r, c),
                                _ => false,
                            };
                            if !same {
                                first = Some(j);
                                break;
                            }
                        }
                        if first.is_none() {
                            prev_saved = prev;
                            for c in &out {
                                if let Command::Save(l) = c {
                                    since_sync.push((step.seq, l.clone()));
                                }
                            }
                        }
                        first.map(|j| {
                            format!(
                                "input {}: command {j} differs: recorded {}, replayed {}",
                                brief(&step.input),
                                output.get(j).map_or("nothing".into(), brief_cmd::<A>),
                                out.get(j).map_or("nothing".into(), |c| match c {
                                    Command::Save(_) => "a save of another ledger".into(),
                                    c => brief(c),
                                }),
                            )
                        })
                    };
                    match mismatch {
                        Some(why) => {
                            report
                                .errors
                                .push(format!("{where_}: replay differs from the trace: {why}"));
                            inc.replayed = false;
                        }
                        None => {
                            report.steps += 1;
                            replayed_out = out;
                        }
                    }
                }
                if !inc.replayed {
                    continue;
                }
                inc.steps.push(Step {
                    input: step.input,
                    output: replayed_out,
                    clock: step.clock,
                    after: if options.keep_states {
                        state.clone()
                    } else {
                        None
                    },
                    sent_by: None,
                });
            }
            Record::Synced(j) => {
                let i = incarnations.len().saturating_sub(1);
                let Some(inc) = incarnations.last_mut() else {
                    return Err(TraceError(format!(
                        "{file}: a Synced before any Start, at offset {offset}"
                    )));
                };
                report.syncs += 1;
                if saving_steps.binary_search(&j).is_err() {
                    report.errors.push(format!(
                        "priest {ix}, incarnation {i}: Synced({j}) names a step that saved \
                         nothing (offset {offset} of {file})"
                    ));
                }
                synced = synced.max(Some(j));
                since_sync.retain(|(s, _)| *s >= j);
                inc.events.push((outputs.len(), HostEvent::Synced(j)));
            }
            Record::Sent(msgs) => {
                let i = incarnations.len().saturating_sub(1);
                let Some(inc) = incarnations.last_mut() else {
                    return Err(TraceError(format!(
                        "{file}: a Sent before any Start, at offset {offset}"
                    )));
                };
                for &(k, c) in &msgs {
                    report.sent_checked += 1;
                    let names_send = outputs
                        .get(k as usize)
                        .and_then(|o| o.get(c as usize))
                        .copied()
                        .unwrap_or(false);
                    if !names_send {
                        report.errors.push(format!(
                            "priest {ix}, incarnation {i}: Sent names command {c} of step {k}, \
                             which is no recorded send (offset {offset} of {file})"
                        ));
                        continue;
                    }
                    // The last step <= k that saved.
                    let last_save = match saving_steps.binary_search(&k) {
                        Ok(p) => Some(saving_steps[p]),
                        Err(0) => None,
                        Err(p) => Some(saving_steps[p - 1]),
                    };
                    if let Some(s) = last_save {
                        if synced.is_none_or(|j| j < s) {
                            report.errors.push(format!(
                                "priest {ix}, incarnation {i}, step {k}: its message (command \
                                 {c}) left before the save of step {s} was durable (last sync: \
                                 {}; offset {offset} of {file}): the runtime broke its contract",
                                synced.map_or("none".into(), |j| format!("step {j}"))
                            ));
                        }
                    }
                }
                inc.events.push((outputs.len(), HostEvent::Sent(msgs)));
            }
        }
    }
    if read.torn.is_some() {
        if let Some(inc) = incarnations.last_mut() {
            inc.torn = true;
            report.torn += 1;
        }
    }
    for inc in &incarnations {
        if inc.start.cut.is_some() {
            report.torn += 1;
        }
    }
    Ok(incarnations)
}

/// Check 2: matches every receipt from a priest with the earliest equal send to it, then
/// orders the run.
fn merge<A: Actor>(priests: &mut [PriestRun<A>], report: &mut Report) -> Vec<StepId>
where
    A::Storage: Durable,
{
    // (sender, receiver, message) -> the earliest step that sent it.
    let mut sends: HashMap<(u64, u64, &A::Msg), StepId> = HashMap::new();
    for p in priests.iter() {
        for (i, inc) in p.incarnations.iter().enumerate() {
            for (k, step) in inc.steps.iter().enumerate() {
                for c in &step.output {
                    if let Command::Send(dst, m) = c {
                        let id = StepId {
                            priest: p.priest,
                            incarnation: i,
                            step: k,
                        };
                        sends
                            .entry((p.priest as u64, usize::from(*dst) as u64, m))
                            .or_insert(id);
                    }
                }
            }
        }
    }
    let mut matched: Vec<(StepId, StepId)> = Vec::new();
    for p in priests.iter() {
        for (i, inc) in p.incarnations.iter().enumerate() {
            for (k, step) in inc.steps.iter().enumerate() {
                let Input::Msg(src, m) = &step.input else {
                    continue;
                };
                if src & CLIENT_BIT != 0 {
                    report.from_clients += 1;
                    continue;
                }
                report.received_from_priests += 1;
                let here = StepId {
                    priest: p.priest,
                    incarnation: i,
                    step: k,
                };
                match sends.get(&(*src, p.priest as u64, m)) {
                    Some(&from) => {
                        report.matched += 1;
                        matched.push((here, from));
                    }
                    None => report.errors.push(format!(
                        "priest {}, incarnation {i}, step {k}: received {} from priest {src}, \
                         which never sent it that message",
                        p.priest,
                        brief(m)
                    )),
                }
            }
        }
    }
    drop(sends);
    for (here, from) in matched {
        let p = priests
            .iter_mut()
            .find(|p| p.priest == here.priest)
            .unwrap();
        p.incarnations[here.incarnation].steps[here.step].sent_by = Some(from);
    }
    // An order: round robin over the priests, each advancing while its next step's send is
    // already placed.
    let total: usize = priests
        .iter()
        .flat_map(|p| &p.incarnations)
        .map(|i| i.steps.len())
        .sum();
    let mut order = Vec::with_capacity(total);
    let mut placed: std::collections::HashSet<StepId> = std::collections::HashSet::new();
    let mut cursor: Vec<(usize, usize)> = vec![(0, 0); priests.len()];
    loop {
        let mut progress = false;
        for (pi, p) in priests.iter().enumerate() {
            loop {
                let (i, k) = cursor[pi];
                let Some(inc) = p.incarnations.get(i) else {
                    break;
                };
                let Some(step) = inc.steps.get(k) else {
                    cursor[pi] = (i + 1, 0);
                    continue;
                };
                if let Some(from) = step.sent_by {
                    if !placed.contains(&from) {
                        break;
                    }
                }
                let id = StepId {
                    priest: p.priest,
                    incarnation: i,
                    step: k,
                };
                placed.insert(id);
                order.push(id);
                cursor[pi] = (i, k + 1);
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    if order.len() < total {
        report.errors.push(format!(
            "no order of the run puts every send before its receipt ({} of {total} steps \
             placed)",
            order.len()
        ));
        order.clear();
    }
    order
}

pub mod spec;
#[cfg(test)]
mod tests;
