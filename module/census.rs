// SPDX-License-Identifier: GPL-2.0

//! Inode census (issue 13): which of the `struct inode` fields that few
//! inodes use hold a value other than the one `inode_init_always()` gave
//! them, counted over every inode on a super block's inode list, per file
//! system type.  It decides which fields are worth moving behind
//! `i_addons` (flavor `addons-cold`).
//!
//! `/sys/kernel/debug/inode_census`, one line per file system type with
//! super blocks, then the total.  Each read walks the inodes again: the
//! super blocks of the registered types, then those of the reader's mount
//! points that were not walked yet (devtmpfs's, whose type is not
//! registered: `/dev`'s device inodes), each once.
//!
//! What is counted, per column (a column is `-` when the kernel's config
//! does not have the field):
//!
//! | column | non-default means |
//! |---|---|
//! | `flctx` | `i_flctx` set (in the inode, or in the addons on `addons-cold`): the inode had a file lock or lease |
//! | `devices` | `i_devices` linked (in the inode, or in the addons on `addons-cold`): a character device inode that was opened |
//! | `sequence` | `i_sequence` set: a futex key was taken on a shared mapping of the file |
//! | `dtime` | `dirtied_time_when` set: the inode was ever dirty with timestamps only (lazytime) |
//! | `fsn_mask`, `fsn_marks` | the fsnotify mask is not 0, a mark connector is attached (wherever the series puts them) |
//! | `addons` | `i_addons` set (kernels with the series only) |
//! | `wb`, `wb_frn` | `i_wb` set; any of `i_wb_frn_winner`, `_avg_time`, `_history` not 0 (`CONFIG_CGROUP_WRITEBACK`) |
//! | `crypt`, `verity` | `i_crypt_info`, `i_verity_info` set (`CONFIG_FS_ENCRYPTION`, `CONFIG_FS_VERITY`) |
//! | `security` | `i_security` set: an LSM blob (the bpf LSM gives every inode one on stock) |
//! | `acl` | `i_acl` or `i_default_acl` is not `ACL_NOT_CACHED`: the VFS cached an ACL, or its absence |
//!
//! Limits: the walk holds each super block's `s_inode_list_lock` while it
//! goes through its inodes (as long as `drop_caches` would without its
//! rescheduling), and reads the fields without the inodes' `i_lock`, so the
//! figures are a snapshot, not a consistent cut.  Inodes on no super block
//! list (`new_inode_pseudo()`: sockets, pipes, anonymous inodes) are not
//! seen, and inodes being set up or freed (`I_NEW`, `I_WILL_FREE`,
//! `I_FREEING`) are only counted in `skipped`.  The walk is
//! [`FsTypes::walk`], with its limits: types registered after the load are
//! only walked where the reader has them mounted, and of such super blocks
//! only those on top of a mount point.  The mount points are read from
//! `/proc/self/mounts` when the file is opened (not in `show`, which runs
//! under the file's `seq_file` lock).

use crate::{
    debugfs::{self, SeqShow, SeqWriter},
    inode::{inode_read_once, Inode},
    rcu::RcuGuard,
    vfs::{FsTypes, MountPoints, MountsWalked, Walked},
};
use core::fmt::{self, Write};
use kernel::{alloc::flags::GFP_KERNEL, bindings, c_str, prelude::*, str::CStr};

/// The columns, in output order, and whether this kernel has the field.
const COLUMNS: [(&str, bool); 14] = [
    ("flctx", true),
    ("devices", true),
    ("sequence", true),
    ("dtime", true),
    ("fsn_mask", cfg!(CONFIG_FSNOTIFY)),
    ("fsn_marks", cfg!(CONFIG_FSNOTIFY)),
    ("addons", cfg!(ia_backend_embedded)),
    ("wb", cfg!(CONFIG_CGROUP_WRITEBACK)),
    ("wb_frn", cfg!(CONFIG_CGROUP_WRITEBACK)),
    ("crypt", cfg!(CONFIG_FS_ENCRYPTION)),
    ("verity", cfg!(CONFIG_FS_VERITY)),
    ("security", cfg!(CONFIG_SECURITY)),
    ("acl", cfg!(CONFIG_FS_POSIX_ACL)),
    ("private", true),
];

