use super::*;
use serde::Deserialize;

/// A ledger of numbered entries that saves only the entries added (like the Parliament's
/// decrees), with `im` so that clones are cheap.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct Entries(im::Vector<u64>);

impl Durable for Entries {
    type Delta = (usize, Vec<u64>);
    fn delta(&self, prev: &Self) -> Option<Self::Delta> {
        (self.0.len() >= prev.0.len() && self.0.take(prev.0.len()) == prev.0).then(|| {
            (
                prev.0.len(),
                self.0.skip(prev.0.len()).into_iter().collect(),
            )
        })
    }
    fn apply(&mut self, (from, added): Self::Delta) {
        assert_eq!(self.0.len(), from);
        self.0.extend(added);
    }
}

/// A ledger always written whole (the trait's default).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Whole(u32, String);
impl Durable for Whole {
    type Delta = ();
}

fn small() -> JournalOptions {
    JournalOptions {
        compact_min_bytes: 256,
        compact_ratio: 2,
        preallocate: 0,
    }
}

#[test]
fn preallocated_segments_keep_records_and_cut_a_torn_one_among_the_zeros() {
    let options = JournalOptions {
        preallocate: 4096,
        ..small()
    };
    let dir = tempfile::tempdir().unwrap();
    let mut e = Entries::default();
    {
        let (mut l, _, _) = Journal::<Entries>::open(dir.path(), options).unwrap();
        for i in 0..300 {
            e.0.push_back(i);
            l.save(&e).unwrap();
        }
        l.finish_compaction().unwrap();
    }
    // Every segment is allocated ahead: its length is past its last record, in zeros.
    let recs = scan(dir.path()).unwrap();
    let last = recs.last().unwrap().clone();
    let bytes = fs::read(&last.path).unwrap();
    let end = (last.offset + last.len) as usize;
    assert!(bytes.len() > end && bytes[end..].iter().all(|&b| b == 0));
    let (_, s, rec) = Journal::<Entries>::open(dir.path(), options).unwrap();
    assert_eq!(s, Some(e.clone()));
    assert_eq!(
        rec.torn, None,
        "zeros allocated ahead are not a torn record"
    );

    // A record torn inside the allocated space (its end never written) is cut off.
    let mut torn = bytes.clone();
    for b in &mut torn[end - 3..end] {
        *b = 0;
    }
    fs::write(&last.path, &torn).unwrap();
    let (mut l, s, rec) = Journal::<Entries>::open(dir.path(), options).unwrap();
    let mut before = e.clone();
    before.0.pop_back();
    assert_eq!(s, Some(before.clone()));
    assert_eq!(rec.torn.map(|t| t.1), Some(last.offset));
    // Saves after the cut land where the torn record was, and are read back.
    before.0.push_back(1000);
    l.save(&before).unwrap();
    // A save may start a compaction in the background; once it is done, one more save
    // makes sure the first record is not the last one (damage to the last record is a
    // torn write, cut off, not corruption).
    l.finish_compaction().unwrap();
    before.0.push_back(1001);
    l.save(&before).unwrap();
    drop(l);
    assert_eq!(read::<Entries>(dir.path()).unwrap().0, Some(before));

    // Damage before the last record is still refused.
    let recs = scan(dir.path()).unwrap();
    assert!(recs.len() >= 2, "{recs:?}");
    let first = &recs[0];
    let mut bad = fs::read(&first.path).unwrap();
    bad[first.offset as usize + RECORD_HEADER] ^= 0x10;
    fs::write(&first.path, &bad).unwrap();
    assert!(matches!(
        read::<Entries>(dir.path()).err(),
        Some(JournalError::Corrupt { .. })
    ));
}

#[test]
fn saves_survive_reopening_with_deltas_and_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Entries::default();
    {
        let (mut l, s, rec) = Journal::<Entries>::open(dir.path(), small()).unwrap();
        assert_eq!(s, None);
        assert_eq!(rec.records, 0);
        for i in 0..500 {
            e.0.push_back(i);
            let bytes = l.save(&e).unwrap();
            assert!(bytes < 32, "save {i} wrote {bytes} bytes: not a delta");
        }
        l.finish_compaction().unwrap();
    }
    let (s, rec) = read::<Entries>(dir.path()).unwrap();
    assert_eq!(s.as_ref(), Some(&e));
    assert!(rec.snapshot.is_some(), "the ledger was compacted");
    let l = list(dir.path()).unwrap();
    assert_eq!(l.snaps.len(), 1, "old snapshots are deleted");
    assert!(
        l.logs.iter().all(|&n| n >= l.snaps[0]),
        "old segments are deleted"
    );
    let (mut led, s, _) = Journal::<Entries>::open(dir.path(), small()).unwrap();
    assert_eq!(s.as_ref(), Some(&e));
    e.0.push_back(1000);
    led.save(&e).unwrap();
    drop(led);
    assert_eq!(read::<Entries>(dir.path()).unwrap().0, Some(e));
}

