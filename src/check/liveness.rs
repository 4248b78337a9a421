//! The liveness check: `AG EF P` over the explored state graph (see the module documentation
//! of [`crate::check`]), and the paths it reports.

use super::*;
/// What [`check_liveness`] found: the size of the graph, and a verdict per `eventually`
/// property of the model (in the model's order).
pub struct Liveness<M: Model> {
    /// Distinct states (after symmetry, when given).
    pub states: usize,
    /// Distinct transitions between distinct states (self-loops left out).
    pub transitions: usize,
    pub properties: Vec<LivenessVerdict<M>>,
}

/// One `eventually` property's verdict.
pub struct LivenessVerdict<M: Model> {
    pub name: &'static str,
    /// `None` when `AG EF P` holds.
    pub violation: Option<LivenessViolation<M>>,
}

/// A reachable state from which no continuation satisfies the property: the one nearest
/// the initial states.
pub struct LivenessViolation<M: Model> {
    /// A shortest path from an initial state to it (`None` only if it could not be replayed
    /// through the model, which takes a model whose `actions` are not deterministic).
    pub path: Option<ModelPath<M>>,
    /// Its distance from the initial states, in steps.
    pub depth: usize,
    /// How many states are reachable from it, itself included (none satisfies the property).
    pub reachable: usize,
    /// How many of the graph's states cannot reach the property (it included).
    pub stuck_states: usize,
}

/// Checks every `eventually` property `P` of `model` as `AG EF P`: from every reachable state
/// some continuation reaches a state satisfying `P`. Explores the state graph breadth first
/// (`threads` threads expand states; with `symmetry`, a state is known by its
/// representative's hash), then searches it backward from the `P`-states. Err (with the
/// reason) when stopped: `deadline` passed or `stop` set (the exploration then is not the
/// whole graph).
pub fn check_liveness<M>(
    model: &M,
    symmetry: Option<Representative<M>>,
    threads: usize,
    deadline: Option<Instant>,
    stop: Option<&StopFlag>,
) -> Result<Liveness<M>, String>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    explore_and_check(model, symmetry, threads, deadline, stop, None)
}

/// The 64-bit hash identifying a state ([`StateHasher`]).
pub(super) fn state_hash<S: Hash>(state: &S) -> u64 {
    let mut h = StateHasher::default();
    state.hash(&mut h);
    h.finish()
}

/// A fast deterministic 64-bit hasher (the design of `ahash`'s portable fallback, which
/// stateright's own fingerprints use, with fixed keys): every word is folded into the state
/// with a 64x64->128-bit multiply. std's SipHash took a fifth of the liveness check's time.
pub(super) struct StateHasher {
    buffer: u64,
}

impl Default for StateHasher {
    fn default() -> Self {
        StateHasher {
            buffer: 0x243f_6a88_85a3_08d3,
        }
    }
}

/// The high and low halves of `a * b`, xored.
pub(super) fn folded_multiply(a: u64, b: u64) -> u64 {
    let r = u128::from(a) * u128::from(b);
    (r as u64) ^ ((r >> 64) as u64)
}

impl StateHasher {
    const MULTIPLE: u64 = 6_364_136_223_846_793_005;
    const PAD: u64 = 0x1319_8a2e_0370_7344;

    fn update(&mut self, word: u64) {
        self.buffer = folded_multiply(word ^ self.buffer, Self::MULTIPLE);
    }
}

