// SPDX-License-Identifier: GPL-2.0

//! The in-kernel microbenchmark (`bench` on the control file) with small
//! tracked counts: its TSV is well formed, every number is positive, bad
//! arguments are rejected with EINVAL and a second run with EBUSY, a fatal
//! signal stops a run, and every addons object it allocated is freed (in
//! the bench's own counters; the module's stay balanced).
//!
//! Same assertions on both backends: the side table (stock) and the
//! embedded pointer (kernels with the series).

use std::fs;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};
use userspace_test::addons::{backend, control_write, stat, unload_report, DEBUGFS};
use userspace_test::bpf::as_test_thread;
use userspace_test::{dmesg_mark, Module};

fn bench_read() -> Result<String, i32> {
    fs::read_to_string(format!("{DEBUGFS}/bench")).map_err(|e| e.raw_os_error().unwrap_or(0))
}

/// One result row.
struct Row {
    backend: String,
    tracked: u64,
    threads: u64,
    op: String,
    ns_per_op: f64,
    ops: u64,
}

/// Parses the TSV, checking its shape; `# skipped` lines are returned
/// apart.
fn parse(text: &str) -> (Vec<Row>, Vec<String>) {
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("backend\ttracked\tthreads\top\tns_per_op\tops"),
        "header of {text:?}"
    );
    let mut rows = Vec::new();
    let mut skipped = Vec::new();
    for l in lines {
        if l.starts_with("# skipped\t") {
            skipped.push(l.to_owned());
            continue;
        }
        let f: Vec<&str> = l.split('\t').collect();
        assert_eq!(f.len(), 6, "row {l:?}");
        let (int, frac) = f[4].split_once('.').expect("ns_per_op has 2 decimals");
        assert!(
            frac.len() == 2 && int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()),
            "ns_per_op {l:?}"
        );
        rows.push(Row {
            backend: f[0].to_owned(),
            tracked: f[1].parse().expect("tracked"),
            threads: f[2].parse().expect("threads"),
            op: f[3].to_owned(),
            ns_per_op: f[4].parse().expect("ns_per_op"),
            ops: f[5].parse().expect("ops"),
        });
    }
    (rows, skipped)
}

/// Runs `bench TRACKED THREADS...` and checks its rows.
fn run_and_check(tracked: u64, threads: &[u64]) {
    let arg = match threads {
        [t] => format!("bench {tracked} {t}\n"),
        _ => format!("bench {tracked}\n"),
    };
    control_write(arg.as_bytes()).unwrap_or_else(|e| panic!("{arg:?}: errno {e}"));
    let text = bench_read().expect("read bench");
    let (rows, skipped) = parse(&text);
    assert!(skipped.is_empty(), "{skipped:?}");
    let be = backend();
    let mut want = Vec::new();
    for &t in threads {
        for op in ["lookup_hit", "lookup_miss", "get_or_create"] {
            want.push((t, op));
        }
    }
    let got: Vec<(u64, &str)> = rows.iter().map(|r| (r.threads, r.op.as_str())).collect();
    assert_eq!(got, want, "{text}");
    for r in &rows {
        assert_eq!(r.backend, be, "{text}");
        assert_eq!(r.tracked, tracked, "{text}");
        assert!(r.ns_per_op > 0.0 && r.ns_per_op.is_finite(), "{text}");
        assert!(r.ops > 0, "{text}");
    }
}

