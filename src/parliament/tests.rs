//! Unit tests of the Parliament priest, driven by hand (the model checks the rest).

use super::*;
use crate::kv::{Command, Op};
use std::sync::Arc;

fn priests() -> Vec<Id> {
    Id::vec_from(0..3)
}

fn start(p: &ParliamentPriest, storage: Option<Ledger>) -> (PriestState, Vec<String>) {
    let mut o = Out::new();
    let s = p.on_start(Id::from(p.me as usize), &storage, &mut o);
    (s, commands(o))
}

fn commands(o: Out<ParliamentPriest>) -> Vec<String> {
    o.into_iter().map(|c| format!("{c:?}")).collect()
}

fn deliver(
    p: &ParliamentPriest,
    s: &PriestState,
    src: usize,
    msg: Msg,
) -> (PriestState, Vec<String>) {
    let mut st = Cow::Borrowed(s);
    let mut o = Out::new();
    p.on_msg(Id::from(p.me as usize), &mut st, Id::from(src), msg, &mut o);
    (st.into_owned(), commands(o))
}

/// Fires `timer` at `p` in state `s`; returns the state it leaves and its commands.
fn timeout(p: &ParliamentPriest, s: &PriestState, timer: Timer) -> (PriestState, Vec<String>) {
    let mut st = Cow::Borrowed(s);
    let mut o = Out::new();
    p.on_timeout(Id::from(p.me as usize), &mut st, &timer, &mut o);
    (st.into_owned(), commands(o))
}

/// A priest of `priests`, its clock the decree number (as the model's): its decrees carry
/// no stamp unless sessions or keys expire.
fn priest_at(me: PriestIx, priests: Vec<Id>) -> ParliamentPriest {
    let mut p = ParliamentPriest::new(me, priests);
    p.clock = Clock::DecreeNumber;
    p
}

/// A deployed president (its clock the wall's) stamps every decree, with horizon 0 when
/// sessions never expire; a model priest stamps only when they or keys expire.
#[test]
fn a_deployed_president_stamps_every_decree() {
    let wall = ParliamentPriest::new(0, priests());
    assert_eq!(wall.clock, Clock::Wall);
    let (s, _) = start(&wall, None);
    let (_, out) = deliver(&wall, &s, 7, put(7, 1, "a"));
    let begin = out
        .iter()
        .find(|m| m.contains("BeginBallot"))
        .expect("a ballot");
    assert!(begin.contains("#0 @"), "stamped: {begin}");
    let stamp = wall.stamp(0).expect("a stamp");
    assert_eq!(stamp.horizon, 0, "sessions never expire: horizon 0");
    let mut model = priest_at(0, priests());
    assert_eq!(model.stamp(3), None);
    model.keys_expire = true;
    assert_eq!(model.stamp(3), Some(crate::kv::Stamp { at: 3, horizon: 0 }));
    // Horizon 0 forgets nothing: a law stamped so keeps every session.
    let mut law = crate::kv::Store::default();
    law.apply(0, &cmd(7, 1, "a"), crate::kv::Dedup::Sessions);
    law.advance(&stamp);
    assert_eq!(law.sessions.len(), 1);
    assert_eq!(
        law.lookup(Id::from(7), 1),
        Some(crate::kv::Outcome::Retry(crate::kv::Answer::Written))
    );
}

fn model_priest(me: PriestIx) -> ParliamentPriest {
    let mut p = priest_at(me, priests());
    p.heartbeat = None;
    p.vote_after = None;
    p
}

fn put(client: usize, seq: u64, v: &str) -> Msg {
    Msg::Request {
        client: Id::from(client),
        seq,
        op: Op::Put {
            key: "x".into(),
            value: v.into(),
        },
    }
}

fn cmd(client: usize, seq: u64, v: &str) -> Command {
    let Msg::Request { client, seq, op } = put(client, seq, v) else {
        unreachable!()
    };
    Command { client, seq, op }
}

fn voted_in(ballot: Ballot, number: DecreeNumber) -> Msg {
    Msg::Voted {
        ballot,
        number,
        inc: 0,
    }
}

fn voted(number: DecreeNumber) -> Msg {
    voted_in(GENESIS, number)
}

/// Delivers priest 1's vote for decree `n` to the genesis president `p`, which voted
/// itself: with it, a quorum of three. Returns the state and the commands of that vote, on
/// which the decree passes.
fn quorum_votes(
    p: &ParliamentPriest,
    s: &PriestState,
    n: DecreeNumber,
) -> (PriestState, Vec<String>) {
    deliver(p, s, 1, voted(n))
}

/// Ballot 1.1: priest 1's first own ballot.
const B11: Ballot = Ballot::new(1, 1);

fn last_vote_for_b11(votes: Vec<(DecreeNumber, Vote)>) -> Msg {
    Msg::LastVote {
        ballot: B11,
        from: 0,
        base: 0,
        votes,
        inc: 0,
    }
}

/// Priest `p` (priest 1) runs and takes office on priest 2's LastVote (reporting no vote):
/// president of ballot 1.1 with quorum {1,2}, itself in it.
fn elected(p: &ParliamentPriest) -> PriestState {
    let (s, _) = start(p, None);
    let (s, _) = timeout(p, &s, Timer::Election);
    let (s, _) = deliver(p, &s, 2, last_vote_for_b11(vec![]));
    assert_eq!(s.quorum(), Some(Priests::single(1).with(2)));
    s
}

#[test]
fn priest_zero_starts_as_genesis_president_and_others_as_candidates() {
    let (s0, out0) = start(&model_priest(0), None);
    assert!(s0.is_president());
    assert_eq!(s0.ledger.last_tried, Some(GENESIS));
    assert!(out0[0].starts_with("Save"), "{out0:?}");
    let (s1, out1) = start(&model_priest(1), None);
    assert!(!s1.is_president());
    assert_eq!(s1.ledger.next_bal, Some(GENESIS));
    assert!(out1.iter().any(|c| c.contains("Election")), "{out1:?}");
    // A restarted priest 0 is not president: its ledger says it already tried genesis.
    let (r0, _) = start(&model_priest(0), Some(s0.ledger.clone()));
    assert!(!r0.is_president());
}

#[test]
fn the_genesis_president_votes_asks_everyone_and_passes_on_the_first_quorum_of_votes() {
    let p = model_priest(0);
    let (s, _) = start(&p, None);
    // Every priest starts having promised the genesis ballot: all three are its quorum.
    assert_eq!(s.quorum(), Some(Priests::all(3)));
    // The president votes (saved before anything leaves) and asks priests 1 and 2.
    let (s, out) = deliver(&p, &s, 7, put(7, 1, "a"));
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].starts_with("Save"), "save must come first: {out:?}");
    for (c, to) in out[1..].iter().zip(["Id(1)", "Id(2)"]) {
        assert!(
            c.contains("BeginBallot(0.0, #0 [c7#1 put x=a])") && c.contains(to),
            "{out:?}"
        );
    }
    assert_eq!(s.ledger.votes[&0].ballot, GENESIS);
    // Priest 2 votes: with the president's own vote, two of three, a quorum, whether or not
    // priest 1 ever answers. The decree passes; the president learns it in memory (the
    // record goes with its next save), applies it and answers the client at once.
    let (s, out) = deliver(&p, &s, 2, voted(0));
    assert!(!out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    assert!(s.ledger.learned.contains_key(&0));
    assert!(out.iter().any(|c| c.contains("Success(#0")), "{out:?}");
    assert!(
        out.iter()
            .any(|c| c.contains("Reply(#1 ok)") && c.contains("Id(7)")),
        "{out:?}"
    );
    assert_eq!(s.applied, 1);
    // Priest 1's vote, coming late, changes nothing.
    let (s, out) = deliver(&p, &s, 1, voted(0));
    assert!(out.is_empty(), "{out:?}");
    // A retry of the same command is answered from the session, not passed again.
    let (_, out) = deliver(&p, &s, 8, put(7, 1, "a"));
    assert_eq!(out.len(), 1);
    assert!(out[0].contains("Reply(#1 ok)"), "{out:?}");
}