impl Hasher for StateHasher {
    fn finish(&self) -> u64 {
        let rot = (self.buffer & 63) as u32;
        folded_multiply(self.buffer, Self::PAD).rotate_left(rot)
    }
    fn write(&mut self, bytes: &[u8]) {
        self.update(bytes.len() as u64);
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.update(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.update(u64::from_le_bytes(word));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.update(u64::from(i));
    }
    fn write_u16(&mut self, i: u16) {
        self.update(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.update(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.update(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.update(i as u64);
        self.update((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.update(i as u64);
    }
}

/// A hasher for keys that are already hashes.
#[derive(Default)]
pub(super) struct Prehashed(u64);

impl Hasher for Prehashed {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// State hash to state index.
pub(super) type StateIndex = HashMap<u64, u32, BuildHasherDefault<Prehashed>>;

/// A set of state indices.
#[derive(Clone, Default)]
pub(super) struct Bits(Vec<u64>);

impl Bits {
    fn with_len(n: usize) -> Self {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn get(&self, i: usize) -> bool {
        self.0.get(i / 64).is_some_and(|w| w >> (i % 64) & 1 == 1)
    }
    fn set(&mut self, i: usize) {
        if i / 64 >= self.0.len() {
            self.0.resize(i / 64 + 1, 0);
        }
        self.0[i / 64] |= 1 << (i % 64);
    }
}

/// No parent: an initial state.
pub(super) const ROOT: u32 = u32::MAX;

/// The explored graph: per state its BFS parent, its successors, and which properties hold.
pub(super) struct StateGraph {
    /// BFS parent of each state ([`ROOT`] for an initial state): states are numbered in BFS
    /// order, so following parents gives a shortest path.
    parent: Vec<u32>,
    /// For each state not initial, the position in its parent's `actions` of the action
    /// that led to it (to replay a path).
    via: Vec<u32>,
    /// The successors of state `i` are `succ[first[i]..first[i + 1]]` (distinct, not `i`).
    first: Vec<u32>,
    succ: Vec<u32>,
    /// Per `eventually` property, the states satisfying its condition.
    sat: Vec<Bits>,
    /// For each initial state `i` (numbered first), its position in `init_states()`.
    roots: Vec<usize>,
}

impl StateGraph {
    fn successors(&self, i: usize) -> &[u32] {
        &self.succ[self.first[i] as usize..self.first[i + 1] as usize]
    }
}

/// A successor as a worker found it: already numbered, new as far as it knows (with the
/// position of the action that led to it), or new but already found by this worker (then
/// numbered with the first).
pub(super) enum Succ<S> {
    Known(u32),
    New(u64, S, u32),
    Again(u64),
}

/// What a worker found about one state: which properties hold in it, and its successors.
pub(super) type Expanded<S> = (u64, Vec<Succ<S>>);

/// Expands `states`: evaluates the properties and generates the successors within the
/// boundary, numbered when `index` knows them. With symmetry a state is known by its
/// representative's hash, but the state itself is kept and expanded, as stateright's DFS
/// does: a representative need not be reachable itself.
pub(super) fn expand<M>(
    model: &M,
    props: &[Property<M>],
    symmetry: Option<Representative<M>>,
    index: &StateIndex,
    states: &[M::State],
) -> Vec<Expanded<M::State>>
where
    M: Model,
    M::State: Hash,
{
    let mut actions = Vec::new();
    // The new states this worker found: a state found again is dropped at once.
    let mut found = std::collections::HashSet::<u64, BuildHasherDefault<Prehashed>>::default();
    states
        .iter()
        .map(|s| {
            let mut sat = 0u64;
            for (k, p) in props.iter().enumerate() {
                if (p.condition)(model, s) {
                    sat |= 1 << k;
                }
            }
            model.actions(s, &mut actions);
            let mut succ = Vec::with_capacity(actions.len());
            for (at, a) in actions.drain(..).enumerate() {
                let Some(next) = model.next_state(s, a) else {
                    continue;
                };
                if !model.within_boundary(&next) {
                    continue;
                }
                let h = match symmetry {
                    Some(rep) => state_hash(&rep(&next)),
                    None => state_hash(&next),
                };
                succ.push(match index.get(&h) {
                    Some(&j) => Succ::Known(j),
                    None if found.insert(h) => Succ::New(h, next, at as u32),
                    None => Succ::Again(h),
                });
            }
            (sat, succ)
        })
        .collect()
}

/// States numbered per batch, per thread: a batch is expanded in parallel, in pieces that
/// threads take as they become free, then numbered in order by the calling thread.
pub(super) const BATCH_PER_THREAD: usize = 256;
/// States per piece.
pub(super) const PIECE: usize = 32;

/// A piece of a batch: its position in the batch, and its states.
pub(super) type Piece<S> = (usize, Vec<S>);

/// Explores the graph of `model` breadth first, or Err(why) when stopped. The calling
/// thread and `threads - 1` workers (alive for the whole exploration) expand each batch;
/// the calling thread numbers its new states while the workers wait.
pub(super) fn explore<M>(
    model: &M,
    props: &[Property<M>],
    symmetry: Option<Representative<M>>,
    threads: usize,
    stopped: &dyn Fn() -> bool,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<StateGraph, String>
where
    M: Model + Sync,
    M::State: Hash + Send + Sync,
{
    use std::sync::{mpsc, Mutex, RwLock};
    let threads = threads.max(1);
    let mut graph = StateGraph {
        parent: Vec::new(),
        via: Vec::new(),
        first: vec![0],
        succ: Vec::new(),
        sat: vec![Bits::default(); props.len()],
        roots: Vec::new(),
    };
    // The BFS frontier: the states numbered but not yet expanded, in order; the first is
    // state `graph.first.len() - 1`.
    let mut queue = std::collections::VecDeque::new();
    // State hash to state number. Workers read it while they expand; the calling thread
    // writes it only once every piece of the batch is back.
    let mut index = StateIndex::default();
    for (i, s) in model.init_states().into_iter().enumerate() {
        if !model.within_boundary(&s) {
            continue;
        }
        let h = match symmetry {
            Some(rep) => state_hash(&rep(&s)),
            None => state_hash(&s),
        };
        if let Entry::Vacant(e) = index.entry(h) {
            e.insert(graph.parent.len() as u32);
            graph.parent.push(ROOT);
            graph.via.push(0);
            graph.roots.push(i);
            queue.push_back(s);
        }
    }
    let index = RwLock::new(index);
    let pieces: Mutex<Vec<Piece<M::State>>> = Mutex::new(Vec::new());
    let work = |(at, states): Piece<M::State>| {
        let index = index.read().expect("index lock");
        (at, expand(model, props, symmetry, &index, &states))
    };
    let take = || pieces.lock().expect("pieces lock").pop();
    std::thread::scope(|scope| {
        let (done_tx, done_rx) = mpsc::channel();
        let mut wake = Vec::new();
        for _ in 1..threads {
            let (wake_tx, wake_rx) = mpsc::channel::<()>();
            wake.push(wake_tx);
            let done_tx = done_tx.clone();
            let (work, take) = (&work, &take);
            scope.spawn(move || {
                while wake_rx.recv().is_ok() {
                    while let Some(piece) = take() {
                        let result =
                            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(piece)));
                        if done_tx.send(result).is_err() {
                            return;
                        }
                    }
                }
            });
        }
        let mut row = Vec::new();
        let mut last_tick = Instant::now();
        let mut expanded = Vec::new();
        while !queue.is_empty() {
            if stopped() {
                return Err(format!(
                    "the liveness check timed out after {} states",
                    graph.parent.len()
                ));
            }
            let batch = queue.len().min(BATCH_PER_THREAD * threads);
            let count = batch.div_ceil(PIECE);
            {
                let mut pieces = pieces.lock().expect("pieces lock");
                for at in 0..count {
                    let n = PIECE.min(queue.len());
                    pieces.push((at, queue.drain(..n).collect()));
                }
                // Taken from the end: the first pieces first.
                pieces.reverse();
            }
            for w in &wake {
                let _ = w.send(());
            }
            expanded.clear();
            expanded.resize_with(count, Vec::new);
            let mut received = 0;
            while let Some(piece) = take() {
                let (at, result) = work(piece);
                expanded[at] = result;
                received += 1;
            }
            while received < count {
                match done_rx.recv().expect("a liveness worker is alive") {
                    Ok((at, result)) => expanded[at] = result,
                    Err(panic) => std::panic::resume_unwind(panic),
                }
                received += 1;
            }
            let mut index = index.write().expect("index lock");
            for (sat, succs) in expanded.drain(..).flatten() {
                let i = (graph.first.len() - 1) as u32;
                for (k, bits) in graph.sat.iter_mut().enumerate() {
                    if sat >> k & 1 == 1 {
                        bits.set(i as usize);
                    }
                }
                row.clear();
                for s in succs {
                    let j = match s {
                        Succ::Known(j) => j,
                        Succ::Again(h) => index[&h],
                        Succ::New(h, state, at) => match index.entry(h) {
                            Entry::Occupied(e) => *e.get(),
                            Entry::Vacant(e) => {
                                let j = u32::try_from(graph.parent.len())
                                    .ok()
                                    .filter(|&j| j != ROOT)
                                    .ok_or("more than 4 billion states: too many for the liveness check")?;
                                e.insert(j);
                                graph.parent.push(i);
                                graph.via.push(at);
                                queue.push_back(state);
                                j
                            }
                        },
                    };
                    if j != i {
                        row.push(j);
                    }
                }
                row.sort_unstable();
                row.dedup();
                graph.succ.extend_from_slice(&row);
                let end = u32::try_from(graph.succ.len()).map_err(|_| {
                    "more than 4 billion transitions: too many for the liveness check"
                })?;
                graph.first.push(end);
            }
            drop(index);
            if let Some(bar) = bar {
                if last_tick.elapsed() >= Duration::from_millis(200) {
                    last_tick = Instant::now();
                    bar.set_message(format!(
                        "liveness: {} states, {} expanded, {} transitions",
                        graph.parent.len(),
                        graph.first.len() - 1,
                        graph.succ.len()
                    ));
                    bar.tick();
                }
            }
        }
        // Dropping `wake` lets the workers go.
        Ok(())
    })?;
    Ok(graph)
}

/// [`check_liveness`], with a progress bar to update.
pub(super) fn explore_and_check<M>(
    model: &M,
    symmetry: Option<Representative<M>>,
    threads: usize,
    deadline: Option<Instant>,
    stop: Option<&StopFlag>,
    bar: Option<&indicatif::ProgressBar>,
) -> Result<Liveness<M>, String>
where
    M: Model + Sync,
    M::State: Clone + Hash + PartialEq + Send + Sync,
    M::Action: Clone + PartialEq,
{
    let props: Vec<Property<M>> = model
        .properties()
        .into_iter()
        .filter(|p| p.expectation == Expectation::Eventually)
        .collect();
    if props.len() > 64 {
        return Err("more than 64 eventually properties".into());
    }
    // A set stop flag also makes the model's `within_boundary` refuse states, so a graph
    // explored while it was set is not the whole graph: checked after the exploration too.
    let stopped =
        || stop.is_some_and(StopFlag::is_set) || deadline.is_some_and(|d| Instant::now() >= d);
    let graph = explore(model, &props, symmetry, threads, &stopped, bar)?;
    if stop.is_some_and(StopFlag::is_set) {
        return Err(format!(
            "the liveness check was stopped after {} states",
            graph.parent.len()
        ));
    }
    let n = graph.parent.len();
    // The reversed edges, in the same compressed form.
    let mut rfirst = vec![0u32; n + 1];
    for &j in &graph.succ {
        rfirst[j as usize + 1] += 1;
    }
    for i in 0..n {
        rfirst[i + 1] += rfirst[i];
    }
    let mut rsucc = vec![0u32; graph.succ.len()];
    {
        let mut fill = rfirst.clone();
        for i in 0..n {
            for &j in graph.successors(i) {
                rsucc[fill[j as usize] as usize] = i as u32;
                fill[j as usize] += 1;
            }
        }
    }
    let init_states = model.init_states();
    let mut properties = Vec::with_capacity(props.len());
    for (k, p) in props.iter().enumerate() {
        // Backward from the states satisfying P: every state that can reach one.
        let mut can_reach = graph.sat[k].clone();
        can_reach.0.resize(n.div_ceil(64), 0);
        let mut stack: Vec<u32> = (0..n as u32)
            .filter(|&i| can_reach.get(i as usize))
            .collect();
        while let Some(j) = stack.pop() {
            for &i in &rsucc[rfirst[j as usize] as usize..rfirst[j as usize + 1] as usize] {
                if !can_reach.get(i as usize) {
                    can_reach.set(i as usize);
                    stack.push(i);
                }
            }
        }
        let mut stuck = (0..n).filter(|&i| !can_reach.get(i));
        let violation = stuck.next().map(|v| {
            let stuck_states = 1 + stuck.count();
            // Everything reachable from v (none of it satisfies P: v cannot reach P).
            let mut seen = Bits::with_len(n);
            seen.set(v);
            let mut stack = vec![v as u32];
            let mut reachable = 1;
            while let Some(i) = stack.pop() {
                for &j in graph.successors(i as usize) {
                    if !seen.get(j as usize) {
                        seen.set(j as usize);
                        reachable += 1;
                        stack.push(j);
                    }
                }
            }
            let (path, depth) = replay(model, &graph, &init_states, v as u32);
            LivenessViolation {
                path,
                depth,
                reachable,
                stuck_states,
            }
        });
        properties.push(LivenessVerdict {
            name: p.name,
            violation,
        });
    }
    Ok(Liveness {
        states: n,
        transitions: graph.succ.len(),
        properties,
    })
}

/// The BFS path to state `target`, rebuilt as a path of the model by replaying from its
/// initial state the action that led to each state of the path; also its length in steps.
pub(super) fn replay<M>(
    model: &M,
    graph: &StateGraph,
    init_states: &[M::State],
    target: u32,
) -> (Option<ModelPath<M>>, usize)
where
    M: Model,
    M::State: Clone + PartialEq,
    M::Action: Clone + PartialEq,
{
    let mut chain = vec![target];
    while let Some(&i) = chain.last() {
        match graph.parent[i as usize] {
            ROOT => break,
            p => chain.push(p),
        }
    }
    chain.reverse();
    let depth = chain.len() - 1;
    let init = init_states[graph.roots[chain[0] as usize]].clone();
    let mut state = init.clone();
    let mut path_actions = Vec::with_capacity(depth);
    let mut actions = Vec::new();
    for &i in &chain[1..] {
        model.actions(&state, &mut actions);
        let Some(a) = actions.drain(..).nth(graph.via[i as usize] as usize) else {
            return (None, depth);
        };
        let Some(next) = model.next_state(&state, a.clone()) else {
            return (None, depth);
        };
        path_actions.push(a);
        state = next;
    }
    (Path::from_actions(model, init, &path_actions), depth)
}
