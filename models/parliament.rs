//! The Parliament model: `ParliamentPriest` actors and scripted clients on a stateright
//! network, with the paper's ghost history of ballots (one Synod per decree number) and the
//! client history, and the properties of the multi-decree protocol and of the key-value law.
//!
//! # What is modelled
//!
//! `priests` priests (3 by default); priest 0 starts as president of the genesis ballot, and
//! the first `proposers` priests are candidates that may take over whenever their election
//! timer fires, up to ballot round `rounds`. `clients` clients each send a script of `ops`
//! commands, one at a time, to priest 0: client `i`'s script is `cas x nil->i+1`, then
//! `get x`, `put x=i+1`, `del x` (as many as `ops`); with `--script redis`, Redis's string
//! commands on keys `x` and `y`: `incr x`, `mset x=i+1 y=i+1`, `mget x y`, `append y i+1`,
//! `getdel x`, `set x=i+1 nx`, odd clients with `mget` before `mset`; with `--script multi`,
//! transactions: `multi watch x=nil { set x=i+1; incr y }`, then `multi { incr y; mget x y }`
//! ([`Script`]). Decree numbers
//! `getdel x`, `set x=i+1 nx`, odd clients with `mget` before `mset`; with `--script expire`,
//! keys that expire, the time being the decree number ([`Script`]). Decree numbers
//! stop at `decrees`; a president keeps up to `window` decrees in flight and puts up to
//! `batch` commands in one decree. The network is unordered (non-duplicating or
//! duplicating) or ordered, optionally lossy, and up to `crashes` priests can be down at
//! once (they restart from their ledger). With `retries`, a client that has no answer may
//! send its command again, to the next priest, that many times in all; with `heartbeats`
//! (duplicating networks only, where repeated heartbeats do not pile up) the president sends
//! heartbeats and lagging priests catch up. A client's `get` is a read: the president answers
//! it after a `Confirm`/`Confirmed` round with its quorum, with no decree, so a history's
//! reads are checked against its writes by `linearizable`.
//!
//! With `--change` (3 priests), the law holds a Chamber and client 0 first changes it: `add`
//! priest 3, `replace` priest 2 by priest 3, or `readd` (remove priest 2, then add index 2
//! again, its machine wiped and started with a new ledger once it learned of its removal,
//! messages of and for the old ledger still in flight), or `readd-lost` (the same, but priest
//! 2's ledger may be lost at any time, even while it is a member). The ghost then counts votes by
//! incarnation, and the membership in force at each decree number is the one the chosen
//! decrees below it decide ([`chosen_in_force`]).
//!
//! # The ghost history
//!
//! Recorded beside the actors and never read by them:
//!
//! - every `BeginBallot(b, n, d)` from president `p` adds its addressee, and `p`, to the
//!   quorum of the Synod ballot `(n, b, p, d)` for decree number `n`: a president asks every
//!   priest that promised its ballot and votes itself (that is the quorum it chose, not a
//!   vote);
//! - each priest's *disk* ([`Disk`]) holds, besides its ledger as last saved, a ghost
//!   ([`PriestGhost`]) that survives crashes: every vote a ledger it saved held (a vote
//!   counts once it is on stable storage, and only then), every ballot number it began to
//!   try (when its `lastTried` changed in memory; a number tried twice appears twice), and
//!   the votes of a ledger it lost (`--disk-loss`);
//! - a ballot's voters are the priests whose disks hold its vote; its decree is *chosen* when
//!   they include a quorum of the configured quorum system;
//! - every client `Request` for a new sequence number is an invocation, and every `Reply` a
//!   client accepts is its return, in stateright's `LinearizabilityTester` against the
//!   sequential key-value map under an unseen clock, [`TimedMap`].
//!
//! # Properties
//!
//! | name | kind | meaning |
//! |---|---|---|
//! | `b1-unique-ballots` | always | no ballot number was tried twice (by two priests, or by one priest twice), and no two Synod ballots for one decree number share a ballot number |
//! | `b2-quorums-intersect` | always | any two ballots' quorums share a priest |
//! | `b3-respects-earlier-votes` | always | per decree number, the paper's B3 (on the votes priests still hold) |
//! | `validity` | always | every decree chosen or in a ledger is olive-day or commands clients sent |
//! | `agreement` | always | per decree number, at most one decree is chosen |
//! | `learned-implies-chosen` | always | every decree in a ledger was chosen with that number |
//! | `logs-are-prefixes` | always | of any two priests' applied decree sequences, one is a prefix of the other |
//! | `linearizable` | always | the clients' history is linearizable against a key-value map |
//! | `exactly-once` | always | no priest's law executed a client command twice |
//! | `decree-chosen` | sometimes | some decree is chosen |
//! | `president-changed` | sometimes | only with two or more candidates: a ballot other than the genesis ballot begins |
//! | `gap-filled-with-no-op` | sometimes | only with two or more candidates: an olive-day decree is begun; "not checked" with one client or one decree number, where no gap can open ([`ParliamentConfig::why_no_gap`]) |
//! | `client-answered` | sometimes | some client got an answer |
//! | `rejoined` | sometimes | only with `--disk-loss`: a priest that lost its ledger is clear again |
//! | `quorums-of-the-membership-in-force` | always | only with `--change`: every ballot had a quorum of the membership in force at its number, decided when it began, and every vote in it is by an incarnation that membership names |
//! | `change-in-force`, `new-member-voted` | sometimes | only with `--change`: another membership is in force at some priest; a priest the change added voted |
//! | `every-client-answered` | eventually | every client gets every answer; decided by the liveness check of [`crate::check`], and "not checked" (with the reason, [`ParliamentConfig::why_no_liveness`]) with loss, crashes, lost ledgers, 3 or more candidates or too few decree numbers |

use crate::ballot::{Ballot, PriestIx, Priests, QuorumSystem};
use crate::check::Narrate;
use crate::kv::{Chamber, Inc, Member, MemberOp, Op, Store, TimedMap};
use crate::models::symmetry::{least_hash_representative, permute, rename_actors};
use crate::models::synod::NetworkKind;
use crate::parliament::{
    Bug, Decree, DecreeNumber, Ledger, Msg, ParliamentPriest, PriestState, GENESIS,
};
use im::{OrdMap, Vector};
use serde::Serialize;
use stateright::actor::{
    model_timeout, Actor, ActorModel, ActorModelAction, ActorModelState, Envelope, Id,
    LossyNetwork, Out,
};
use stateright::semantics::{ConsistencyTester, LinearizabilityTester};
use stateright::{Expectation, Model, Path};
use std::borrow::Cow;
use std::sync::Arc;

/// How the Parliament model is built.
#[derive(Clone, Debug, Serialize)]
pub struct ParliamentConfig {
    pub priests: usize,
    /// Priests `0..proposers` are candidates for president.
    pub proposers: usize,
    /// Highest ballot round any priest tries.
    pub rounds: u32,
    /// Decree numbers `0..decrees` may be used.
    pub decrees: DecreeNumber,
    pub clients: usize,
    /// Commands per client.
    pub ops: usize,
    /// Which commands the clients' scripts are made of.
    pub script: Script,
    /// Decrees a president keeps in flight.
    pub window: usize,
    /// Commands per decree at most.
    pub batch: usize,
    pub network: NetworkKind,
    pub lossy: bool,
    /// At most this many priests are crashed at once.
    pub crashes: usize,
    /// How many times in all a client may resend an unanswered command.
    pub retries: u8,
    /// Presidents send heartbeats; lagging priests catch up (duplicating network only).
    pub heartbeats: bool,
    /// How many priests may each lose their whole ledger once and rejoin (priests 1, 2, ...,
    /// then priest 0: the genesis president holds no votes).
    pub disk_loss: usize,
    /// A priest may snapshot its law and truncate its ledger at any moment after applying
    /// a decree; a priest asked for decrees it truncated sends its snapshot.
    pub snapshots: bool,
    /// Presidents stamp decrees with their number, and sessions idle for more than this
    /// many decree numbers are forgotten.
    pub expire_after: Option<u64>,
    /// A change of the Chamber client 0 asks for first (with a Chamber in the law).
    pub change: Option<ChangeKind>,
    /// The lookahead: a change passed as decree `i` is in force from `i + alpha`.
    pub alpha: u32,
    pub bug: Bug,
    /// Set when the check's time is up: the search stops expanding states.
    #[serde(skip)]
    pub stop: crate::check::StopFlag,
}

