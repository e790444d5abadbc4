// SPDX-License-Identifier: GPL-2.0

//! Inode census (issue 13): which of the `struct inode` fields that few
//! inodes use hold a value other than the one `inode_init_always()` gave
//! them, counted over every inode on a super block's inode list, per file
//! system type.  It decides which fields are worth moving behind
//! `i_addons` (flavor `addons-cold`).
//!
//! `/sys/kernel/debug/inode_census`, one line per file system type with
//! super blocks, then the total.  Each read walks the inodes again.
//!
//! What is counted, per column (a column is `-` when the kernel's config
//! does not have the field):
//!
//! | column | non-default means |
//! |---|---|
//! | `flctx` | `i_flctx` set: the inode had a file lock or lease |
//! | `devices` | `i_devices` not empty: a character device inode that was opened |
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
//! `I_FREEING`) are only counted in `skipped`.  The file system types are
//! read from `/proc/filesystems` at load (`iterate_supers()` is not
//! exported; reading that file from a `seq_file` read would nest two
//! `seq_file` locks of one class): types registered later are not walked,
//! and `get_fs_type()` loads again the module of a type that was unloaded
//! since.

use core::{
    fmt::{self, Write},
    mem::offset_of,
    ptr::{self, addr_of, addr_of_mut},
};
use kernel::{
    alloc::flags::GFP_KERNEL,
    bindings,
    error::from_err_ptr,
    ffi::{c_char, c_int, c_void},
    prelude::*,
};

// debugfs is not in 6.12's bindings; these two are real exported functions
// when `CONFIG_DEBUG_FS=y`, which both variants have (the C glue uses them).
// `struct dentry` and `struct file_operations` are opaque here (`c_void`):
// rustc does not take the bindings' ones for FFI-safe (an empty member
// struct, depending on the config).
extern "C" {
    fn debugfs_create_file(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut c_void,
        data: *mut c_void,
        fops: *const c_void,
    ) -> *mut c_void;
    fn debugfs_remove(dentry: *mut c_void);
}

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

