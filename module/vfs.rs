// SPDX-License-Identifier: GPL-2.0

//! Files and file systems: a file reference taken by descriptor, a file
//! read from the kernel, and the walk over every super block's inodes.
//!
//! C header: [`include/linux/file.h`](srctree/include/linux/file.h)
//!
//! 6.12's `kernel` crate has no file abstraction (`kernel::fs::File` came
//! later); this is the minimum the module needs, after its model.

use crate::{ffi, inode::Inode, rcu::RcuGuard};
use core::ptr::{addr_of_mut, NonNull};
use kernel::{
    alloc::flags::GFP_KERNEL, bindings, error::from_err_ptr, ffi::c_void, prelude::*, str::CStr,
};

/// A reference to an open file, taken with `fget()`, dropped with `fput()`.
///
/// # Invariants
///
/// `self.0` is a file the value holds a reference to.
pub(crate) struct FileRef(NonNull<bindings::file>);

impl FileRef {
    /// The file open as `fd` in the current task's table, `None` if there
    /// is none (or it was opened with `O_PATH`, as `fdget()` would have
    /// it).  Task context.
    pub(crate) fn get(fd: i32) -> Option<Self> {
        // SAFETY: `fget()` takes a reference on success; a negative `fd`
        // becomes a descriptor no table has.
        let f = unsafe { bindings::fget(fd as u32) };
        // INVARIANT: non-NULL is a file `fget()` took a reference to.
        NonNull::new(f).map(Self)
    }

    /// The file's inode, borrowed while the file is held.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: the file is held (type invariant); `f_inode` never changes
        // for an open file, and the file keeps its inode allocated, so the
        // borrow may last as long as `self`'s.
        unsafe { Inode::from_raw((*self.0.as_ptr()).f_inode) }
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: drops the reference `get` took (type invariant).
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

/// The whole text of the file at `path`, read as the kernel itself reads
/// a file (`filp_open()`, `kernel_read()` until end of file); `EFBIG` if it
/// is longer than `max` bytes.  Process context (may sleep); must not be
/// called for a `seq_file` from a `seq_file`'s `show` (the two locks share
/// one lockdep class).
fn read_file(path: &CStr, max: usize) -> Result<KVec<u8>> {
    const CHUNK: usize = kernel::page::PAGE_SIZE;
    let mut chunk = KVec::from_elem(0u8, CHUNK, GFP_KERNEL)?;
    let mut text = KVec::new();
    // SAFETY: `path` is NUL-terminated; process context.  Success returns
    // an open file with a reference, dropped below.
    let f = from_err_ptr(unsafe {
        bindings::filp_open(path.as_char_ptr(), bindings::O_RDONLY as i32, 0)
    })?;
    let mut pos: bindings::loff_t = 0;
    let res = loop {
        // SAFETY: `f` is open and held; `chunk` is valid for writes of its
        // length.
        let n = unsafe { bindings::kernel_read(f, chunk.as_mut_ptr().cast(), CHUNK, &mut pos) };
        if n < 0 {
            break Err(Error::from_errno(n as i32));
        }
        let n = n as usize;
        if n == 0 {
            break Ok(());
        }
        if text.len() + n > max {
            break Err(EFBIG);
        }
        if let Err(e) = text.extend_from_slice(&chunk[..n], GFP_KERNEL) {
            break Err(e.into());
        }
    };
    // SAFETY: drops the reference `filp_open()` returned.
    unsafe { bindings::fput(f) };
    res.map(|()| text)
}

/// The mount points of the current task's mount namespace, as its
/// `/proc/self/mounts` lists them when [`MountPoints::read`] is called
/// (so as the task sees them from its root), for [`FsTypes::walk`].
pub(crate) struct MountPoints {
    /// The paths, unescaped, each followed by a NUL.
    paths: KVec<u8>,
}

impl MountPoints {
    /// Longest `/proc/self/mounts` read: some thousand mounts.
    const MAX: usize = 1 << 20;