/// The model's configuration as command-line flags (`parliament check parliament ...`):
/// the one place its defaults are declared. [`ParliamentConfig::default`] and
/// [`ParliamentConfig::from_flags`] parse these, so a seeded bug's `flags` reproduce its
/// configuration exactly.
#[derive(clap::Args, Clone, Debug)]
pub struct ParliamentArgs {
    /// Number of priests (2 to 5).
    #[arg(long, default_value_t = 3)]
    pub priests: usize,
    /// Number of priests that may run for president (priest 0 starts as president).
    #[arg(long, default_value_t = 2)]
    pub proposers: usize,
    /// Highest ballot round a priest tries (bounds the state space).
    #[arg(long, default_value_t = 1)]
    pub rounds: u32,
    /// Decree numbers 0..N may be used (bounds the state space).
    #[arg(long, default_value_t = 4)]
    pub decrees: u32,
    /// Number of clients (1 to 4).
    #[arg(long, default_value_t = 2)]
    pub clients: usize,
    /// Commands per client, from the --script: cas, get, put, del, in that order (or
    /// Redis's string commands).
    #[arg(long, default_value_t = 1)]
    pub ops: usize,
    /// The clients' commands: `kv` (cas, get, put, del on key x), `redis` (incr x, mset x y,
    /// mget x y, append y, getdel x, set x nx get) or `expire` (set x px 2, pttl x, get x,
    /// persist x; expire x px 1).
    #[arg(long, value_enum, default_value_t = Script::Kv)]
    pub script: Script,
    /// Decrees a president keeps in flight (pipelining).
    #[arg(long, default_value_t = 2)]
    pub window: usize,
    /// Client commands one decree carries at most (batching).
    #[arg(long, default_value_t = 2)]
    pub batch: usize,
    /// The messengers' network.
    #[arg(long, value_enum, default_value_t = NetworkKind::Unordered)]
    pub network: NetworkKind,
    /// Messengers may lose messages.
    #[arg(long)]
    pub lossy: bool,
    /// At most this many priests are crashed at once (they restart from their ledger).
    #[arg(long, default_value_t = 0)]
    pub crashes: usize,
    /// How many times in all a client may resend an unanswered command.
    #[arg(long, default_value_t = 0)]
    pub retries: u8,
    /// Presidents send heartbeats and lagging priests catch up (duplicating network only).
    #[arg(long)]
    pub heartbeats: bool,
    /// Up to N priests (1, 2, ..., then 0) may each lose their whole ledger once and
    /// rejoin.
    #[arg(long, default_value_t = 0)]
    pub disk_loss: usize,
    /// Priests snapshot their law and truncate their ledgers at any moment after applying a
    /// decree; a priest asked for decrees it truncated sends its snapshot.
    #[arg(long)]
    pub snapshots: bool,
    /// Presidents stamp each decree with its number as the time, and the law forgets the
    /// sessions idle for more than N decree numbers.
    #[arg(long)]
    pub expire_after: Option<u64>,
    /// Client 0 first changes the Chamber (3 priests): `add` priest 3, `replace` priest 2 by
    /// 3, remove priest 2 and `readd` it as a new ledger (`readd-lost`: its ledger lost at any
    /// time, even before its removal), or `remove-president` (priest 0,
    /// which hands over to priest 1). Priests then vote by the membership in force.
    #[arg(long, value_enum)]
    pub change: Option<ChangeKind>,
    /// With --change: a change passed as decree i is in force from decree i + alpha.
    #[arg(long, default_value_t = 1)]
    pub alpha: u32,
    /// Check a seeded bug instead of the correct protocol (see `parliament bugs`).
    #[arg(long, default_value = "none")]
    pub bug: Bug,
}

/// The commands of the model's clients' scripts.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Script {
    /// On key `x`: `cas x nil->i`, `get x`, `put x=i`, `del x` (client `i`'s value is `i`,
    /// counting from 1).
    Kv,
    /// Redis's string commands on keys `x` and `y`: `incr x`, `mset x=i y=i`, `mget x y`,
    /// `append y i`, `getdel x`, `set x=i nx` (with `get`: it answers the value before);
    /// odd clients swap the second and third (`mget` before `mset`), so that with two
    /// commands each one client's `mset` meets another's `mget`. An increment and an append
    /// read and write in one step; `mset` writes both keys and `mget` reads both at once.
    Redis,
    /// Transactions (`MULTI` ... `EXEC`, [`Op::Multi`]) on keys `x` and `y`: a conditional
    /// one, `multi watch x=nil { set x=i; incr y }` (as if the client's `WATCH x` had read
    /// `x` absent: of the clients' conditional transactions, only the first to pass runs),
    /// then `multi { incr y; mget x y }` (its read sees its own increment, and no other
    /// transaction's half).
    Multi,
    /// Keys that expire, on key `x`, the time being the decree number (presidents stamp
    /// every decree with its number): even clients `set x=i px 2`, `pttl x`, `get x`,
    /// `persist x`; odd clients `pttl x`, `expire x px 1`, `get x`, `pttl x`. A `get` is a
    /// read; the rest pass in decrees. Checked against [`TimedMap`].
    Expire,
}

/// A change of the Chamber the model's client 0 asks for before its commands.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Add priest 3 (a new ledger, token 1): 3 priests become 4.
    Add,
    /// Replace priest 2 by priest 3 (a new ledger, token 1) in one change.
    Replace,
    /// Remove priest 2, then add index 2 again: its machine, once it learns it was removed,
    /// may be wiped and started again as a new ledger (token 1), while messages of and for
    /// its earlier incarnation are still in flight.
    Readd,
    /// Remove priest 0, the president: it hands over to priest 1.
    RemovePresident,
    /// Priest 2's ledger is lost at any time, even while it is a member: its machine is
    /// started again at once as a new ledger (token 1), which acts on nothing for the lost
    /// one; then priest 2 is removed and index 2 added again for the new ledger. This is how
    /// a priest that lost its ledger comes back under membership.
    ReaddLost,
}

/// Whether a priest's machine is wiped and started again as a new ledger (token 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reincarnates {
    Never,
    /// Once its law shows it removed (`--change readd`).
    OnceRemoved,
    /// At any time, once (`--change readd-lost`).
    AnyTime,
}

impl ParliamentArgs {
    /// The configuration these flags describe.
    pub fn config(&self) -> ParliamentConfig {
        ParliamentConfig {
            priests: self.priests,
            proposers: self.proposers,
            rounds: self.rounds,
            decrees: self.decrees,
            clients: self.clients,
            ops: self.ops,
            script: self.script,
            window: self.window,
            batch: self.batch,
            network: self.network,
            lossy: self.lossy,
            crashes: self.crashes,
            retries: self.retries,
            heartbeats: self.heartbeats,
            disk_loss: self.disk_loss,
            snapshots: self.snapshots,
            expire_after: self.expire_after,
            change: self.change,
            alpha: self.alpha,
            bug: self.bug,
            stop: Default::default(),
        }
    }
}

impl ParliamentConfig {
    /// The configuration of `parliament check parliament FLAGS` (e.g. `["--crashes", "1"]`).
    pub fn from_flags(flags: &[&str]) -> Result<Self, String> {
        super::parse_flags::<ParliamentArgs>(flags).map(|a| a.config())
    }
}

impl Default for ParliamentConfig {
    fn default() -> Self {
        ParliamentConfig::from_flags(&[]).expect("the defaults parse")
    }
}

/// A scripted client: sends its commands one at a time and waits for each answer.
#[derive(Clone, Debug)]
pub struct ScriptedClient {
    pub priests: usize,
    pub script: Vec<Op>,
    pub retries: u8,
}

/// A client's state: how many answers it has, which priest it talks to, retries left, and
/// whether the law refused its command because its session expired (it then stops).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ClientState {
    pub answered: u8,
    pub target: u8,
    pub retries: u8,
    pub refused: bool,
}

/// An actor of the model: a priest or a client. (A handful of actors per model, built
/// once: boxing the priest would save nothing that matters.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Node {
    /// A priest, whether its disk may be lost (once, before its first crash), and whether
    /// and when its machine is wiped and started again as a new ledger (`--change readd`,
    /// `--change readd-lost`).
    Priest(ParliamentPriest, bool, Reincarnates),
    Client(ScriptedClient),
}

/// What the model keeps of a priest on its disk, across crashes: its ledger as it last saved
/// it (`None` before its first save) and the ghost record of what it did (never read by the
/// priest).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Disk {
    pub ledger: Option<Ledger>,
    pub ghost: PriestGhost,
}

/// The ghost record of one priest, observed at the priest (never read by it): the ballots it
/// began to try and the votes its saved ledger ever held. It lives on the model's disk, so a
/// crash (or the loss of the priest's real ledger) does not erase it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PriestGhost {
    /// Every ballot number this priest began to try, in order: recorded when its `lastTried`
    /// changes in memory. A number tried twice (after a crash that lost it) appears twice.
    pub tried: Vector<Ballot>,
    /// Every vote any ledger this priest saved held, by (decree number, ballot): a vote
    /// counts from the moment it is on stable storage, and only then. (A priest votes once
    /// per decree number and ballot.)
    pub voted: OrdMap<(DecreeNumber, Ballot), Decree>,
    /// The votes of its ledgers before it lost one (`--disk-loss`): they count toward choosing
    /// a decree (they were durable when cast), but B3 is about the votes priests still hold.
    pub lost: OrdMap<(DecreeNumber, Ballot), Decree>,
    /// This priest lost its ledger (`--disk-loss`).
    pub lost_disk: bool,
    /// The token of the ledger it runs now (0: a founder's; `--change readd` starts the
    /// machine again with token 1).
    pub nonce: u64,
    /// The votes of its machine's ledger of token 0, once that was wiped to start again as
    /// a new one (`--change readd`): they count for the incarnation that ledger was.
    pub former: OrdMap<(DecreeNumber, Ballot), Decree>,
}

/// A priest's state in the model: the actor's state, its disk as last saved, and the ghost
/// log of what its law went through since it last started.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PriestNode {
    pub state: PriestState,
    pub disk: Disk,
    pub log: Vector<LogEntry>,
}

/// One step of a priest's ghost log (observed by the model, never read by the priest).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LogEntry {
    /// It applied this decree, with this number, to its law.
    Applied(DecreeNumber, Decree),
    /// Its law became a snapshot of decrees `0..upto` it installed from another priest. It
    /// stands for the decrees chosen with those numbers.
    Installed(DecreeNumber),
    /// It restarted from its own snapshot of decrees `0..upto`: as `Installed`.
    Restarted(DecreeNumber),
}

