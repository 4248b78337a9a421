//! Unit tests of the Parliament priest, driven by hand (the model checks the rest).

use super::*;

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

fn deliver(p: &ParliamentPriest, s: &PriestState, src: usize, msg: Msg) -> (PriestState, Vec<String>) {
    let mut st = Cow::Borrowed(s);
    let mut o = Out::new();
    p.on_msg(Id::from(p.me as usize), &mut st, Id::from(src), msg, &mut o);
    (st.into_owned(), commands(o))
}
