// SPDX-License-Identifier: GPL-2.0

//! Syscall-level benchmark, run inside a VM by tools/bench.sh.
//!
//! `syscall-bench <tmpfs-dir> <ext4-dir> <ops> <rounds>` prints one line per
//! case: `case<TAB>ns_per_op` with the median over `rounds` rounds of `ops`
//! operations each.  The cases are the fsnotify hot path (1-byte write and
//! read with no marks, with an inotify watch on the file, with one on the
//! parent directory) on tmpfs and ext4, inode churn (create + unlink),
//! open + close and stat of a cached file.

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

/// A file descriptor closed on drop.
struct Fd(libc::c_int);

impl Fd {
    fn open(p: &Path, flags: libc::c_int) -> Fd {
        let cp = c(p);
        // SAFETY: valid C string; the result is checked.
        let fd = unsafe { libc::open(cp.as_ptr(), flags | libc::O_CLOEXEC, 0o644) };
        Fd(ok(fd as _, "open") as _)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the descriptor.
        unsafe { libc::close(self.0) };
    }
}

/// Median ns/op of `rounds` runs of `ops` calls of `f`.
fn measure(ops: u64, rounds: usize, mut f: impl FnMut()) -> f64 {
    // One warm-up round: caches, page allocation, JIT of nothing.
    for _ in 0..ops / 10 {
        f();
    }
    let mut v: Vec<f64> = (0..rounds)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..ops {
                f();
            }
            t.elapsed().as_nanos() as f64 / ops as f64
        })
        .collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

#[derive(Clone, Copy)]
enum Watch {
    None,
    File,
    Parent,
}

impl Watch {
    fn name(self) -> &'static str {
        match self {
            Watch::None => "nomark",
            Watch::File => "watch-file",
            Watch::Parent => "watch-parent",
        }
    }
}

/// An inotify instance with one watch, removed on drop.
struct InotifyWatch {
    _fd: Option<Fd>,
}

impl InotifyWatch {
    fn new(w: Watch, file: &Path) -> InotifyWatch {
        let target = match w {
            Watch::None => return InotifyWatch { _fd: None },
            Watch::File => file.to_path_buf(),
            Watch::Parent => file.parent().unwrap().to_path_buf(),
        };
        // SAFETY: plain system call, checked.
        let fd = Fd(ok(
            unsafe { libc::inotify_init1(libc::IN_NONBLOCK) } as _,
            "inotify",
        ) as _);
        let cp = c(&target);
        // IN_CLOSE_WRITE only: the marks exist and the inode's mask is
        // non-zero, but the measured write/read events are not queued, so
        // the cost measured is the hook's filtering, not queueing.
        // SAFETY: valid C string and descriptor.
        ok(
            unsafe { libc::inotify_add_watch(fd.0, cp.as_ptr(), libc::IN_CLOSE_WRITE) } as _,
            "inotify_add_watch",
        );
        InotifyWatch { _fd: Some(fd) }
    }
}

fn rw_cases(fs: &str, dir: &Path, ops: u64, rounds: usize, out: &mut Vec<(String, f64)>) {
    let file = dir.join("rw");
    std::fs::write(&file, [0u8; 4096]).expect("create rw file");
    for w in [Watch::None, Watch::File, Watch::Parent] {
        let _watch = InotifyWatch::new(w, &file);
        let fd = Fd::open(&file, libc::O_RDWR);
        let b = [1u8];
        let ns = measure(ops, rounds, || {
            // SAFETY: one byte from a valid buffer at offset 0.
            ok(
                unsafe { libc::pwrite(fd.0, b.as_ptr().cast(), 1, 0) } as _,
                "pwrite",
            );
        });
        out.push((format!("{fs}/write1/{}", w.name()), ns));
        let mut r = [0u8];
        let ns = measure(ops, rounds, || {
            // SAFETY: one byte into a valid buffer.
            ok(
                unsafe { libc::pread(fd.0, r.as_mut_ptr().cast(), 1, 0) } as _,
                "pread",
            );
        });
        out.push((format!("{fs}/read1/{}", w.name()), ns));
    }
    let _ = std::fs::remove_file(&file);
}

fn other_cases(fs: &str, dir: &Path, ops: u64, rounds: usize, out: &mut Vec<(String, f64)>) {
    let churn = dir.join("churn");
    let cp = c(&churn);
    let ns = measure(ops / 4, rounds, || {
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
    out.push((format!("{fs}/create-unlink"), ns));

    let cached = dir.join("cached");
    std::fs::write(&cached, b"x").expect("cached file");
    let cc = c(&cached);
    let ns = measure(ops, rounds, || {
        // SAFETY: valid C string; the fd is closed right away.
        let fd = ok(
            unsafe { libc::open(cc.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) } as _,
            "open",
        );
        // SAFETY: our descriptor.
        unsafe { libc::close(fd as _) };
    });
    out.push((format!("{fs}/open-close"), ns));
    let ns = measure(ops, rounds, || {
        // SAFETY: zeroed stat buffer, valid C string.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: as above.
        ok(unsafe { libc::stat(cc.as_ptr(), &mut st) } as _, "stat");
    });
    out.push((format!("{fs}/stat"), ns));
}

fn main() {
    let a: Vec<String> = std::env::args().collect();
    if a.len() != 5 {
        eprintln!("usage: syscall-bench <tmpfs-dir> <ext4-dir> <ops> <rounds>");
        std::process::exit(2);
    }
    let dirs = [
        ("tmpfs", PathBuf::from(&a[1])),
        ("ext4", PathBuf::from(&a[2])),
    ];
    let ops: u64 = a[3].parse().expect("ops");
    let rounds: usize = a[4].parse().expect("rounds");
    let mut out = Vec::new();
    for (fs, dir) in &dirs {
        rw_cases(fs, dir, ops, rounds, &mut out);
        other_cases(fs, dir, ops, rounds, &mut out);
    }
    for (k, v) in out {
        println!("{k}\t{v:.1}");
    }
}