    /// Reads the current task's mount points.  Process context; not from a
    /// `seq_file`'s `show` (see [`read_file`]).
    pub(crate) fn read() -> Result<Self> {
        let text = read_file(kernel::c_str!("/proc/self/mounts"), Self::MAX)?;
        let mut paths = KVec::new();
        // Lines are "DEVICE MOUNT_POINT TYPE OPTIONS 0 0"; the kernel writes
        // ' ', '\t', '\n' and '\\' in a path as "\ooo" (`mangle()`).
        for line in text.split(|&b| b == b'\n') {
            let Some(field) = line.split(|&b| b == b' ').nth(1) else {
                continue;
            };
            let mut path = KVec::with_capacity(field.len(), GFP_KERNEL)?;
            let mut i = 0;
            while i < field.len() {
                let mut b = field[i];
                i += 1;
                if b == b'\\' && i + 3 <= field.len() {
                    let o = &field[i..i + 3];
                    if o.iter().all(|d| (b'0'..=b'7').contains(d)) {
                        b = o.iter().fold(0u8, |v, d| v.wrapping_mul(8) | (d - b'0'));
                        i += 3;
                    }
                }
                path.push(b, GFP_KERNEL)?;
            }
            if path.is_empty() || path.contains(&0) {
                continue;
            }
            paths.extend_from_slice(&path, GFP_KERNEL)?;
            paths.push(0, GFP_KERNEL)?;
        }
        Ok(Self { paths })
    }

    /// The paths, with their NUL.
    fn iter(&self) -> impl Iterator<Item = &CStr> {
        self.paths
            .split_inclusive(|&b| b == 0)
            // Each piece ends with its only NUL (see `read`).
            .filter_map(|p| CStr::from_bytes_with_nul(p).ok())
    }

    /// How many there are.
    pub(crate) fn len(&self) -> usize {
        self.iter().count()
    }
}

/// The registered file system types, by name, for walks over their super
/// blocks' inodes (the embedded backend's [`for_each`](crate::backend::Backend::for_each),
/// the census).
///
/// 6.12 gives a module no way to enumerate file system types or super
/// blocks: `file_systems`, `super_blocks` and `iterate_supers()` are not
/// exported, only `get_fs_type()` (by name) and `iterate_supers_type()`
/// (by type) are.  The names are therefore read once, at load, where the
/// kernel publishes them, `/proc/filesystems` (reading it later, from a
/// `seq_file` read such as the stats file, would nest two `seq_file` locks
/// of one class).  Types registered after the load are not walked, and
/// `get_fs_type()` loads again the module of a type that was unloaded since.
///
/// Super blocks of a type that is not registered (devtmpfs's: its
/// registered type `devtmpfs` only hands out the super block of an
/// internal type of the same name) are reached through the mounts:
/// [`FsTypes::walk`] with [`MountPoints`].
pub(crate) struct FsTypes {
    /// The names, each followed by a NUL.
    names: KVec<u8>,
}

/// One step of [`FsTypes::walk`].
pub(crate) enum Walked<'a> {
    /// A super block, by the name of its file system type (`s_type->name`);
    /// its inodes follow.
    SuperBlock(&'a CStr),
    /// An inode on the `s_inodes` list of the last super block, borrowed for
    /// the call, with the RCU read-side section the walk holds over that
    /// list (for borrows of what the kernel frees after a grace period).
    Inode(&'a Inode, &'a RcuGuard),
}

/// What a [`FsTypes::walk`] with [`MountPoints`] found beyond the types.
#[derive(Clone, Copy, Default)]
pub(crate) struct MountsWalked {
    /// Mount points whose super block had not been walked by type.
    pub(crate) new_sbs: usize,
    /// Mount points `kern_path()` did not resolve (gone since they were
    /// read, or not reachable by the reader).
    pub(crate) unresolved: usize,
}

impl FsTypes {
    /// Reads the registered file system types.  Process context.
    pub(crate) fn new() -> Result<Self> {
        let text = read_file(
            kernel::c_str!("/proc/filesystems"),
            2 * kernel::page::PAGE_SIZE,
        )?;
        let mut names = KVec::new();
        // Lines are "nodev\tNAME" or "\tNAME".
        for line in text.split(|&b| b == b'\n') {
            let name = line.rsplit(|&b| b == b'\t').next().unwrap_or(line);
            if name.is_empty() || name.contains(&0) {
                continue;
            }
            names.extend_from_slice(name, GFP_KERNEL)?;
            names.push(0, GFP_KERNEL)?;
        }
        Ok(Self { names })
    }