/// Appends to a priest's ghost log what its law went through in one step, from `before`
/// (`None`: it just started, from its own snapshot if it has one) to `after`: the snapshot
/// of decrees `0..upto` it installed (`installed`), then each decree applied.
fn extend_log(
    log: &mut Vector<LogEntry>,
    before: Option<&PriestState>,
    installed: Option<DecreeNumber>,
    after: &PriestState,
) {
    let mut from = before.map_or(0, |b| b.applied);
    if let Some(upto) = installed {
        from = upto;
        log.push_back(LogEntry::Installed(upto));
    } else if before.is_none() && after.ledger.snapshot.is_some() {
        from = after.ledger.base();
        log.push_back(LogEntry::Restarted(from));
    }
    for n in from..after.applied {
        if let Some(d) = after.ledger.learned.get(&n) {
            log.push_back(LogEntry::Applied(n, d.clone()));
        }
    }
}

/// The state of a [`Node`]. (Most nodes are priests; boxing the priest would only add an
/// allocation to every step.)
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeState {
    Priest(PriestNode),
    Client(ClientState),
}

impl NodeState {
    pub fn priest(&self) -> Option<&PriestState> {
        match self {
            NodeState::Priest(p) => Some(&p.state),
            NodeState::Client(_) => None,
        }
    }
    pub fn client(&self) -> Option<&ClientState> {
        match self {
            NodeState::Client(c) => Some(c),
            NodeState::Priest(_) => None,
        }
    }
}

/// The timers of the model's actors.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum NodeTimer {
    Priest(crate::parliament::Timer),
    /// A client resends its unanswered command.
    Retry,
    /// The priest crashes, its whole ledger is lost, and it restarts at once to rejoin.
    DiskLoss,
    /// A priest's machine is wiped and started again with a new ledger, to be added again:
    /// once it was removed (`--change readd`), or at any time (`--change readd-lost`).
    Reincarnate,
}

impl ScriptedClient {
    fn request(&self, id: Id, state: &ClientState, o: &mut Out<Node>) {
        let seq = u64::from(state.answered) + 1;
        if let Some(op) = self.script.get(state.answered as usize) {
            o.send(
                Id::from(state.target as usize),
                Msg::Request {
                    client: id,
                    seq,
                    op: op.clone(),
                },
            );
        }
    }
}

/// Hands the priest's commands to the model, saving its disk: the ledger it saved, the votes
/// that ledger holds, and a try when its `lastTried` changed from `before` (None on start).
/// The ghost is saved even when the priest saved nothing, so it survives a crash.
fn wrap_priest_out(
    before: Option<&PriestState>,
    after: &PriestState,
    disk: &Disk,
    out: Out<ParliamentPriest>,
    o: &mut Out<Node>,
) -> Option<Disk> {
    use stateright::actor::Command as C;
    let mut next: Option<Disk> = None;
    if let Some(before) = before {
        if after.ledger.last_tried != before.ledger.last_tried {
            if let Some(b) = after.ledger.last_tried {
                next.get_or_insert_with(|| disk.clone())
                    .ghost
                    .tried
                    .push_back(b);
            }
        }
    }
    for c in out {
        match c {
            C::Send(dst, msg) => o.send(dst, msg),
            C::SetTimer(t, d) => o.set_timer(NodeTimer::Priest(t), d),
            C::CancelTimer(t) => o.cancel_timer(NodeTimer::Priest(t)),
            C::Save(ledger) => {
                let d = next.get_or_insert_with(|| disk.clone());
                for (n, v) in &ledger.votes {
                    d.ghost
                        .voted
                        .entry((*n, v.ballot))
                        .or_insert_with(|| v.decree.clone());
                }
                d.ledger = Some(ledger);
            }
            C::ChooseRandom(..) => {}
        }
    }
    let next = next.filter(|d| d != disk)?;
    o.save(next.clone());
    Some(next)
}

impl Node {
    /// A priest whose machine was wiped (memory and disk; messages in flight survive),
    /// restarted at once on `disk`, the ledger it is given and its ghost: its timers are
    /// cancelled, the disk saved, and its ghost log begins again.
    fn restart_wiped(p: &ParliamentPriest, id: Id, disk: Disk, o: &mut Out<Node>) -> NodeState {
        o.cancel_timer(NodeTimer::Priest(crate::parliament::Timer::Election));
        o.cancel_timer(NodeTimer::Priest(crate::parliament::Timer::Heartbeat));
        let node = Node::started(p, id, disk, o);
        o.save(node.disk.clone());
        NodeState::Priest(node)
    }

    /// Priest `p` started on `disk`: its start handler run and wrapped, its ghost log begun.
    fn started(p: &ParliamentPriest, id: Id, disk: Disk, o: &mut Out<Node>) -> PriestNode {
        let mut out = Out::new();
        let s = p.on_start(id, &disk.ledger, &mut out);
        let disk = wrap_priest_out(None, &s, &disk, out, o).unwrap_or(disk);
        let mut log = Vector::new();
        extend_log(&mut log, None, None, &s);
        PriestNode {
            state: s,
            disk,
            log,
        }
    }

    /// Runs a priest's handler on its state, then wraps what it did: the node's next state,
    /// or `None` when neither the priest's state nor its disk changed.
    fn step_priest(
        node: &PriestNode,
        o: &mut Out<Node>,
        snapshot: Option<DecreeNumber>,
        handler: impl FnOnce(&mut Cow<PriestState>, &mut Out<ParliamentPriest>),
    ) -> Option<NodeState> {
        let mut ps = Cow::Borrowed(&node.state);
        let mut out = Out::new();
        handler(&mut ps, &mut out);
        let disk = wrap_priest_out(Some(&node.state), &ps, &node.disk, out, o);
        if disk.is_none() && matches!(ps, Cow::Borrowed(_)) {
            return None;
        }
        let mut log = node.log.clone();
        // A snapshot message that changed the priest's state was installed.
        let installed = snapshot.filter(|_| matches!(ps, Cow::Owned(_)));
        extend_log(&mut log, Some(&node.state), installed, &ps);
        Some(NodeState::Priest(PriestNode {
            state: ps.into_owned(),
            disk: disk.unwrap_or_else(|| node.disk.clone()),
            log,
        }))
    }
}

impl Actor for Node {
    type Msg = Msg;
    type State = NodeState;
    type Timer = NodeTimer;
    type Random = ();
    type Storage = Disk;

    fn name(&self) -> String {
        match self {
            Node::Priest(..) => "priest".into(),
            Node::Client(_) => "client".into(),
        }
    }

    fn on_start(&self, id: Id, storage: &Option<Disk>, o: &mut Out<Self>) -> NodeState {
        match self {
            Node::Priest(p, loses_disk, reincarnates) => {
                if storage.is_none() && *loses_disk {
                    o.set_timer(NodeTimer::DiskLoss, model_timeout());
                }
                if storage.is_none() && *reincarnates == Reincarnates::AnyTime {
                    o.set_timer(NodeTimer::Reincarnate, model_timeout());
                }
                let mut disk = storage.clone().unwrap_or_default();
                if storage.is_none() {
                    disk.ghost.nonce = p.joins.unwrap_or(0);
                }
                if storage.is_none() && p.me == GENESIS.priest {
                    // Every priest starts having promised the genesis ballot, which priest 0
                    // tried: its first try.
                    disk.ghost.tried.push_back(GENESIS);
                }
                NodeState::Priest(Node::started(p, id, disk, o))
            }
            Node::Client(c) => {
                let s = ClientState {
                    answered: 0,
                    target: 0,
                    retries: c.retries,
                    refused: false,
                };
                c.request(id, &s, o);
                if c.retries > 0 && !c.script.is_empty() {
                    o.set_timer(NodeTimer::Retry, model_timeout());
                }
                NodeState::Client(s)
            }
        }
    }

    fn on_msg(&self, id: Id, state: &mut Cow<NodeState>, src: Id, msg: Msg, o: &mut Out<Self>) {
        match (self, &**state) {
            (Node::Priest(p, _, reincarnates), NodeState::Priest(node)) => {
                let snapshot = match &msg {
                    Msg::Snapshot { snapshot } => Some(snapshot.upto),
                    _ => None,
                };
                let next =
                    Node::step_priest(node, o, snapshot, |ps, out| p.on_msg(id, ps, src, msg, out));
                if let Some(next) = next {
                    if *reincarnates == Reincarnates::OnceRemoved {
                        arm_reincarnation(p, &next, o);
                    }
                    *state = Cow::Owned(next);
                }
            }
            (Node::Client(c), NodeState::Client(s)) => {
                let (seq, expired) = match msg {
                    Msg::Reply { seq, .. } => (seq, false),
                    Msg::Expired { seq } => (seq, true),
                    _ => return,
                };
                if seq != u64::from(s.answered) + 1 || s.answered as usize >= c.script.len() {
                    return;
                }
                // A client whose session expired stops: its command was refused, and it
                // would have to start again as a new client. Its command stays unanswered
                // in the history (it may or may not have taken effect, as far as the
                // linearizability check knows).
                let next = ClientState {
                    answered: if expired {
                        c.script.len() as u8
                    } else {
                        s.answered + 1
                    },
                    refused: expired,
                    ..s.clone()
                };
                c.request(id, &next, o);
                *state = Cow::Owned(NodeState::Client(next));
            }
            _ => {}
        }
    }