/// Waits until a run is going (the `bench` file says EBUSY).
fn wait_busy() {
    let t0 = Instant::now();
    while bench_read().is_ok() {
        assert!(t0.elapsed() < Duration::from_secs(120), "no run started");
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn microbench_runs_rejects_and_cleans_up() {
    let m = Module::load(&[]).expect("insmod");
    let side_table = !userspace_test::addons::embedded();
    // Nothing run yet: empty results.
    assert_eq!(bench_read().expect("read bench"), "");

    run_and_check(100, &[1]);
    run_and_check(1000, &[2]);
    run_and_check(300, &[1, 2]);
    let last = bench_read().unwrap();

    // Bad arguments: EINVAL, and the last results stay.
    for bad in [
        &b"bench 0"[..],
        b"bench 10000001",
        b"bench 10 0",
        b"bench 10 9",
        b"bench x",
        b"bench -1",
        b"bench 10 1 1",
        b"bench 1e3",
        b"benchx",
        b"bench 10\0 1",
        b"bench \xff",
    ] {
        assert_eq!(control_write(bad), Err(libc::EINVAL), "{bad:?}");
    }
    assert_eq!(bench_read().unwrap(), last);

    // A second run while one is going: EBUSY.
    let bg = thread::spawn(|| control_write(b"bench 20000 1"));
    wait_busy();
    assert_eq!(control_write(b"bench 100 1"), Err(libc::EBUSY));
    assert_eq!(bench_read(), Err(libc::EBUSY));
    assert_eq!(bg.join().unwrap(), Ok(()));
    let (rows, _) = parse(&bench_read().unwrap());
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r.tracked == 20000));

    // A fatal signal stops a run soon, and everything is torn down.
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!("echo 'bench 100000 2' > {DEBUGFS}/control"))
        .spawn()
        .expect("spawn sh");
    wait_busy();
    thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    child.kill().expect("SIGKILL");
    child.wait().expect("wait");
    assert!(t0.elapsed() < Duration::from_secs(60), "{:?}", t0.elapsed());
    // The lock is free again, the killed run left the results alone.
    let (rows, _) = parse(&bench_read().expect("read after kill"));
    assert!(rows.iter().all(|r| r.tracked == 20000));

    // Every bench object was freed (the write returns after rcu_barrier),
    // and none were counted as the module's.
    let allocated = stat("bench_addons_allocated");
    assert!(allocated >= 100 + 1000 + 300 + 20000, "{allocated}");
    assert_eq!(allocated, stat("bench_addons_freed"));
    if side_table {
        assert_eq!(stat("addons_allocated"), stat("addons_freed"));
        assert_eq!(stat("inodes_with_addons"), 0);
    }
    let mark = dmesg_mark();
    m.unload().expect("rmmod");
    if side_table {
        let (drained, allocated, freed) = unload_report(mark);
        assert_eq!(drained, 0);
        assert_eq!(allocated, freed);
    }
}

/// A BPF program that reaches the bench's synthetic inodes, on the kernels
/// with the series (bpf-progs/bench_synthetic.bpf.c, on
/// `inode_addons_alloc()`, which the embedded bench calls to create the
/// addons of its tracked inodes, in the writer's thread, before the timed
/// phases): every other one comes from the kfunc (the BPF memory
/// allocator), which only the kernel could free.  The module leaves exactly
/// those attached, leaks them (counted, warned, their addresses handed to
/// kmemleak as a root: the debug variant's final scan would report them
/// otherwise) and fails the run with EIO, although every phase ran: the
/// program's work was part of the run.  The program also asks for inode
/// storage on the others, which the kernel refuses: a synthetic inode is
/// unreferenced (`i_count` 0).  Without the series there is no such
/// function and the program does not load.
#[test]
fn bpf_program_on_synthetic_inodes_fails_the_run_and_leaks_only_its_addons() {
    let m = Module::load(&[]).expect("insmod");
    let loaded = userspace_test::bpf::Attached::load("bench_synthetic");
    if !userspace_test::addons::embedded() {
        let err = loaded
            .err()
            .expect("no inode_addons_alloc() to attach to without the series");
        assert!(err.contains("inode_addons_alloc"), "{err}");
        m.unload().expect("rmmod");
        return;
    }
    let prog = loaded.expect("load and attach");
    let (alloc0, freed0, leaked0) = (
        stat("bench_addons_allocated"),
        stat("bench_addons_freed"),
        stat("bench_addons_leaked"),
    );
    let mark = dmesg_mark();
    assert_eq!(
        as_test_thread(|| control_write(b"bench 300 2")),
        Err(libc::EIO)
    );
    assert_eq!(bench_read().expect("read bench"), "", "no results kept");
    let (kfunc_got, storage_got) = (prog.global("kfunc_got"), prog.global("storage_got"));
    let (allocated, freed, leaked) = (
        stat("bench_addons_allocated") - alloc0,
        stat("bench_addons_freed") - freed0,
        stat("bench_addons_leaked") - leaked0,
    );
    println!(
        "kfunc created {kfunc_got}, storage on {storage_got}; bench allocated {allocated}, \
         freed {freed}, leaked {leaked}"
    );
    assert!(kfunc_got >= 1, "the kfunc created addons");
    // Patch 3: storage is created only on a referenced inode (i_count).
    assert_eq!(storage_got, 0, "storage on an inode nobody holds");
    assert_eq!(leaked as u64, kfunc_got, "leaked exactly those");
    assert_eq!(allocated, freed + leaked);
    let warned = format!(
        "bench: a BPF program gave {leaked} synthetic inodes addons or storage; leaking them"
    );
    let log = userspace_test::dmesg_since(mark);
    assert!(
        log.iter().any(|l| l.contains(&warned)),
        "{warned:?} in {log:?}"
    );
    prog.detach();
    // Without the program the bench works, and frees everything.
    let leaked = stat("bench_addons_leaked");
    run_and_check(100, &[1]);
    assert_eq!(stat("bench_addons_leaked"), leaked);
    m.unload().expect("rmmod");
}
