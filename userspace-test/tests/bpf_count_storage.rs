// SPDX-License-Identifier: GPL-2.0

//! bpf_inode_storage_get() from a tracing (fentry) program.  On the patched
//! flavors it counts opens per inode in real BPF inode storage, created from
//! a context that cannot sleep; on stock the program cannot be loaded at all
//! (inode storage is reserved to BPF LSM programs there).

use std::fs::{self, File};
use std::os::unix::fs::MetadataExt;
use userspace_test::addons::Mount;
use userspace_test::bpf::{as_test_thread, Attached};
use userspace_test::drop_caches;

fn open_n(path: &std::path::Path, n: usize) {
    let p = path.to_owned();
    as_test_thread(move || {
        for _ in 0..n {
            File::open(&p).expect("open");
        }
    });
}

#[test]
fn per_inode_open_counts_in_inode_storage() {
    let Some(prog) =
        Attached::load_tracing_storage("count_open_storage", &["bpf_inode_storage_get"])
    else {
        return; // refused, as it must be without the series (asserted)
    };
    let mnt = Mount::tmpfs("bpfstore");
    let (a, b) = (mnt.path.join("a"), mnt.path.join("b"));
    fs::write(&a, "a").unwrap();
    fs::write(&b, "b").unwrap();
    open_n(&a, 4);
    assert_eq!(prog.global("last_ino"), fs::metadata(&a).unwrap().ino());
    assert_eq!(prog.global("last_count"), 4);
    open_n(&b, 2);
    assert_eq!(prog.global("last_count"), 2);
    open_n(&a, 1);
    assert_eq!(prog.global("last_count"), 5);
    let no_storage = prog.global("no_storage");
    println!("atomic-context storage creations: 2 inodes, {no_storage} NULL returns");
    assert_eq!(no_storage, 0);

    // A new inode starts from zero: the storage went with the evicted one.
    fs::remove_file(&a).unwrap();
    drop_caches();
    fs::write(&a, "a").unwrap();
    open_n(&a, 1);
    assert_eq!(prog.global("last_count"), 1);
}