    fn on_timeout(&self, id: Id, state: &mut Cow<NodeState>, timer: &NodeTimer, o: &mut Out<Self>) {
        match (self, &**state, timer) {
            (Node::Priest(p, _, reincarnates), NodeState::Priest(node), NodeTimer::Priest(t)) => {
                let next = Node::step_priest(node, o, None, |ps, out| p.on_timeout(id, ps, t, out));
                if let Some(next) = next {
                    if *reincarnates == Reincarnates::OnceRemoved {
                        arm_reincarnation(p, &next, o);
                    }
                    *state = Cow::Owned(next);
                }
            }
            (Node::Priest(p, _, _), NodeState::Priest(node), NodeTimer::Reincarnate) => {
                // The machine of a removed priest (or of a member whose ledger is lost) is
                // wiped and started again with a new ledger (token 1), to be added again.
                // Messages in flight, of and for its earlier incarnation, survive. Its ghost
                // keeps the earlier ledger's votes apart: they count for the incarnation that
                // ledger was.
                if node.disk.ghost.nonce != 0 {
                    return;
                }
                let mut disk = node.disk.clone();
                disk.ghost.former = std::mem::take(&mut disk.ghost.voted);
                disk.ghost.nonce = 1;
                disk.ledger = Some(Ledger::joining(1));
                *state = Cow::Owned(Node::restart_wiped(p, id, disk, o));
            }
            (Node::Priest(p, _, _), NodeState::Priest(node), NodeTimer::DiskLoss) => {
                // Everything in memory and on disk is gone (messages in flight are not); the
                // priest restarts at once, rejoining. Its ghost keeps what it did: the votes
                // it had saved still count toward choosing a decree (they were durable when
                // cast), and move to `lost` for B3.
                let mut disk = node.disk.clone();
                let voted = std::mem::take(&mut disk.ghost.voted);
                disk.ghost.lost = disk.ghost.lost.union(voted);
                disk.ghost.lost_disk = true;
                disk.ledger = Some(Ledger::rejoining());
                *state = Cow::Owned(Node::restart_wiped(p, id, disk, o));
            }
            (Node::Client(c), NodeState::Client(s), NodeTimer::Retry) => {
                if s.retries == 0 || s.answered as usize >= c.script.len() {
                    return;
                }
                let next = ClientState {
                    target: ((s.target as usize + 1) % c.priests) as u8,
                    retries: s.retries - 1,
                    ..s.clone()
                };
                c.request(id, &next, o);
                if next.retries > 0 {
                    o.set_timer(NodeTimer::Retry, model_timeout());
                }
                *state = Cow::Owned(NodeState::Client(next));
            }
            _ => {}
        }
    }
}

/// Arms the timer that wipes a removed priest's machine (`--change readd`), once its law
/// shows its first ledger (token 0) removed.
fn arm_reincarnation(p: &ParliamentPriest, next: &NodeState, o: &mut Out<Node>) {
    let NodeState::Priest(node) = next else {
        return;
    };
    let removed = node
        .state
        .law
        .chamber
        .as_ref()
        .is_some_and(|c| !c.named().any(|m| m.ix == p.me && m.nonce == 0));
    if removed && node.disk.ghost.nonce == 0 {
        o.set_timer(NodeTimer::Reincarnate, model_timeout());
    }
}

/// A ballot of the ghost history: the Synod ballot `(bal, dec, qrm)` for decree number
/// `number`, begun by `president`. Its voters are not recorded here but observed on the
/// priests' disks ([`voters`]).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct GhostBallot {
    pub number: DecreeNumber,
    pub bal: Ballot,
    pub president: PriestIx,
    pub dec: Decree,
    pub qrm: Priests,
    /// The priests asked to vote, with the incarnation each request named (`to`).
    pub asked: Vec<(PriestIx, Inc)>,
}

/// The ghost history of messages: the ballots begun and the clients' history.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Ghost {
    pub ballots: Vec<GhostBallot>,
    /// Checked against [`TimedMap`]: the map, under a clock that moves unseen (the
    /// decree numbers, with `--script expire`; without it no key expires and the clock
    /// changes nothing).
    pub clients: LinearizabilityTester<Id, TimedMap>,
    /// The highest sequence number each client invoked (index: client number).
    pub invoked: Vec<u64>,
}

impl Ghost {
    fn new(clients: usize, until: u64) -> Self {
        Ghost {
            ballots: Vec::new(),
            clients: LinearizabilityTester::new(TimedMap::new(until)),
            invoked: vec![0; clients],
        }
    }
}

pub type ParliamentModel = ActorModel<Node, ParliamentConfig, Ghost>;
pub type ParliamentState = ActorModelState<Node, Ghost>;

/// The priests' disks (ledger and ghost), by priest number; a priest that never saved has
/// an empty ghost.
fn disks(state: &ParliamentState) -> impl Iterator<Item = &Disk> + '_ {
    state
        .actor_storages
        .iter()
        .zip(&state.actor_states)
        .filter(|(_, a)| a.priest().is_some())
        .map(|(d, a)| match (d, &**a) {
            (Some(d), _) => d,
            (None, NodeState::Priest(p)) => &p.disk,
            (None, NodeState::Client(_)) => unreachable!("filtered"),
        })
}

/// The priests whose saved ledgers held a vote for ballot `b`'s decree in `b` (with
/// `lost`, also in a ledger they lost since).
pub fn voters(state: &ParliamentState, b: &GhostBallot, lost: bool) -> Priests {
    let key = (b.number, b.bal);
    disks(state)
        .enumerate()
        .filter(|(_, d)| {
            d.ghost.voted.get(&key) == Some(&b.dec)
                || (lost && d.ghost.lost.get(&key) == Some(&b.dec))
        })
        .map(|(p, _)| p as PriestIx)
        .collect()
}

/// Each ballot of the history with its voters (with `lost`, those whose vote is gone with
/// a lost ledger too).
fn with_voters(state: &ParliamentState, lost: bool) -> Vec<(&GhostBallot, Priests)> {
    state
        .history
        .ballots
        .iter()
        .map(|b| (b, voters(state, b, lost)))
        .collect()
}

/// The decrees chosen, with their numbers: a ballot's decree is chosen when its voters (whose
/// saved ledgers held the vote) include a quorum of the configured quorum system; with
/// `--change`, a majority of the membership in force at its number ([`chosen_in_force`]).
pub fn chosen<'a>(
    cfg: &ParliamentConfig,
    state: &'a ParliamentState,
) -> Vec<(DecreeNumber, &'a Decree)> {
    if cfg.change.is_some() {
        return chosen_in_force(cfg, state).0;
    }
    let quorums = cfg.quorums();
    with_voters(state, true)
        .into_iter()
        .filter(|(_, v)| quorums.is_quorum(*v))
        .map(|(b, _)| (b.number, &b.dec))
        .collect()
}

/// The membership in force at a decree number, as the chosen decrees below it decide, and
/// whether they decide it: every decree at or below `n - alpha` is chosen. (When they do
/// not, the newest membership the chosen prefix holds.)
#[derive(Clone, Debug)]
pub struct InForce {
    pub members: Arc<[Member]>,
    pub determined: bool,
}

/// Whether `set` is a majority of `members`.
fn majority_of(members: &[Member], set: Priests) -> bool {
    let of = set
        .iter()
        .filter(|q| members.iter().any(|m| m.ix == *q))
        .count();
    2 * of > members.len()
}

/// The votes the incarnation `m` cast, as the disk of its index's actor holds them: the
/// ledger running now if it is that incarnation's (with `lost`, also the votes of ledgers it
/// lost), or the wiped ledger of token 0 (`--change readd`).
fn incarnation_votes<'a>(
    state: &'a ParliamentState,
    m: &Member,
    lost: bool,
) -> Vec<&'a OrdMap<(DecreeNumber, Ballot), Decree>> {
    let Some(d) = disks(state).nth(m.ix as usize) else {
        return vec![];
    };
    let g = &d.ghost;
    if g.nonce == m.nonce {
        let mut v = vec![&g.voted];
        if lost {
            v.push(&g.lost);
        }
        v
    } else if m.nonce == 0 {
        vec![&g.former]
    } else {
        vec![]
    }
}

/// The members of `members` whose incarnation voted in ballot `b`.
fn voters_among(
    state: &ParliamentState,
    b: &GhostBallot,
    members: &[Member],
    lost: bool,
) -> Priests {
    let key = (b.number, b.bal);
    members
        .iter()
        .filter(|m| {
            incarnation_votes(state, m, lost)
                .iter()
                .any(|v| v.get(&key) == Some(&b.dec))
        })
        .map(|m| m.ix)
        .collect()
}

/// Ballot `b`'s quorum, as its president chose it: the priests it asked, and itself when it
/// voted in it (a president in its own quorum saves its vote in the step that begins the
/// ballot, before asking anyone).
fn quorum_among(state: &ParliamentState, b: &GhostBallot) -> Priests {
    let asked: Priests = b.asked.iter().map(|(q, _)| *q).collect();
    let key = (b.number, b.bal);
    let voted = disks(state)
        .nth(b.president as usize)
        .is_some_and(|d| d.ghost.voted.get(&key) == Some(&b.dec));
    if voted {
        asked.with(b.president)
    } else {
        asked
    }
}

