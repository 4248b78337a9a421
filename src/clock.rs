//! The wall clock as an input of a handler: what a deployed priest reads from its clock is
//! recorded when its run is traced, and given back in order when the trace is replayed.
//!
//! A handler is a function of its state and its input, except where it reads the clock: the
//! deployed president stamps each decree it begins with the time ([`crate::parliament::Clock::Wall`]).
//! To replay a traced run exactly, that read is an input too. Every read of the wall clock by
//! an actor goes through [`unix_millis`], which, on the current thread:
//!
//! - normally reads the clock ([`crate::kv::unix_millis`]);
//! - while [`recording`], reads the clock and remembers the value; the host takes the values
//!   read by each handler ([`take_recorded`]) into that handler's trace record;
//! - while [`replaying`], returns the recorded values in order, without reading the clock;
//!   a read past the last one returns 0 and is counted ([`take_replayed`] says how many
//!   values were left unread and how many reads found none).
//!
//! The model's clock (`Clock::DecreeNumber`) reads nothing, and is not affected.

use std::cell::RefCell;
use std::collections::VecDeque;

enum Mode {
    Wall,
    Recording(Vec<u64>),
    Replaying {
        values: VecDeque<u64>,
        missing: usize,
    },
}

thread_local! {
    static MODE: RefCell<Mode> = const { RefCell::new(Mode::Wall) };
}

/// Milliseconds since the Unix epoch, as the current thread's mode gives them (see the
/// module docs).
pub fn unix_millis() -> u64 {
    MODE.with(|m| match &mut *m.borrow_mut() {
        Mode::Wall => crate::kv::unix_millis(),
        Mode::Recording(read) => {
            let now = crate::kv::unix_millis();
            read.push(now);
            now
        }
        Mode::Replaying { values, missing } => values.pop_front().unwrap_or_else(|| {
            *missing += 1;
            0
        }),
    })
}

/// From now on this thread's reads are recorded (a traced host).
pub fn recording() {
    MODE.with(|m| *m.borrow_mut() = Mode::Recording(Vec::new()));
}

/// The values read since the last call (or since [`recording`]); empty unless recording.
pub fn take_recorded() -> Vec<u64> {
    MODE.with(|m| match &mut *m.borrow_mut() {
        Mode::Recording(read) => std::mem::take(read),
        _ => Vec::new(),
    })
}

/// The next reads on this thread return `values`, in order (replaying one handler).
pub fn replaying(values: &[u64]) {
    MODE.with(|m| {
        *m.borrow_mut() = Mode::Replaying {
            values: values.iter().copied().collect(),
            missing: 0,
        }
    });
}

/// Ends a replay: how many of the values given were not read, and how many reads found no
/// value left. Back to the wall clock.
pub fn take_replayed() -> (usize, usize) {
    MODE.with(
        |m| match std::mem::replace(&mut *m.borrow_mut(), Mode::Wall) {
            Mode::Replaying { values, missing } => (values.len(), missing),
            _ => (0, 0),
        },
    )
}

/// Back to the wall clock, unrecorded.
pub fn wall() {
    MODE.with(|m| *m.borrow_mut() = Mode::Wall);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_recorded_then_given_back_in_order() {
        recording();
        let a = unix_millis();
        let b = unix_millis();
        assert_eq!(take_recorded(), vec![a, b]);
        assert!(take_recorded().is_empty());
        replaying(&[7, 9]);
        assert_eq!(unix_millis(), 7);
        assert_eq!(take_replayed(), (1, 0));
        replaying(&[]);
        assert_eq!(unix_millis(), 0);
        assert_eq!(take_replayed(), (0, 1));
        wall();
        assert!(unix_millis() > 1_000_000_000_000);
    }
}
