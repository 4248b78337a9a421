use super::*;

/// A graph as a model: states are vertices, from 0; an action is the target of an edge;
/// `eventually` "goal": the state is one of `goal`.
#[derive(Clone)]
struct Graph {
    edges: Vec<Vec<usize>>,
    goal: Vec<usize>,
}

impl Model for Graph {
    type State = usize;
    type Action = usize;
    fn init_states(&self) -> Vec<usize> {
        vec![0]
    }
    fn actions(&self, s: &usize, actions: &mut Vec<usize>) {
        actions.extend(&self.edges[*s]);
    }
    fn next_state(&self, _: &usize, a: usize) -> Option<usize> {
        Some(a)
    }
    fn properties(&self) -> Vec<Property<Self>> {
        vec![Property::eventually("goal", |m, s| m.goal.contains(s))]
    }
}

fn graph(edges: &[&[usize]], goal: &[usize]) -> Graph {
    Graph {
        edges: edges.iter().map(|e| e.to_vec()).collect(),
        goal: goal.to_vec(),
    }
}

fn verdict(g: &Graph) -> Liveness<Graph> {
    check_liveness(g, None, 1, None, None).expect("not stopped")
}

/// What stateright's own checker says of "goal".
fn stateright_finds_a_violation(g: Graph) -> bool {
    g.checker().spawn_bfs().join().discovery("goal").is_some()
}

#[test]
fn a_cycle_that_can_always_leave_for_the_goal_is_live() {
    // 0 <-> 1 -> 2: a run may loop 0, 1, 0, 1 ... but not fairly.
    let g = graph(&[&[1], &[0, 2], &[]], &[2]);
    let l = verdict(&g);
    assert_eq!((l.states, l.transitions), (3, 3));
    assert!(l.properties[0].violation.is_none());
}

#[test]
fn a_trap_is_found_where_stateright_sees_no_terminal_state() {
    // 0 -> 1 -> 2 (goal), 1 -> 3 <-> 4: once in 3, the goal is out of reach.
    let g = graph(&[&[1], &[2, 3], &[], &[4], &[3]], &[2]);
    let l = verdict(&g);
    let v = l.properties[0].violation.as_ref().expect("a violation");
    assert_eq!((v.depth, v.reachable, v.stuck_states), (2, 2, 2));
    let path = v.path.clone().expect("replayed");
    assert_eq!(path.into_states(), vec![0, 1, 3]);
    // stateright evaluates `eventually` only at terminal states: 2 is the only one.
    assert!(!stateright_finds_a_violation(g));
}

#[test]
fn a_violation_behind_a_join_is_found() {
    // 0 -> 1 (goal) -> 3, 0 -> 2 -> 3 (terminal): the run 0, 2, 3 never reaches the goal.
    // (stateright, which keeps no "goal seen" bit in its fingerprints, misses it when it
    // reaches 3 through 1 first.)
    let g = graph(&[&[1, 2], &[3], &[3], &[]], &[1]);
    let l = verdict(&g);
    let v = l.properties[0].violation.as_ref().expect("a violation");
    // The nearest state that cannot reach the goal: 2, one step from 0.
    assert_eq!(v.path.clone().expect("replayed").into_states(), vec![0, 2]);
    assert_eq!((v.reachable, v.stuck_states), (2, 2));
}

#[test]
fn a_goal_state_itself_satisfies_the_property() {
    let g = graph(&[&[0]], &[0]);
    assert!(verdict(&g).properties[0].violation.is_none());
}

#[test]
fn with_symmetry_a_state_is_known_by_its_representative() {
    // 2 and 3 are alike, and so are 6 and 7: 0 -> 1 (goal), 0 -> 2 -> 6, 0 -> 3 -> 7,
    // and 6 and 7 loop.
    let g = graph(&[&[1, 2, 3], &[], &[6], &[7], &[], &[], &[6], &[7]], &[1]);
    let pairs: Representative<Graph> = |s| if *s >= 2 { s / 2 * 2 } else { *s };
    let l = check_liveness(&g, Some(pairs), 1, None, None).expect("not stopped");
    assert_eq!((l.states, l.transitions), (4, 3));
    let v = l.properties[0].violation.as_ref().expect("a violation");
    assert_eq!(v.path.clone().expect("replayed").into_states(), vec![0, 2]);
    assert_eq!((v.reachable, v.stuck_states), (2, 2));
}

