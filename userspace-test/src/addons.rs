// SPDX-License-Identifier: GPL-2.0

//! Helpers for the `inode_addons` module tests: its ioctl ABI, its debugfs
//! files, scratch file systems and the fsnotify shadow check (the watches
//! themselves: [`crate::notify`]).

use crate::cstr;
use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::path::{Path, PathBuf};

/// The module's debugfs directory.
pub const DEBUGFS: &str = "/sys/kernel/debug/inode_addons";

/// The kernel functions the module probes on a stock kernel (side table and
/// fsnotify shadow).
pub const PROBED: [&str; 5] = [
    "inode_init_always_gfp",
    "__destroy_inode",
    "fsnotify_add_mark_locked",
    "fsnotify_recalc_mask",
    "fsnotify_put_mark",
];

/// Writes `data` to the module's debugfs control file in one write(2);
/// `Err(errno)` when the module refuses it.
pub fn control_write(data: &[u8]) -> Result<(), i32> {
    use std::io::Write;
    let mut f = OpenOptions::new()
        .write(true)
        .open(format!("{DEBUGFS}/control"))
        .expect("open control");
    f.write(data)
        .map(|_| ())
        .map_err(|e| e.raw_os_error().unwrap_or(0))
}
/// The module's misc device.
pub const DEV: &str = "/dev/inode_addons";

include!(concat!(env!("OUT_DIR"), "/ia_uapi.rs"));

/// `IA_IOC_QUERY`: `_IOWR(IA_IOC_MAGIC, 1, struct ia_query)`.
pub const IOC_QUERY: u64 =
    (3 << 30) | ((std::mem::size_of::<Query>() as u64) << 16) | ((IOC_MAGIC as u64) << 8) | 1;

/// An open `/dev/inode_addons`.
pub struct Dev(File);

impl Dev {
    /// Opens the device (the module must be loaded).
    pub fn open() -> Dev {
        Dev(OpenOptions::new()
            .read(true)
            .open(DEV)
            .unwrap_or_else(|e| panic!("open {DEV}: {e}")))
    }

    /// Raw ioctl with any command and argument (an address, possibly
    /// bogus on purpose); returns errno on failure.
    pub fn ioctl_raw(&self, cmd: u64, arg: usize) -> Result<(), i32> {
        // SAFETY: `arg` is either a valid `Query` or deliberately bogus to
        // test the kernel's checks; the kernel validates it.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), cmd as _, arg) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error().raw_os_error().unwrap_or(0))
        }
    }

    /// Queries the inode behind `fd`, creating its addons if `create`.
    pub fn query(&self, fd: RawFd, create: bool) -> Result<Query, i32> {
        self.query_flags(fd, if create { QUERY_CREATE } else { 0 })
    }

    /// Queries with explicit flags.
    pub fn query_flags(&self, fd: RawFd, flags: u32) -> Result<Query, i32> {
        let mut q = Query {
            fd,
            flags,
            ..Default::default()
        };
        self.ioctl_raw(IOC_QUERY, &mut q as *mut Query as usize)?;
        Ok(q)
    }

    /// Queries the inode at `path`.
    pub fn query_path(&self, path: &Path, create: bool) -> Result<Query, i32> {
        let f = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        self.query(f.as_raw_fd(), create)
    }
}

/// The module's counters from debugfs `stats`.
pub fn stats() -> HashMap<String, i64> {
    let text = fs::read_to_string(format!("{DEBUGFS}/stats")).expect("read stats");
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// The backend the loaded module reports (`backend:` in stats).
pub fn backend() -> String {
    let text = fs::read_to_string(format!("{DEBUGFS}/stats")).expect("read stats");
    text.lines()
        .find_map(|l| l.strip_prefix("backend: "))
        .expect("no backend in stats")
        .trim()
        .to_owned()
}

/// Whether the loaded module uses the kernel's `i_addons` (a kernel with
/// the inode_addons series) rather than the side table.
pub fn embedded() -> bool {
    backend().starts_with("embedded")
}

/// The embedded backend's unload report: how many inodes kept their
/// (kernel-owned) addons.
pub fn unload_kept(mark: usize) -> u64 {
    unload_field(&unload_line(mark), "kept ")
}

/// One counter.
pub fn stat(name: &str) -> i64 {
    *stats()
        .get(name)
        .unwrap_or_else(|| panic!("no '{name}' in stats"))
}

/// Result of the debugfs `selfcheck` file.
#[derive(Debug)]
pub struct SelfCheck {
    /// Addons checked.
    pub checked: i64,
    /// Of those, inodes with fsnotify marks.
    pub with_marks: i64,
    /// Shadows differing from the real fields.
    pub mismatches: i64,
}

/// Runs a self-check.
pub fn selfcheck() -> SelfCheck {
    let text = fs::read_to_string(format!("{DEBUGFS}/selfcheck")).expect("read selfcheck");
    let get = |k: &str| -> i64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.strip_prefix(": ")?.parse().ok())
            .unwrap_or_else(|| panic!("no '{k}' in selfcheck: {text}"))
    };
    SelfCheck {
        checked: get("checked"),
        with_marks: get("with_marks"),
        mismatches: get("mismatches"),
    }
}