#[test]
fn an_elected_president_is_in_its_quorum_and_saves_its_vote_before_begin_ballot() {
    let p = model_priest(1);
    let b = B11;
    let s = elected(&p);
    let (s, out) = deliver(&p, &s, 7, put(7, 1, "a"));
    assert!(out[0].starts_with("Save"), "save must come first: {out:?}");
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[1].contains("BeginBallot(1.1, #0 [c7#1 put x=a])") && out[1].contains("Id(2)"));
    assert_eq!(s.ledger.votes[&0].ballot, b);
    // One vote more makes its quorum.
    let (s, out) = deliver(&p, &s, 2, voted_in(b, 0));
    assert!(out.iter().any(|c| c.contains("Reply(#1 ok)")), "{out:?}");
    assert!(s.ledger.learned.contains_key(&0));
}

#[test]
fn a_late_last_vote_joins_the_quorum_and_decrees_pass_on_the_first_quorum_of_votes() {
    let p = model_priest(1);
    let b = B11;
    let lastvote = last_vote_for_b11;
    let s = elected(&p);
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    // Priest 0's LastVote comes late, reporting a vote for decree 2 in the genesis ballot
    // (above the next free number, 1): priest 0 joins the quorum.
    let reported = Decree::Commands(vec![cmd(8, 1, "b")].into());
    let vote = Vote {
        ballot: GENESIS,
        decree: reported.clone(),
    };
    let (s, out) = deliver(&p, &s, 0, lastvote(vec![(2, vote)]));
    assert_eq!(s.quorum(), Some(Priests::all(3)));
    assert!(
        out[0].starts_with("Save"),
        "the president votes, saved first: {out:?}"
    );
    // B3: decree 2 is re-proposed to the grown quorum, decree 1 filled with an olive-day
    // decree.
    for (number, decree) in [(1, "olive-day"), (2, "[c8#1 put x=b]")] {
        for to in ["Id(0)", "Id(2)"] {
            assert!(
                out.iter().any(
                    |c| c.contains(&format!("BeginBallot(1.1, #{number} {decree})"))
                        && c.contains(to)
                ),
                "#{number} to {to}: {out:?}"
            );
        }
    }
    // Decree 0, begun before, asked priest 2 only: priest 0's vote there counts for
    // nothing, priest 2's passes it.
    let (s, out) = deliver(&p, &s, 0, voted_in(b, 0));
    assert!(out.is_empty(), "{out:?}");
    let (s, out) = deliver(&p, &s, 2, voted_in(b, 0));
    assert!(out.iter().any(|c| c.contains("Reply(#1 ok)")), "{out:?}");
    // Decree 1 passes on the first vote of priest 0 or 2, with the president's own.
    let (s, out) = deliver(&p, &s, 0, voted_in(b, 1));
    assert!(
        out.iter().any(|c| c.contains("Success(#1 olive-day)")),
        "{out:?}"
    );
    assert!(
        s.ledger.votes.contains_key(&1),
        "the president voted for #1"
    );
    // A LastVote that comes again changes nothing.
    let (_, out) = deliver(&p, &s, 0, lastvote(vec![]));
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_deployed_president_asks_the_members_outside_its_quorum_for_their_promise_on_the_heartbeat() {
    let p = priest_at(1, priests());
    let s = elected(&p);
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    // Priest 0 was down when the NextBallot went out: the heartbeat asks it again, from
    // the next free decree number (1), and nobody else.
    let heartbeat = |s: &PriestState| timeout(&p, s, Timer::Heartbeat).1;
    let out = heartbeat(&s);
    let asked: Vec<&String> = out.iter().filter(|c| c.contains("NextBallot")).collect();
    assert_eq!(asked.len(), 1, "{out:?}");
    assert!(asked[0].contains("NextBallot(1.1, from 1)") && asked[0].contains("Id(0)"));
    // Its answer joins it to the quorum; then the heartbeat asks nobody.
    let lastvote = Msg::LastVote {
        ballot: B11,
        from: 1,
        base: 0,
        votes: vec![],
        inc: 0,
    };
    let (s, _) = deliver(&p, &s, 0, lastvote);
    assert_eq!(s.quorum(), Some(Priests::all(3)));
    assert!(!heartbeat(&s).iter().any(|c| c.contains("NextBallot")));
}

#[test]
fn last_vote_reports_every_vote_from_the_first_unknown_decree_number() {
    let p = model_priest(2);
    let (s, _) = start(&p, None);
    let d = |v: &str| Decree::Commands(vec![cmd(7, 1, v)].into());
    let (s, _) = deliver(
        &p,
        &s,
        0,
        Msg::BeginBallot {
            ballot: GENESIS,
            number: 0,
            decree: d("a"),
            to: 0,
        },
    );
    let (s, _) = deliver(
        &p,
        &s,
        0,
        Msg::BeginBallot {
            ballot: GENESIS,
            number: 2,
            decree: d("b"),
            to: 0,
        },
    );
    let b = Ballot::new(1, 1);
    let (s, out) = deliver(
        &p,
        &s,
        1,
        Msg::NextBallot {
            ballot: b,
            from: 1,
            to: 0,
        },
    );
    assert_eq!(s.ledger.next_bal, Some(b));
    assert!(
        out[0].starts_with("Save"),
        "the promise is saved before LastVote: {out:?}"
    );
    assert!(
        out[1].contains("LastVote(1.1, from 1: #2 [c7#1 put x=b] in 0.0)"),
        "{out:?}"
    );
    // A lower ballot is refused now.
    let (_, out) = deliver(
        &p,
        &s,
        0,
        Msg::BeginBallot {
            ballot: GENESIS,
            number: 3,
            decree: d("c"),
            to: 0,
        },
    );
    assert!(out.is_empty());
}

#[test]
fn a_new_president_re_proposes_the_highest_votes_and_fills_gaps_with_olive_day() {
    let p = model_priest(1);
    let (s, _) = start(&p, None);
    let (s, out) = timeout(&p, &s, Timer::Election);
    let b = B11;
    assert_eq!(s.ledger.last_tried, Some(b));
    assert!(
        out.iter().any(|c| c.contains("NextBallot(1.1, from 0)")),
        "{out:?}"
    );
    let d = |v: &str| Decree::Commands(vec![cmd(7, 1, v)].into());
    let votes = vec![(
        1,
        Vote {
            ballot: GENESIS,
            decree: d("a"),
        },
    )];
    let (s, out) = deliver(&p, &s, 2, last_vote_for_b11(votes));
    assert!(s.is_president());
    assert!(out[0].starts_with("Save"), "{out:?}");
    assert!(
        out.iter()
            .any(|c| c.contains("BeginBallot(1.1, #0 olive-day)")),
        "{out:?}"
    );
    assert!(
        out.iter()
            .any(|c| c.contains("BeginBallot(1.1, #1 [c7#1 put x=a])")),
        "{out:?}"
    );
    assert!(
        out.iter().all(|c| !c.contains("Id(0)")),
        "quorum is {{1,2}}: {out:?}"
    );
}

#[test]
fn a_deposed_president_hands_its_commands_to_its_successor() {
    let mut p = model_priest(0);
    p.window = 1;
    let (s, _) = start(&p, None);
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    let (s, _) = deliver(&p, &s, 8, put(8, 1, "b"));
    assert_eq!(s.queue.len(), 1, "window 1: the second command waits");
    let (s, out) = deliver(
        &p,
        &s,
        1,
        Msg::NextBallot {
            ballot: Ballot::new(1, 1),
            from: 0,
            to: 0,
        },
    );
    assert!(!s.is_president());
    assert!(s.queue.is_empty());
    let forwarded = out
        .iter()
        .filter(|c| c.contains("Request(") && c.contains("Id(1)"))
        .count();
    assert_eq!(forwarded, 2, "{out:?}");
}

#[test]
fn a_lagging_priest_catches_up_from_a_heartbeat() {
    let p = priest_at(2, priests());
    let (s, _) = start(&p, None);
    let (s, out) = deliver(
        &p,
        &s,
        0,
        Msg::Heartbeat {
            ballot: GENESIS,
            known: 2,
        },
    );
    assert!(out.iter().any(|c| c.contains("Catchup(from 0)")), "{out:?}");
    let (_, out) = deliver(
        &p,
        &s,
        0,
        Msg::Success {
            number: 1,
            decree: Decree::OliveDay,
        },
    );
    assert!(out.iter().all(|c| !c.contains("Reply")));
    let learned = deliver(
        &p,
        &s,
        0,
        Msg::Success {
            number: 1,
            decree: Decree::OliveDay,
        },
    )
    .0;
    assert_eq!(learned.applied, 0, "decree 1 waits for decree 0");
    let both = deliver(
        &p,
        &learned,
        0,
        Msg::Success {
            number: 0,
            decree: Decree::OliveDay,
        },
    )
    .0;
    assert_eq!(both.applied, 2);
}

#[test]
fn messages_round_trip_through_serde() {
    let m = Msg::LastVote {
        ballot: Ballot::new(3, 1),
        from: 4,
        base: 0,
        votes: vec![(
            5,
            Vote {
                ballot: GENESIS,
                decree: Decree::Commands(vec![cmd(9, 2, "v")].into()),
            },
        )],
        inc: 0,
    };
    let json = serde_json::to_string(&m).unwrap();
    assert_eq!(serde_json::from_str::<Msg>(&json).unwrap(), m);
    let ledger = Ledger::genesis(0);
    let json = serde_json::to_string(&ledger).unwrap();
    assert_eq!(serde_json::from_str::<Ledger>(&json).unwrap(), ledger);
}

#[test]
fn commands_that_queue_behind_a_full_window_pass_in_one_decree() {
    let mut p = model_priest(0);
    p.window = 1;
    p.batch = 8;
    let (s, _) = start(&p, None);
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    let (s, _) = deliver(&p, &s, 8, put(8, 1, "b"));
    let (s, _) = deliver(&p, &s, 9, put(9, 1, "c"));
    assert_eq!(s.queue.len(), 2);
    let (s, out) = quorum_votes(&p, &s, 0);
    assert!(
        out.iter()
            .any(|c| c.contains("BeginBallot(0.0, #1 [c8#1 put x=b; c9#1 put x=c])")),
        "{out:?}"
    );
    assert!(s.queue.is_empty());
}

#[test]
fn a_president_whose_decree_number_went_to_another_decree_proposes_its_commands_again() {
    let p = model_priest(0);
    let (s, _) = start(&p, None);
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    // A later president passed an olive-day decree as number 0 (priest 0 has not yet heard
    // of its ballot): client 7's command must not be lost.
    let (s, out) = deliver(
        &p,
        &s,
        1,
        Msg::Success {
            number: 0,
            decree: Decree::OliveDay,
        },
    );
    assert!(
        out.iter()
            .any(|c| c.contains("BeginBallot(0.0, #1 [c7#1 put x=a])")),
        "{out:?}"
    );
    assert!(s.queue.is_empty());
}

#[test]
fn a_lost_begin_ballot_or_voted_is_asked_again_on_the_heartbeat() {
    // Deployed priests (heartbeats on).
    let p0 = priest_at(0, priests());
    let p1 = priest_at(1, priests());
    let (s0, _) = start(&p0, None);
    let (s0, out) = deliver(&p0, &s0, 7, put(7, 1, "a"));
    assert!(out[1].contains("BeginBallot(0.0, #0"), "{out:?}");
    // Both BeginBallots are lost: the heartbeat asks again the quorum members whose vote
    // is missing (priests 1 and 2), and not itself (it votes on its own vote timer).
    let heartbeat = |s: &PriestState| timeout(&p0, s, Timer::Heartbeat).1;
    let out = heartbeat(&s0);
    let again: Vec<&String> = out.iter().filter(|c| c.contains("BeginBallot")).collect();
    assert_eq!(again.len(), 2, "{out:?}");
    for (c, to) in again.iter().zip(["Id(1)", "Id(2)"]) {
        assert!(c.contains(to) && c.contains("#0 [c7#1 put x=a]"), "{out:?}");
    }
    // Priest 1 votes (saving first); its Voted is lost; asked again, it answers Voted
    // again without another save.
    let (s1, _) = start(&p1, None);
    let begin = Msg::BeginBallot {
        ballot: GENESIS,
        number: 0,
        decree: Decree::Commands(vec![cmd(7, 1, "a")].into()),
        to: 0,
    };
    let (s1, out) = deliver(&p1, &s1, 0, begin.clone());
    assert!(
        out[0].starts_with("Save") && out[1].contains("Voted(0.0, #0)"),
        "{out:?}"
    );
    let (_, out) = deliver(&p1, &s1, 0, begin);
    assert_eq!(out.len(), 1, "{out:?}");
    assert!(
        out[0].contains("Voted(0.0, #0)") && out[0].contains("Id(0)"),
        "{out:?}"
    );
    // Once the decree passed, the heartbeat asks nobody, and saves the decree the president
    // learned without a save.
    let (s0, _) = deliver(&p0, &s0, 1, voted(0));
    let (s0, _) = deliver(&p0, &s0, 2, voted(0));
    assert!(s0.ledger.learned.contains_key(&0));
    let out = heartbeat(&s0);
    assert!(!out.iter().any(|c| c.contains("BeginBallot")), "{out:?}");
    assert!(
        out[0].starts_with("Save") && out[0].contains("learned: {0:"),
        "{out:?}"
    );
}

#[test]
fn a_deployed_president_votes_only_when_the_others_are_slow() {
    // Deployed (vote_after set): priest 0's genesis quorum is all three, and priests 1 and 2
    // make a quorum without it, so it begins the ballot without voting or saving, and arms
    // its vote timer.
    let p0 = priest_at(0, priests());
    assert!(p0.vote_after.is_some());
    let (s0, _) = start(&p0, None);
    let (s0, out) = deliver(&p0, &s0, 7, put(7, 1, "a"));
    assert!(!out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    assert!(out.iter().any(|c| c.contains("SetTimer(Vote")), "{out:?}");
    assert!(!s0.ledger.votes.contains_key(&0));
    // The others' two votes pass it: no save by the president on the way.
    let (a, _) = deliver(&p0, &s0, 1, voted(0));
    let (a, out) = deliver(&p0, &a, 2, voted(0));
    assert!(a.ledger.learned.contains_key(&0), "{out:?}");
    assert!(!out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    // Its timer then finds nothing to vote in.
    let (a2, out) = timeout(&p0, &a, Timer::Vote);
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(a2.ledger, a.ledger);
    // Priest 2 is gone: with priest 1's vote alone nothing passes, until the vote timer
    // fires; the president then votes, saves its vote before anything leaves, and passes.
    let (b, _) = deliver(&p0, &s0, 1, voted(0));
    assert!(!b.ledger.learned.contains_key(&0));
    let (b, out) = timeout(&p0, &b, Timer::Vote);
    assert!(b.ledger.learned.contains_key(&0), "{out:?}");
    assert!(
        out[0].starts_with("Save") && out.iter().any(|c| c.contains("Success")),
        "{out:?}"
    );
    assert!(b.ledger.votes.contains_key(&0));
    // With two decrees in flight, a second command while the first waits for votes does
    // not arm the timer again (the armed one covers both).
    let mut p0 = p0;
    p0.window = 2;
    let (c, out) = deliver(&p0, &s0, 8, put(8, 1, "b"));
    assert!(out.iter().any(|c| c.contains("BeginBallot")), "{out:?}");
    assert!(!out.iter().any(|c| c.contains("SetTimer(Vote")), "{out:?}");
    let (c, out) = timeout(&p0, &c, Timer::Vote);
    assert_eq!(c.ledger.votes.len(), 2, "{out:?}");
    let (c, _) = deliver(&p0, &c, 1, voted(0));
    let (c, _) = deliver(&p0, &c, 1, voted(1));
    assert!(c.ledger.learned.contains_key(&1));
    // The timer ran out on ballots the others had not passed: until its next heartbeat,
    // the president votes in each new ballot as it begins it (saved before anything
    // leaves), and one follower's vote passes it.
    let (d, out) = deliver(&p0, &c, 9, put(9, 1, "c"));
    assert!(out[0].starts_with("Save"), "{out:?}");
    assert!(!out.iter().any(|c| c.contains("SetTimer(Vote")), "{out:?}");
    let (d, out) = deliver(&p0, &d, 1, voted(2));
    assert!(d.ledger.learned.contains_key(&2), "{out:?}");
    // After a heartbeat it leaves its vote for the timer again.
    let (d, _) = timeout(&p0, &d, Timer::Heartbeat);
    let (_, out) = deliver(&p0, &d, 10, put(10, 1, "d"));
    assert!(!out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    assert!(out.iter().any(|c| c.contains("SetTimer(Vote")), "{out:?}");
    // A president that lacks a quorum without itself (only priest 1 promised) votes at
    // once.
    let p1 = priest_at(1, priests());
    let s1 = elected(&p1);
    let (_, out) = deliver(&p1, &s1, 7, put(7, 1, "a"));
    assert!(out[0].starts_with("Save"), "{out:?}");
    assert!(!out.iter().any(|c| c.contains("SetTimer(Vote")), "{out:?}");
}

/// A ballot the president left its vote out of, at a number it learned meanwhile by another
/// way (here written in its ledger directly): its vote timer casts no vote there (the spec's
/// `VoteLate` is for numbers not yet learned) and drops the ballot; had the decree learned
/// been another, the commands it held would wait for a new number.
#[test]
fn a_deployed_presidents_vote_timer_skips_a_number_it_learned_meanwhile() {
    let p0 = priest_at(0, priests());
    let (s0, _) = start(&p0, None);
    let (s0, _) = deliver(&p0, &s0, 7, put(7, 1, "a"));
    let mut learned = s0.clone();
    let other = Decree::OliveDay;
    learned.ledger.learned.insert(0, other);
    let (after, out) = timeout(&p0, &learned, Timer::Vote);
    assert!(!after.ledger.votes.contains_key(&0), "{out:?}");
    assert!(!out.iter().any(|c| c.contains("Success")), "{out:?}");
    let Status::Presiding { pending, .. } = &after.status else {
        panic!("still presiding")
    };
    assert!(pending.is_empty(), "{pending:?}");
    assert_eq!(after.queue.len(), 1, "the command waits for a new number");
}

#[test]
fn a_deployed_president_whose_quorum_stopped_answering_runs_again() {
    let p0 = priest_at(0, priests());
    let (s0, out) = start(&p0, None);
    assert!(out.iter().any(|c| c.contains("Election")), "{out:?}");
    let election = |s: &PriestState| timeout(&p0, s, Timer::Election);
    // Nothing pending: the president stays in office.
    let (s0, out) = election(&s0);
    assert!(s0.is_president() && !out.iter().any(|c| c.contains("NextBallot")));
    // A decree pending through a whole election timeout with no progress: run again.
    let (s0, _) = deliver(&p0, &s0, 7, put(7, 1, "a"));
    let (s1, out) = election(&s0);
    assert!(!s1.is_president(), "trying a new ballot");
    assert_eq!(
        out.iter().filter(|c| c.contains("NextBallot(1.0")).count(),
        2,
        "{out:?}"
    );
    // But a decree that passed in that time is progress: stay.
    let (s0, _) = quorum_votes(&p0, &s0, 0);
    let (s0, _) = deliver(&p0, &s0, 2, voted(0));
    let (s0, _) = deliver(&p0, &s0, 7, put(7, 2, "b"));
    let (s0, out) = election(&s0);
    assert!(s0.is_president() && !out.iter().any(|c| c.contains("NextBallot")));
}

/// A deployed candidate runs a whole election timeout after the last heartbeat it heard,
/// not one to two: each heartbeat starts its election timer again, and the timer running
/// out means the president was silent that long.
#[test]
fn a_heartbeat_starts_a_candidates_election_timer_again() {
    let mut p = priest_at(1, priests());
    p.heartbeat = Some(Duration::from_millis(100)..Duration::from_millis(100));
    let (s, out) = start(&p, None);
    assert!(out.iter().any(|c| c.contains("Election")), "{out:?}");
    let beat = Msg::Heartbeat {
        ballot: GENESIS,
        known: 0,
    };
    let (s, out) = deliver(&p, &s, 0, beat.clone());
    assert!(
        out.iter()
            .any(|c| c.starts_with("SetTimer") && c.contains("Election")),
        "{out:?}"
    );
    // The timer running out after heartbeats: it runs at once.
    let (_, out) = timeout(&p, &s, Timer::Election);
    assert!(out.iter().any(|c| c.contains("NextBallot(1.1")), "{out:?}");
    // A priest that may not run (not a candidate) keeps no election timer.
    let mut q = priest_at(2, priests());
    q.heartbeat = p.heartbeat.clone();
    q.candidate = false;
    let (s2, _) = start(&q, None);
    let (_, out) = deliver(&q, &s2, 0, beat);
    assert!(!out.iter().any(|c| c.contains("Election")), "{out:?}");
}

#[test]
fn a_deposed_president_steps_down_on_a_higher_ballots_heartbeat() {
    let p0 = priest_at(0, priests());
    let (s0, _) = start(&p0, None);
    let (s0, _) = deliver(&p0, &s0, 7, put(7, 1, "a"));
    assert!(s0.is_president());
    let (s0, out) = deliver(
        &p0,
        &s0,
        2,
        Msg::Heartbeat {
            ballot: Ballot::new(3, 2),
            known: 0,
        },
    );
    assert!(!s0.is_president(), "deposed");
    // Its unfinished command goes to the new president.
    assert!(
        out.iter()
            .any(|c| c.contains("Id(2)") && c.contains("Request(c7#1")),
        "{out:?}"
    );
}

fn get(client: usize, seq: u64) -> Msg {
    Msg::Request {
        client: Id::from(client),
        seq,
        op: Op::Get { key: "x".into() },
    }
}

fn confirmed(round: u32) -> Msg {
    Msg::Confirmed {
        ballot: GENESIS,
        round,
        inc: 0,
    }
}

/// Delivers priest 1's confirmation of `round` to the genesis president `p`: with its own
/// promise, a quorum. Returns the state and the commands of that confirmation, on which the
/// round succeeds.
fn quorum_confirms(
    p: &ParliamentPriest,
    s: &PriestState,
    round: u32,
) -> (PriestState, Vec<String>) {
    deliver(p, s, 1, confirmed(round))
}

#[test]
fn a_read_is_answered_after_its_quorum_confirms_without_a_decree_or_a_save() {
    let p = model_priest(0);
    let (s, _) = start(&p, None);
    // The president asks its quorum ({1,2}) to confirm; it neither saves nor answers yet.
    let (s, out) = deliver(&p, &s, 7, get(7, 1));
    assert_eq!(out.len(), 2, "{out:?}");
    assert!(out[0].contains("Confirm(0.0, round 1)") && out[0].contains("Id(1)"));
    assert!(out[1].contains("Confirm(0.0, round 1)") && out[1].contains("Id(2)"));
    // A second read while round 1 is in flight waits for round 2 (begun after it came).
    let (s, out) = deliver(&p, &s, 8, get(8, 1));
    assert!(out.is_empty(), "{out:?}");
    // A confirmation from outside the quorum, or for another round, counts for nothing.
    let (s, out) = deliver(&p, &s, 3, confirmed(1));
    assert!(out.is_empty(), "{out:?}");
    let (s, out) = deliver(&p, &s, 1, confirmed(2));
    assert!(out.is_empty(), "{out:?}");
    // Round 1 confirmed by priest 2: with the president's own promise, a quorum. The first
    // read is answered from the law; round 2 begins. Priest 1's confirmation, late, counts
    // for nothing.
    let (s, out) = deliver(&p, &s, 2, confirmed(1));
    assert_eq!(out.len(), 3, "{out:?}");
    assert!(out[0].contains("Reply(#1 nil)") && out[0].contains("Id(7)"));
    assert!(out[1].contains("Confirm(0.0, round 2)"));
    let (s, out) = deliver(&p, &s, 1, confirmed(1));
    assert!(out.is_empty(), "{out:?}");
    let (s, out) = quorum_confirms(&p, &s, 2);
    assert!(out[0].contains("Reply(#1 nil)") && out[0].contains("Id(8)"));
    assert!(s.ledger.votes.is_empty() && s.ledger.learned.is_empty());
}

#[test]
fn a_read_asked_again_gets_its_answer_again_and_an_older_one_nothing_without_a_round() {
    let p = model_priest(0);
    let (s, _) = start(&p, None);
    let (s, _) = deliver(&p, &s, 7, get(7, 1));
    let (s, out) = quorum_confirms(&p, &s, 1);
    assert!(
        out.len() == 1 && out[0].contains("Reply(#1 nil)"),
        "{out:?}"
    );
    // The same request again (a duplicate, or a retry after a lost answer): the same answer,
    // and no confirmation round.
    let (s, out) = deliver(&p, &s, 7, get(7, 1));
    assert!(
        out.len() == 1 && out[0].contains("Reply(#1 nil)") && out[0].contains("Id(7)"),
        "{out:?}"
    );
    // The client's next read begins round 2; then its first one, arriving late, gets nothing.
    let (s, out) = deliver(&p, &s, 7, get(7, 2));
    assert!(
        out.iter().all(|c| c.contains("Confirm(0.0, round 2)")),
        "{out:?}"
    );
    let (s, _) = quorum_confirms(&p, &s, 2);
    let (s, out) = deliver(&p, &s, 7, get(7, 1));
    assert!(out.is_empty(), "{out:?}");
    // Another client's read is its own: it begins a round.
    let (_, out) = deliver(&p, &s, 8, get(8, 1));
    assert!(
        out.iter().any(|c| c.contains("Confirm(0.0, round 3)")),
        "{out:?}"
    );
}

#[test]
fn a_read_does_not_wait_for_the_presidents_own_writes_in_flight() {
    let p = model_priest(0);
    let (s, _) = start(&p, None);
    // A put is in flight (decree 0, nobody has answered it): the read may precede it.
    let (s, _) = deliver(&p, &s, 7, put(7, 1, "a"));
    let (s, _) = deliver(&p, &s, 8, get(8, 1));
    let (s, out) = quorum_confirms(&p, &s, 1);
    assert!(
        out.len() == 1 && out[0].contains("Reply(#1 nil)") && out[0].contains("Id(8)"),
        "{out:?}"
    );
    assert_eq!(s.applied, 0);
}

#[test]
fn a_new_presidents_reads_wait_for_the_decrees_of_earlier_presidents() {
    let p = model_priest(1);
    let (s, _) = start(&p, None);
    let (s, _) = timeout(&p, &s, Timer::Election);
    let b = B11;
    // Priest 2 reports a vote for decree 0 (which priest 0 may have passed and answered):
    // the new president re-proposes it, and its own decrees start at 1.
    let votes = vec![(
        0,
        Vote {
            ballot: GENESIS,
            decree: Decree::Commands(vec![cmd(7, 1, "a")].into()),
        },
    )];
    let (s, _) = deliver(&p, &s, 2, last_vote_for_b11(votes));
    assert!(s.is_president());
    let (s, out) = deliver(&p, &s, 8, get(8, 1));
    assert!(out[0].contains("Confirm(1.1, round 1)") && out[0].contains("Id(2)"));
    let ok = Msg::Confirmed {
        ballot: b,
        round: 1,
        inc: 0,
    };
    let (s, out) = deliver(&p, &s, 2, ok);
    assert!(out.is_empty(), "decree 0 is not applied yet: {out:?}");
    let (_, out) = deliver(&p, &s, 2, voted_in(b, 0));
    assert!(
        out.iter()
            .any(|c| c.contains("Reply(#1 a)") && c.contains("Id(8)")),
        "the read sees the earlier president's put: {out:?}"
    );
}

#[test]
fn a_priest_that_promised_a_higher_ballot_does_not_confirm_and_reads_follow_the_new_president() {
    let p1 = model_priest(1);
    let (s1, _) = start(&p1, None);
    let ask = Msg::Confirm {
        ballot: GENESIS,
        round: 1,
        to: 0,
    };
    let (_, out) = deliver(&p1, &s1, 0, ask.clone());
    assert!(out[0].contains("Confirmed(0.0, round 1)"), "{out:?}");
    let higher = Ballot::new(1, 2);
    let (s1, _) = deliver(
        &p1,
        &s1,
        2,
        Msg::NextBallot {
            ballot: higher,
            from: 0,
            to: 0,
        },
    );
    let (_, out) = deliver(&p1, &s1, 0, ask);
    assert!(out.is_empty(), "{out:?}");
    // The deposed president hands its waiting read to the new one.
    let p0 = model_priest(0);
    let (s0, _) = start(&p0, None);
    let (s0, _) = deliver(&p0, &s0, 7, get(7, 1));
    let (s0, out) = deliver(
        &p0,
        &s0,
        2,
        Msg::NextBallot {
            ballot: higher,
            from: 0,
            to: 0,
        },
    );
    assert!(!s0.is_president());
    assert!(
        out.iter()
            .any(|c| c.contains("Request(c7#1 get x)") && c.contains("Id(2)")),
        "{out:?}"
    );
}

#[test]
fn a_lost_confirm_or_confirmed_is_asked_again_on_the_heartbeat() {
    let p0 = priest_at(0, priests());
    let (s0, _) = start(&p0, None);
    let (s0, _) = deliver(&p0, &s0, 7, get(7, 1));
    let heartbeat = |s: &PriestState| timeout(&p0, s, Timer::Heartbeat).1;
    let out = heartbeat(&s0);
    let again: Vec<&String> = out.iter().filter(|c| c.contains("Confirm(")).collect();
    assert_eq!(again.len(), 2, "{out:?}");
    for (c, to) in again.iter().zip(["Id(1)", "Id(2)"]) {
        assert!(
            c.contains("Confirm(0.0, round 1)") && c.contains(to),
            "{out:?}"
        );
    }
    // Once the round succeeded (priest 2 confirmed: with the president, a quorum), the
    // heartbeat asks nobody.
    let (s0, out) = deliver(&p0, &s0, 2, confirmed(1));
    assert!(out.iter().any(|c| c.contains("Reply(#1 nil)")), "{out:?}");
    assert!(!heartbeat(&s0).iter().any(|c| c.contains("Confirm(")));
}

#[test]
fn a_follower_keeps_one_copy_of_a_decree_it_voted_for_and_learned() {
    let p = model_priest(1);
    let (s, _) = start(&p, None);
    let decree = || Decree::Commands(vec![cmd(7, 1, "a")].into());
    let (s, _) = deliver(
        &p,
        &s,
        0,
        Msg::BeginBallot {
            ballot: GENESIS,
            number: 0,
            decree: decree(),
            to: 0,
        },
    );
    // The Success carries an equal decree in a new allocation (as off the wire).
    let (s, _) = deliver(
        &p,
        &s,
        0,
        Msg::Success {
            number: 0,
            decree: decree(),
        },
    );
    let (Decree::Commands(voted), Decree::Commands(learned)) =
        (&s.ledger.votes[&0].decree, &s.ledger.learned[&0])
    else {
        panic!("commands expected");
    };
    assert!(Arc::ptr_eq(voted, learned), "one copy, shared");
}

/// A follower that applied decrees 0 and 1 snapshots on its timer: the snapshot holds its
/// law, and its ledger keeps nothing below 2.
fn snapshotted(p: &ParliamentPriest) -> PriestState {
    let (s, _) = start(p, None);
    let mut s = s;
    for (n, v) in [(0, "a"), (1, "b")] {
        let (next, _) = deliver(
            p,
            &s,
            0,
            Msg::BeginBallot {
                ballot: GENESIS,
                number: n,
                decree: Decree::Commands(vec![cmd(7, n as u64 + 1, v)].into()),
                to: 0,
            },
        );
        let d = next.ledger.votes[&n].decree.clone();
        s = deliver(
            p,
            &next,
            0,
            Msg::Success {
                number: n,
                decree: d,
            },
        )
        .0;
    }
    assert_eq!(s.applied, 2);
    let (s, out) = timeout(p, &s, Timer::Snapshot);
    assert!(out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    s
}

#[test]
fn deployed_a_snapshot_is_due_by_count_or_bytes_whatever_the_size_of_the_law() {
    // Two decrees of one command each were applied: 2 x 26 bytes of commands.
    // Replay the two decrees without the timer: the state just before it fires.
    let before = {
        let q = model_priest(2);
        let (mut st, _) = start(&q, None);
        for (n, v) in [(0, "a"), (1, "b")] {
            let d = Decree::Commands(vec![cmd(7, n as u64 + 1, v)].into());
            st = deliver(
                &q,
                &st,
                0,
                Msg::BeginBallot {
                    ballot: GENESIS,
                    number: n,
                    decree: d.clone(),
                    to: 0,
                },
            )
            .0;
            st = deliver(
                &q,
                &st,
                0,
                Msg::Success {
                    number: n,
                    decree: d,
                },
            )
            .0;
        }
        assert_eq!(st.applied, 2);
        st
    };
    let fires = |after: u32, bytes: Option<u64>, law_bytes: u64| {
        let mut p = model_priest(2);
        p.snapshot_after = Some(after);
        p.snapshot_bytes = bytes;
        // The last snapshot (at 0, so the decrees since are the same) held a law this big.
        let mut st = before.clone();
        let law = crate::kv::Store {
            bytes: law_bytes,
            ..Default::default()
        };
        st.ledger.snapshot = Some(Snapshot { upto: 0, law });
        let (_, out) = timeout(&p, &st, Timer::Snapshot);
        out.iter().any(|c| c.starts_with("Save"))
    };
    assert!(fires(2, None, 2), "by count");
    assert!(!fires(3, None, 2), "too few decrees, by count only");
    assert!(fires(3, Some(50), 2), "by bytes: 52 >= 50");
    assert!(
        !fires(3, Some(60), 2),
        "neither: 2 < 3 decrees, 52 < 60 bytes"
    );
    assert!(
        fires(2, Some(60), 1_000_000),
        "due by count: a large law costs a snapshot nothing on disk"
    );
    assert!(!fires(3, Some(60), 0), "neither, with an empty law");
}

fn snapshot_priest(me: PriestIx) -> ParliamentPriest {
    let mut p = model_priest(me);
    p.snapshot_after = Some(1);
    p
}

#[test]
fn a_snapshot_truncates_the_ledger_below_what_was_applied() {
    let p = snapshot_priest(2);
    let s = snapshotted(&p);
    assert_eq!(s.ledger.base(), 2);
    assert!(s.ledger.votes.is_empty() && s.ledger.learned.is_empty());
    assert_eq!(s.ledger.first_gap(), 2);
    assert!(s.knows(0) && s.knows(1) && !s.knows(2));
    let snap = s.ledger.snapshot.as_ref().unwrap();
    assert_eq!(snap.law, s.law);
    assert_eq!(snap.law.map.get("x").map(|v| &**v), Some("b"));
    assert_eq!(snap.law.sessions[&Id::from(7usize)].seq, 2);
    // Nothing new applied: the timer takes no second snapshot.
    let (again, out) = timeout(&p, &s, Timer::Snapshot);
    assert_eq!(again, s);
    assert!(!out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    // A restart rebuilds the law from the snapshot.
    let (restarted, _) = start(&p, Some(s.ledger.clone()));
    assert_eq!(
        (restarted.law.clone(), restarted.applied),
        (s.law.clone(), 2)
    );
}

#[test]
fn a_lastvote_reports_the_base_and_a_catchup_below_it_gets_the_snapshot() {
    let p = snapshot_priest(2);
    let s = snapshotted(&p);
    let (_, out) = deliver(
        &p,
        &s,
        1,
        Msg::NextBallot {
            ballot: B11,
            from: 0,
            to: 0,
        },
    );
    assert!(
        out.iter().any(|c| c.contains("snapshot <2; no votes")),
        "{out:?}"
    );
    let (_, out) = deliver(&p, &s, 1, Msg::Catchup { from: 1 });
    assert!(out.len() == 1 && out[0].contains("Snapshot(<2)"), "{out:?}");
    let (_, out) = deliver(&p, &s, 1, Msg::Catchup { from: 2 });
    assert!(out.is_empty(), "{out:?}");
}

#[test]
fn a_newer_snapshot_is_installed_and_an_older_one_ignored() {
    let p = snapshot_priest(2);
    let snap = snapshotted(&p).ledger.snapshot.unwrap();
    let q = snapshot_priest(1);
    let (fresh, _) = start(&q, None);
    // Priest 1 knows decree 2 already, not 0 and 1.
    let (fresh, _) = deliver(
        &q,
        &fresh,
        0,
        Msg::Success {
            number: 2,
            decree: Decree::OliveDay,
        },
    );
    let (installed, out) = deliver(
        &q,
        &fresh,
        2,
        Msg::Snapshot {
            snapshot: snap.clone(),
        },
    );
    assert!(out.iter().any(|c| c.starts_with("Save")), "{out:?}");
    assert_eq!(installed.applied, 3, "the snapshot, then decree 2");
    assert_eq!(installed.law.map, snap.law.map);
    assert_eq!(installed.ledger.base(), 2);
    let (same, out) = deliver(
        &q,
        &installed,
        2,
        Msg::Snapshot {
            snapshot: snap.clone(),
        },
    );
    assert_eq!(same, installed);
    assert!(out.is_empty(), "{out:?}");
    // After its own snapshot of decrees 0..3, the seeded bug takes its law back to 0..2.
    let mut stale = q.clone();
    stale.bug = Bug::InstallStaleSnapshot;
    let (own, _) = timeout(&stale, &installed, Timer::Snapshot);
    assert_eq!(own.ledger.base(), 3);
    let (back, _) = deliver(&stale, &own, 2, Msg::Snapshot { snapshot: snap });
    assert_eq!((back.applied, back.ledger.base()), (2, 2));
}

#[test]
fn a_candidate_begins_no_ballot_below_a_reported_base() {
    let p = model_priest(1);
    let (s, _) = start(&p, None);
    let (s, _) = timeout(&p, &s, Timer::Election);
    let lv = Msg::LastVote {
        ballot: B11,
        from: 0,
        base: 2,
        votes: vec![],
        inc: 0,
    };
    let (s, out) = deliver(&p, &s, 2, lv);
    assert!(s.is_president());
    assert!(
        out.iter()
            .any(|c| c.contains("Catchup(from 0)") && c.contains("Id(2)")),
        "{out:?}"
    );
    assert!(!out.iter().any(|c| c.contains("BeginBallot")), "{out:?}");
    assert_eq!(
        match s.status {
            Status::Presiding { next, .. } => next,
            _ => unreachable!(),
        },
        2
    );
}

#[test]
fn a_president_remembers_a_bounded_number_of_clients_reads() {
    let mut p = model_priest(0);
    p.read_cache = 1;
    let (s, _) = start(&p, None);
    let (s, _) = deliver(&p, &s, 7, get(7, 1));
    let (s, _) = deliver(&p, &s, 8, get(8, 1));
    let (s, _) = quorum_confirms(&p, &s, 1);
    let (s, _) = quorum_confirms(&p, &s, 2);
    let Status::Presiding { reads, .. } = &s.status else {
        unreachable!()
    };
    assert_eq!(
        reads.answered.keys().collect::<Vec<_>>(),
        vec![&Id::from(8usize)]
    );
}

/// A priest of a Chamber that changes by decree: founders 0, 1 and 2 of four actors, the
/// lookahead 1.
fn chamber_priest(me: PriestIx) -> ParliamentPriest {
    let mut p = priest_at(me, Id::vec_from(0..4));
    p.heartbeat = None;
    p.vote_after = None;
    p.chamber = Some(crate::kv::Chamber::founders(1, 3, &[]));
    p
}

fn member_op(seq: u64, op: crate::kv::MemberOp) -> Msg {
    Msg::Request {
        client: Id::from(9),
        seq,
        op: Op::Member(op),
    }
}

/// One office, one membership: the genesis president passes the change that adds priest 3,
/// and once it is in force (the next decree number) it runs again over the new membership,
/// asking priest 3 too; with a quorum of the four it takes office, and its ballots ask that
/// quorum.
#[test]
fn a_president_runs_again_over_the_membership_a_change_puts_in_force() {
    let p = chamber_priest(0);
    let (s, _) = start(&p, None);
    assert_eq!(s.quorum(), Some(Priests::all(3)));
    let add = crate::kv::MemberOp::Add {
        ix: 3,
        nonce: 1,
        addr: None,
    };
    let (s, out) = deliver(&p, &s, 9, member_op(1, add));
    assert_eq!(out.len(), 3, "a save and two BeginBallots: {out:?}");
    let (s, out) = quorum_votes(&p, &s, 0);
    let said = out.join("\n");
    // Passed, applied (in force from decree 1), and told to the new member too.
    assert!(
        said.contains("Success(#0") && said.contains("Id(3)"),
        "{said}"
    );
    assert!(said.contains("in force from decree 1"), "{said}");
    // Nothing is pending: it runs again with ballot 1.0, from decree 1, over {0,1,2,3}; its
    // request to priest 3 names the incarnation the change gave it (decree 0 + 1).
    assert_eq!(s.ledger.last_tried, Some(Ballot::new(1, 0)));
    for (to, asked) in [
        ("Id(1)", "NextBallot(1.0, from 1)"),
        ("Id(2)", "NextBallot(1.0, from 1)"),
        ("Id(3)", "NextBallot(1.0, from 1, to inc 1)"),
    ] {
        assert!(
            out.iter().any(|c| c.contains(asked) && c.contains(to)),
            "{said}"
        );
    }
    let last_vote = |inc| Msg::LastVote {
        ballot: Ballot::new(1, 0),
        from: 1,
        base: 0,
        votes: vec![],
        inc,
    };
    // An answer from index 3 that names another incarnation is not the member's: it counts
    // for nothing.
    let (s, _) = deliver(&p, &s, 3, last_vote(0));
    let (s2, _) = deliver(&p, &s, 1, last_vote(0));
    assert!(!s2.is_president(), "priest 3's answer named incarnation 0");
    // Itself and priest 3: two of four, no quorum. With priest 1, three of four.
    let (s, _) = deliver(&p, &s, 3, last_vote(1));
    assert!(!s.is_president());
    let (s, _) = deliver(&p, &s, 1, last_vote(0));
    assert_eq!(s.quorum(), Some(Priests::single(0).with(1).with(3)));
    let (_, out) = deliver(&p, &s, 7, put(7, 1, "a"));
    let asked: Vec<&String> = out.iter().filter(|c| c.contains("BeginBallot")).collect();
    assert_eq!(asked.len(), 2, "{out:?}");
    assert!(
        asked
            .iter()
            .any(|c| c.contains("Id(3)") && c.contains("to inc 1")),
        "{out:?}"
    );
    assert!(asked.iter().all(|c| c.contains("#1")), "{out:?}");
}

/// A priest that joins (a new ledger, token 1) acts on no request until its law names it:
/// then only on requests for the incarnation the law gave it. A founder whose index the law
/// gives to another ledger acts on none for that incarnation.
#[test]
fn a_joining_priest_answers_only_for_its_own_incarnation_once_its_law_names_it() {
    let mut p = chamber_priest(3);
    p.joins = Some(1);
    let (s, _) = start(&p, None);
    assert_eq!(s.ledger.nonce, 1);
    assert_eq!(s.ledger.next_bal, None, "a new ledger promises nothing");
    let ask = |to| Msg::NextBallot {
        ballot: Ballot::new(1, 0),
        from: 1,
        to,
    };
    for to in [0, 1] {
        let (_, out) = deliver(&p, &s, 0, ask(to));
        assert!(out.is_empty(), "not yet caught up: {out:?}");
    }
    let add = Decree::Commands(
        vec![Command {
            client: Id::from(9),
            seq: 1,
            op: Op::Member(crate::kv::MemberOp::Add {
                ix: 3,
                nonce: 1,
                addr: None,
            }),
        }]
        .into(),
    );
    let (s, _) = deliver(
        &p,
        &s,
        0,
        Msg::Success {
            number: 0,
            decree: add.clone(),
        },
    );
    let (_, out) = deliver(&p, &s, 0, ask(0));
    assert!(out.is_empty(), "a request for incarnation 0: {out:?}");
    let (_, out) = deliver(&p, &s, 0, ask(1));
    assert!(
        out.iter().any(|c| c.contains("LastVote(1.0, inc 1")),
        "{out:?}"
    );
    // Another ledger (token 2) at index 3 finds no member of its token: it acts on nothing.
    let mut other = chamber_priest(3);
    other.joins = Some(2);
    let (s, _) = start(&other, None);
    let (s, _) = deliver(
        &other,
        &s,
        0,
        Msg::Success {
            number: 0,
            decree: add,
        },
    );
    for to in [0, 1] {
        let (_, out) = deliver(&other, &s, 0, ask(to));
        assert!(out.is_empty(), "{out:?}");
    }
}

/// A president the change removes steps down once the change is in force; a read that
/// comes while a change is pending passes as a decree.
#[test]
fn a_removed_president_steps_down_and_reads_pass_as_decrees_during_a_change() {
    let mut p = chamber_priest(0);
    p.chamber = Some(crate::kv::Chamber::founders(2, 3, &[]));
    let (s, _) = start(&p, None);
    let remove = crate::kv::MemberOp::Remove { ix: 0 };
    let (s, _) = deliver(&p, &s, 9, member_op(1, remove));
    let (s, out) = quorum_votes(&p, &s, 0);
    // Passed, but answered only once in force (from decree 2); with no command waiting, an
    // olive-day decree brings it there.
    assert!(!out.join("\n").contains("in force from decree"), "{out:?}");
    assert!(
        out.iter()
            .any(|c| c.contains("BeginBallot(0.0, #1 olive-day)")),
        "{out:?}"
    );
    assert!(s.is_president(), "decree 1 is still the founders'");
    // A read during the change waits to pass as a decree, not a confirmation round.
    let get = Msg::Request {
        client: Id::from(8),
        seq: 1,
        op: Op::Get { key: "x".into() },
    };
    let (s, out) = deliver(&p, &s, 8, get);
    assert!(!out.iter().any(|c| c.contains("Confirm")), "{out:?}");
    let (s, out) = quorum_votes(&p, &s, 1);
    // The read goes with the handover.
    assert!(
        out.iter()
            .any(|c| c.contains("Request(c8#1 get x)") && c.contains("Id(1)")),
        "{out:?}"
    );
    assert_eq!(s.role(), Role::Follower, "not a member of {{1,2}}");
    assert!(
        out.iter()
            .any(|c| c.contains("Id(9)") && c.contains("in force from decree 2")),
        "{out:?}"
    );
    // It hands over to the lowest-numbered member, which runs at once.
    assert!(
        out.iter()
            .any(|c| c.contains("Handover") && c.contains("Id(1)")),
        "{out:?}"
    );
    let q = chamber_priest(1);
    let mut q_state = s.clone();
    q_state.status = Status::Follower;
    q_state.ledger.last_tried = None;
    let (q_state, out) = deliver(&q, &q_state, 0, Msg::Handover);
    assert_eq!(q_state.role(), Role::Candidate, "{out:?}");
    assert!(
        out.iter()
            .any(|c| c.contains("NextBallot(1.1, from 2)") && c.contains("Id(2)")),
        "{out:?}"
    );
    // A request that reaches the removed priest goes to that member.
    let (_, out) = deliver(&p, &s, 8, put(8, 2, "b"));
    assert!(
        out.iter()
            .any(|c| c.contains("Request") && c.contains("Id(1)")),
        "{out:?}"
    );
}

/// With a Chamber, a president never begins a number it knows was passed (by another
/// office, perhaps under another membership): it begins from its first gap.
#[test]
fn with_a_chamber_a_president_begins_past_what_it_knows() {
    let p = chamber_priest(0);
    let (s, _) = start(&p, None);
    let other = |n| Msg::Success {
        number: n,
        decree: Decree::OliveDay,
    };
    let (s, _) = deliver(&p, &s, 1, other(0));
    let (s, _) = deliver(&p, &s, 1, other(1));
    assert!(s.is_president());
    let (_, out) = deliver(&p, &s, 7, put(7, 1, "a"));
    assert!(
        out.iter().any(|c| c.contains("BeginBallot(0.0, #2")),
        "{out:?}"
    );
    assert!(
        !out.iter()
            .any(|c| c.contains(", #0 ") || c.contains(", #1 ")),
        "{out:?}"
    );
}