#[test]
fn a_passed_deadline_stops_the_check() {
    let g = graph(&[&[1], &[0]], &[1]);
    let e = check_liveness(&g, None, 1, Some(Instant::now()), None)
        .err()
        .expect("stopped");
    assert!(e.contains("timed out"), "{e}");
    let stop = StopFlag::default();
    stop.set();
    assert!(check_liveness(&g, None, 1, None, Some(&stop)).is_err());
}

#[test]
fn states_are_expanded_by_several_threads_alike() {
    // A ring of 1,200 states with steps of 1 and 3 (enough states for several batches),
    // and from state 700 a trap: state 1,200, which loops on itself.
    let n = 1200;
    let mut edges: Vec<Vec<usize>> = (0..n).map(|i| vec![(i + 1) % n, (i + 3) % n]).collect();
    edges[700].push(n);
    edges.push(vec![n]);
    let edges: Vec<&[usize]> = edges.iter().map(|e| e.as_slice()).collect();
    let g = graph(&edges, &[n - 1]);
    let one = check_liveness(&g, None, 1, None, None).expect("not stopped");
    let four = check_liveness(&g, None, 4, None, None).expect("not stopped");
    for l in [&one, &four] {
        assert_eq!((l.states, l.transitions), (n + 1, 2 * n + 1));
        let v = l.properties[0].violation.as_ref().expect("the trap");
        assert_eq!((v.reachable, v.stuck_states), (1, 1));
        let states = v.path.clone().expect("replayed").into_states();
        assert_eq!(states.last(), Some(&n));
        assert_eq!(states.len(), 236);
    }
}

#[test]
fn not_checked_serializes_as_null() {
    let p = PropertyReport {
        name: "p",
        expectation: "eventually",
        holds: false,
        counterexample: None,
        final_state: None,
        path_length: None,
        not_checked: Some("why".into()),
        found_by: None,
    };
    let j = serde_json::to_value(&p).unwrap();
    assert!(j["holds"].is_null());
    assert_eq!(j["not_checked"], "why");
    let j = serde_json::to_value(PropertyReport {
        holds: true,
        not_checked: None,
        ..p
    })
    .unwrap();
    assert_eq!(j["holds"], true);
    assert!(j.get("not_checked").is_none() && j.get("path_length").is_none());
}

impl Narrate for Graph {
    fn narrate(&self, path: &Path<usize, usize>) -> Vec<String> {
        path.clone()
            .into_actions()
            .iter()
            .map(|a| format!("to {a}"))
            .collect()
    }
}

fn simulate(g: Graph, walks: usize, depth: usize) -> Report {
    let opts = CheckOptions {
        simulate: Some(Walks {
            seed: 1,
            walks,
            depth,
        }),
        ..CheckOptions::default()
    };
    run(g, "graph", serde_json::Value::Null, &opts, None)
}

#[test]
fn a_walk_into_a_dead_end_without_the_goal_is_a_liveness_counterexample() {
    // 0 -> 1 -> 2 (goal); 0 -> 3 -> 4 (a dead end); 1 <-> 5 (a detour).
    let g = graph(&[&[1, 3], &[2, 5], &[], &[4], &[], &[1]], &[2]);
    let r = simulate(g, 50, 20);
    assert_eq!(r.exit_status(), 1);
    let p = r.property("goal");
    assert!(p.fails());
    assert_eq!(
        p.counterexample.as_deref().unwrap(),
        [
            "to 3",
            "to 4",
            "this state has no successor, and goal does not hold in it"
        ]
    );
    assert!(r.to_text().contains("VIOLATION of goal (walk"));
}