/// With `--change`: the decrees chosen (a ballot's voters, incarnation by incarnation,
/// include a majority of the membership in force at its number), and the membership in
/// force at each decree number. Computed number by number: the membership at `n` is the
/// law's after the chosen decrees below `n - alpha + 1`.
pub fn chosen_in_force<'a>(
    cfg: &ParliamentConfig,
    state: &'a ParliamentState,
) -> (Vec<(DecreeNumber, &'a Decree)>, Vec<InForce>) {
    let mut law = cfg.genesis_law();
    let mut applied: DecreeNumber = 0;
    let mut chosen = Vec::new();
    let mut in_force = Vec::new();
    for n in 0..cfg.decrees {
        let c = law.chamber.as_ref().expect("a change needs a chamber");
        let members: Arc<[Member]> = match c.at(applied, n) {
            Some(ms) => ms.into(),
            None => c.next.as_ref().map_or(&c.members, |x| &x.members).clone(),
        };
        let determined = n < applied.saturating_add(cfg.alpha);
        for b in state.history.ballots.iter().filter(|b| b.number == n) {
            if majority_of(&members, voters_among(state, b, &members, true)) {
                chosen.push((n, &b.dec));
            }
        }
        in_force.push(InForce {
            members,
            determined,
        });
        if n == applied {
            if let Some((_, d)) = chosen.iter().find(|(m, _)| *m == n) {
                d.apply_to(n, &mut law, crate::kv::Dedup::Sessions, |_, _| {});
                applied += 1;
            }
        }
    }
    (chosen, in_force)
}

/// Every ballot had a quorum of the membership in force at its number: (a) that membership
/// was decided (every decree at or below `n - alpha` chosen) when the ballot was begun (a
/// ballot is recorded when begun, and what was chosen stays chosen); (b) the priests it
/// asked, with the incarnations its requests named, are members in force, and with its
/// president when it voted, a majority of them; (c) every vote cast in it is by an
/// incarnation that membership names.
pub fn quorums_of_the_membership_in_force(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let (_, in_force) = chosen_in_force(cfg, state);
    state.history.ballots.iter().all(|b| {
        let Some(f) = in_force.get(b.number as usize) else {
            return false;
        };
        let named = |q: PriestIx| f.members.iter().find(|m| m.ix == q);
        let asked_ok = b
            .asked
            .iter()
            .all(|(q, inc)| named(*q).is_some_and(|m| m.inc == *inc));
        let quorum = quorum_among(state, b);
        let quorum_ok =
            quorum.iter().all(|q| named(q).is_some()) && majority_of(&f.members, quorum);
        let key = (b.number, b.bal);
        let votes_ok = disks(state).enumerate().all(|(a, d)| {
            let g = &d.ghost;
            let cast = |v: &OrdMap<(DecreeNumber, Ballot), Decree>| v.get(&key) == Some(&b.dec);
            let current = cast(&g.voted) || cast(&g.lost);
            let former = cast(&g.former);
            (!current || named(a as PriestIx).is_some_and(|m| m.nonce == g.nonce))
                && (!former || named(a as PriestIx).is_some_and(|m| m.nonce == 0))
        });
        f.determined && asked_ok && quorum_ok && votes_ok
    })
}

fn record_out(cfg: &ParliamentConfig, ghost: &Ghost, env: Envelope<&Msg>) -> Option<Ghost> {
    let src = usize::from(env.src);
    let dst = usize::from(env.dst);
    match env.msg {
        Msg::BeginBallot {
            ballot,
            number,
            decree,
            to,
        } => {
            let mut g = ghost.clone();
            let (src, dst) = (src as PriestIx, dst as PriestIx);
            // One Synod ballot per (decree number, ballot): a BeginBallot sent again (a
            // president asking again for a lost vote) adds nothing.
            let existing = g.ballots.iter_mut().rev().find(|x| {
                x.number == *number && x.bal == *ballot && x.president == src && x.dec == *decree
            });
            let x = match existing {
                Some(x) if x.qrm.contains(dst) => return None,
                Some(x) => x,
                None => {
                    g.ballots.push(GhostBallot {
                        number: *number,
                        bal: *ballot,
                        president: src,
                        dec: decree.clone(),
                        qrm: Priests::EMPTY,
                        asked: Vec::new(),
                    });
                    g.ballots.last_mut().expect("just pushed")
                }
            };
            // The quorum is the priests asked and the president, which votes in the ballot
            // as it begins it or later, on its vote timer (every one of them promised, and
            // reported its votes). That is the quorum it chose, not a vote: votes are observed on the disks, and the decree is
            // chosen once the voters include a quorum, whoever of the quorum they are.
            x.asked.push((dst, *to));
            x.asked.sort();
            x.qrm = x.qrm.with(src).with(dst);
            Some(g)
        }
        Msg::Request { client, seq, op } if src >= cfg.priest_actors() && *client == env.src => {
            let c = src - cfg.priest_actors();
            if *seq <= ghost.invoked[c] {
                return None;
            }
            let mut g = ghost.clone();
            g.invoked[c] = *seq;
            // A member command is not a command on the map: the linearizability check
            // leaves it out (its answer too).
            if !matches!(op, Op::Member(_)) {
                let _ = g.clients.on_invoke(env.src, op.clone());
            }
            Some(g)
        }
        _ => None,
    }
}

fn record_in(cfg: &ParliamentConfig, ghost: &Ghost, env: Envelope<&Msg>) -> Option<Ghost> {
    match env.msg {
        Msg::Reply { answer, .. }
            if usize::from(env.dst) >= cfg.priest_actors()
                && !matches!(answer, crate::kv::Answer::Member(_)) =>
        {
            let mut g = ghost.clone();
            let _ = g.clients.on_return(env.dst, answer.clone());
            Some(g)
        }
        _ => None,
    }
}

/// B1: no ballot number was tried twice, by two priests or by one priest twice (a priest
/// that lost its `lastTried` and reuses its number), genesis only by priest 0; and no two
/// Synod ballots for one decree number share a ballot number.
pub fn b1_unique_ballots(state: &ParliamentState) -> bool {
    let tried: Vec<(Ballot, PriestIx)> = disks(state)
        .enumerate()
        .flat_map(|(p, d)| d.ghost.tried.iter().map(move |b| (*b, p as PriestIx)))
        .collect();
    let bs = &state.history.ballots;
    tried.iter().enumerate().all(|(i, (b, p))| {
        tried[i + 1..].iter().all(|(c, _)| c != b) && (*b != GENESIS || *p == GENESIS.priest)
    }) && bs.iter().enumerate().all(|(i, x)| {
        bs[i + 1..].iter().all(|y| {
            x.number != y.number || x.bal != y.bal || (x.president, &x.dec) == (y.president, &y.dec)
        })
    })
}

/// B2: the quorums of any two ballots intersect; with `--change`, any two ballots for one
/// decree number (their quorums are of the membership in force there).
pub fn b2_quorums_intersect(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    if cfg.change.is_some() {
        let bs = &state.history.ballots;
        let quorum = |b: &GhostBallot| quorum_among(state, b);
        return bs.iter().enumerate().all(|(i, a)| {
            bs[i + 1..]
                .iter()
                .all(|b| a.number != b.number || quorum(a).intersects(quorum(b)))
        });
    }
    let ghost = &state.history;
    let bs = &ghost.ballots;
    bs.iter()
        .enumerate()
        .all(|(i, a)| bs[i + 1..].iter().all(|b| a.qrm.intersects(b.qrm)))
}

/// B3, per decree number: if a member of B's quorum voted in an earlier ballot for the same
/// number, B's decree is the decree of the latest such ballot.
pub fn b3_respects_earlier_votes(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    if cfg.change.is_some() {
        // Votes by incarnation, and quorums, of the membership in force at each number.
        let (_, in_force) = chosen_in_force(cfg, state);
        let judged: Vec<(&GhostBallot, Priests, Priests)> = state
            .history
            .ballots
            .iter()
            .filter_map(|b| {
                let f = in_force.get(b.number as usize)?;
                Some((
                    b,
                    voters_among(state, b, &f.members, false),
                    quorum_among(state, b),
                ))
            })
            .collect();
        return judged.iter().all(|(b, _, qrm)| {
            judged
                .iter()
                .filter(|(e, vot, _)| e.number == b.number && e.bal < b.bal && vot.intersects(*qrm))
                .max_by_key(|(e, _, _)| e.bal)
                .is_none_or(|(latest, _, _)| latest.dec == b.dec)
        });
    }
    let bs = with_voters(state, false);
    bs.iter().all(|(b, _)| {
        bs.iter()
            .filter(|(e, vot)| e.number == b.number && e.bal < b.bal && vot.intersects(b.qrm))
            .max_by_key(|(e, _)| e.bal)
            .is_none_or(|(latest, _)| latest.dec == b.dec)
    })
}

/// Agreement: per decree number, at most one decree is chosen.
pub fn agreement(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let chosen = chosen(cfg, state);
    chosen
        .iter()
        .all(|(n, d)| chosen.iter().all(|(m, e)| n != m || d == e))
}

fn priests_of(state: &ParliamentState) -> impl Iterator<Item = &PriestState> + '_ {
    state.actor_states.iter().filter_map(|s| s.priest())
}

/// Every decree in a ledger was chosen with that number.
pub fn learned_implies_chosen(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let chosen = chosen(cfg, state);
    priests_of(state).all(|p| {
        p.ledger
            .learned
            .iter()
            .all(|(n, d)| chosen.iter().any(|(m, c)| m == n && *c == d))
    })
}

/// Validity: every decree chosen or written in a ledger is an olive-day decree or a batch
/// of commands clients sent: each command is the step of its client's script with its
/// sequence number, and the client has sent it.
pub fn validity(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let first = cfg.priest_actors();
    let sent = |c: &crate::kv::Command| {
        let i = usize::from(c.client);
        i >= first
            && i - first < cfg.clients
            && c.seq >= 1
            && c.seq <= state.history.invoked[i - first]
            && cfg.script(i - first).get(c.seq as usize - 1) == Some(&c.op)
    };
    let valid = |d: &Decree| d.commands().iter().all(sent);
    chosen(cfg, state).iter().all(|(_, d)| valid(d))
        && priests_of(state).all(|p| p.ledger.learned.values().all(valid))
}