#[test]
fn an_ordmap_saves_only_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let (mut l, _, _) = Journal::<im::OrdMap<u64, String>>::open(dir.path(), small()).unwrap();
    let mut m: im::OrdMap<u64, String> = (0..10_000u64).map(|i| (i, format!("v{i}"))).collect();
    let whole = l.save(&m).unwrap();
    assert!(whole > 50_000, "{whole}");
    m.insert(5, "changed".into());
    m.insert(20_000, "added".into());
    m.remove(&7);
    let bytes = l.save(&m).unwrap();
    assert!(bytes < 64, "a delta of three changes took {bytes} bytes");
    drop(l);
    let (back, _) = read::<im::OrdMap<u64, String>>(dir.path()).unwrap();
    assert_eq!(back, Some(m.clone()));
    let mut d = im::OrdMap::new();
    d.insert(1u64, 2u64);
    assert_eq!(d.delta(&im::OrdMap::new()), Some(vec![(1, Some(2))]));
    assert_eq!(
        im::OrdMap::<u64, u64>::new().delta(&d),
        None,
        "all changed: whole"
    );
}

#[test]
fn whole_ledgers_and_unchanged_saves() {
    let dir = tempfile::tempdir().unwrap();
    let (mut l, _, _) = Journal::<Whole>::open(dir.path(), small()).unwrap();
    assert!(l.save(&Whole(1, "a".into())).unwrap() > 0);
    assert_eq!(l.save(&Whole(1, "a".into())).unwrap(), 0, "nothing changed");
    l.save(&Whole(2, "b".into())).unwrap();
    drop(l);
    let (s, rec) = read::<Whole>(dir.path()).unwrap();
    assert_eq!(s, Some(Whole(2, "b".into())));
    assert_eq!(rec.records, 2);
}

#[test]
fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _l = Journal::<Whole>::open(dir.path(), small()).unwrap();
    let err = Journal::<Whole>::open(dir.path(), small()).err().unwrap();
    assert!(matches!(err, JournalError::Locked { .. }), "{err}");
}

fn three_saves(dir: &Path) -> Vec<RecordInfo> {
    let (mut l, _, _) = Journal::<Whole>::open(dir, small()).unwrap();
    for i in 1..=3 {
        l.save(&Whole(i, format!("decree {i}"))).unwrap();
    }
    drop(l);
    scan(dir).unwrap()
}

#[test]
fn a_torn_last_record_is_cut_off() {
    for cut in [1, 5, 9] {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let last = recs.last().unwrap();
        let f = OpenOptions::new().write(true).open(&last.path).unwrap();
        f.set_len(last.offset + last.len - cut).unwrap();
        drop(f);
        let (mut l, s, rec) = Journal::<Whole>::open(dir.path(), small()).unwrap();
        assert_eq!(s, Some(Whole(2, "decree 2".into())), "cut {cut}");
        assert_eq!(
            rec.torn,
            Some((last.path.clone(), last.offset, last.len - cut))
        );
        l.save(&Whole(4, "decree 4".into())).unwrap();
        drop(l);
        assert_eq!(
            read::<Whole>(dir.path()).unwrap().0,
            Some(Whole(4, "decree 4".into())),
            "appends after the cut are readable"
        );
    }
}

#[test]
fn every_cut_of_the_last_record_recovers_and_every_flip_before_it_refuses() {
    let dir = tempfile::tempdir().unwrap();
    let recs = three_saves(dir.path());
    let path = recs[0].path.clone();
    let good = fs::read(&path).unwrap();
    let last = recs.last().unwrap();
    for cut in last.offset..=last.offset + last.len {
        fs::write(&path, &good[..cut as usize]).unwrap();
        let (s, _) = read::<Whole>(dir.path()).unwrap();
        let want = if cut == last.offset + last.len { 3 } else { 2 };
        assert_eq!(s.unwrap().0, want, "cut at {cut}");
    }
    for at in 0..last.offset as usize {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let err = read::<Whole>(dir.path()).err();
        assert!(
            matches!(err, Some(JournalError::Corrupt { .. })),
            "flip at {at} was not refused"
        );
    }
    for at in last.offset as usize..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0xff;
        fs::write(&path, &bad).unwrap();
        let (s, rec) = read::<Whole>(dir.path()).unwrap();
        assert_eq!((s.unwrap().0, rec.torn.unwrap().1), (2, last.offset));
    }
}

