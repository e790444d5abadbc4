// SPDX-License-Identifier: GPL-2.0

//! Helpers shared by the inode-addons tests.
//!
//! Every test in `tests/` runs inside a VM booted by `tools/vm-run.sh` on one
//! kernel flavor (`cargo make test` does that).  Run anywhere else, the tests
//! fail on purpose through [`require_vm`]: they assert kernel behaviour and
//! must never pass vacuously on the host.

pub mod bpf;
pub mod fault;
pub mod notify;
pub mod rng;

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod addons;

/// Panics unless running inside a guest started by the harness.
pub fn require_vm() {
    assert_eq!(
        std::env::var("IN_INODE_ADDONS_VM").as_deref(),
        Ok("1"),
        "these tests run inside the VM: use `cargo make test`"
    );
}

/// Fails the test unless the guest runs the debug variant: `what` (fault
/// injection, kmemleak) exists there only.  `tools/test.sh` does not run
/// such tests on release (it lists them as not run), so a test never
/// passes without doing what it says.
pub fn require_debug_variant(what: &str) {
    assert_eq!(
        env("VARIANT"),
        "debug",
        "needs the debug variant ({what}); tools/test.sh lists it as not run on release"
    );
}

/// An environment variable the harness sets for the guest.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| panic!("harness did not set {name}"))
}

/// A numeric knob from the environment (e.g. `IA_STRESS_SECS`), `default`
/// when unset or not a number.
pub fn env_num<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// The kernel flavor under test (`stock`, `addons`, ...).
pub fn flavor() -> String {
    env("FLAVOR")
}

/// `p` as a NUL-terminated C string for a system call; panics if it holds a
/// NUL byte.
pub fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_encoded_bytes()).expect("path without NUL")
}

/// Whether the running kernel carries the inode_addons series (flavors
/// `addons`, `addons-inline-mask`; not `stock` or `stock-packed`): the
/// series creates the `inode_addons_cache` slab at boot.  Asked of the
/// kernel, not of the flavor's name, so that a new flavor is classified by
/// what it is.
pub fn has_inode_addons() -> bool {
    std::path::Path::new("/sys/kernel/slab/inode_addons_cache").exists()
}

/// Path of the module built for this flavor.
pub fn module_path() -> PathBuf {
    PathBuf::from(env("INODE_ADDONS_KO"))
}

/// Path of the bpftool built from the kernel tree.
pub fn bpftool() -> PathBuf {
    PathBuf::from(env("BPFTOOL"))
}

