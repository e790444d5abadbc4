// SPDX-License-Identifier: GPL-2.0

//! Syscall-level benchmark, run inside a VM by tools/guest-bench.sh.
//!
//! `syscall-bench <tmpfs-dir> <ext4-dir> <ops> <rounds> [CASE-PREFIX...]`
//! prints one line per measured round: `case<TAB>round<TAB>ops<TAB>ns`, every
//! round (no reduction in the guest), then `#markers<TAB>N`.  With no
//! prefix every case runs; otherwise the cases whose name starts with one of
//! the prefixes (e.g. `tmpfs/cold` `ext4/cold`).
//!
//! Under `-icount shift=0` (tools/bench.sh's default mode) the guest clock
//! advances 1 ns per executed instruction, so `ns / ops` is instructions per
//! operation, kernel and user, timer interrupts included.
//!
//! Around every measured round the benchmark executes the marker instruction
//! `xchg %bx,%bx` (before the first clock read and after the second), and
//! once at start: the L1D model plugin (bench/plugin/l1d.c) prints its
//! counters at each marker, so marker 0 starts the model and round `k` (0-based,
//! in output order) lies between markers `2k+1` and `2k+2`.
//!
//! The cases, per file system (tmpfs, ext4), named `<fs>/<what>/<setting>`:
//! - `write1`/`read1` (1-byte `pwrite`/`pread` at offset 0 of one file) with
//!   `nomark` (no mark on the superblock: 6.12's hooks return at
//!   `fsnotify_sb_has_watchers()` before reading any inode field: the control
//!   that must match stock), `sb-sibling` (an inotify watch on a sibling file:
//!   a watched superblock, an unwatched inode, the case of Amir Goldstein's
//!   objection), `fan-sb` and `fan-mnt` (a fanotify filesystem or mount mark
//!   for FAN_CLOSE_WRITE only, which the measured calls do not match),
//!   `watch-file` and `watch-parent` (inotify IN_CLOSE_WRITE on the file or
//!   its directory: marks exist, the measured events are not queued);
//! - `cold<N>/write1`, `cold<N>/read1`: one 1-byte call per file, round-robin
//!   over N = 10^3, 10^4, 10^5 open files in a fixed shuffled order, on a
//!   superblock watched through a sibling file: each call meets an inode
//!   that has left the L1D;
//! - `fan-ignore/write1`, `fan-ignore/read1`: a fanotify filesystem mark for
//!   FAN_ACCESS | FAN_MODIFY and an evictable ignore mark for both on each of
//!   10^4 files, round-robin (the antivirus / HSM pattern: every inode has
//!   marks, nothing is queued; checked);
//! - `event/write1+read`: inotify IN_MODIFY on the file, each operation is a
//!   1-byte write and the read of its event (delivery and draining);
//! - `create-unlink`, `open-close`, `stat` of a cached file, no marks.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn c(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("path without NUL")
}