/// Column indices, as in [`COLUMNS`].
#[allow(dead_code)]
mod col {
    pub(super) const FLCTX: usize = 0;
    pub(super) const DEVICES: usize = 1;
    pub(super) const SEQUENCE: usize = 2;
    pub(super) const DTIME: usize = 3;
    pub(super) const FSN_MASK: usize = 4;
    pub(super) const FSN_MARKS: usize = 5;
    pub(super) const ADDONS: usize = 6;
    pub(super) const WB: usize = 7;
    pub(super) const WB_FRN: usize = 8;
    pub(super) const CRYPT: usize = 9;
    pub(super) const VERITY: usize = 10;
    pub(super) const SECURITY: usize = 11;
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

/// Reads a field of an inode that others may write concurrently.
///
/// # Safety
///
/// `p` points to a field of a live inode.
unsafe fn racy<T: Copy>(p: *const T) -> T {
    // SAFETY: valid for reads (by the caller); a volatile read is the
    // `READ_ONCE()` the C side would use for a lockless snapshot.
    unsafe { ptr::read_volatile(p) }
}

/// Counts `inode` into `row`.
///
/// # Safety
///
/// `inode` is on its super block's inode list and the caller holds that
/// list's lock, so the inode is not freed meanwhile.
unsafe fn count(row: &mut Row, inode: *mut bindings::inode) {
    // SAFETY: `inode` stays allocated while it is on the list, which the
    // caller holds locked; so for every read below.
    let state = unsafe { racy(addr_of!((*inode).i_state)) };
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
    // SAFETY: see above.
    unsafe {
        hit(col::FLCTX, !racy(addr_of!((*inode).i_flctx)).is_null());
        let dev = addr_of_mut!((*inode).i_devices);
        hit(col::DEVICES, racy(addr_of!((*dev).next)) != dev);
        hit(
            col::SEQUENCE,
            racy(addr_of!((*inode).i_sequence.counter)) != 0,
        );
        hit(col::DTIME, racy(addr_of!((*inode).dirtied_time_when)) != 0);
        hit(col::PRIVATE, !racy(addr_of!((*inode).i_private)).is_null());
    }
    #[cfg(CONFIG_FSNOTIFY)]
    // SAFETY: the accessors only read the fields (lockless, as the
    // fsnotify hooks do); the inode stays allocated, see above.
    unsafe {
        hit(
            col::FSN_MASK,
            crate::ffi::ia_inode_fsnotify_mask(inode) != 0,
        );
        hit(
            col::FSN_MARKS,
            !crate::ffi::ia_inode_fsnotify_marks(inode).is_null(),
        );
    }
    #[cfg(ia_backend_embedded)]
    // SAFETY: see above.
    unsafe {
        hit(col::ADDONS, !racy(addr_of!((*inode).i_addons)).is_null());
    }
    #[cfg(CONFIG_CGROUP_WRITEBACK)]
    // SAFETY: see above.
    unsafe {
        hit(col::WB, !racy(addr_of!((*inode).i_wb)).is_null());
        hit(
            col::WB_FRN,
            racy(addr_of!((*inode).i_wb_frn_winner)) != 0
                || racy(addr_of!((*inode).i_wb_frn_avg_time)) != 0
                || racy(addr_of!((*inode).i_wb_frn_history)) != 0,
        );
    }
    #[cfg(CONFIG_FS_ENCRYPTION)]
    // SAFETY: see above.
    unsafe {
        hit(col::CRYPT, !racy(addr_of!((*inode).i_crypt_info)).is_null());
    }
    #[cfg(CONFIG_FS_VERITY)]
    // SAFETY: see above.
    unsafe {
        hit(
            col::VERITY,
            !racy(addr_of!((*inode).i_verity_info)).is_null(),
        );
    }
    #[cfg(CONFIG_SECURITY)]
    // SAFETY: see above.
    unsafe {
        hit(
            col::SECURITY,
            !racy(addr_of!((*inode).i_security)).is_null(),
        );
    }
    #[cfg(CONFIG_FS_POSIX_ACL)]
    // SAFETY: see above.
    unsafe {
        // ACL_NOT_CACHED, `inode_init_always()`'s value.
        let not_cached = usize::MAX as *mut bindings::posix_acl;
        hit(
            col::ACL,
            racy(addr_of!((*inode).i_acl)) != not_cached
                || racy(addr_of!((*inode).i_default_acl)) != not_cached,
        );
    }
}

/// `iterate_supers_type()` callback: counts the inodes of `sb` into the
/// [`Row`] at `arg`.
///
/// # Safety
///
/// `sb` is a super block `iterate_supers_type()` holds (active, `s_umount`
/// shared); `arg` is the `*mut Row` [`walk`] passed, used by nothing else.
unsafe extern "C" fn sb_inodes(sb: *mut bindings::super_block, arg: *mut c_void) {
    // SAFETY: by the caller.
    let row = unsafe { &mut *arg.cast::<Row>() };
    row.sbs += 1;
    // SAFETY: `sb` is held; its list of inodes is protected by
    // `s_inode_list_lock`, taken here and released below, and nothing in
    // between sleeps.
    unsafe {
        let lock = addr_of_mut!((*sb).s_inode_list_lock);
        let head = addr_of_mut!((*sb).s_inodes);
        bindings::spin_lock(lock);
        let mut p = (*head).next;
        while p != head {
            let inode = p
                .cast::<u8>()
                .sub(offset_of!(bindings::inode, i_sb_list))
                .cast::<bindings::inode>();
            count(row, inode);
            p = (*p).next;
        }
        bindings::spin_unlock(lock);
    }
}

/// The file system type names, NUL-separated (each one NUL-terminated).
struct FsNames(KVec<u8>);

impl FsNames {
    /// Reads `/proc/filesystems`.  Process context.
    fn read() -> Result<Self> {
        const MAX: usize = 8192;
        let mut buf = KVec::<u8>::with_capacity(MAX, GFP_KERNEL)?;
        // SAFETY: a NUL-terminated path; process context.  Success returns
        // an open file with a reference, dropped below.
        let f = from_err_ptr(unsafe {
            bindings::filp_open(
                c"/proc/filesystems".as_ptr().cast(),
                bindings::O_RDONLY as c_int,
                0,
            )
        })?;
        let mut pos: bindings::loff_t = 0;
        // SAFETY: `f` is open; the buffer has room for `MAX - 1` bytes.
        let n = unsafe { bindings::kernel_read(f, buf.as_mut_ptr().cast(), MAX - 1, &mut pos) };
        // SAFETY: drops the reference `filp_open()` returned.
        unsafe { bindings::fput(f) };
        if n < 0 {
            return Err(Error::from_errno(n as c_int));
        }
        // SAFETY: `kernel_read()` initialised the first `n` bytes.
        unsafe { buf.set_len(n as usize) };
        // "nodev\tname\n" or "\tname\n" lines: keep the names.
        let mut names = KVec::with_capacity(buf.len() + 1, GFP_KERNEL)?;
        for line in buf.split(|&b| b == b'\n') {
            let name = line.rsplit(|&b| b == b'\t').next().unwrap_or(line);
            if !name.is_empty() {
                names.extend_from_slice(name, GFP_KERNEL)?;
                names.push(0, GFP_KERNEL)?;
            }
        }
        Ok(Self(names))
    }

