// SPDX-License-Identifier: GPL-2.0

//! The inode census, `/sys/kernel/debug/inode_census` (module/census.rs):
//! its walk over the registered file system types' super blocks sees a new
//! tmpfs and its inodes, counts a file lock in `flctx`, shows the `addons`
//! column only on a kernel with the series, and its total is the sum of
//! its rows.  Its walk over the reader's mount points reaches devtmpfs,
//! whose type is not registered, once however often it is mounted, and
//! counts an opened character device node there and on a tmpfs in
//! `devices`.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use userspace_test::addons::{embedded, Mount};
use userspace_test::{cstr, Module};

const CENSUS: &str = "/sys/kernel/debug/inode_census";
const FILES: i64 = 50;

/// The census table: column titles and, per file system type (and
/// `total`), one value per column; `None` for a column the kernel lacks.
struct Census {
    columns: Vec<String>,
    rows: HashMap<String, Vec<Option<i64>>>,
}

impl Census {
    fn read() -> Census {
        let text = fs::read_to_string(CENSUS).expect("read the census");
        let mut lines = text.lines().filter(|l| !l.starts_with('#'));
        let head: Vec<String> = lines
            .next()
            .expect("column titles")
            .split_whitespace()
            .map(str::to_owned)
            .collect();
        assert_eq!(head[..4], ["type", "sbs", "inodes", "skipped"], "{text}");
        let columns = head[1..].to_vec();
        let mut rows = HashMap::new();
        for line in lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f.len(), head.len(), "{line}\n{text}");
            let values = f[1..]
                .iter()
                .map(|v| (*v != "-").then(|| v.parse().expect("a count")))
                .collect();
            assert!(rows.insert(f[0].to_owned(), values).is_none(), "{text}");
        }
        assert!(rows.contains_key("total"), "{text}");
        Census { columns, rows }
    }

    /// The value of `column` for `fs` (0 if the type has no row: no super
    /// block).
    fn get(&self, fs: &str, column: &str) -> Option<i64> {
        let i = self.columns.iter().position(|c| c == column).expect(column);
        self.rows.get(fs).map_or(Some(0), |r| r[i])
    }
}

#[test]
fn census_walks_a_new_tmpfs() {
    let _m = Module::load(&[]).expect("insmod");
    let before = Census::read();
    let mnt = Mount::tmpfs("census");
    let files: Vec<File> = (0..FILES)
        .map(|i| File::create(mnt.path.join(format!("f{i}"))).expect("create"))
        .collect();
    // A file lock gives the inode its lock context (`i_flctx`), which stays.
    // SAFETY: flock() on a descriptor this test owns.
    let locked = unsafe { libc::flock(files[0].as_raw_fd(), libc::LOCK_EX) };
    assert_eq!(locked, 0, "flock: {}", std::io::Error::last_os_error());
    let after = Census::read();

    let tmpfs = |c: &Census, col: &str| c.get("tmpfs", col).expect(col);
    assert!(
        tmpfs(&after, "sbs") > tmpfs(&before, "sbs"),
        "a new tmpfs super block"
    );
    // The files and the root directory; the rest of the guest is idle.
    assert!(
        tmpfs(&after, "inodes") > tmpfs(&before, "inodes") + FILES,
        "tmpfs inodes {} -> {}",
        tmpfs(&before, "inodes"),
        tmpfs(&after, "inodes")
    );
    assert!(
        tmpfs(&after, "flctx") > tmpfs(&before, "flctx"),
        "the locked file's lock context"
    );
    // The series' i_addons exists only on kernels with it.
    assert_eq!(after.get("total", "addons").is_some(), embedded());

    for (i, column) in after.columns.iter().enumerate() {
        let sum = after
            .rows
            .iter()
            .filter(|(fs, _)| *fs != "total")
            .map(|(_, r)| r[i])
            .try_fold(0, |acc, v| v.map(|v| acc + v));
        assert_eq!(sum, after.rows["total"][i], "column {column}");
    }
    drop(files);
}

/// devtmpfs mounted once more, for one test: it has one super block, of a
/// type that is not registered (`/proc/filesystems` lists only the type
/// that mounts it), wherever it is mounted.  Unmounted, and the nodes made
/// in it removed, on drop.
struct DevtmpfsMount {
    path: PathBuf,
    nodes: Vec<PathBuf>,
}

impl DevtmpfsMount {
    fn new() -> DevtmpfsMount {
        let base = std::env::var("VM_OUT").unwrap_or_else(|_| "/tmp".into());
        let path = PathBuf::from(base).join(format!("mnt-census-dev-{}", std::process::id()));
        fs::create_dir_all(&path).expect("mkdir mount point");
        let (src, at) = (cstr(Path::new("devtmpfs")), cstr(&path));
        // SAFETY: valid NUL-terminated strings, no data.
        let r =
            unsafe { libc::mount(src.as_ptr(), at.as_ptr(), src.as_ptr(), 0, std::ptr::null()) };
        assert_eq!(r, 0, "mount devtmpfs: {}", std::io::Error::last_os_error());
        DevtmpfsMount {
            path,
            nodes: Vec::new(),
        }
    }
}

impl Drop for DevtmpfsMount {
    fn drop(&mut self) {
        // The nodes are in devtmpfs's only super block, thus in /dev too.
        for n in &self.nodes {
            let _ = fs::remove_file(n);
        }
        let at = cstr(&self.path);
        // SAFETY: valid NUL-terminated path.
        unsafe { libc::umount2(at.as_ptr(), libc::MNT_DETACH) };
        let _ = fs::remove_dir(&self.path);
    }
}

/// Makes `p` a node of /dev/null's device (1:3) and opens it: the VFS
/// links the new inode into the device's list (`i_devices`), where it stays
/// until the inode is evicted.
fn open_new_null_node(p: &Path) -> File {
    let c = cstr(p);
    // SAFETY: valid NUL-terminated path; 1:3 is /dev/null.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 3)) };
    assert_eq!(
        r,
        0,
        "mknod {}: {}",
        p.display(),
        std::io::Error::last_os_error()
    );
    File::open(p).expect("open the node")
}

#[test]
fn census_walks_devtmpfs_through_the_mounts() {
    let _m = Module::load(&[]).expect("insmod");
    let mut dev = DevtmpfsMount::new();
    let tmp = Mount::tmpfs("census-cdev");
    let before = Census::read();

    let name = format!("census-null-{}", std::process::id());
    dev.nodes.push(dev.path.join(&name));
    let on_dev = open_new_null_node(&dev.nodes[0]);
    let on_tmpfs = open_new_null_node(&tmp.path.join(&name));
    let after = Census::read();

    let n = |c: &Census, fs: &str, col: &str| c.get(fs, col).expect(col);
    // The guest's /dev, if it is devtmpfs, and the mount above: one super
    // block, walked once.  A walk by registered type finds none.
    assert_eq!(
        n(&after, "devtmpfs", "sbs"),
        1,
        "devtmpfs's super block, once"
    );
    assert!(
        n(&after, "devtmpfs", "inodes") > n(&before, "devtmpfs", "inodes"),
        "the new node's inode on devtmpfs"
    );
    for fs in ["devtmpfs", "tmpfs"] {
        assert!(
            n(&after, fs, "devices") > n(&before, fs, "devices"),
            "{fs}: the opened node in its device's list: devices {} -> {}",
            n(&before, fs, "devices"),
            n(&after, fs, "devices")
        );
    }
    drop((on_dev, on_tmpfs));
}
