// SPDX-License-Identifier: GPL-2.0

//! Loading the programs of `bpf-progs/` with the tree's bpftool, and reading
//! their global variables back.
//!
//! Counts are read back from the programs' `.bss` (`bpftool map dump`, JSON
//! formatted through the object's BTF) rather than from the per-inode storage
//! itself: inode storage maps have no `get_next_key`, so bpftool cannot dump
//! them, and a user-space reader would need an fd of the very inode, which is
//! exactly what the program stores per inode anyway (`last_count` is the
//! stored value right after the increment).

use crate::{bpftool, env, run};
use serde_json::Value;
use std::ffi::CString;
use std::mem::size_of_val;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};

/// Mounts bpffs on /sys/fs/bpf unless it is there: pinned programs and
/// links live there (bpftool mounts it for `prog load`, not for `loadall`).
pub fn ensure_bpffs() {
    let mounts = std::fs::read_to_string("/proc/self/mounts").expect("/proc/self/mounts");
    if mounts
        .lines()
        .any(|l| l.split_whitespace().nth(1) == Some("/sys/fs/bpf") && l.contains(" bpf "))
    {
        return;
    }
    crate::run_ok("mount", &["-t", "bpf", "bpf", "/sys/fs/bpf"]);
}

/// Directory of the compiled BPF objects for this flavor.
pub fn obj(name: &str) -> PathBuf {
    PathBuf::from(format!("{}/bpf/{name}.bpf.o", env("KDIR")))
}

/// Runs bpftool with `args`.
pub fn bpftool_run(args: &[&str]) -> Output {
    run(bpftool().to_str().expect("utf-8 path"), args)
}