    /// The names, without their NUL, in walk order.
    pub(crate) fn names(&self) -> impl Iterator<Item = &[u8]> {
        self.names
            .split_inclusive(|&b| b == 0)
            .map(|n| &n[..n.len() - 1])
    }

    /// Calls `f` for every inode on the `s_inodes` list of a super block
    /// of these types, borrowed for the call, with the walk's RCU guard.
    /// See [`FsTypes::walk`].
    #[cfg(ia_backend_embedded)]
    pub(crate) fn for_each_inode(&self, mut f: impl FnMut(&Inode, &RcuGuard)) {
        // Without mount points, the walk keeps no list and cannot fail.
        let _ = self.walk(None, |w| {
            if let Walked::Inode(inode, guard) = w {
                f(inode, guard)
            }
        });
    }

    /// Calls `f` for every super block of these types, then for every
    /// inode on its `s_inodes` list, under that list's lock (`f` must not
    /// sleep on inodes); then, with `mounts`, the same for the super block
    /// of each mount point not walked yet, each super block once.
    ///
    /// Each super block is walked while `s_umount` is held shared and it
    /// cannot be shut down: by `iterate_supers_type()` for the types, and
    /// for a mount point, by the walk itself, which holds the mount
    /// (`kern_path()`, thus an active reference on its super block) until
    /// it is done with it.  A mount point resolves to the mount on top of
    /// it, so a super block that is only mounted under another mount is
    /// not reached.  Inodes on no list (`new_inode_pseudo()`: sockets,
    /// pipes) are not seen.
    ///
    /// With `mounts`, `ENOMEM` if the list of super blocks walked cannot
    /// grow (`f` has seen part of the walk then); without, no error.
    /// Process context (sleeps between super blocks).
    pub(crate) fn walk<F: FnMut(Walked<'_>)>(
        &self,
        mounts: Option<&MountPoints>,
        mut f: F,
    ) -> Result<MountsWalked> {
        let mut ctx = SbWalk {
            f: &mut f,
            seen: mounts.map(|_| KVec::new()),
            err: Ok(()),
        };
        let mut rest = &self.names[..];
        while let Some(end) = rest.iter().position(|&b| b == 0) {
            let name = rest.as_ptr();
            rest = &rest[end + 1..];
            // SAFETY: `name` is NUL-terminated; process context.  A type
            // found is held (module reference) until `module_put()`.
            let t = unsafe { bindings::get_fs_type(name.cast()) };
            if !t.is_null() {
                // SAFETY: `t` is held; `sb_inodes::<F>` gets `&mut ctx`
                // back, which outlives the call.
                unsafe {
                    bindings::iterate_supers_type(
                        t,
                        Some(sb_inodes::<F>),
                        addr_of_mut!(ctx).cast::<c_void>(),
                    )
                };
                // SAFETY: drops the reference `get_fs_type()` took.
                unsafe { bindings::module_put((*t).owner) };
            }
        }
        let mut found = MountsWalked::default();
        for mp in mounts.iter().flat_map(|m| m.iter()) {
            ctx.err?;
            let mut path = bindings::path::default();
            // SAFETY: `mp` is NUL-terminated, `path` valid for writes;
            // process context.  Success fills `path` with references (the
            // mount, thus an active reference on its super block, and the
            // dentry), dropped below.
            if unsafe { ffi::kern_path(mp.as_char_ptr(), 0, &mut path) } != 0 {
                found.unresolved += 1;
                continue;
            }
            // SAFETY: `path.mnt` is the mount `kern_path()` holds.
            let sb = unsafe { (*path.mnt).mnt_sb };
            if !ctx
                .seen
                .as_ref()
                .is_some_and(|s| s.contains(&(sb as usize)))
            {
                found.new_sbs += 1;
                // SAFETY: `sb` is live and not shutting down (the mount
                // holds an active reference on it); `s_umount` is taken
                // shared, as `iterate_supers_type()` does, and released
                // below.
                let umount = unsafe { addr_of_mut!((*sb).s_umount) };
                // SAFETY: as above.
                unsafe { bindings::down_read(umount) };
                // SAFETY: as for `iterate_supers_type()`'s callback: `sb`
                // live, `s_umount` held; `ctx` is ours.
                unsafe { sb_inodes::<F>(sb, addr_of_mut!(ctx).cast::<c_void>()) };
                // SAFETY: taken above.
                unsafe { bindings::up_read(umount) };
            }
            // SAFETY: drops the references `kern_path()` took.
            unsafe { bindings::path_put(&path) };
        }
        ctx.err.map(|()| found)
    }
}

/// What [`FsTypes::walk`] passes to [`sb_inodes`].
struct SbWalk<'a, F> {
    f: &'a mut F,
    /// The super blocks walked, by address (compared, never used), if the
    /// walk goes on to mount points.
    seen: Option<KVec<usize>>,
    /// `ENOMEM` once `seen` could not grow.
    err: Result,
}

