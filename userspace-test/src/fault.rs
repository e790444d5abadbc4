// SPDX-License-Identifier: GPL-2.0

//! Fault injection from the tests: failslab knobs (restored on drop), the
//! per-task `make-it-fail` switch and `fail-nth` (systematic injection).
//!
//! Only in the `debug` variant (CONFIG_FAILSLAB, CONFIG_FAULT_INJECTION_DEBUG_FS).
//! Injected failures are silent (`verbose` 0): a stack dump would be
//! counted as a kernel report by the harness.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, Write};

/// failslab's debugfs directory.
pub const FAILSLAB: &str = "/sys/kernel/debug/failslab";
/// fail_page_alloc's debugfs directory.
pub const FAIL_PAGE_ALLOC: &str = "/sys/kernel/debug/fail_page_alloc";

/// Fault-injection knobs changed for a test; the previous values are put
/// back on drop (in reverse order), even when the test panics.
pub struct Knobs {
    saved: Vec<(String, String)>,
}

impl Knobs {
    /// Sets `dir/name` to each value, remembering the old ones.
    pub fn set(dir: &str, settings: &[(&str, &str)]) -> Knobs {
        let mut k = Knobs { saved: Vec::new() };
        for (name, v) in settings {
            k.set_one(&format!("{dir}/{name}"), v);
        }
        k
    }

    /// Sets one file (any path: a debugfs knob or a slab cache's
    /// `failslab` attribute), remembering its old value.
    pub fn set_one(&mut self, path: &str, v: &str) {
        let old = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
        fs::write(path, v).unwrap_or_else(|e| panic!("write {v:?} to {path}: {e}"));
        self.saved.push((path.to_owned(), old.trim().to_owned()));
    }
}

impl Drop for Knobs {
    fn drop(&mut self) {
        for (path, v) in self.saved.iter().rev() {
            if let Err(e) = fs::write(path, v) {
                if !std::thread::panicking() {
                    panic!("restore {path}: {e}");
                }
            }
        }
    }
}

/// The calling thread's `make-it-fail`, opened once: toggling it through
/// the open file allocates nothing, so the toggle itself cannot fail.
pub struct MakeItFail(File);

/// Locks the process's memory (now and future mappings): a user-space
/// page fault while failures are armed could otherwise fail an allocation
/// of its own (a 9p read of the test binary's text: SIGBUS) or consume a
/// `fail-nth` count meant for the system call under test.
pub fn lock_memory() {
    // SAFETY: no pointer arguments.
    let r = unsafe { libc::mlockall(libc::MCL_CURRENT | libc::MCL_FUTURE) };
    assert_eq!(r, 0, "mlockall: {}", std::io::Error::last_os_error());
}

impl MakeItFail {
    /// Opens the calling thread's switch (use it on that thread only).
    pub fn this_thread() -> MakeItFail {
        // SAFETY: gettid has no arguments.
        MakeItFail::for_tid(unsafe { libc::gettid() })
    }

    /// Opens the switch of thread `tid` of this process (opened from
    /// another thread, so that the open is not one of that thread's).
    pub fn for_tid(tid: i32) -> MakeItFail {
        lock_memory();
        let path = format!("/proc/self/task/{tid}/make-it-fail");
        MakeItFail(
            OpenOptions::new()
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{path}: {e}")),
        )
    }

    fn poke(&mut self, v: &str) {
        self.0.rewind().unwrap();
        self.0.write_all(v.as_bytes()).unwrap();
    }

    /// Runs `f` with this thread's allocations subject to the injection.
    pub fn during<T>(&mut self, f: impl FnOnce() -> T) -> T {
        self.poke("1");
        let r = f();
        self.poke("0");
        r
    }
}

/// The calling thread's `fail-nth`: the N-th fault-injection point this
/// thread reaches fails, whatever the probability (Documentation/
/// fault-injection/fault-injection.rst, "systematic faults").  The file
/// cannot seek: it is written through one descriptor (the write ignores the
/// position) and read through a fresh one opened *before* arming, so that
/// no open runs (and allocates) while armed.
pub struct FailNth {
    w: File,
    path: String,
}

impl FailNth {
    /// Opens the calling thread's `fail-nth` (use it on that thread only).
    pub fn this_thread() -> FailNth {
        // SAFETY: gettid has no arguments.
        let tid = unsafe { libc::gettid() };
        let path = format!("/proc/self/task/{tid}/fail-nth");
        lock_memory();
        let w = OpenOptions::new()
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("{path}: {e}"));
        FailNth { w, path }
    }

    /// Arms: the `n`-th injection point from now fails (0 disarms).
    pub fn arm(&mut self, n: u32) {
        self.w.write_all(n.to_string().as_bytes()).unwrap();
    }

    /// A reader for one later [`FailNth::remaining`]; open it before arming.
    pub fn reader(&self) -> File {
        File::open(&self.path).unwrap_or_else(|e| panic!("{}: {e}", self.path))
    }

    /// Points still to pass before the failure (0: it was injected, or
    /// disarmed), read through a `reader()`.
    pub fn remaining(mut reader: File) -> u32 {
        let mut s = String::new();
        reader.read_to_string(&mut s).unwrap();
        s.trim().parse().expect("fail-nth value")
    }
}

/// Whether the slab cache `name` exists (`/sys/kernel/slab/<name>`).
pub fn slab_cache_exists(name: &str) -> bool {
    std::path::Path::new(&format!("/sys/kernel/slab/{name}")).exists()
}
