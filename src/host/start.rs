//! How a priest begins: from the ledger it kept, or, said explicitly, from none.
//!
//! A priest that starts from an empty ledger acts as one that never promised or voted: the
//! Parliament's priest 0 presides over the genesis ballot from decree 0 again, and any
//! priest answers a `NextBallot` with no vote. That is right for a priest of a new cluster
//! and wrong for one that lost its ledger (a replaced disk, a container restarted without
//! its volume, an `rm -rf`): what it promised and voted for is forgotten, so a second
//! decree can be chosen for one number, and acknowledged writes are lost. An empty
//! directory cannot tell the two apart, so the operator says which (`parliament serve`):
//!
//! - **no flag** ([`Start::Restart`]): the ledger must hold a record, or be empty with the
//!   bootstrap marker beside it. A missing ledger, or an empty one without the marker, is
//!   refused with an error naming the directory and the way out ([`refusal`]); a refused
//!   start creates no directory.
//! - **`--bootstrap`** ([`Start::Bootstrap`]): the first start of a priest of a new
//!   cluster. The ledger is created (or found empty) and the marker [`MARKER`] is written
//!   and synced before the priest runs, so restarts before its first record are accepted (a
//!   follower that never heard anything). A ledger that holds records is **refused**, not
//!   ignored: were `--bootstrap` a no-op on an intact ledger, a service definition could
//!   pass it on every start, and the day the disk was lost it would create an empty ledger:
//!   the very amnesia refused here. Refused, it can only be used once, at creation.
//! - **`--rejoin`** ([`Start::Rejoin`]): a priest that lost its ledger comes back. A ledger
//!   that holds records is refused (it is intact: start without `--rejoin`); otherwise the
//!   priest begins from the ledger its protocol gives a rejoining priest, which is saved
//!   (synced) before the priest runs, so a crash while rejoining restarts rejoining.
//! - **`--join`** ([`Start::Join`]): a new priest of a running cluster whose Chamber changes
//!   by decree. A ledger that holds records is refused; otherwise the priest begins from
//!   the ledger its protocol gives a joining priest (empty, with a new token), saved before
//!   it runs. It takes part once the cluster adds it (`parliament member add`).
//! - [`Start::Unchecked`]: whatever the directory holds, created if missing. For tests and
//!   benchmarks of the host; `serve` never uses it.
//!
//! # The marker
//!
//! `BOOTSTRAPPED`, a short text file in the ledger directory, says *this ledger is empty
//! because its cluster is new, not because it was lost*. That stays true only while the
//! ledger is empty, so the host removes the marker once the ledger holds a record (right
//! after the first save is synced, or at the next start if a crash came between): if the
//! ledger's files are later lost while the directory stays, no stale marker vouches for the
//! empty directory, and the start is refused too.
//!
//! A corrupt ledger is never taken for an empty one: opening it fails with an error that
//! names the file and the offset ([`super::journal`]), whatever the flag.

use super::journal::JournalError;
use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The bootstrap marker's file name, inside the ledger directory.
pub const MARKER: &str = "BOOTSTRAPPED";

/// How `parliament serve` was asked to begin (the flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StartMode {
    /// No flag: from the ledger the priest kept.
    #[default]
    Restart,
    /// `--bootstrap`: a priest of a new cluster.
    Bootstrap,
    /// `--rejoin`: a priest that lost its ledger.
    Rejoin,
    /// `--join`: a new priest of a running cluster.
    Join,
}

impl StartMode {
    /// The start of a priest whose protocol builds a rejoining ledger with `rejoin`.
    pub fn with_rejoin<S>(self, rejoin: impl FnOnce() -> Result<S, String> + 'static) -> Start<S> {
        match self {
            StartMode::Restart => Start::Restart,
            StartMode::Bootstrap => Start::Bootstrap,
            StartMode::Rejoin => Start::Rejoin(Box::new(rejoin)),
            StartMode::Join => Start::Join(Box::new(|| {
                Err(
                    "--join is for a cluster whose Chamber changes by decree: protocol = \
                     \"parliament\" with a [membership] table"
                        .into(),
                )
            })),
        }
    }
}

/// How a priest begins (see the module docs).
pub enum Start<S> {
    /// Whatever the ledger directory holds (tests and benchmarks only).
    Unchecked,
    /// From the ledger kept: records, or the bootstrap marker.
    Restart,
    /// A priest of a new cluster: an empty ledger, marked.
    Bootstrap,
    /// A priest that lost its ledger: an empty ledger, replaced by what this returns.
    Rejoin(Box<dyn FnOnce() -> Result<S, String>>),
    /// A new priest of a running cluster: an empty ledger, replaced by what this returns.
    Join(Box<dyn FnOnce() -> Result<S, String>>),
}