/// Reports `sb` and every inode on its `s_inodes` list to the walk at `arg`,
/// and adds `sb` to the walk's super blocks.
///
/// # Safety
///
/// `sb` is a live super block whose `s_umount` the caller holds shared
/// (`iterate_supers_type()` or [`FsTypes::walk`]), and `arg` the `&mut
/// SbWalk<F>` passed by [`FsTypes::walk`], used by nothing else meanwhile.
unsafe extern "C" fn sb_inodes<F: FnMut(Walked<'_>)>(
    sb: *mut bindings::super_block,
    arg: *mut c_void,
) {
    // SAFETY: by the caller.
    let w = unsafe { &mut *arg.cast::<SbWalk<'_, F>>() };
    if let Some(Err(e)) = w.seen.as_mut().map(|s| s.push(sb as usize, GFP_KERNEL)) {
        w.err = Err(e.into());
    }
    // SAFETY: `sb` is live (by the caller), so is its type, whose name is a
    // NUL-terminated string the type (held by the super block) keeps.
    let name = unsafe { CStr::from_char_ptr((*(*sb).s_type).name) };
    (w.f)(Walked::SuperBlock(name));
    // SAFETY: `sb` is live (by the caller), so are its fields.
    let (lock, head) = unsafe {
        (
            addr_of_mut!((*sb).s_inode_list_lock),
            addr_of_mut!((*sb).s_inodes),
        )
    };
    // SAFETY: an initialised spinlock; released below.
    unsafe { bindings::spin_lock(lock) };
    // One read-side section per list, not per inode: `rcu_read_lock()` is
    // not free on debug kernels (lockdep), and the lock is held anyway.
    let guard = RcuGuard::new();
    // SAFETY: the list is stable under its lock.
    let mut pos = unsafe { (*head).next };
    while pos != head {
        let off = core::mem::offset_of!(bindings::inode, i_sb_list);
        // SAFETY: every entry of `s_inodes` is the `i_sb_list` of an inode,
        // which `evict()` takes off the list (under this lock) before
        // destroying it: allocated while the lock is held, so for the call.
        let inode = unsafe { Inode::from_raw(pos.cast::<u8>().sub(off).cast()) };
        if let Some(inode) = inode {
            (w.f)(Walked::Inode(inode, &guard));
        }
        // SAFETY: as above.
        pos = unsafe { (*pos).next };
    }
    drop(guard);
    // SAFETY: taken above.
    unsafe { bindings::spin_unlock(lock) };
}