/// Column indices, as in [`COLUMNS`]; each exists where this kernel has
/// the field.
mod col {
    pub(super) const FLCTX: usize = 0;
    pub(super) const DEVICES: usize = 1;
    pub(super) const SEQUENCE: usize = 2;
    pub(super) const DTIME: usize = 3;
    #[cfg(CONFIG_FSNOTIFY)]
    pub(super) const FSN_MASK: usize = 4;
    #[cfg(CONFIG_FSNOTIFY)]
    pub(super) const FSN_MARKS: usize = 5;
    #[cfg(ia_backend_embedded)]
    pub(super) const ADDONS: usize = 6;
    #[cfg(CONFIG_CGROUP_WRITEBACK)]
    pub(super) const WB: usize = 7;
    #[cfg(CONFIG_CGROUP_WRITEBACK)]
    pub(super) const WB_FRN: usize = 8;
    #[cfg(CONFIG_FS_ENCRYPTION)]
    pub(super) const CRYPT: usize = 9;
    #[cfg(CONFIG_FS_VERITY)]
    pub(super) const VERITY: usize = 10;
    #[cfg(CONFIG_SECURITY)]
    pub(super) const SECURITY: usize = 11;
    #[cfg(CONFIG_FS_POSIX_ACL)]
    pub(super) const ACL: usize = 12;
    pub(super) const PRIVATE: usize = 13;
}

/// The counts of one file system type.
#[derive(Clone, Copy, Default)]
struct Row {
    sbs: u64,
    inodes: u64,
    skipped: u64,
    n: [u64; COLUMNS.len()],
}

impl Row {
    fn add(&mut self, o: &Row) {
        self.sbs += o.sbs;
        self.inodes += o.inodes;
        self.skipped += o.skipped;
        for (a, b) in self.n.iter_mut().zip(o.n.iter()) {
            *a += b;
        }
    }

    fn write(&self, w: &mut impl Write, name: &[u8]) -> fmt::Result {
        let name = core::str::from_utf8(name).unwrap_or("?");
        write!(
            w,
            "{name:<12} {:>4} {:>8} {:>7}",
            self.sbs, self.inodes, self.skipped
        )?;
        for ((title, present), n) in COLUMNS.iter().zip(self.n.iter()) {
            let width = title.len().max(5);
            if *present {
                write!(w, " {n:>width$}")?;
            } else {
                write!(w, " {:>width$}", "-")?;
            }
        }
        w.write_str("\n")
    }
}

/// Counts `inode` into `row`.
fn count(row: &mut Row, inode: &Inode, guard: &RcuGuard) {
    let state = inode_read_once!(inode, i_state);
    if state & (bindings::I_NEW | bindings::I_WILL_FREE | bindings::I_FREEING) != 0 {
        row.skipped += 1;
        return;
    }
    row.inodes += 1;
    let mut hit = |c: usize, yes: bool| {
        if yes {
            row.n[c] += 1;
        }
    };
    hit(col::FLCTX, inode.has_file_lock_context(guard));
    hit(col::DEVICES, inode.in_cdev_list(guard));
    hit(
        col::SEQUENCE,
        inode_read_once!(inode, i_sequence.counter) != 0,
    );
    hit(col::DTIME, inode_read_once!(inode, dirtied_time_when) != 0);
    hit(col::PRIVATE, !inode_read_once!(inode, i_private).is_null());
    #[cfg(CONFIG_FSNOTIFY)]
    {
        let fsn = inode.fsnotify_state();
        hit(col::FSN_MASK, fsn.mask != 0);
        hit(col::FSN_MARKS, fsn.has_marks);
    }
    #[cfg(ia_backend_embedded)]
    hit(col::ADDONS, !inode_read_once!(inode, i_addons).is_null());
    #[cfg(CONFIG_CGROUP_WRITEBACK)]
    {
        hit(col::WB, !inode_read_once!(inode, i_wb).is_null());
        hit(
            col::WB_FRN,
            inode_read_once!(inode, i_wb_frn_winner) != 0
                || inode_read_once!(inode, i_wb_frn_avg_time) != 0
                || inode_read_once!(inode, i_wb_frn_history) != 0,
        );
    }
    #[cfg(CONFIG_FS_ENCRYPTION)]
    hit(col::CRYPT, !inode_read_once!(inode, i_crypt_info).is_null());
    #[cfg(CONFIG_FS_VERITY)]
    hit(
        col::VERITY,
        !inode_read_once!(inode, i_verity_info).is_null(),
    );
    #[cfg(CONFIG_SECURITY)]
    hit(
        col::SECURITY,
        !inode_read_once!(inode, i_security).is_null(),
    );
    #[cfg(CONFIG_FS_POSIX_ACL)]
    {
        // ACL_NOT_CACHED, `inode_init_always()`'s value.
        let not_cached = usize::MAX as *mut bindings::posix_acl;
        hit(
            col::ACL,
            inode_read_once!(inode, i_acl) != not_cached
                || inode_read_once!(inode, i_default_acl) != not_cached,
        );
    }
}