fn ok(r: libc::c_long, what: &str) -> libc::c_long {
    if r < 0 {
        eprintln!("{what}: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    r
}

/// The marker the L1D plugin counts at (see the crate docs).
#[inline(always)]
fn marker() {
    // SAFETY: `xchg %bx,%bx` exchanges a register with itself: no effect on
    // registers, memory, stack or flags.
    unsafe {
        std::arch::asm!(
            ".byte 0x66, 0x87, 0xdb",
            options(nomem, nostack, preserves_flags)
        )
    };
}

/// A file descriptor closed on drop.
struct Fd(libc::c_int);

impl Fd {
    fn open(p: &Path, flags: libc::c_int) -> Fd {
        let cp = c(p);
        // SAFETY: valid C string; the result is checked.
        let fd = unsafe { libc::open(cp.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
        Fd(ok(fd as _, "open") as _)
    }

    fn from_raw(fd: libc::c_int, what: &str) -> Fd {
        Fd(ok(fd as _, what) as _)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Every measured round, in output order.
struct Rounds {
    ops: u64,
    rounds: usize,
    prefixes: Vec<String>,
    markers: u64,
}

impl Rounds {
    fn wanted(&self, case: &str) -> bool {
        self.prefixes.is_empty() || self.prefixes.iter().any(|p| case.starts_with(p.as_str()))
    }

    /// Runs `f` `ops / 10` times to warm up, then `rounds` rounds of `ops`
    /// calls, printing each round.  `f` gets the call's index.
    fn measure(&mut self, case: &str, ops: u64, mut f: impl FnMut(u64)) {
        for i in 0..ops / 10 {
            f(i);
        }
        for r in 0..self.rounds {
            marker();
            let t = Instant::now();
            for i in 0..ops {
                f(i);
            }
            let ns = t.elapsed().as_nanos();
            marker();
            self.markers += 2;
            println!("{case}\t{r}\t{ops}\t{ns}");
        }
    }
}

/// An inotify instance with at most one watch, removed on drop.
struct Inotify(Fd);

impl Inotify {
    fn new() -> Inotify {
        // SAFETY: plain system call, checked.
        Inotify(Fd::from_raw(
            unsafe { libc::inotify_init1(libc::IN_NONBLOCK) },
            "inotify_init1",
        ))
    }

    fn watch(self, target: &Path, mask: u32) -> Inotify {
        let cp = c(target);
        // SAFETY: valid C string and descriptor.
        ok(
            unsafe { libc::inotify_add_watch(self.0 .0, cp.as_ptr(), mask) } as _,
            "inotify_add_watch",
        );
        self
    }
}

// fanotify(7) constants, from include/uapi/linux/fanotify.h.
const FAN_CLASS_NOTIF: u32 = 0;
const FAN_MARK_ADD: u32 = 0x1;
const FAN_MARK_MOUNT: u32 = 0x10;
const FAN_MARK_IGNORED_MASK: u32 = 0x20;
const FAN_MARK_IGNORED_SURV_MODIFY: u32 = 0x40;
const FAN_MARK_FILESYSTEM: u32 = 0x100;
const FAN_MARK_EVICTABLE: u32 = 0x200;
const FAN_ACCESS: u64 = 0x1;
const FAN_MODIFY: u64 = 0x2;
const FAN_CLOSE_WRITE: u64 = 0x8;

/// A fanotify group (notification class, non-blocking).
struct Fanotify(Fd);

impl Fanotify {
    fn new() -> Fanotify {
        // SAFETY: plain system call, checked.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_fanotify_init,
                FAN_CLASS_NOTIF | libc::FAN_NONBLOCK,
                libc::O_RDONLY,
            )
        };
        Fanotify(Fd::from_raw(fd as _, "fanotify_init"))
    }

    fn mark(&self, flags: u32, mask: u64, path: &Path) {
        let cp = c(path);
        // SAFETY: valid descriptor and C string; the result is checked.
        let r = unsafe {
            libc::syscall(
                libc::SYS_fanotify_mark,
                self.0 .0,
                FAN_MARK_ADD | flags,
                mask,
                libc::AT_FDCWD,
                cp.as_ptr(),
            )
        };
        ok(r as _, "fanotify_mark");
    }

    /// Fails the run if any event was queued.
    fn assert_empty(&self, case: &str) {
        let mut buf = [0u8; 4096];
        // SAFETY: reads into a valid buffer of that size.
        let n = unsafe { libc::read(self.0 .0, buf.as_mut_ptr().cast(), buf.len()) };
        if n >= 0 {
            eprintln!("{case}: fanotify queued events, the case does not measure what it says");
            std::process::exit(1);
        }
    }
}

fn pwrite1(fd: &Fd) {
    let b = [1u8];
    // SAFETY: one byte from a valid buffer at offset 0.
    ok(
        unsafe { libc::pwrite(fd.0, b.as_ptr().cast(), 1, 0) } as _,
        "pwrite",
    );
}

fn pread1(fd: &Fd) {
    let mut b = [0u8];
    // SAFETY: one byte into a valid buffer.
    ok(
        unsafe { libc::pread(fd.0, b.as_mut_ptr().cast(), 1, 0) } as _,
        "pread",
    );
}

fn rw_cases(fs: &str, dir: &Path, run: &mut Rounds) {
    let file = dir.join("rw");
    let sibling = dir.join("sibling");
    std::fs::write(&file, [0u8; 4096]).expect("create rw file");
    std::fs::write(&sibling, b"s").expect("create sibling file");
    let settings = [
        "nomark",
        "sb-sibling",
        "fan-sb",
        "fan-mnt",
        "watch-file",
        "watch-parent",
    ];
    for setting in settings {
        let (w, r) = (
            format!("{fs}/write1/{setting}"),
            format!("{fs}/read1/{setting}"),
        );
        if !run.wanted(&w) && !run.wanted(&r) {
            continue;
        }
        let mut _ino = None;
        let mut _fan = None;
        match setting {
            "nomark" => {}
            "sb-sibling" => _ino = Some(Inotify::new().watch(&sibling, libc::IN_CLOSE_WRITE)),
            "watch-file" => _ino = Some(Inotify::new().watch(&file, libc::IN_CLOSE_WRITE)),
            "watch-parent" => _ino = Some(Inotify::new().watch(dir, libc::IN_CLOSE_WRITE)),
            "fan-sb" | "fan-mnt" => {
                let g = Fanotify::new();
                let kind = if setting == "fan-sb" {
                    FAN_MARK_FILESYSTEM
                } else {
                    FAN_MARK_MOUNT
                };
                g.mark(kind, FAN_CLOSE_WRITE, dir);
                _fan = Some(g);
            }
            _ => unreachable!(),
        }
        let fd = Fd::open(&file, libc::O_RDWR);
        if run.wanted(&w) {
            run.measure(&w, run.ops, |_| pwrite1(&fd));
        }
        if run.wanted(&r) {
            run.measure(&r, run.ops, |_| pread1(&fd));
        }
    }
    let _ = std::fs::remove_file(&file);
    let _ = std::fs::remove_file(&sibling);
}

/// `n` files of one byte in `dir/<name>`, opened read-write, in a fixed
/// pseudo-random order.  (Setting up 10^5 files is most of a boot's time under
/// TCG: one open and one write per file.)
fn many_files(dir: &Path, name: &str, n: usize) -> (PathBuf, Vec<Fd>) {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).expect("mkdir");
    let mut fds: Vec<Fd> = (0..n)
        .map(|i| {
            let fd = Fd::open(&d.join(format!("f{i}")), libc::O_RDWR | libc::O_CREAT);
            pwrite1(&fd);
            fd
        })
        .collect();
    // Fisher-Yates with a fixed LCG: the same order in every boot.
    let mut s: u64 = 0x9e3779b97f4a7c15;
    for i in (1..fds.len()).rev() {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        fds.swap(i, (s >> 33) as usize % (i + 1));
    }
    (d, fds)
}

fn remove_many(d: &Path, fds: Vec<Fd>) {
    drop(fds);
    std::fs::remove_dir_all(d).expect("remove files");
}

/// Raises RLIMIT_NOFILE to `n` (root in the guest can); elsewhere to the
/// hard limit, and the cold cases that need more fail at `open`.
fn raise_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: n,
        rlim_max: n,
    };
    // SAFETY: valid rlimit structure.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } == 0 {
        return;
    }
    // SAFETY: valid rlimit structure to fill.
    ok(
        unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } as _,
        "getrlimit",
    );
    lim.rlim_cur = lim.rlim_max;
    // SAFETY: valid rlimit structure.
    ok(
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) } as _,
        "setrlimit(RLIMIT_NOFILE)",
    );
}