#[test]
fn walks_cut_at_their_depth_leave_liveness_unchecked() {
    // A trap (3 <-> 4) that only the whole graph shows: no dead end.
    let g = graph(&[&[1], &[2, 3], &[], &[4], &[3]], &[2]);
    let r = simulate(g, 50, 10);
    assert_eq!(r.exit_status(), 3);
    let p = r.property("goal");
    assert!(!p.fails() && !p.holds);
    assert!(p
        .not_checked
        .as_deref()
        .unwrap()
        .contains("not checked by simulation"));
    // Walks end at their depth, or at 2 (a dead end where the goal holds).
    let sim = r.simulation.as_ref().unwrap();
    assert!(sim.runs[0].dead_ends > 0 && sim.runs[0].dead_ends < 50);
    assert!(r
        .to_text()
        .contains("simulated: 50 walks to depth 10, seed 1, no violation"));
}

#[test]
fn a_counterexample_walk_is_shortened_by_replay() {
    // 0 -> 1 -> ... -> 8 -> 9 (bad), with a loop 8 -> 1 that a walk may take again and again.
    #[derive(Clone)]
    struct Detour;
    impl Model for Detour {
        type State = usize;
        type Action = usize;
        fn init_states(&self) -> Vec<usize> {
            vec![0]
        }
        fn actions(&self, s: &usize, actions: &mut Vec<usize>) {
            match *s {
                0..=7 => actions.push(s + 1),
                8 => actions.extend([1, 9]),
                _ => {}
            }
        }
        fn next_state(&self, _: &usize, a: usize) -> Option<usize> {
            Some(a)
        }
        fn properties(&self) -> Vec<Property<Self>> {
            vec![Property::always("not-9", |_, s| *s != 9)]
        }
    }
    impl Narrate for Detour {
        fn narrate(&self, path: &Path<usize, usize>) -> Vec<String> {
            path.clone()
                .into_actions()
                .iter()
                .map(|a| format!("to {a}"))
                .collect()
        }
    }
    // The first seed whose first walk went round the loop before it reached 9 ...
    let (r, found) = (0..20)
        .map(|seed| {
            let opts = CheckOptions {
                simulate: Some(Walks {
                    seed,
                    walks: 1,
                    depth: 100,
                }),
                ..CheckOptions::default()
            };
            let r = run(Detour, "detour", serde_json::Value::Null, &opts, None);
            let found = r.property("not-9").found_by.expect("9 is always reached");
            (r, found)
        })
        .find(|(_, found)| found.step > 9)
        .expect("a walk that wandered");
    assert_eq!((found.walk, found.step % 8), (1, 1));
    // ... is told as the way straight there.
    let p = r.property("not-9");
    let straight: Vec<String> = (1..=9).map(|i| format!("to {i}")).collect();
    assert_eq!(p.counterexample.as_deref().unwrap(), straight);
    assert_eq!(p.path_length, Some(9));
}

/// The report as JSON with its timings fixed (serde_json reads some floats back a bit off).
fn json_of(mut r: Report) -> String {
    r.seconds = 1.5;
    r.states_per_second = 2.5;
    r.liveness_seconds = r.liveness_seconds.map(|_| 0.5);
    if let Some(sim) = &mut r.simulation {
        for run in &mut sim.runs {
            run.seconds = 1.5;
        }
    }
    serde_json::to_string(&r).unwrap()
}

#[test]
fn a_report_reads_back_from_its_json() {
    let g = graph(&[&[1, 3], &[2, 5], &[], &[4], &[], &[1]], &[2]);
    let json = json_of(simulate(g, 50, 20));
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.search, Search::Simulated);
    assert!(back.property("goal").found_by.is_some());
    // An exhaustive report too.
    let g = graph(&[&[1], &[2, 3], &[], &[4], &[3]], &[2]);
    let json = json_of(run(
        g,
        "graph",
        serde_json::Value::Null,
        &CheckOptions::default(),
        None,
    ));
    let back: Report = serde_json::from_str(&json).unwrap();
    assert_eq!(serde_json::to_string(&back).unwrap(), json);
    assert_eq!(back.search, Search::Complete);
}