/// Runs a command, returns its output (never panics on a non-zero status).
pub fn run(prog: &str, args: &[&str]) -> Output {
    Command::new(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {prog}: {e}"))
}

/// Runs a command and panics with its stderr unless it succeeds.
pub fn run_ok(prog: &str, args: &[&str]) -> String {
    let out = run(prog, args);
    assert!(
        out.status.success(),
        "{prog} {args:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether a module of that name is loaded (from /proc/modules).
pub fn module_loaded(name: &str) -> bool {
    fs::read_to_string("/proc/modules")
        .expect("read /proc/modules")
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// The registered kprobes, as listed by debugfs (one line each).
pub fn kprobes() -> Vec<String> {
    fs::read_to_string("/sys/kernel/debug/kprobes/list")
        .expect("read /sys/kernel/debug/kprobes/list")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Writes to a proc/sys/debugfs file.
pub fn write_file(path: &str, data: &str) -> std::io::Result<()> {
    fs::write(path, data)
}

/// Drops clean caches (dentries and inodes), evicting unused inodes.
pub fn drop_caches() {
    fs::write("/proc/sys/vm/drop_caches", "2").expect("write drop_caches");
}

/// The kernel log's records as (sequence number, message), oldest first, read
/// from `/dev/kmsg`.  Sequence numbers, unlike line counts of `dmesg`, stay
/// valid when the log buffer wraps: once it is full, every new line pushes an
/// old one out and the line count stops growing.
fn kmsg_records() -> Vec<(usize, String)> {
    use std::io::{ErrorKind, Read};
    use std::os::unix::fs::OpenOptionsExt;

    let mut kmsg = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
        .expect("open /dev/kmsg");
    let mut records = Vec::new();
    // One record per read(); the kernel truncates none below 8 KiB.
    let mut buf = vec![0u8; 8192];
    loop {
        match kmsg.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                // "prio,seq,time,flags;message\n" then " KEY=value" lines.
                let rec = String::from_utf8_lossy(&buf[..n]);
                let (head, rest) = rec.split_once(';').expect("/dev/kmsg record without ';'");
                let seq = head
                    .split(',')
                    .nth(1)
                    .and_then(|s| s.parse().ok())
                    .expect("/dev/kmsg record without a sequence number");
                let msg = rest.split('\n').next().unwrap_or("").to_owned();
                records.push((seq, msg));
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            // The record was overwritten while we read: the next read
            // returns the oldest one left.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => continue,
            Err(e) => panic!("read /dev/kmsg: {e}"),
        }
    }
    records
}

/// The kernel log's position now (the sequence number the next record will
/// get); pair with [`dmesg_since`].
pub fn dmesg_mark() -> usize {
    kmsg_records().last().map_or(0, |(seq, _)| seq + 1)
}

/// Kernel log messages written since `mark` (without `dmesg`'s timestamps).
pub fn dmesg_since(mark: usize) -> Vec<String> {
    kmsg_records()
        .into_iter()
        .filter(|(seq, _)| *seq >= mark)
        .map(|(_, msg)| msg)
        .collect()
}

/// A loaded `inode_addons` module, unloaded (and checked gone) on drop.
pub struct Module {
    _private: (),
}

impl Module {
    /// Loads the module built for this flavor with `params`.
    pub fn load(params: &[&str]) -> Result<Module, String> {
        require_vm();
        assert!(
            !module_loaded("inode_addons"),
            "inode_addons already loaded: an earlier test leaked it"
        );
        let ko = module_path();
        let ko = ko.to_str().expect("utf-8 path");
        let mut args = vec![ko];
        args.extend_from_slice(params);
        let out = run("insmod", &args);
        if out.status.success() {
            Ok(Module { _private: () })
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// Unloads the module once the references that released BPF programs
    /// still hold are gone (see [`wait_module_released`]); rmmod's error
    /// if it refuses then.
    pub fn unload(self) -> Result<(), String> {
        std::mem::forget(self);
        unload_released()
    }
}

/// The module's reference count (0 if it is not loaded).
fn module_refcnt() -> u32 {
    fs::read_to_string("/sys/module/inode_addons/refcnt")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// How long [`Module::unload`] waits for released programs' references.
const RELEASE_WAIT: std::time::Duration = std::time::Duration::from_secs(20);

/// Waits, at most `within`, for the module's reference count to reach 0,
/// and returns the last count read.
///
/// A BPF program that calls the module's kfuncs holds a module reference
/// (through its kfunc BTF) until the program is freed, and the kernel
/// frees it asynchronously once its last descriptor and link are gone
/// (`bpf_prog_put()`: an RCU grace period, then `bpf_prog_free_deferred()`
/// in a workqueue); a test that drops its programs and then unloads
/// races with that.  Upstream's selftests retry `delete_module()` alike
/// (`unload_module()` in tools/testing/selftests/bpf/testing_helpers.c).
/// A reference that is not released in time is left for rmmod to report.
pub fn wait_module_released(within: std::time::Duration) -> u32 {
    let deadline = std::time::Instant::now() + within;
    loop {
        let refs = module_refcnt();
        if refs == 0 || std::time::Instant::now() >= deadline {
            return refs;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// rmmod once the module is released ([`wait_module_released`]).
fn unload_released() -> Result<(), String> {
    let refs = wait_module_released(RELEASE_WAIT);
    rmmod().map_err(|e| format!("{e} (refcnt {refs}; waited up to {RELEASE_WAIT:?} for 0)"))
}

fn rmmod() -> Result<(), String> {
    let out = run("rmmod", &["inode_addons"]);
    if out.status.success() && !module_loaded("inode_addons") {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

impl Drop for Module {
    fn drop(&mut self) {
        // A refused rmmod would leak the module into every later test
        // ("already loaded"): wait for released programs' references as
        // `unload` does, panicking or not.
        if let Err(e) = unload_released() {
            if !std::thread::panicking() {
                panic!("rmmod inode_addons failed: {e}");
            }
        }
    }
}

/// Runs a kmemleak scan now and returns the unreferenced objects it lists
/// (one block per object), or `None` without kmemleak.
pub fn kmemleak_scan() -> Option<Vec<String>> {
    const KML: &str = "/sys/kernel/debug/kmemleak";
    fs::write(KML, "scan").ok()?;
    let text = fs::read_to_string(KML).expect("read kmemleak");
    let mut blocks: Vec<String> = Vec::new();
    for l in text.lines() {
        if l.starts_with("unreferenced object") || blocks.is_empty() {
            blocks.push(String::new());
        }
        let b = blocks.last_mut().unwrap();
        b.push_str(l);
        b.push('\n');
    }
    blocks.retain(|b| !b.trim().is_empty());
    Some(blocks)
}

/// kmemleak's objects (see [`kmemleak_scan`]) allocated by the module or
/// the kernel's addons code: their backtrace names `inode_addons`, or has a
/// frame no symbol resolves any more (code of an unloaded module).  All the
/// objects listed are printed.
pub fn kmemleak_addons_leaks() -> Vec<String> {
    let all = kmemleak_scan().expect("kmemleak (debug variant)");
    for b in &all {
        eprintln!("kmemleak: {b}");
    }
    all.into_iter()
        .filter(|b| b.contains("inode_addons") || b.contains("] 0xffffffff"))
        .collect()
}
