use super::*;
use crate::host::config::{ConfigFile, PriestFile, Protocol};
use crate::host::trace::{Recorder, Trace};
use crate::kv::{Command as KvCommand, Op};
use crate::parliament::{Ledger, Msg, Timer};

type Rec = trace::RecordOf<ParliamentPriest>;

fn config_text() -> String {
    let mut f = ConfigFile::new("ledger", "cluster.key", Protocol::Parliament);
    // The president votes as it begins each ballot, so its step saves before it sends.
    f.timers.vote_ms = 0;
    for i in 0..3 {
        f.priest.push(
            PriestFile::new(i, format!("127.0.0.1:{}", 7000 + i).parse().unwrap())
                .client_address(format!("127.0.0.1:{}", 6380 + i).parse().unwrap()),
        );
    }
    f.to_toml()
}

fn request(n: u64) -> (u64, Msg) {
    let client = CLIENT_BIT | 1;
    let msg = Msg::Request {
        client: Id::from(client as usize),
        seq: n,
        op: Op::Put {
            key: "k".into(),
            value: format!("v{n}").into(),
        },
    };
    (client, msg)
}

/// Priest 0 of a three-priest Parliament, as the host records it: it starts (the genesis
/// president), then a client's write comes and it begins a ballot, syncs, and sends.
fn honest(dir: &Path) -> Vec<Rec> {
    let text = config_text();
    let cfg = Config::parse_unkeyed(&text, Path::new("test")).unwrap();
    let actor = super::super::parliament::priest(&cfg, 0);
    let mut r = Recorder::<ParliamentPriest>::open(dir, 0, "bootstrap", &text).unwrap();
    crate::clock::recording();
    r.start(&None);
    r.begin(Input::Start);
    let mut out = Out::new();
    let state = actor.on_start(Id::from(0), &None, &mut out);
    r.end(&out, &crate::clock::take_recorded());
    // The genesis president's ledger.
    assert!(out.iter().any(|c| matches!(c, Command::Save(_))));
    r.synced(0);
    let mut cow = Cow::Owned(state);
    for n in 1..=2 {
        let (client, msg) = request(n);
        r.begin(Input::Msg(client, &msg));
        let mut out = Out::new();
        actor.on_msg(
            Id::from(0),
            &mut cow,
            Id::from(client as usize),
            msg,
            &mut out,
        );
        let step = r.end(&out, &crate::clock::take_recorded());
        let sends: Vec<(u64, u32)> = out
            .iter()
            .enumerate()
            .filter(|(_, c)| matches!(c, Command::Send(..)))
            .map(|(i, _)| (step, i as u32))
            .collect();
        if out.iter().any(|c| matches!(c, Command::Save(_))) {
            r.synced(step);
        }
        r.sent(&sends);
    }
    crate::clock::wall();
    r.flush();
    drop(r);
    let read = trace::read(&trace::file_of(dir, 0)).unwrap();
    read.records.into_iter().map(|(_, r)| r).collect()
}

fn write(dir: &Path, records: &[Rec]) {
    trace::write_file(&trace::file_of(dir, 0), records).unwrap();
}

#[test]
fn an_honest_trace_replays_and_passes() {
    let dir = tempfile::tempdir().unwrap();
    let records = honest(dir.path());
    assert!(records.len() >= 5, "{} records", records.len());
    let run = replay_parliament(dir.path(), Options { keep_states: true }).unwrap();
    let r = &run.report;
    assert!(r.passed(), "{:?}", r.errors);
    assert_eq!((r.priests, r.incarnations, r.steps), (1, 1, 3));
    assert_eq!(r.from_clients, 2);
    assert!(r.sent_checked >= 2, "{r}");
    assert_eq!(run.order.len(), 3);
    let last = *run.order.last().unwrap();
    let before = run.before(last).expect("kept");
    let after = run.step(last).after.as_ref().expect("kept");
    assert!(after.ledger.votes.len() + after.queue.len() > before.ledger.votes.len());
}

#[test]
fn a_recorded_send_edited_is_a_replay_mismatch_naming_the_step() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    let mut edited = false;
    for r in &mut records {
        if let Record::Step(s) = r {
            if s.seq == 1 {
                for c in &mut s.output {
                    if let Cmd::Send(dst, Msg::BeginBallot { number, .. }) = c {
                        if !edited {
                            *dst = 2 - *dst + 1; // the other quorum member
                            *number += 1;
                            edited = true;
                        }
                    }
                }
            }
        }
    }
    assert!(edited, "a BeginBallot to edit");
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    assert!(!report.passed());
    let e = &report.errors[0];
    assert!(
        e.contains("priest 0, incarnation 0, step 1")
            && e.contains("replay differs")
            && e.contains("BeginBallot")
            && e.contains("command"),
        "{e}"
    );
}