/// The rows of one census: the file system type's name and its counts, in
/// `/proc/filesystems` order, then types met only through a mount point.
struct Rows(KVec<(KVec<u8>, Row)>);

impl Rows {
    /// A row for every type of `types`.
    fn new(types: &FsTypes) -> Result<Self> {
        let mut rows = KVec::new();
        for name in types.names() {
            let mut n = KVec::new();
            n.extend_from_slice(name, GFP_KERNEL)?;
            rows.push((n, Row::default()), GFP_KERNEL)?;
        }
        Ok(Self(rows))
    }

    /// The index of the row of type `name`, added if there is none.
    fn find_or_add(&mut self, name: &CStr) -> Result<usize> {
        let name = name.as_bytes();
        if let Some(i) = self.0.iter().position(|(n, _)| n[..] == *name) {
            return Ok(i);
        }
        let mut n = KVec::new();
        n.extend_from_slice(name, GFP_KERNEL)?;
        self.0.push((n, Row::default()), GFP_KERNEL)?;
        Ok(self.0.len() - 1)
    }
}

/// The census file's data: the file system types to walk.
struct CensusTypes(FsTypes);

impl SeqShow for CensusTypes {
    /// The opener's mount points.
    type Open = MountPoints;

    fn open(&self) -> Result<MountPoints> {
        MountPoints::read()
    }

    /// Walks the inodes now and writes the table.
    fn show(&self, mounts: &MountPoints, w: &mut SeqWriter<'_>) -> Result {
        let mut rows = Rows::new(&self.0)?;
        let mut cur = None;
        let mut res = Ok(());
        let walked = self.0.walk(Some(mounts), |step| match step {
            Walked::SuperBlock(name) => {
                cur = rows.find_or_add(name).inspect_err(|e| res = Err(*e)).ok();
                if let Some(i) = cur {
                    rows.0[i].1.sbs += 1;
                }
            }
            Walked::Inode(inode, guard) => {
                if let Some(i) = cur {
                    count(&mut rows.0[i].1, inode, guard);
                }
            }
        })?;
        res?;
        write_table(w, &rows, mounts.len(), walked).map_err(|_| EINVAL)
    }
}

fn write_table(m: &mut impl Write, rows: &Rows, points: usize, mw: MountsWalked) -> fmt::Result {
    writeln!(
        m,
        "# inode census: inodes on super block lists whose field differs from its value after inode_init_always()"
    )?;
    writeln!(
        m,
        "# sizeof(struct inode) = {}; '-': the field is not in this kernel",
        core::mem::size_of::<bindings::inode>()
    )?;
    writeln!(
        m,
        "# super blocks: of the registered types, then of the reader's {points} mount points: {} more, {} mount points not resolved",
        mw.new_sbs, mw.unresolved
    )?;
    write!(
        m,
        "{:<12} {:>4} {:>8} {:>7}",
        "type", "sbs", "inodes", "skipped"
    )?;
    for (title, _) in COLUMNS.iter() {
        let width = title.len().max(5);
        write!(m, " {title:>width$}")?;
    }
    m.write_str("\n")?;
    let mut total = Row::default();
    for (name, row) in rows.0.iter() {
        if row.sbs != 0 {
            row.write(m, name)?;
            total.add(row);
        }
    }
    total.write(m, b"total")
}

/// The census file, `/sys/kernel/debug/inode_census`; removed when dropped.
pub(crate) struct Census {
    _file: debugfs::File<CensusTypes>,
}

impl Census {
    /// Creates the file.  Process context.
    pub(crate) fn register() -> Result<Self> {
        let types = CensusTypes(FsTypes::new()?);
        let file = debugfs::File::read_only(c_str!("inode_census"), types)?;
        Ok(Self { _file: file })
    }
}
