//! Asking the kernel for a short CPU slice (`[scheduling] slice_us`) or a nice value
//! (`[scheduling] nice`); the configuration's module docs say why.
//!
//! A nice value below the neighbour's gives a priest more weight in the fair share: it runs
//! when it wakes, and the neighbour waits.
//!
//! Linux's EEVDF scheduler (6.6 and later) gives each task a virtual deadline one slice after
//! it becomes eligible, and runs the eligible task with the earliest deadline; since 6.12 a
//! task may ask for its own slice through `sched_setattr`'s `sched_runtime` under the normal
//! policy. A short slice makes a woken priest's deadline early, so it may preempt a busy
//! neighbour instead of waiting for the neighbour's slice to end. It changes when a priest
//! runs, not how much: its share of the CPU stays the fair one.

use std::io;
use std::time::Duration;

/// Asks for `slice` for the calling thread, and so for every thread it starts afterwards
/// (threads inherit the setting). An error if the kernel refuses; a kernel older than 6.12
/// accepts the call and keeps its default slice.
#[cfg(target_os = "linux")]
pub fn ask_slice(slice: Duration) -> io::Result<()> {
    /// `struct sched_attr` of `sched_setattr(2)`, in its first version (48 bytes).
    #[repr(C)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
    }
    // Keep the thread's nice value: the call sets every field of the normal policy.
    // SAFETY: getpriority only reads; errno distinguishes -1 the value from -1 the error.
    let nice = unsafe {
        *libc::__errno_location() = 0;
        libc::getpriority(libc::PRIO_PROCESS, 0)
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: libc::SCHED_OTHER as u32,
        flags: 0,
        nice,
        priority: 0,
        runtime: slice.as_nanos() as u64,
        deadline: 0,
        period: 0,
    };
    // SAFETY: the pointer is to a live, correctly laid out sched_attr of `size` bytes; pid 0
    // is the calling thread.
    let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr as *const SchedAttr, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Elsewhere than Linux there is nothing to ask.
#[cfg(not(target_os = "linux"))]
pub fn ask_slice(_slice: Duration) -> io::Result<()> {
    Ok(())
}

/// Sets the calling thread's nice value to `nice`, and so every thread it starts afterwards
/// (on Linux a nice value is a thread's, and threads inherit it). An error if the kernel
/// refuses: a value below the current one needs root or `CAP_SYS_NICE`.
pub fn set_nice(nice: i32) -> io::Result<()> {
    // SAFETY: setpriority takes plain integers; on Linux, PRIO_PROCESS with 0 is the calling
    // thread.
    let r = unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, nice) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// The slice the kernel keeps for the calling thread, if it says (`se.slice`, ns).
    fn slice_now() -> Option<u64> {
        let text = std::fs::read_to_string("/proc/thread-self/sched").ok()?;
        text.lines()
            .find(|l| l.starts_with("se.slice"))?
            .split(':')
            .nth(1)?
            .trim()
            .parse()
            .ok()
    }

    /// The calling thread's nice value.
    fn nice_now() -> i32 {
        // SAFETY: getpriority only reads.
        unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
    }

    #[test]
    fn the_nice_value_set_is_the_threads_and_its_new_threads() {
        let before = nice_now();
        std::thread::spawn(|| {
            // Raising one's nice value needs no privilege.
            let niced = (nice_now() + 3).min(19);
            set_nice(niced).expect("the kernel lets a thread lower its own priority");
            assert_eq!(nice_now(), niced);
            let child = std::thread::spawn(nice_now).join().unwrap();
            assert_eq!(child, niced, "a thread started after inherits it");
        })
        .join()
        .unwrap();
        // Another thread's value is its own: this one's did not move.
        assert_eq!(nice_now(), before);
    }

    #[test]
    fn the_slice_asked_is_the_threads_and_its_new_threads() {
        std::thread::spawn(|| {
            if slice_now().is_none() {
                println!("this kernel does not show se.slice: nothing to check");
                return;
            }
            ask_slice(Duration::from_micros(250)).expect("the kernel accepts 250 us");
            assert_eq!(slice_now(), Some(250_000));
            let child = std::thread::spawn(slice_now).join().unwrap();
            assert_eq!(child, Some(250_000), "a thread started after inherits it");
        })
        .join()
        .unwrap();
    }
}