/// A file system mounted for one test, unmounted on drop.
pub struct Mount {
    /// The mount point.
    pub path: PathBuf,
    mounted: bool,
}

impl Mount {
    fn dir(name: &str) -> PathBuf {
        static SEQ: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::env::var("VM_OUT").unwrap_or_else(|_| "/tmp".into());
        let p = PathBuf::from(base).join(format!("mnt-{name}-{}-{seq}", std::process::id()));
        fs::create_dir_all(&p).expect("mkdir mount point");
        p
    }

    /// Mounts a fresh tmpfs.
    pub fn tmpfs(name: &str) -> Mount {
        let path = Self::dir(name);
        let (src, ty, at) = (
            cstr(Path::new("none")),
            cstr(Path::new("tmpfs")),
            cstr(&path),
        );
        // SAFETY: valid NUL-terminated strings, no data.
        let r = unsafe { libc::mount(src.as_ptr(), at.as_ptr(), ty.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(r, 0, "mount tmpfs: {}", io::Error::last_os_error());
        Mount {
            path,
            mounted: true,
        }
    }

    /// Creates a small ext4 image on a tmpfs and loop-mounts it.
    pub fn ext4(name: &str) -> (Mount, Mount) {
        let backing = Mount::tmpfs(&format!("{name}-img"));
        let img = backing.path.join("fs.img");
        let f = File::create(&img).expect("create image");
        f.set_len(32 << 20).expect("size image");
        drop(f);
        crate::run_ok("mkfs.ext4", &["-q", "-F", img.to_str().unwrap()]);
        let path = Self::dir(name);
        crate::run_ok(
            "mount",
            &["-o", "loop", img.to_str().unwrap(), path.to_str().unwrap()],
        );
        (
            Mount {
                path,
                mounted: true,
            },
            backing,
        )
    }

    /// Unmounts now.
    pub fn umount(&mut self) {
        if self.mounted {
            let at = cstr(&self.path);
            // SAFETY: valid NUL-terminated path.
            let r = unsafe { libc::umount(at.as_ptr()) };
            assert_eq!(
                r,
                0,
                "umount {}: {}",
                self.path.display(),
                io::Error::last_os_error()
            );
            self.mounted = false;
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let at = cstr(&self.path);
            // SAFETY: valid NUL-terminated path.
            unsafe { libc::umount2(at.as_ptr(), libc::MNT_DETACH) };
        }
        let _ = fs::remove_dir(&self.path);
    }
}

/// Asserts that the addons of `path` exist and shadow the real fsnotify
/// state exactly; returns the query.
pub fn assert_shadow_exact(dev: &Dev, path: &Path) -> Query {
    let q = dev.query_path(path, false).expect("query");
    assert_eq!(q.present, 1, "{}: no addons: {q:?}", path.display());
    assert_eq!(
        q.shadow_mask,
        q.real_mask,
        "{}: mask: {q:?}",
        path.display()
    );
    assert_eq!(
        q.shadow_has_marks,
        q.real_has_marks,
        "{}: has_marks: {q:?}",
        path.display()
    );
    q
}

/// The last "unloaded:" line of the module in the kernel log since `mark`:
/// (drained, allocated, freed).
pub fn unload_report(mark: usize) -> (u64, u64, u64) {
    let line = unload_line(mark);
    (
        unload_field(&line, "drained "),
        unload_field(&line, "allocated "),
        unload_field(&line, "freed "),
    )
}

/// The module's last "unloaded:" kernel log line since `mark`.
fn unload_line(mark: usize) -> String {
    let lines = crate::dmesg_since(mark);
    lines
        .iter()
        .rev()
        .find(|l| l.contains("inode_addons: unloaded:"))
        .unwrap_or_else(|| panic!("no unload report in {lines:?}"))
        .clone()
}

/// The number right after `key` in the unload line (digits only: "freed 3,"
/// and "kept 5 (owned ...)" both read as their number).
fn unload_field(line: &str, key: &str) -> u64 {
    let rest = &line[line
        .find(key)
        .unwrap_or_else(|| panic!("{key:?} in {line}"))
        + key.len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits
        .parse()
        .unwrap_or_else(|_| panic!("no number after {key:?} in {line}"))
}