#[test]
fn a_zero_filled_or_garbled_tail_is_torn() {
    let dir = tempfile::tempdir().unwrap();
    let recs = three_saves(dir.path());
    let last = recs.last().unwrap();
    let mut bytes = fs::read(&last.path).unwrap();
    let end = bytes.len();
    bytes[end - 1] ^= 0xff;
    bytes.extend_from_slice(&[0; 100]);
    fs::write(&last.path, &bytes).unwrap();
    let (_, s, rec) = Journal::<Whole>::open(dir.path(), small()).unwrap();
    assert_eq!(s, Some(Whole(2, "decree 2".into())));
    assert_eq!(rec.torn.unwrap().1, last.offset);
}

#[test]
fn corruption_before_the_last_record_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let recs = three_saves(dir.path());
    let first = &recs[0];
    let mut bytes = fs::read(&first.path).unwrap();
    bytes[first.offset as usize + RECORD_HEADER + 2] ^= 0x01;
    fs::write(&first.path, &bytes).unwrap();
    let err = Journal::<Whole>::open(dir.path(), small()).err().unwrap();
    let text = err.to_string();
    assert!(
        text.contains(&first.path.display().to_string())
            && text.contains(&format!("offset {}", first.offset)),
        "{text}"
    );
    assert!(matches!(err, JournalError::Corrupt { .. }));
    // Nothing was changed: the file is as the disk left it.
    assert_eq!(fs::read(&first.path).unwrap(), bytes);
}

#[test]
fn a_damaged_length_before_the_last_record_refuses_to_open() {
    for (field, mask) in [(0, 0xffu8), (1, 0x01), (4, 0x5a), (8, 0x80)] {
        let dir = tempfile::tempdir().unwrap();
        let recs = three_saves(dir.path());
        let mut bytes = fs::read(&recs[1].path).unwrap();
        bytes[recs[1].offset as usize + field] ^= mask;
        fs::write(&recs[1].path, &bytes).unwrap();
        let err = Journal::<Whole>::open(dir.path(), small()).err().unwrap();
        assert!(
            err.to_string()
                .contains(&format!("offset {}", recs[1].offset)),
            "{err}"
        );
    }
}

#[test]
fn a_damaged_header_or_snapshot_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let recs = three_saves(dir.path());
    let mut bytes = fs::read(&recs[0].path).unwrap();
    bytes[0] = b'X';
    fs::write(&recs[0].path, &bytes).unwrap();
    let err = Journal::<Whole>::open(dir.path(), small()).err().unwrap();
    assert!(err.to_string().contains("offset 0"), "{err}");

    let dir = tempfile::tempdir().unwrap();
    {
        let (mut l, _, _) = Journal::<Entries>::open(dir.path(), small()).unwrap();
        let mut e = Entries::default();
        for i in 0..200 {
            e.0.push_back(i);
            l.save(&e).unwrap();
        }
        l.finish_compaction().unwrap();
    }
    let snap = list(dir.path()).unwrap().snaps[0];
    let path = dir.path().join(name("snap", snap));
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 1] ^= 0x40;
    fs::write(&path, &bytes).unwrap();
    let err = Journal::<Entries>::open(dir.path(), small()).err().unwrap();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[test]
fn a_crash_during_compaction_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut e = Entries::default();
    {
        let (mut l, _, _) = Journal::<Entries>::open(dir.path(), small()).unwrap();
        for i in 0..10 {
            e.0.push_back(i);
            l.save(&e).unwrap();
        }
    }
    // Crash after segment 1 was started, before its snapshot was renamed into place.
    drop(Journal::<Entries>::create_segment(dir.path(), 1, &small()).unwrap());
    fs::write(dir.path().join("snap-00000000000000000001.tmp"), b"half").unwrap();
    let (mut l, s, rec) = Journal::<Entries>::open(dir.path(), small()).unwrap();
    assert_eq!(s.as_ref(), Some(&e));
    assert_eq!((rec.segments, rec.snapshot), (2, None));
    assert!(
        list(dir.path()).unwrap().temps.is_empty(),
        "temporary removed"
    );
    e.0.push_back(10);
    l.save(&e).unwrap();
    drop(l);
    // Crash after the snapshot was renamed, before the old segment was deleted.
    let mut at_one = e.clone();
    at_one.0.pop_back();
    write_snapshot_file(dir.path(), 1, &at_one).unwrap();
    let (s, rec) = read::<Entries>(dir.path()).unwrap();
    assert_eq!(s.as_ref(), Some(&e));
    assert_eq!(rec.segments, 1, "segment 0 is superseded by snapshot 1");
    // A segment missing in the middle is corruption, not an empty ledger.
    fs::remove_file(dir.path().join(name("snap", 1))).unwrap();
    fs::remove_file(dir.path().join(name("log", 0))).unwrap();
    let err = Journal::<Entries>::open(dir.path(), small()).err().unwrap();
    assert!(err.to_string().contains("segment missing"), "{err}");
}
