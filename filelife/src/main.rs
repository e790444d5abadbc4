// SPDX-License-Identifier: GPL-2.0

//! `filelife [--backend hash|storage] [--mount PATH] [--max-entries N]
//! [--duration SECS]`: prints one line per unlinked file (age, bytes
//! written, writes), then a summary of the backend's counters on SIGINT,
//! SIGTERM or after SECS.  "filelife: tracing" on stderr says the programs
//! are attached.  Exit status 2: the kernel refused the backend.

use filelife::{kernel_dev, Backend, Options, StartError, Tracer, HEADER};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

fn usage(msg: &str) -> ! {
    eprintln!(
        "filelife: {msg}\nusage: filelife [--backend hash|storage] [--mount PATH] \
         [--max-entries N] [--duration SECS]"
    );
    std::process::exit(1)
}

fn main() {
    let mut opts = Options {
        backend: Backend::Hash,
        dev: None,
        max_entries: None,
    };
    let mut mount = None;
    let mut duration = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || {
            args.next()
                .unwrap_or_else(|| usage(&format!("{a} needs a value")))
        };
        match a.as_str() {
            "--backend" => opts.backend = val().parse().unwrap_or_else(|e: String| usage(&e)),
            "--mount" => mount = Some(PathBuf::from(val())),
            "--max-entries" => {
                opts.max_entries = Some(val().parse().unwrap_or_else(|_| usage("bad count")))
            }
            "--duration" => {
                duration = Some(Duration::from_secs_f64(
                    val().parse().unwrap_or_else(|_| usage("bad duration")),
                ))
            }
            _ => usage(&format!("unknown argument {a}")),
        }
    }
    if let Some(m) = &mount {
        opts.dev = Some(kernel_dev(m).unwrap_or_else(|e| usage(&format!("{}: {e}", m.display()))));
    }
    let mut tracer = match Tracer::start(&opts) {
        Ok(t) => t,
        Err(StartError::Refused(log)) => {
            eprintln!(
                "filelife: the kernel refused the {} backend's programs.{}\n{log}",
                opts.backend.name(),
                if opts.backend == Backend::Storage {
                    " BPF inode storage from tracing programs needs the inode_addons \
                     series; stock 6.12 gives it to BPF LSM programs only."
                } else {
                    ""
                }
            );
            std::process::exit(2)
        }
        Err(e) => {
            eprintln!("filelife: {e}");
            std::process::exit(1)
        }
    };
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    eprintln!("filelife: tracing (backend {})", opts.backend.name());
    println!("{HEADER}");
    let start = Instant::now();
    while !STOP.load(Ordering::Relaxed) && duration.is_none_or(|d| start.elapsed() < d) {
        for e in tracer.poll_events(Duration::from_millis(100)) {
            println!("{}", e.line());
        }
    }
    for e in tracer.take_events() {
        println!("{}", e.line());
    }
    let s = tracer.stats();
    println!(
        "# backend={} live_states={} map_bytes={} created={} found_at_create={} \
         no_state={} writes={} reported={} untracked_unlinks={} inode_freed={} lost_events={}",
        opts.backend.name(),
        tracer.live_states(),
        tracer.map_bytes(),
        s.created,
        s.found_at_create,
        s.no_state,
        s.writes,
        s.reported,
        s.untracked_unlinks,
        s.inode_freed,
        s.lost_events
    );
}