#[test]
fn a_send_before_the_sync_of_its_save_breaks_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    // The president's vote in step 1 never synced, yet step 1's messages left.
    let k = records
        .iter()
        .position(|r| matches!(r, Record::Synced(1)))
        .expect("step 1 saved and synced");
    records.remove(k);
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("step 1: its message")
                && e.contains("save of step 1")
                && e.contains("broke its contract")),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_restart_must_begin_from_a_ledger_saved_at_or_after_the_last_sync() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    let saved: Vec<Ledger> = {
        write(dir.path(), &records);
        let run = replay_parliament(dir.path(), Options::default()).unwrap();
        run.priests[0].incarnations[0]
            .steps
            .iter()
            .flat_map(|s| &s.output)
            .filter_map(|c| match c {
                Command::Save(l) => Some(l.clone()),
                _ => None,
            })
            .collect()
    };
    let restart = |ledger: Option<Ledger>| {
        Record::Start(StartRecord {
            priest: 0,
            mode: "restart".into(),
            config: config_text(),
            ledger,
            cut: None,
        })
    };
    // From the last ledger saved (and synced): passes (the restart's own steps are not
    // recorded: it was killed at once).
    records.push(restart(saved.last().cloned()));
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    assert!(report.passed(), "{:?}", report.errors);
    assert_eq!(report.restarts_checked, 1);
    // From a ledger it never saved, or none: durable state lost.
    let mut never = saved.last().cloned().unwrap();
    never.last_tried = None;
    never.next_bal = None;
    for old in [Some(never), None] {
        *records.last_mut().unwrap() = restart(old);
        write(dir.path(), &records);
        let report = check(dir.path()).unwrap();
        assert!(
            report
                .errors
                .iter()
                .any(|e| e.contains("durable state lost")),
            "{:?}",
            report.errors
        );
    }
}

#[test]
fn a_message_no_priest_sent_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    // Priest 1 (whose trace is not here) "sent" a Voted.
    let text = config_text();
    let cfg = Config::parse_unkeyed(&text, Path::new("test")).unwrap();
    let actor = super::super::parliament::priest(&cfg, 0);
    let _ = actor;
    let step = records
        .iter()
        .filter(|r| matches!(r, Record::Step(_)))
        .count() as u64;
    records.push(Record::Step(trace::StepRecord {
        seq: step,
        input: Input::Timeout(Timer::Heartbeat),
        output: vec![],
        clock: vec![],
    }));
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    // A heartbeat's output is not empty: the replay notices the edit.
    assert!(!report.passed());
    // A receipt from priest 1 of a message it never sent (a vote for a number nobody
    // began, on which the president does nothing, so the replay agrees with the record).
    let mut records = honest(dir.path());
    let voted = Msg::Voted {
        ballot: crate::parliament::GENESIS,
        number: 7,
        inc: 0,
    };
    records.push(Record::Step(trace::StepRecord {
        seq: step,
        input: Input::Msg(1, voted),
        output: vec![],
        clock: vec![],
    }));
    write(dir.path(), &records);
    let run = replay_parliament(dir.path(), Options::default()).unwrap();
    let report = run.report;
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("from priest 1, which never sent it")),
        "{:?}",
        report.errors
    );
}

#[test]
fn a_missing_directory_or_one_without_traces_is_unreadable() {
    let dir = tempfile::tempdir().unwrap();
    let e = check(&dir.path().join("nope")).expect_err("refused");
    assert!(e.to_string().contains("cannot read trace directory"), "{e}");
    let e = check(dir.path()).expect_err("refused");
    assert!(e.to_string().contains("no trace files"), "{e}");
    let _ = KvCommand::size;
}

#[test]
fn a_recorded_save_edited_is_a_replay_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    let mut edited = false;
    for r in &mut records {
        if let Record::Step(s) = r {
            for c in &mut s.output {
                if let Cmd::Save(Saved::Whole(l)) = c {
                    l.last_tried = None;
                    edited = true;
                }
            }
        }
    }
    assert!(edited, "a whole ledger saved (the genesis president's)");
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    assert!(
        report.errors.iter().any(|e| e.contains("step 0")
            && e.contains("replay differs")
            && e.contains("a save of another ledger")),
        "{:?}",
        report.errors
    );
}

#[test]
fn the_presidents_clock_is_replayed_and_an_edited_reading_is_a_mismatch() {
    let dir = tempfile::tempdir().unwrap();
    let mut records = honest(dir.path());
    let run = replay_parliament(dir.path(), Options::default()).unwrap();
    assert!(run.report.passed(), "{:?}", run.report.errors);
    // The deployed president stamps the decree it begins with its wall clock.
    let read: Vec<u64> = run.priests[0].incarnations[0]
        .steps
        .iter()
        .flat_map(|s| s.clock.iter().copied())
        .collect();
    assert!(!read.is_empty(), "no clock read recorded");
    // Another reading: the stamp on the decree differs, in the president's vote (saved
    // first) and its BeginBallots.
    for r in &mut records {
        if let Record::Step(s) = r {
            for t in &mut s.clock {
                *t += 1_000;
            }
        }
    }
    write(dir.path(), &records);
    let report = check(dir.path()).unwrap();
    assert!(
        report
            .errors
            .iter()
            .any(|e| e.contains("replay differs") && e.contains("a save of another ledger")),
        "{:?}",
        report.errors
    );
}
