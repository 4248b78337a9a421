//! The disk sync of a priest's ledger, on a thread of its own.
//!
//! A `fdatasync` takes as long as the disk takes (a fraction of a millisecond to tens of
//! milliseconds), and the priest's thread has handlers to run meanwhile. So the host writes
//! a record ([`super::journal::Journal::append`]) and hands the file to this thread to sync,
//! then goes on taking datagrams and running their handlers on the in-memory state; the
//! messages those handlers send wait until the sync returns, exactly as if the priest had
//! waited (see the module docs of [`super`]). One sync is in flight at a time, so only the
//! last record of the ledger can be unsynced, and a crash can tear only that one (the
//! journal's recovery rule).
//!
//! The thread tells the priest's thread that a sync returned through a socket the event
//! loop polls beside its own ([`Syncer::wake_fd`]).

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// The outcome of one sync: the path and error if it failed.
pub type Synced = Result<(), (PathBuf, io::Error)>;

/// The sync thread and the ends the priest's thread keeps.
pub struct Syncer {
    jobs: Option<mpsc::Sender<(Arc<File>, PathBuf)>>,
    done: mpsc::Receiver<Synced>,
    /// Readable when a sync returned; drained by [`Syncer::finished`].
    wake: UnixDatagram,
    thread: Option<JoinHandle<()>>,
}

impl Syncer {
    /// Starts the sync thread; it waits `delay` before each sync (fault injection: see
    /// `NodeConfig::save_delay`).
    pub fn start(delay: Duration) -> io::Result<Self> {
        let (jobs, rx) = mpsc::channel::<(Arc<File>, PathBuf)>();
        let (tx, done) = mpsc::channel();
        let (wake, ring) = UnixDatagram::pair()?;
        wake.set_nonblocking(true)?;
        let thread = std::thread::Builder::new()
            .name("ledger-sync".into())
            .spawn(move || {
                for (file, path) in rx {
                    if !delay.is_zero() {
                        std::thread::sleep(delay);
                    }
                    let outcome = file.sync_data().map_err(|e| (path, e));
                    if tx.send(outcome).is_err() {
                        return;
                    }
                    // A full socket buffer means the priest has wake-ups waiting already.
                    let _ = ring.send(&[1]);
                }
            })?;
        Ok(Syncer {
            jobs: Some(jobs),
            done,
            wake,
            thread: Some(thread),
        })
    }

    /// Syncs `file` (whose path is `path`, for the error) on the sync thread.
    pub fn request(&self, file: Arc<File>, path: PathBuf) {
        if let Some(jobs) = &self.jobs {
            // The thread ends only when `jobs` is dropped, so the send succeeds.
            let _ = jobs.send((file, path));
        }
    }

    /// The socket that becomes readable when a sync returns.
    pub fn wake_fd(&self) -> RawFd {
        self.wake.as_raw_fd()
    }

    /// The syncs that returned since the last call, without waiting.
    pub fn finished(&self) -> Vec<Synced> {
        let mut buf = [0u8; 64];
        while self.wake.recv(&mut buf).is_ok() {}
        self.done.try_iter().collect()
    }

    /// Waits for the next sync to return.
    pub fn wait(&self) -> Synced {
        let outcome = self
            .done
            .recv()
            .expect("the sync thread runs while the syncer lives");
        let mut buf = [0u8; 64];
        let _ = self.wake.recv(&mut buf);
        outcome
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        drop(self.jobs.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
