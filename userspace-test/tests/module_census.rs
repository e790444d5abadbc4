// SPDX-License-Identifier: GPL-2.0

//! The inode census, `/sys/kernel/debug/inode_census` (module/census.rs):
//! its walk over the registered file system types' super blocks sees a new
//! tmpfs and its inodes, counts a file lock in `flctx`, shows the `addons`
//! column only on a kernel with the series, and its total is the sum of
//! its rows.

use std::collections::HashMap;
use std::fs::{self, File};
use std::os::fd::AsRawFd;
use userspace_test::addons::{embedded, Mount};
use userspace_test::Module;

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
