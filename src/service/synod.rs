//! The Synod priest on the host: its ledger on disk, and the commands that deploy it.
//!
//! The Synod ledger is four small fields, so it is written whole at every save (the
//! [`Durable`] default) and compaction keeps the file short.

use crate::ballot::PriestIx;
use crate::host::config::Config;
use crate::host::journal::{self, Durable, Recovery};
use crate::host::{NodeConfig, StartMode, UdpClient};
use crate::synod::{Decree, Ledger, Msg, SynodPriest};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

impl<D: Decree> Durable for Ledger<D> {
    type Delta = ();
}

/// The deployed Synod priest `me` of the configured cluster: correct (no seeded bug),
/// majority quorums, no proposal of its own (clients propose), unbounded rounds.
pub fn priest(cfg: &Config, me: usize) -> SynodPriest<String> {
    let mut p = SynodPriest::new(me as PriestIx, cfg.priest_ids(), None);
    p.retry = cfg.retry.clone();
    p
}

/// `parliament serve`: starts priest `me` as `mode` says ([`crate::host::start`]) and runs it
/// until `stop` is set. A Synod priest cannot rejoin: `--rejoin` is refused (after the
/// check that its ledger is not intact).
pub fn serve(
    cfg: &Config,
    me: usize,
    mode: StartMode,
    stop: &AtomicBool,
) -> Result<crate::host::Counters, String> {
    cfg.check_priest(me)?;
    let start = mode.with_rejoin(|| {
        Err(
            "--rejoin is for the Parliament's priests (protocol = \"parliament\"): a Synod \
             priest has no rule for rejoining after losing its ledger"
                .to_string(),
        )
    });
    crate::host::serve(
        priest(cfg, me),
        NodeConfig::from_config(cfg, me),
        start,
        stop,
    )
    .map_err(|e| e.to_string())
}

/// `parliament synod propose`: asks priests `to` (all when `None`) to pass `decree`, and
/// returns the decree that was passed (perhaps another proposer's).
pub fn propose(
    cfg: &Config,
    decree: String,
    to: Option<usize>,
    resend: Duration,
    timeout: Duration,
) -> Result<String, String> {
    let to: Vec<usize> = match to {
        Some(p) => {
            cfg.check_priest(p)?;
            vec![p]
        }
        None => (0..cfg.priests.len()).collect(),
    };
    let mut client = UdpClient::new(cfg.priests.clone(), cfg.key.clone())
        .map_err(|e| format!("cannot open a client socket: {e}"))?;
    client.ask(
        &Msg::Propose(decree),
        &to,
        resend,
        timeout,
        |_, m| match m {
            Msg::Chosen(d) => Some(d),
            _ => None,
        },
    )
}

/// `parliament synod ledger`: priest `me`'s ledger as recovery would find it (read-only).
pub fn read_ledger(cfg: &Config, me: usize) -> Result<(Option<Ledger<String>>, Recovery), String> {
    cfg.check_priest(me)?;
    let dir = cfg.ledger_of(me);
    if !dir.exists() {
        return Err(format!("priest {me} has no ledger at {}", dir.display()));
    }
    journal::read(&dir).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use crate::ballot::Ballot;
    use crate::host::wire::{self, Key};
    use crate::synod::{Msg, Vote};
    use stateright::actor::Id;

    #[test]
    fn every_synod_message_round_trips() {
        let b = Ballot::new(7, 2);
        let msgs: Vec<Msg<String>> = vec![
            Msg::NextBallot(b),
            Msg::LastVote(b, None),
            Msg::LastVote(
                b,
                Some(Vote {
                    ballot: Ballot::new(3, 1),
                    decree: "x".into(),
                }),
            ),
            Msg::BeginBallot(b, "decree".into()),
            Msg::Voted(b),
            Msg::Success("decree".into()),
            Msg::Propose("p".into()),
            Msg::Chosen("c".into()),
        ];
        let mut buf = Vec::new();
        for m in msgs {
            wire::encode(&Key::from_bytes([1; 32]), Id::from(2usize), &m, &mut buf).unwrap();
            let got: Vec<(Id, Msg<String>)> =
                wire::decode(&Key::from_bytes([1; 32]), &buf).unwrap();
            assert_eq!(got, vec![(Id::from(2usize), m.clone())]);
            assert!(buf.len() < 64, "{m}: {} bytes", buf.len());
        }
    }
}
