// SPDX-License-Identifier: GPL-2.0

//! `filelife-cost DIR [OPS] [ROUNDS]`: what one traced write costs each
//! backend.  On the file system of DIR (a fresh tmpfs), OPS 1-byte
//! pwrite()s of one file per round, ROUNDS rounds, for: no tracer, the
//! hash backend, the storage backend (where the kernel accepts it), no
//! tracer again (the A/A control).  Prints one line per case with the least
//! round's ns/op (`CLOCK_MONOTONIC`).  Under QEMU `-icount shift=0,sleep=off`
//! the guest clock advances 1 ns per executed instruction, so the numbers
//! are instructions per write (kernel, user and ticks), as in bench/.  Each
//! write runs the backend's fexit/vfs_write program once: the backend's
//! difference to "none" is its instructions per event.

use filelife::{kernel_dev, Backend, Options, StartError, Tracer};
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::time::Instant;

fn round(fd: i32, ops: u32) -> f64 {
    let t = Instant::now();
    for _ in 0..ops {
        // SAFETY: a valid fd and a 1-byte buffer on the stack.
        let r = unsafe { libc::pwrite(fd, b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(r, 1, "pwrite: {}", std::io::Error::last_os_error());
    }
    t.elapsed().as_nanos() as f64 / ops as f64
}

fn main() {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(
        args.next()
            .expect("usage: filelife-cost DIR [OPS] [ROUNDS]"),
    );
    let ops: u32 = args.next().map_or(20_000, |s| s.parse().expect("OPS"));
    let rounds: u32 = args.next().map_or(5, |s| s.parse().expect("ROUNDS"));
    let file = std::fs::File::create(dir.join("cost")).expect("create");
    let fd = file.as_raw_fd();
    let dev = kernel_dev(&dir).expect("stat");
    for case in ["none", "hash", "storage", "none-again"] {
        let tracer = match case {
            "hash" | "storage" => {
                let backend = case.parse().unwrap();
                match Tracer::start(&Options {
                    backend,
                    dev: Some(dev),
                    max_entries: None,
                }) {
                    Ok(t) => Some(t),
                    Err(StartError::Refused(_)) if backend == Backend::Storage => {
                        println!("case=pwrite1 backend={case} refused by this kernel");
                        continue;
                    }
                    Err(e) => panic!("{case}: {e}"),
                }
            }
            _ => None,
        };
        round(fd, ops); // warm-up: the state exists, caches are warm
        let best = (0..rounds).map(|_| round(fd, ops)).fold(f64::MAX, f64::min);
        let writes = tracer.as_ref().map_or(0, |t| t.stats().writes);
        println!(
            "case=pwrite1 backend={case} ns_per_op={best:.1} ops={ops} rounds={rounds} \
             writes_traced={writes}"
        );
    }
}