/// Runs last on its file system: the 10^5 files stay until the unmount (their
/// removal would cost as much guest time as their creation).
fn cold_cases(fs: &str, dir: &Path, run: &mut Rounds) {
    fan_ignore_case(fs, dir, run);
    let sibling = dir.join("cold-sibling");
    std::fs::write(&sibling, b"s").expect("create sibling file");
    let _ino = Inotify::new().watch(&sibling, libc::IN_CLOSE_WRITE);
    for n in [1_000usize, 10_000, 100_000] {
        let (w, r) = (
            format!("{fs}/cold{n}/write1"),
            format!("{fs}/cold{n}/read1"),
        );
        if !run.wanted(&w) && !run.wanted(&r) {
            continue;
        }
        let (d, fds) = many_files(dir, &format!("cold{n}"), n);
        // At least one pass over all files per round.
        let ops = run.ops.max(n as u64);
        if run.wanted(&w) {
            run.measure(&w, ops, |i| pwrite1(&fds[i as usize % n]));
        }
        if run.wanted(&r) {
            run.measure(&r, ops, |i| pread1(&fds[i as usize % n]));
        }
        if n < 100_000 {
            remove_many(&d, fds);
        } else {
            std::mem::forget(fds); // closed at exit; the files go with the unmount
        }
    }
}

