use super::*;
use serde::Deserialize;
use stateright::actor::Id;
use std::borrow::Cow;

/// A small actor that is not a priest: the trace is generic over any actor.
#[derive(Clone)]
struct Tally;

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Count(u64);

#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
enum Tick {
    Again,
}

/// A ledger written whole at every save.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
struct Total(u64);

impl Durable for Total {
    type Delta = ();
}

impl Actor for Tally {
    type Msg = Count;
    type State = u64;
    type Timer = Tick;
    type Random = u8;
    type Storage = Total;

    fn on_start(&self, _: Id, storage: &Option<Total>, o: &mut Out<Self>) -> u64 {
        o.set_timer(
            Tick::Again,
            Duration::from_millis(1)..Duration::from_millis(2),
        );
        storage.as_ref().map_or(0, |t| t.0)
    }

    fn on_msg(&self, _: Id, state: &mut Cow<u64>, src: Id, msg: Count, o: &mut Out<Self>) {
        *state.to_mut() += msg.0;
        o.save(Total(**state));
        o.send(src, Count(**state));
        o.choose_random("coin", vec![0, 1]);
    }
}

type Rec = RecordOf<Tally>;

/// A trace of two handlers, a sync and a send, written by a [`Recorder`].
fn recorded(dir: &Path) -> Vec<Rec> {
    let mut r = Recorder::<Tally>::open(dir, 4, "bootstrap", "the configuration").unwrap();
    let mut out = Out::new();
    let mut state = Tally.on_start(Id::from(4), &None, &mut out);
    r.start(&None);
    r.begin(Input::Start);
    assert_eq!(r.end(&out, &[]), 0);
    let mut cow = Cow::Owned(state);
    let mut out = Out::new();
    r.begin(Input::Msg(7, &Count(5)));
    Tally.on_msg(Id::from(4), &mut cow, Id::from(7), Count(5), &mut out);
    assert_eq!(r.end(&out, &[123]), 1);
    r.synced(1);
    r.sent(&[(1, 1)]);
    state = cow.into_owned();
    assert_eq!(state, 5);
    r.flush();
    vec![
        Record::Start(StartRecord {
            priest: 4,
            mode: "bootstrap".into(),
            config: "the configuration".into(),
            ledger: None,
            cut: None,
        }),
        Record::Step(StepRecord {
            seq: 0,
            input: Input::Start,
            output: vec![Cmd::SetTimer(
                Tick::Again,
                Duration::from_millis(1)..Duration::from_millis(2),
            )],
            clock: vec![],
        }),
        Record::Step(StepRecord {
            seq: 1,
            input: Input::Msg(7, Count(5)),
            output: vec![
                Cmd::Save(Saved::Whole(Total(5))),
                Cmd::Send(7, Count(5)),
                Cmd::ChooseRandom("coin".into(), vec![0, 1]),
            ],
            clock: vec![123],
        }),
        Record::Synced(1),
        Record::Sent(vec![(1, 1)]),
    ]
}

fn records(path: &Path) -> Read<Count, Tick, u8, Total, ()> {
    super::read(path).unwrap()
}

#[test]
fn a_recorded_trace_reads_back_record_for_record() {
    let dir = tempfile::tempdir().unwrap();
    let expected = recorded(dir.path());
    let read = records(&file_of(dir.path(), 4));
    assert_eq!(read.torn, None);
    let got: Vec<Rec> = read.records.into_iter().map(|(_, r)| r).collect();
    assert_eq!(got, expected);
    // The writer of whole files writes the same bytes as the recorder.
    let copy = dir.path().join("copy.trace");
    write_file(&copy, &expected).unwrap();
    assert_eq!(
        std::fs::read(&copy).unwrap(),
        std::fs::read(file_of(dir.path(), 4)).unwrap()
    );
}

#[test]
fn a_torn_last_record_ends_the_trace_and_the_next_start_cuts_it_off() {
    let dir = tempfile::tempdir().unwrap();
    let expected = recorded(dir.path());
    let path = file_of(dir.path(), 4);
    let bytes = std::fs::read(&path).unwrap();
    let full = bytes.len();
    // Killed in the middle of writing the last record (Sent).
    std::fs::write(&path, &bytes[..full - 3]).unwrap();
    let read = records(&path);
    let torn_at = read.torn.expect("a torn tail").0;
    assert_eq!(read.records.len(), expected.len() - 1);
    assert!(read.torn.unwrap().1 > 0);
    // The next incarnation cuts it off and says so.
    let mut r = Recorder::<Tally>::open(dir.path(), 4, "restart", "the configuration").unwrap();
    r.start(&Some(Total(5)));
    r.flush();
    drop(r);
    let read = records(&path);
    assert_eq!(read.torn, None);
    assert_eq!(read.records.len(), expected.len());
    match &read.records.last().unwrap().1 {
        Record::Start(s) => {
            assert_eq!(s.cut, Some((torn_at, (full - 3) as u64 - torn_at)));
            assert_eq!(s.ledger, Some(Total(5)));
        }
        r => panic!("expected a Start, got {r:?}"),
    }
}

#[test]
fn a_damaged_record_in_the_middle_is_refused_with_its_offset() {
    let dir = tempfile::tempdir().unwrap();
    recorded(dir.path());
    let path = file_of(dir.path(), 4);
    let read = records(&path);
    let at = read.records[2].0 as usize;
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[at + RECORD_HEADER + 2] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let e = super::read::<Count, Tick, u8, Total, ()>(&path)
        .err()
        .expect("refused");
    let text = e.to_string();
    assert!(
        text.contains(&format!("corrupt at offset {at}")) && text.contains("checksum"),
        "{text}"
    );
    // Not a trace file at all.
    std::fs::write(&path, b"hello, world").unwrap();
    let e = super::read::<Count, Tick, u8, Total, ()>(&path)
        .err()
        .expect("refused");
    assert!(e.to_string().contains("not a trace file"), "{e}");
}
