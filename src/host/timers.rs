//! The actor's timers, as the host fires them: each armed timer fires once, at a random
//! moment in the range it was set with, unless it is cancelled or set again first; and the
//! wait, to the microsecond, for a datagram or the next timer due.

use rand::Rng;
use std::collections::HashMap;
use std::hash::Hash;
use std::io;
use std::net::UdpSocket;
use std::ops::Range;
use std::time::{Duration, Instant};

/// The armed timers and when each fires.
#[derive(Debug)]
pub struct Timers<T> {
    at: HashMap<T, Instant>,
}

impl<T: Clone + Eq + Hash> Default for Timers<T> {
    fn default() -> Self {
        Timers::new()
    }
}

impl<T: Clone + Eq + Hash> Timers<T> {
    pub fn new() -> Self {
        Timers { at: HashMap::new() }
    }

    /// Arms `timer` (again) at a random moment in `range` from now.
    pub fn set(&mut self, timer: T, range: Range<Duration>) {
        let d = if range.start < range.end {
            rand::rng().random_range(range)
        } else {
            range.start
        };
        self.at.insert(timer, Instant::now() + d);
    }

    /// Disarms `timer`.
    pub fn cancel(&mut self, timer: &T) {
        self.at.remove(timer);
    }

    /// When the next timer is due.
    pub fn next(&self) -> Option<Instant> {
        self.at.values().min().copied()
    }

    /// The timers due at `now`, the earliest first.
    pub fn due(&self, now: Instant) -> Vec<T> {
        let mut due: Vec<T> = self
            .at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(t, _)| t.clone())
            .collect();
        due.sort_by_key(|t| self.at[t]);
        due
    }

    /// Disarms `timer` and says `true` if it is still due at `now` (a handler run since
    /// [`Timers::due`] may have set it again, or cancelled it).
    pub fn take_if_due(&mut self, timer: &T, now: Instant) -> bool {
        if self.at.get(timer).is_none_or(|at| *at > now) {
            return false;
        }
        self.at.remove(timer);
        true
    }
}

/// Waits until `socket` is readable or `timeout` passes, to the microsecond: `ppoll` takes
/// a high-resolution timeout, where a socket's read timeout is rounded up to the kernel's
/// tick (4 ms at 250 Hz), which would make a timer of a fraction of a millisecond fire
/// milliseconds late.
pub fn wait_readable(socket: &UdpSocket, timeout: Duration) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: one valid pollfd, a valid timespec, no signal mask.
    let r = unsafe { libc::ppoll(&mut fd, 1, &ts, std::ptr::null()) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_come_earliest_first_and_fire_once() {
        let mut t = Timers::new();
        let ms = Duration::from_millis;
        t.set("late", ms(2)..ms(2));
        t.set("early", ms(1)..ms(1));
        t.set("cancelled", ms(0)..ms(0));
        t.cancel(&"cancelled");
        t.set("never", ms(60_000)..ms(120_000));
        assert!(t.next().unwrap() <= Instant::now() + ms(1));
        let now = Instant::now() + ms(3);
        assert_eq!(t.due(now), vec!["early", "late"]);
        assert!(t.take_if_due(&"early", now));
        assert!(!t.take_if_due(&"early", now), "fired once");
        t.set("late", ms(60_000)..ms(60_000));
        assert!(!t.take_if_due(&"late", now), "set again: no longer due");
        assert!(t.due(now).is_empty());
    }
}