    /// The names, each with its terminating NUL.
    fn iter(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split_inclusive(|&b| b == 0)
    }
}

/// Walks every super block of every type in `names`, one [`Row`] per type
/// in `rows`.  Process context (may sleep between super blocks).
fn walk(names: &FsNames, rows: &mut [Row]) {
    for (name, row) in names.iter().zip(rows.iter_mut()) {
        // SAFETY: a NUL-terminated name; returns the type with a reference
        // on its module, or NULL.
        let t = unsafe { bindings::get_fs_type(name.as_ptr().cast()) };
        if t.is_null() {
            continue;
        }
        // SAFETY: `t` is a registered type, held; `sb_inodes` gets `row`
        // as its `arg`, and nothing else uses `row` meanwhile.
        unsafe {
            bindings::iterate_supers_type(t, Some(sb_inodes), ptr::from_mut(row).cast());
            bindings::module_put((*t).owner);
        }
    }
}

/// A `seq_file` as a [`fmt::Write`]; text that does not fit is dropped and
/// `seq_read()` calls `show` again with a larger buffer.
struct Seq(*mut bindings::seq_file);

impl Write for Seq {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // SAFETY: `self.0` is the `seq_file` of the running `show` call.
        unsafe { bindings::seq_write(self.0, s.as_ptr().cast(), s.len()) };
        Ok(())
    }
}

/// Writes the census table, walking the inodes now.
fn show(m: &mut Seq, names: &FsNames) -> Result {
    let mut rows = KVec::new();
    for _ in names.iter() {
        rows.push(Row::default(), GFP_KERNEL)?;
    }
    walk(names, &mut rows);
    write_table(m, names, &rows).map_err(|_| EINVAL)
}

fn write_table(m: &mut Seq, names: &FsNames, rows: &[Row]) -> fmt::Result {
    writeln!(
        m,
        "# inode census: inodes on super block lists whose field differs from its value after inode_init_always()"
    )?;
    writeln!(
        m,
        "# sizeof(struct inode) = {}; '-': the field is not in this kernel",
        core::mem::size_of::<bindings::inode>()
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
    for (name, row) in names.iter().zip(rows.iter()) {
        if row.sbs != 0 {
            // Without the name's NUL.
            row.write(m, &name[..name.len() - 1])?;
            total.add(row);
        }
    }
    total.write(m, b"total")
}

/// `seq_file` show callback.
///
/// # Safety
///
/// Called by `seq_read()` for a file opened by [`census_open`]: `private`
/// is the [`FsNames`] of the registered [`Census`], alive until the
/// debugfs file is removed, and no show runs after that.
unsafe extern "C" fn census_show(m: *mut bindings::seq_file, _v: *mut c_void) -> c_int {
    // SAFETY: by the caller.
    let names = unsafe { &*(*m).private.cast::<FsNames>() };
    match show(&mut Seq(m), names) {
        Ok(()) => 0,
        Err(e) => e.to_errno(),
    }
}

/// debugfs `open`.
///
/// # Safety
///
/// Called by the VFS for the census file: `inode->i_private` is the data
/// [`Census::register`] created the file with.
unsafe extern "C" fn census_open(inode: *mut bindings::inode, file: *mut bindings::file) -> c_int {
    // SAFETY: by the caller; `single_open()` keeps `i_private` for `show`.
    unsafe { bindings::single_open(file, Some(census_show), (*inode).i_private) }
}

/// The census file; removed when dropped.
pub(crate) struct Census {
    dentry: *mut c_void,
    // Used through the file until it is removed (by `drop`).
    _fops: KBox<bindings::file_operations>,
    _names: KBox<FsNames>,
}

// SAFETY: the pointer is only used to remove the file, from any context that
// may sleep; the rest is owned data that the file's callbacks only read.
unsafe impl Send for Census {}
// SAFETY: `&Census` gives access to nothing.
unsafe impl Sync for Census {}

impl Census {
    /// Creates `/sys/kernel/debug/inode_census`.  Process context.
    pub(crate) fn register() -> Result<Self> {
        let names = KBox::new(FsNames::read()?, GFP_KERNEL)?;
        // SAFETY: all-zero is a valid `file_operations` (no callbacks).
        let mut fops: bindings::file_operations = unsafe { core::mem::zeroed() };
        fops.owner = crate::THIS_MODULE.as_ptr();
        fops.open = Some(census_open);
        fops.read = Some(bindings::seq_read);
        fops.llseek = Some(bindings::seq_lseek);
        fops.release = Some(bindings::single_release);
        let fops = KBox::new(fops, GFP_KERNEL)?;
        // SAFETY: `fops` and `names` stay where they are until `drop`,
        // which removes the file first (and waits for running callbacks).
        let dentry = unsafe {
            debugfs_create_file(
                c"inode_census".as_ptr().cast(),
                0o400,
                ptr::null_mut(),
                ptr::from_ref::<FsNames>(&names).cast_mut().cast(),
                ptr::from_ref::<bindings::file_operations>(&fops).cast(),
            )
        };
        Ok(Self {
            dentry,
            _fops: fops,
            _names: names,
        })
    }
}

impl Drop for Census {
    fn drop(&mut self) {
        // SAFETY: the file `register` created (or an error pointer, which
        // `debugfs_remove()` ignores); returns once no callback runs.  An
        // open file keeps the module (`fops.owner`), so no file of it is
        // open here.
        unsafe { debugfs_remove(self.dentry) };
    }
}