fn fan_ignore_case(fs: &str, dir: &Path, run: &mut Rounds) {
    let (w, r) = (
        format!("{fs}/fan-ignore/write1"),
        format!("{fs}/fan-ignore/read1"),
    );
    if run.wanted(&w) || run.wanted(&r) {
        let n = 10_000usize;
        let (d, fds) = many_files(dir, "fan-ignore", n);
        let g = Fanotify::new();
        g.mark(FAN_MARK_FILESYSTEM, FAN_ACCESS | FAN_MODIFY, dir);
        for i in 0..n {
            g.mark(
                FAN_MARK_IGNORED_MASK | FAN_MARK_IGNORED_SURV_MODIFY | FAN_MARK_EVICTABLE,
                FAN_ACCESS | FAN_MODIFY,
                &d.join(format!("f{i}")),
            );
        }
        let ops = run.ops.max(n as u64);
        if run.wanted(&w) {
            run.measure(&w, ops, |i| pwrite1(&fds[i as usize % n]));
        }
        if run.wanted(&r) {
            run.measure(&r, ops, |i| pread1(&fds[i as usize % n]));
        }
        g.assert_empty(&w);
        drop(g);
        remove_many(&d, fds);
    }
}

fn event_case(fs: &str, dir: &Path, run: &mut Rounds) {
    let case = format!("{fs}/event/write1+read");
    if !run.wanted(&case) {
        return;
    }
    let file = dir.join("event");
    std::fs::write(&file, b"e").expect("create event file");
    let ino = Inotify::new().watch(&file, libc::IN_MODIFY);
    let fd = Fd::open(&file, libc::O_RDWR);
    let mut buf = [0u8; 256];
    run.measure(&case, run.ops, |_| {
        pwrite1(&fd);
        // SAFETY: reads into a valid buffer of that size.
        let n = unsafe { libc::read(ino.0 .0, buf.as_mut_ptr().cast(), buf.len()) };
        // One struct inotify_event (16 bytes, no name: the watch is on the file).
        if n != 16 {
            eprintln!("{case}: read {n} bytes of events, expected one event");
            std::process::exit(1);
        }
    });
    drop(fd);
    let _ = std::fs::remove_file(&file);
}

fn other_cases(fs: &str, dir: &Path, run: &mut Rounds) {
    let case = format!("{fs}/create-unlink");
    if run.wanted(&case) {
        let churn = dir.join("churn");
        let cp = c(&churn);
        run.measure(&case, run.ops / 4, |_| {
            // SAFETY: valid C string; the fd is closed right away.
            let fd = ok(
                unsafe {
                    libc::open(
                        cp.as_ptr(),
                        libc::O_CREAT | libc::O_WRONLY | libc::O_CLOEXEC,
                        0o644,
                    )
                } as _,
                "create",
            );
            // SAFETY: our descriptor and a valid path.
            unsafe {
                libc::close(fd as _);
                ok(libc::unlink(cp.as_ptr()) as _, "unlink");
            }
        });
    }

    let cached = dir.join("cached");
    std::fs::write(&cached, b"x").expect("cached file");
    let cc = c(&cached);
    let case = format!("{fs}/open-close");
    if run.wanted(&case) {
        run.measure(&case, run.ops, |_| {
            // SAFETY: valid C string; the fd is closed right away.
            let fd = ok(
                unsafe { libc::open(cc.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } as _,
                "open",
            );
            // SAFETY: our descriptor.
            unsafe { libc::close(fd as _) };
        });
    }
    let case = format!("{fs}/stat");
    if run.wanted(&case) {
        run.measure(&case, run.ops, |_| {
            // SAFETY: zeroed stat buffer, valid C string.
            let mut st: libc::stat = unsafe { std::mem::zeroed() };
            // SAFETY: as above.
            ok(unsafe { libc::stat(cc.as_ptr(), &mut st) } as _, "stat");
        });
    }
    let _ = std::fs::remove_file(&cached);
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 5 {
        eprintln!("usage: syscall-bench <tmpfs-dir> <ext4-dir> <ops> <rounds> [CASE-PREFIX...]");
        std::process::exit(2);
    }
    let dirs = [
        ("tmpfs", PathBuf::from(&a[1])),
        ("ext4", PathBuf::from(&a[2])),
    ];
    let mut run = Rounds {
        ops: a[3].parse().expect("ops"),
        rounds: a[4].parse().expect("rounds"),
        prefixes: a[5..].to_vec(),
        markers: 1,
    };
    // Two descriptors per file of the largest cold case, and slack.
    raise_nofile(2 * 100_000 + 1024);
    marker();
    for (fs, dir) in &dirs {
        rw_cases(fs, dir, &mut run);
        event_case(fs, dir, &mut run);
        other_cases(fs, dir, &mut run);
        cold_cases(fs, dir, &mut run);
    }
    println!("#markers\t{}", run.markers);
}