/// The verifier's answer for one object: `Ok(())` when loaded, or the
/// loader's log (libbpf prints the verifier log on failure).
pub fn try_load(name: &str) -> Result<(), String> {
    ensure_bpffs();
    let pin = format!("/sys/fs/bpf/ia_verdict_{name}");
    let o = obj(name);
    let out = bpftool_run(&["prog", "load", o.to_str().unwrap(), &pin]);
    if out.status.success() {
        std::fs::remove_file(&pin).expect("unpin the accepted program");
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// A program loaded with `bpftool prog loadall ... autoattach`; detached and
/// unpinned on drop.
pub struct Attached {
    dir: String,
    /// Id of the program.
    pub prog_id: u64,
    /// Ids of every program attached through a pinned link.
    link_prog_ids: Vec<u64>,
    /// Ids of its maps.
    pub map_ids: Vec<u64>,
}

fn try_json(args: &[&str]) -> Result<Value, String> {
    let mut a = vec!["-j"];
    a.extend_from_slice(args);
    let out = bpftool_run(&a);
    if !out.status.success() {
        // With -j, bpftool reports errors as JSON on stdout.
        return Err(format!(
            "bpftool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    serde_json::from_slice(&out.stdout).map_err(|e| format!("bpftool {args:?}: bad JSON: {e}"))
}

fn json(args: &[&str]) -> Value {
    try_json(args).unwrap_or_else(|e| panic!("{e}"))
}

impl Attached {
    /// Loads and attaches `name`, a tracing program that uses BPF inode
    /// storage.  A kernel without the inode_addons series gives inode storage
    /// to BPF LSM programs only: there the verifier must refuse the program
    /// with a message naming one of `refused_by`; that is asserted and `None`
    /// returned.
    pub fn load_tracing_storage(name: &str, refused_by: &[&str]) -> Option<Attached> {
        let loaded = Attached::load(name);
        if !crate::has_inode_addons() {
            let err = loaded.err().expect(
                "a kernel without the series must refuse inode storage to tracing programs",
            );
            assert!(refused_by.iter().any(|r| err.contains(r)), "{err}");
            return None;
        }
        Some(loaded.expect("load and attach"))
    }

    /// Loads and attaches every program of `name` (one program per object).
    pub fn load(name: &str) -> Result<Attached, String> {
        ensure_bpffs();
        let dir = format!("/sys/fs/bpf/ia_{name}");
        let o = obj(name);
        let out = bpftool_run(&["prog", "loadall", o.to_str().unwrap(), &dir, "autoattach"]);
        if !out.status.success() {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(String::from_utf8_lossy(&out.stderr).into_owned());
        }
        // From here on the pins exist: a guard removes them if anything
        // below panics, so a failed test leaves no program attached.
        let mut att = Attached {
            dir,
            prog_id: 0,
            link_prog_ids: Vec::new(),
            map_ids: Vec::new(),
        };
        // With `autoattach`, bpftool pins each program's link (named after
        // the program) instead of the program.
        let mut links: Vec<_> = std::fs::read_dir(&att.dir)
            .expect("pin dir")
            .map(|e| e.unwrap().path())
            .collect();
        links.sort();
        // Asked from the kernel: `bpftool -j link show pinned` prints the
        // link but exits with 255 (bpftool 7.5 in the guest), which made
        // every link look unreadable and `detach` a plain drop.
        let pinned: Vec<Pinned> = links.iter().map(|l| pinned(l)).collect();
        att.link_prog_ids = pinned
            .iter()
            .filter_map(|p| match p {
                Pinned::Link { prog_id } => Some(*prog_id),
                Pinned::Prog { .. } => None,
            })
            .collect();
        // bpftool falls back to pinning the program when it cannot attach.
        let prog_id = match pinned[0] {
            Pinned::Link { prog_id } => prog_id,
            Pinned::Prog { id } => id,
        };
        let prog = json(&["prog", "show", "id", &prog_id.to_string()]);
        att.map_ids = prog["map_ids"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_u64().unwrap()).collect())
            .unwrap_or_default();
        att.prog_id = prog_id;
        Ok(att)
    }

    /// Unpins the programs' links and waits until the kernel has detached
    /// every program attached through them.
    ///
    /// Dropping the last reference to a link detaches its program in a
    /// kworker (`bpf_link_put()` defers the release), which rewrites the
    /// attach site (`text_poke_bp()`) while this thread runs on.  A test
    /// whose program sits on a path this thread takes (an LSM hook on inode
    /// allocation: every pipe, every spawned process) would run that site
    /// while it is being rewritten.  This waits without taking such a path:
    /// it asks the bpf syscall itself whether each program is still loaded
    /// (a program outlives its last link's detach), which allocates no
    /// inode and starts no process.
    pub fn detach(self) {
        let ids = self.link_prog_ids.clone();
        // Nothing to wait for would make this a plain drop, racing the
        // kworker: a program bpftool could not attach, or a link it could
        // not read back.
        assert!(
            !ids.is_empty(),
            "{}: no program attached through a link",
            self.dir
        );
        drop(self);
        let deadline = Instant::now() + Duration::from_secs(120);
        for id in ids {
            while prog_loaded(id) {
                assert!(
                    Instant::now() < deadline,
                    "program {id} still loaded 120 s after its link was unpinned"
                );
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// The value of global variable `var` (a u64 in `.bss`).
    pub fn global(&self, var: &str) -> u64 {
        for id in &self.map_ids {
            let info = json(&["map", "show", "id", &id.to_string()]);
            if !info["name"].as_str().unwrap_or("").ends_with(".bss") {
                continue;
            }
            let dump = json(&["map", "dump", "id", &id.to_string()]);
            for sec in dump[0]["formatted"]["value"][".bss"]
                .as_array()
                .expect(".bss section in the dump")
            {
                if let Some(v) = sec.get(var) {
                    return v.as_u64().expect("u64 global");
                }
            }
        }
        panic!("no global {var}");
    }
}

/// What bpftool pinned for one program.
enum Pinned {
    /// The link attaching the program `prog_id`.
    Link { prog_id: u64 },
    /// The program itself (not attached), `id`.
    Prog { id: u64 },
}

/// The object pinned at `pin`, asked with `BPF_OBJ_GET` and
/// `BPF_OBJ_GET_INFO_BY_FD`.
fn pinned(pin: &Path) -> Pinned {
    const BPF_OBJ_GET: libc::c_long = 7;
    const BPF_OBJ_GET_INFO_BY_FD: libc::c_long = 15;
    let path = CString::new(pin.as_os_str().as_bytes()).expect("pin path");
    // union bpf_attr for BPF_OBJ_GET: pathname, bpf_fd, file_flags, path_fd.
    let mut get: [u64; 3] = [path.as_ptr() as u64, 0, 0];
    // SAFETY: `get` is a valid `union bpf_attr` prefix for this command;
    // `path` outlives the call; the kernel only reads them.
    let fd = unsafe { sys_bpf(BPF_OBJ_GET, &mut get) }
        .unwrap_or_else(|e| panic!("BPF_OBJ_GET {}: {e}", pin.display()));
    // SAFETY: a descriptor this call just got and nothing else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    let kind = std::fs::read_link(format!("/proc/self/fd/{}", fd.as_raw_fd())).expect("fd link");
    // Both infos start with u32 type, u32 id; a link's has u32 prog_id next.
    let mut info = [0u32; 3];
    // union bpf_attr for BPF_OBJ_GET_INFO_BY_FD: bpf_fd, info_len, info.
    let mut attr: [u64; 2] = [
        fd.as_raw_fd() as u64 | ((size_of_val(&info) as u64) << 32),
        info.as_mut_ptr() as u64,
    ];
    // SAFETY: `attr` is a valid `union bpf_attr` prefix for this command;
    // the kernel writes at most `info_len` bytes to `info` and the length
    // it wrote back to `attr`'s `info_len`.
    unsafe { sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &mut attr) }
        .unwrap_or_else(|e| panic!("BPF_OBJ_GET_INFO_BY_FD {}: {e}", pin.display()));
    assert_eq!(attr[0] >> 32, size_of_val(&info) as u64, "info_len written");
    // `bpf_link_new_fd()` and `bpf_prog_new_fd()` name them so.
    match kind.to_str() {
        Some("anon_inode:bpf-link") => Pinned::Link {
            prog_id: info[2].into(),
        },
        Some("anon_inode:bpf-prog") => Pinned::Prog { id: info[1].into() },
        _ => panic!("{}: pinned {kind:?}", pin.display()),
    }
}

/// Whether a program with this id is still loaded.
pub fn prog_exists(id: u64) -> bool {
    bpftool_run(&["prog", "show", "id", &id.to_string()])
        .status
        .success()
}

/// Whether a program with this id is still loaded, asked with
/// `BPF_PROG_GET_FD_BY_ID`: unlike [`prog_exists`] it runs no bpftool
/// process, so it creates no pipe and allocates no inode (the program fd is
/// an anonymous inode's file).
pub fn prog_loaded(id: u64) -> bool {
    prog_lookup(id).unwrap_or_else(|e| panic!("BPF_PROG_GET_FD_BY_ID {id}: {e}"))
}

/// [`prog_loaded`], with the syscall's unexpected errors returned.
fn prog_lookup(id: u64) -> std::io::Result<bool> {
    const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
    // union bpf_attr for *_GET_FD_BY_ID: prog_id, next_id, open_flags.
    let mut attr: [u32; 3] = [id.try_into().expect("32-bit program id"), 0, 0];
    // SAFETY: `attr` is a valid `union bpf_attr` prefix for this command;
    // the kernel only reads it.
    match unsafe { sys_bpf(BPF_PROG_GET_FD_BY_ID, &mut attr) } {
        Ok(fd) => {
            // SAFETY: a descriptor this call just got and nothing else uses.
            unsafe { libc::close(fd as libc::c_int) };
            Ok(true)
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// bpf(2): `cmd` on `attr`, passed with its size; the result, or the error.
///
/// # Safety
///
/// `attr` is a valid `union bpf_attr` prefix for `cmd`: every pointer in
/// it is valid for what `cmd` reads or writes through it.
unsafe fn sys_bpf<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is valid for `cmd` (by the caller) and for writes of
    // its size (the kernel writes back into some commands' attr).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            (attr as *mut T).cast::<u8>(),
            size_of_val(attr),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Whether a map with this id still exists.
pub fn map_exists(id: u64) -> bool {
    bpftool_run(&["map", "show", "id", &id.to_string()])
        .status
        .success()
}

impl Drop for Attached {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
        // A test that panics goes on to drop its module and mounts: rmmod is
        // a process (pipe, exec), and reading the module's refcount opens a
        // file, through the sites a kworker may be rewriting right now (see
        // `detach`).  Wait for the detach here, bounded, without panicking
        // again.
        if std::thread::panicking() {
            let deadline = Instant::now() + Duration::from_secs(120);
            for id in &self.link_prog_ids {
                while prog_lookup(*id).unwrap_or(false) && Instant::now() < deadline {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
    }
}

/// Runs `f` on a thread named `ia-bpf-test`, the only one the programs count.
pub fn as_test_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new()
        .name("ia-bpf-test".into())
        .spawn(f)
        .expect("spawn")
        .join()
        .expect("test thread panicked")
}