fn priest_nodes(state: &ParliamentState) -> impl Iterator<Item = &PriestNode> + '_ {
    state.actor_states.iter().filter_map(|s| match &**s {
        NodeState::Priest(p) => Some(p),
        NodeState::Client(_) => None,
    })
}

/// The decrees a priest's law went through, in order: its ghost log with each installed
/// snapshot standing for the decrees chosen with the numbers it adds (a snapshot older than
/// the law adds none: the decrees applied again after it follow). `None` if a snapshot it
/// installed covers a number with no decree chosen.
fn decree_log<'a>(
    log: &'a Vector<LogEntry>,
    chosen: &[(DecreeNumber, &'a Decree)],
) -> Option<Vec<&'a Decree>> {
    let mut out = Vec::new();
    for e in log {
        match e {
            LogEntry::Applied(_, d) => out.push(d),
            LogEntry::Installed(upto) | LogEntry::Restarted(upto) => {
                for n in out.len() as DecreeNumber..*upto {
                    out.push(chosen.iter().find(|(m, _)| *m == n)?.1);
                }
            }
        }
    }
    Some(out)
}

/// Every priest's decree log ([`decree_log`]), or `None` if a snapshot covers an unchosen
/// number.
fn decree_logs<'a>(
    cfg: &ParliamentConfig,
    state: &'a ParliamentState,
) -> Option<Vec<Vec<&'a Decree>>> {
    let installs = priest_nodes(state).any(|p| {
        p.log
            .iter()
            .any(|e| matches!(e, LogEntry::Installed(_) | LogEntry::Restarted(_)))
    });
    let chosen = if installs {
        chosen(cfg, state)
    } else {
        Vec::new()
    };
    priest_nodes(state)
        .map(|p| decree_log(&p.log, &chosen))
        .collect()
}

/// Of any two priests' decree logs (what their laws went through, snapshots standing for the
/// chosen decrees they cover), one is a prefix of the other.
pub fn logs_are_prefixes(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let Some(logs) = decree_logs(cfg, state) else {
        return false;
    };
    logs.iter().enumerate().all(|(i, a)| {
        logs[i + 1..].iter().all(|b| {
            let k = a.len().min(b.len());
            a[..k] == b[..k]
        })
    })
}

/// No priest's law executed a command twice, and its sessions remember what it executed: its
/// law (map, sessions and count of commands executed) is exactly what a deduplicating law
/// makes of its decree log.
pub fn exactly_once(cfg: &ParliamentConfig, state: &ParliamentState) -> bool {
    let Some(logs) = decree_logs(cfg, state) else {
        return false;
    };
    priests_of(state).zip(logs).all(|(p, log)| {
        let mut law = cfg.genesis_law();
        for (n, d) in log.iter().enumerate() {
            d.apply_to(
                n as DecreeNumber,
                &mut law,
                crate::kv::Dedup::Sessions,
                |_, _| {},
            );
        }
        p.law == law
    })
}

impl ParliamentConfig {
    /// The priest actors: the founders, and priest 3 when a change adds it.
    pub fn priest_actors(&self) -> usize {
        match self.change {
            Some(ChangeKind::Add | ChangeKind::Replace) => self.priests + 1,
            _ => self.priests,
        }
    }

    /// The law before any decree: with `--change`, the founders' Chamber.
    pub fn genesis_law(&self) -> Store {
        Store {
            chamber: self
                .change
                .map(|_| Chamber::founders(self.alpha, self.priests as u8, &[])),
            ..Store::default()
        }
    }

    /// The member commands client 0 sends first.
    pub fn change_ops(&self) -> Vec<Op> {
        let new = |ix| (ix, 1, None);
        match self.change {
            None => vec![],
            Some(ChangeKind::Add) => {
                let (ix, nonce, addr) = new(3);
                vec![Op::Member(MemberOp::Add { ix, nonce, addr })]
            }
            Some(ChangeKind::Replace) => {
                let (ix, nonce, addr) = new(3);
                vec![Op::Member(MemberOp::Replace {
                    old: 2,
                    ix,
                    nonce,
                    addr,
                })]
            }
            Some(ChangeKind::RemovePresident) => vec![Op::Member(MemberOp::Remove { ix: 0 })],
            Some(ChangeKind::Readd | ChangeKind::ReaddLost) => {
                let (ix, nonce, addr) = new(2);
                vec![
                    Op::Member(MemberOp::Remove { ix: 2 }),
                    Op::Member(MemberOp::Add { ix, nonce, addr }),
                ]
            }
        }
    }

    /// Client `i`'s script.
    pub fn script(&self, i: usize) -> Vec<Op> {
        use crate::kv::{ExpireIf, Key, Time, Ttl, Value, When};
        let (x, y) = (|| Key::from("x"), || Key::from("y"));
        let mine: Value = (i + 1).to_string().into();
        let all = match self.script {
            Script::Kv => vec![
                Op::Cas {
                    key: x(),
                    expected: None,
                    new: mine.clone(),
                },
                Op::Get { key: x() },
                Op::Put {
                    key: x(),
                    value: mine,
                },
                Op::Delete { key: x() },
            ],
            Script::Redis => {
                let mset = Op::MSet {
                    pairs: vec![(x(), mine.clone()), (y(), mine.clone())],
                };
                let mget = Op::MGet {
                    keys: vec![x(), y()],
                };
                // Odd clients read before they write: with two commands each, one client's
                // mset runs against the other's mget.
                let (second, third) = if i.is_multiple_of(2) {
                    (mset, mget)
                } else {
                    (mget, mset)
                };
                vec![
                    Op::IncrBy { key: x(), by: 1 },
                    second,
                    third,
                    Op::Append {
                        key: y(),
                        value: mine.clone(),
                    },
                    Op::GetDel { key: x() },
                    Op::SetIf {
                        key: x(),
                        value: mine,
                        when: When::Absent,
                    },
                ]
            }
            Script::Multi => vec![
                Op::Multi {
                    watch: vec![(x(), None)],
                    ops: vec![
                        Op::Put {
                            key: x(),
                            value: mine,
                        },
                        Op::IncrBy { key: y(), by: 1 },
                    ],
                },
                Op::Multi {
                    watch: Vec::new(),
                    ops: vec![
                        Op::IncrBy { key: y(), by: 1 },
                        Op::MGet {
                            keys: vec![x(), y()],
                        },
                    ],
                },
            ],
            Script::Expire => {
                let pttl = Op::Pttl { key: x() };
                if i.is_multiple_of(2) {
                    vec![
                        Op::SetTtl {
                            key: x(),
                            value: mine,
                            when: When::Always,
                            ttl: Ttl::Expire(Time::In(2)),
                        },
                        pttl,
                        Op::Get { key: x() },
                        Op::Persist { key: x() },
                    ]
                } else {
                    vec![
                        pttl.clone(),
                        Op::Expire {
                            key: x(),
                            at: Time::In(1),
                            when: ExpireIf::Always,
                        },
                        Op::Get { key: x() },
                        pttl,
                    ]
                }
            }
        };
        let ops = all.into_iter().cycle().take(self.ops);
        match i {
            0 => self.change_ops().into_iter().chain(ops).collect(),
            _ => ops.collect(),
        }
    }

    /// With no loss, no crash, at most one priest besides the genesis president able to run
    /// (so at most one takeover, which cannot be lost to a duel), and room for every
    /// command plus the olive-day decrees of a takeover (`decrees >= clients * ops +
    /// window`), the model also checks liveness: every client gets every answer.
    pub fn checks_liveness(&self) -> bool {
        self.why_no_liveness().is_none()
    }

    /// Why `every-client-answered` cannot be decided in this configuration (the report
    /// says "not checked" with this reason), or `None` when it is checked.
    pub fn why_no_liveness(&self) -> Option<String> {
        if self.lossy {
            return Some(
                "messages may be lost and a client's resends are bounded, so a client may rightly go unanswered".into(),
            );
        }
        if self.crashes > 0 || self.disk_loss > 0 {
            return Some(
                "after a crash or a lost ledger the bounded ballot rounds may not elect another president".into(),
            );
        }
        if self.change == Some(ChangeKind::ReaddLost) {
            return Some(
                "priest 2's ledger may be lost while the president waits on it in its quorum, and the model's president does not run again when its quorum stalls (the runtime's does, after an election timeout with no decree passed)".into(),
            );
        }
        if self.proposers > 2 {
            return Some(
                "with 3 or more candidates a duel can use up the bounded ballot rounds".into(),
            );
        }
        if self.proposers > 1 && self.rounds > 1 {
            return Some(
                "with ballot rounds above 1 two candidates can duel and use up the bounded rounds"
                    .into(),
            );
        }
        let changes = self.change_ops().len();
        if changes > 0 && self.proposers > 1 {
            return Some(
                "each change needs a new ballot of its president, and with two candidates a takeover can use up the bounded ballot rounds first".into(),
            );
        }
        if changes > self.rounds as usize {
            return Some(format!(
                "each change needs a new ballot of its president: {changes} changes need --rounds {changes}"
            ));
        }
        // Each change with a lookahead above 1 may need olive-day decrees to come into force.
        let fillers = changes * (self.alpha.saturating_sub(1) as usize);
        let needed = self.clients * self.ops + self.window + changes + fillers;
        if (self.decrees as usize) < needed {
            return Some(format!(
                "decree numbers < {} leave no room for every command plus a takeover's olive-day decrees (needs {needed})",
                self.decrees
            ));
        }
        None
    }