/// `dir` as an absolute path, for messages (a relative one depends on the reader's cwd).
fn shown(dir: &Path) -> PathBuf {
    std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf())
}

/// Why a priest whose ledger is missing or empty does not start. `comeback` says how a
/// priest that lost its disk comes back (default: restart it with `--rejoin`).
pub fn refusal(dir: &Path, comeback: Option<&str>) -> String {
    format!(
        "ledger {} is missing or empty: this priest may have voted before and lost its \
         ledger, so starting from an empty one could lose acknowledged writes. If the \
         cluster is new, start it with --bootstrap (or `parliament cluster` on a new \
         directory); if this priest lost its disk, {} (see \"Losing a ledger\" in \
         docs/operations.md)",
        shown(dir).display(),
        comeback.unwrap_or("restart it with --rejoin")
    )
}

/// Why `--bootstrap` is refused on a ledger that holds records.
pub fn bootstrap_refusal(dir: &Path) -> String {
    format!(
        "--bootstrap refused: ledger {} holds records, so this priest has run before; \
         --bootstrap is only for the first start of a new cluster. Start it without \
         --bootstrap",
        shown(dir).display()
    )
}

/// Why `--join` is refused on a ledger that holds records.
pub fn join_refusal(dir: &Path) -> String {
    format!(
        "--join refused: ledger {} holds records: this priest has run before; start it \
         without --join",
        shown(dir).display()
    )
}

/// Why `--rejoin` is refused on a ledger that holds records.
pub fn rejoin_refusal(dir: &Path) -> String {
    format!(
        "--rejoin refused: ledger {} holds records: this ledger is intact; start without \
         --rejoin",
        shown(dir).display()
    )
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> JournalError + '_ {
    move |error| JournalError::Io {
        path: path.to_path_buf(),
        error,
    }
}

/// The marker's path in ledger directory `dir`.
pub fn marker_path(dir: &Path) -> PathBuf {
    dir.join(MARKER)
}

/// Whether `dir` holds the marker.
pub fn has_marker(dir: &Path) -> Result<bool, JournalError> {
    let path = marker_path(dir);
    path.try_exists().map_err(io(&path))
}

/// Writes the marker of priest `me` in `dir` (which exists) durably: a temporary file,
/// synced, renamed into place, and the directory synced.
pub fn write_marker(dir: &Path, me: usize) -> Result<(), JournalError> {
    let path = marker_path(dir);
    let tmp = dir.join(format!("{MARKER}.tmp"));
    let at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let text = format!(
        "Created by `parliament serve --bootstrap` for priest {me}, the first start of a new \
         cluster, at {at} (seconds since 1970).\nWhile this file is here, the priest may \
         start from an empty ledger; the runtime removes it once the ledger holds a record.\n"
    );
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(text.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    fs::rename(&tmp, &path).map_err(io(&path))?;
    sync_dir(dir)
}

/// Removes the marker from `dir` durably (nothing if it is absent).
pub fn remove_marker(dir: &Path) -> Result<(), JournalError> {
    let path = marker_path(dir);
    match fs::remove_file(&path) {
        Ok(()) => sync_dir(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io(&path)(e)),
    }
}

fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_marker_is_written_read_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!has_marker(dir.path()).unwrap());
        write_marker(dir.path(), 2).unwrap();
        assert!(has_marker(dir.path()).unwrap());
        let text = fs::read_to_string(marker_path(dir.path())).unwrap();
        assert!(text.contains("priest 2"), "{text}");
        assert!(!dir.path().join("BOOTSTRAPPED.tmp").exists());
        remove_marker(dir.path()).unwrap();
        assert!(!has_marker(dir.path()).unwrap());
        remove_marker(dir.path()).unwrap();
    }

    #[test]
    fn refusals_name_the_directory_and_the_way_out() {
        let dir = Path::new("/x/priest-0");
        let r = refusal(dir, None);
        assert!(
            r.starts_with("ledger /x/priest-0 is missing or empty"),
            "{r}"
        );
        assert!(r.contains("--bootstrap") && r.contains("--rejoin"), "{r}");
        let other = refusal(dir, Some("start it with --join and add it again"));
        assert!(
            other.contains("lost its disk, start it with --join") && !other.contains("--rejoin"),
            "{other}"
        );
        assert!(bootstrap_refusal(dir).contains("/x/priest-0 holds records"));
        assert!(rejoin_refusal(dir).contains("this ledger is intact; start without --rejoin"));
    }
}