    /// Why no takeover can find a gap to fill with an olive-day decree in this configuration
    /// (the report says `gap-filled-with-no-op` is not checked, with this reason), or `None`.
    pub fn why_no_gap(&self) -> Option<String> {
        if self.proposers < 2 {
            return None; // the property is not registered: no takeover
        }
        if self.clients == 1 {
            return Some(
                "one client has one command in flight, so no decree number is begun above one nobody voted for".into(),
            );
        }
        if self.decrees < 2 {
            return Some("one decree number has no number below it to leave a gap".into());
        }
        if self.change.is_some() && self.alpha == 1 {
            return Some(
                "with --alpha 1 a president begins a decree number only once it applied every number below it, so no gap can open".into(),
            );
        }
        None
    }

    /// Checks the configuration, returning a clear message when it is not sensible.
    pub fn validate(&self) -> Result<(), String> {
        if !(2..=5).contains(&self.priests) {
            return Err(format!("--priests must be 2 to 5, not {}", self.priests));
        }
        if self.proposers == 0 || self.proposers > self.priests {
            return Err(format!(
                "--proposers must be 1 to the number of priests ({}), not {}",
                self.priests, self.proposers
            ));
        }
        if !(1..=4).contains(&self.clients) {
            return Err(format!("--clients must be 1 to 4, not {}", self.clients));
        }
        if !(1..=8).contains(&self.ops) {
            return Err(format!("--ops must be 1 to 8, not {}", self.ops));
        }
        if self.decrees == 0 || self.decrees > 16 {
            return Err(format!("--decrees must be 1 to 16, not {}", self.decrees));
        }
        if self.window == 0 || self.batch == 0 {
            return Err("--window and --batch must be at least 1".into());
        }
        if self.crashes > self.priests {
            return Err(format!(
                "--crashes must be at most the number of priests ({})",
                self.priests
            ));
        }
        if self.disk_loss > self.priests {
            return Err(format!(
                "--disk-loss must be at most the number of priests ({})",
                self.priests
            ));
        }
        if self.change.is_some() {
            if self.priests != 3 {
                return Err(
                    "--change needs --priests 3 (it adds priest 3 or changes priest 2)".into(),
                );
            }
            if self.disk_loss > 0 || self.bug == Bug::MinorityQuorum {
                return Err("--change takes majorities of the membership in force: not with --disk-loss or the minority-quorum bug".into());
            }
            if self.alpha == 0 {
                return Err("--alpha must be at least 1".into());
            }
        }
        if self.heartbeats && self.network != NetworkKind::Duplicating {
            return Err(
                "--heartbeats needs --network duplicating (repeated heartbeats would pile up without bound otherwise)"
                    .into(),
            );
        }
        Ok(())
    }

    /// Which sets of priests are quorums: majorities (smaller sets with the
    /// `minority-quorum` bug).
    pub fn quorums(&self) -> QuorumSystem {
        if self.bug == Bug::MinorityQuorum {
            QuorumSystem::AtLeast {
                priests: self.priests,
                size: (self.priests / 2).max(1),
            }
        } else {
            QuorumSystem::majority(self.priests)
        }
    }

    /// The priests of this configuration.
    pub fn priests(&self) -> Vec<ParliamentPriest> {
        let ids = Id::vec_from(0..self.priest_actors());
        (0..self.priest_actors())
            .map(|i| {
                let mut p = ParliamentPriest::new(i as PriestIx, ids.clone());
                p.candidate = i < self.proposers;
                p.chamber = self.genesis_law().chamber;
                if i >= self.priests {
                    p.joins = Some(1);
                }
                p.max_round = self.rounds;
                p.max_decrees = self.decrees;
                p.window = self.window;
                p.rerun_when_stalled = false;
                p.batch = self.batch;
                p.election = model_timeout();
                p.heartbeat = self.heartbeats.then(model_timeout);
                p.vote_after = self.heartbeats.then(model_timeout);
                p.bug = self.bug;
                p.quorums = self.quorums();
                p.snapshot_after = self.snapshots.then_some(1);
                p.snapshot_period = model_timeout();
                p.expire_after = self.expire_after;
                p.clock = crate::parliament::Clock::DecreeNumber;
                p.keys_expire = self.script == Script::Expire;
                p
            })
            .collect()
    }

    /// The stateright model of this configuration, with every property.
    pub fn into_model(self) -> ParliamentModel {
        let network = self.network.empty();
        let lossy = if self.lossy {
            LossyNetwork::Yes
        } else {
            LossyNetwork::No
        };
        let nodes = self
            .priests()
            .into_iter()
            .enumerate()
            .map(|(i, p)| {
                let loses_disk =
                    i < self.priests && (i + self.priests - 1) % self.priests < self.disk_loss;
                let reincarnates = match self.change {
                    Some(ChangeKind::Readd) if i == 2 => Reincarnates::OnceRemoved,
                    Some(ChangeKind::ReaddLost) if i == 2 => Reincarnates::AnyTime,
                    _ => Reincarnates::Never,
                };
                Node::Priest(p, loses_disk, reincarnates)
            })
            .chain((0..self.clients).map(|i| {
                Node::Client(ScriptedClient {
                    priests: self.priests,
                    script: self.script(i),
                    retries: self.retries,
                })
            }));
        let takeovers = self.proposers > 1;
        let mut model = ActorModel::new(
            self.clone(),
            Ghost::new(self.clients, u64::from(self.decrees)),
        )
        .actors(nodes)
        .init_network(network)
        .lossy_network(lossy)
        .max_crashes(self.crashes)
        .record_msg_out(record_out)
        .record_msg_in(record_in)
        // Crashes are the priests' (clients are outside the Chamber and never crash); a
        // check whose time is up expands no more states.
        .within_boundary(|cfg, s| {
            !cfg.stop.is_set() && !s.crashed[cfg.priest_actors()..].iter().any(|&c| c)
        })
        .property(Expectation::Always, "b1-unique-ballots", |_, s| {
            b1_unique_ballots(s)
        })
        .property(Expectation::Always, "b2-quorums-intersect", |m, s| {
            b2_quorums_intersect(&m.cfg, s)
        })
        .property(Expectation::Always, "b3-respects-earlier-votes", |m, s| {
            b3_respects_earlier_votes(&m.cfg, s)
        })
        .property(Expectation::Always, "validity", |m, s| validity(&m.cfg, s))
        .property(Expectation::Always, "agreement", |m, s| {
            agreement(&m.cfg, s)
        })
        .property(Expectation::Always, "learned-implies-chosen", |m, s| {
            learned_implies_chosen(&m.cfg, s)
        })
        .property(Expectation::Always, "logs-are-prefixes", |m, s| {
            logs_are_prefixes(&m.cfg, s)
        })
        .property(Expectation::Always, "linearizable", |_, s| {
            s.history.clients.serialized_history().is_some()
        })
        .property(Expectation::Always, "exactly-once", |m, s| {
            exactly_once(&m.cfg, s)
        })
        .property(Expectation::Sometimes, "decree-chosen", |m, s| {
            !chosen(&m.cfg, s).is_empty()
        })
        .property(Expectation::Sometimes, "client-answered", |_, s| {
            s.actor_states
                .iter()
                .any(|a| a.client().is_some_and(|c| c.answered > 0))
        });
        if takeovers {
            model = model
                .property(Expectation::Sometimes, "president-changed", |_, s| {
                    s.history.ballots.iter().any(|b| b.bal != GENESIS)
                })
                .property(Expectation::Sometimes, "gap-filled-with-no-op", |_, s| {
                    s.history.ballots.iter().any(|b| b.dec == Decree::OliveDay)
                });
        }
        if self.snapshots {
            model = model
                .property(Expectation::Sometimes, "ledger-truncated", |_, s| {
                    priests_of(s).any(|p| p.ledger.base() > 0)
                })
                .property(Expectation::Sometimes, "snapshot-installed", |_, s| {
                    priest_nodes(s)
                        .any(|p| p.log.iter().any(|e| matches!(e, LogEntry::Installed(_))))
                });
        }
        if self.expire_after.is_some() {
            model = model.property(Expectation::Sometimes, "session-refused", |_, s| {
                s.actor_states
                    .iter()
                    .any(|a| a.client().is_some_and(|c| c.refused))
            });
        }
        if self.change.is_some() {
            model = model
                .property(
                    Expectation::Always,
                    "quorums-of-the-membership-in-force",
                    |m, s| quorums_of_the_membership_in_force(&m.cfg, s),
                )
                .property(Expectation::Sometimes, "change-in-force", |m, s| {
                    let founders = m.cfg.genesis_law().chamber;
                    priests_of(s).any(|p| {
                        p.law.chamber.as_ref().map(|c| &c.members)
                            != founders.as_ref().map(|c| &c.members)
                    })
                });
            if self.change != Some(ChangeKind::RemovePresident) {
                model = model.property(Expectation::Sometimes, "new-member-voted", |_, s| {
                    disks(s).any(|d| d.ghost.nonce != 0 && !d.ghost.voted.is_empty())
                        || disks(s).skip(3).any(|d| !d.ghost.voted.is_empty())
                });
            }
        }
        if self.disk_loss > 0 {
            model = model.property(Expectation::Sometimes, "rejoined", |_, s| {
                disks(s)
                    .zip(priests_of(s))
                    .any(|(d, p)| d.ghost.lost_disk && p.ledger.rejoin.is_none())
            });
        }
        {
            // Always present: where the configuration cannot decide it, the report says
            // "not checked" and why (`Narrate::not_checked`).
            model = model.property(Expectation::Eventually, "every-client-answered", |m, s| {
                s.actor_states
                    .iter()
                    .filter_map(|a| a.client())
                    .zip(0..)
                    .all(|(c, i)| c.answered as usize == m.cfg.script(i).len())
            });
        }
        model
    }
}

fn who(cfg: &ParliamentConfig, id: &Id) -> String {
    let i = usize::from(*id);
    if i < cfg.priest_actors() {
        format!("priest {i}")
    } else {
        format!("client {}", i - cfg.priest_actors())
    }
}

/// One step of the model, in the paper's words.
pub fn narrate_action(cfg: &ParliamentConfig, a: <ParliamentModel as Model>::Action) -> String {
    match a {
        ActorModelAction::Deliver { src, dst, msg } => {
            format!(
                "{} receives {} from {}",
                who(cfg, &dst),
                msg,
                who(cfg, &src)
            )
        }
        ActorModelAction::Drop(env) => format!(
            "the messenger carrying {} from {} to {} is lost",
            env.msg,
            who(cfg, &env.src),
            who(cfg, &env.dst)
        ),
        ActorModelAction::Timeout(id, timer) => {
            format!("{}'s {:?} timer fires", who(cfg, &id), timer)
        }
        ActorModelAction::Crash(id) => {
            format!("{} leaves the Chamber (crash)", who(cfg, &id))
        }
        ActorModelAction::Recover(id) => format!(
            "{} returns to the Chamber (restart from its ledger)",
            who(cfg, &id)
        ),
        other => format!("{other:?}"),
    }
}

/// What each priest applied ("priest 0 applied [#0 ...]"), and the ballots with their
/// voters, in the paper's words.
fn tell_ledgers(cfg: &ParliamentConfig, last: &ParliamentState) -> (Vec<String>, String) {
    let mut applied = Vec::new();
    for (i, p) in priest_nodes(last).enumerate() {
        let log: Vec<String> = p
            .log
            .iter()
            .map(|e| match e {
                LogEntry::Applied(n, d) => format!("#{n} {d}"),
                LogEntry::Installed(u) => format!("snapshot <{u}"),
                LogEntry::Restarted(u) => format!("own snapshot <{u} on restart"),
            })
            .collect();
        applied.push(format!("priest {i} applied [{}]", log.join(", ")));
    }
    let quorums = cfg.quorums();
    let ballots: Vec<String> = with_voters(last, true)
        .into_iter()
        .map(|(b, vot)| {
            format!(
                "[#{} ballot {} by priest {}: {}, quorum {}, voted {}{}]",
                b.number,
                b.bal,
                b.president,
                b.dec,
                b.qrm,
                vot,
                if quorums.is_quorum(vot) {
                    ", chosen"
                } else {
                    ""
                }
            )
        })
        .collect();
    (applied, ballots.join(" "))
}

impl Narrate for ParliamentModel {
    fn narrate(&self, path: &Path<ParliamentState, <Self as Model>::Action>) -> Vec<String> {
        let cfg = &self.cfg;
        let mut steps: Vec<String> = path
            .clone()
            .into_vec()
            .into_iter()
            .filter_map(|(_, action)| action)
            .map(|a| narrate_action(cfg, a))
            .collect();
        let (applied, ballots) = tell_ledgers(cfg, path.last_state());
        steps.extend(applied.into_iter().map(|a| format!("final: {a}")));
        steps.push(format!("final ballots: {ballots}"));
        steps
    }

    fn tell_action(&self, action: &<Self as Model>::Action) -> String {
        narrate_action(&self.cfg, action.clone())
    }

    fn tell_state(&self, state: &ParliamentState) -> Option<String> {
        let (applied, ballots) = tell_ledgers(&self.cfg, state);
        Some(format!("{}\nballots: {ballots}", applied.join("\n")))
    }

    fn stop_flag(&self) -> Option<crate::check::StopFlag> {
        Some(self.cfg.stop.clone())
    }

    fn not_checked(&self) -> Vec<(&'static str, String)> {
        let liveness = self
            .cfg
            .why_no_liveness()
            .map(|why| ("every-client-answered", why));
        let gap = self
            .cfg
            .why_no_gap()
            .map(|why| ("gap-filled-with-no-op", why));
        liveness.into_iter().chain(gap).collect()
    }

    fn svg(&self, path: &Path<ParliamentState, <Self as Model>::Action>) -> Option<String> {
        self.as_svg(path.clone())
    }
}

impl stateright::Rewrite<Id> for Msg {
    /// Messages name priests only in ballot numbers, and ballots belong to candidates, which
    /// symmetry never permutes; the ids they carry are clients', never permuted either.
    fn rewrite<S>(&self, _: &stateright::RewritePlan<Id, S>) -> Self {
        self.clone()
    }
}

/// The genesis quorum of `priests` priests: the highest-numbered majority without priest 0
/// (priests `n - (n/2+1) .. n`; with fewer than 3 priests it cannot leave out priest 0, and
/// then has no priest to permute).
fn genesis_quorum(priests: usize) -> std::ops::Range<usize> {
    let first = priests - (priests / 2 + 1);
    if first == 0 {
        return 0..0;
    }
    first..priests
}

impl ParliamentConfig {
    /// The priests that symmetry may permute: the members of the genesis quorum (the
    /// highest-numbered majority without priest 0) that are not candidates (they own no
    /// ballot). Clients only ever address priest 0 and ballot owners, and majority quorums
    /// treat every priest alike, so renaming these priests maps a state to an equivalent
    /// one. None when a client retries (retries go to priests by number) or a seeded bug is
    /// on.
    pub fn interchangeable(&self) -> Vec<usize> {
        if self.retries > 0 || self.bug != Bug::None || self.change.is_some() {
            return Vec::new();
        }
        let quorum = genesis_quorum(self.priests);
        (self.proposers.max(quorum.start)..quorum.end).collect()
    }
}

/// `state` with actor `new_to_old[i]` renamed `i`.
pub fn permuted(state: &ParliamentState, new_to_old: &[usize]) -> ParliamentState {
    use crate::parliament::Status;
    let priest = |s: &NodeState, old_to_new: &[usize]| match s {
        NodeState::Client(_) => s.clone(),
        NodeState::Priest(node) => {
            let mut node = node.clone();
            let p = &mut node.state;
            p.status = match std::mem::replace(&mut p.status, Status::Follower) {
                Status::Follower => Status::Follower,
                Status::Trying {
                    from,
                    promised,
                    votes,
                    floor,
                    members,
                    incs,
                } => Status::Trying {
                    // Symmetry is never on with a Chamber: `incs` is empty.
                    incs,
                    from,
                    members: permute(members, old_to_new),
                    promised: permute(promised, old_to_new),
                    votes,
                    floor: floor.map(|(f, q)| (f, old_to_new[q as usize] as PriestIx)),
                },
                Status::Presiding {
                    quorum,
                    next,
                    pending,
                    mut reads,
                    members,
                    incs,
                    votes_first,
                } => Status::Presiding {
                    incs,
                    votes_first,
                    members: permute(members, old_to_new),
                    quorum: permute(quorum, old_to_new),
                    next,
                    reads: {
                        reads.acks = permute(reads.acks, old_to_new);
                        reads
                    },
                    pending: pending
                        .into_iter()
                        .map(|(k, mut v)| {
                            v.quorum = permute(v.quorum, old_to_new);
                            v.voted = permute(v.voted, old_to_new);
                            (k, v)
                        })
                        .collect(),
                },
            };
            NodeState::Priest(node)
        }
    };
    let ghost = |g: &Ghost, old_to_new: &[usize]| {
        let mut g = g.clone();
        for b in &mut g.ballots {
            b.qrm = permute(b.qrm, old_to_new);
            for (q, _) in &mut b.asked {
                *q = old_to_new[*q as usize] as PriestIx;
            }
            b.asked.sort();
        }
        g
    };
    rename_actors(state, new_to_old, priest, ghost)
}

/// Symmetry reduction over [`ParliamentConfig::interchangeable`] priests: of all the states
/// obtained by permuting them, the one with the least hash (exact: every state of an orbit
/// maps to the same representative, up to hash collisions of the 64-bit hash).
pub fn representative(state: &ParliamentState, movable: &[usize]) -> ParliamentState {
    least_hash_representative(state, state.actor_states.len(), movable, permuted)
}

/// [`representative`] over the genesis quorum (`n - (n/2+1) .. n`), as a plain function for
/// the checker. Sound only when [`ParliamentConfig::symmetry_error`] is `None`.
pub fn representative_in_genesis_quorum(state: &ParliamentState) -> ParliamentState {
    let priests = state
        .actor_states
        .iter()
        .filter(|s| s.priest().is_some())
        .count();
    let movable: Vec<usize> = genesis_quorum(priests).collect();
    representative(state, &movable)
}

impl ParliamentConfig {
    /// Why symmetry reduction would not be sound (or would do nothing) for this config.
    pub fn symmetry_error(&self) -> Option<String> {
        let quorum = genesis_quorum(self.priests);
        if quorum.len() < 2 {
            return Some(format!(
                "--symmetry needs at least 3 priests (a genesis quorum without priest 0); with {} there is none to permute",
                self.priests
            ));
        }
        if self.interchangeable() != quorum.clone().collect::<Vec<_>>() {
            return Some(format!(
                "--symmetry needs no --retries, no --bug and --proposers at most {} (priest 0 and those outside the genesis quorum), so that priests {}..{} (the genesis quorum) are interchangeable",
                quorum.start,
                quorum.start,
                quorum.end - 1
            ));
        }
        None
    }
}
