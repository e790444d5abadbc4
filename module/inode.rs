// SPDX-License-Identifier: GPL-2.0

//! Borrowed inodes.
//!
//! C header: [`include/linux/fs.h`](srctree/include/linux/fs.h)
//!
//! Modelled on `kernel::fs::File` of later kernels: an [`Inode`] is only ever
//! seen through a reference whose lifetime is the span the caller knows the
//! inode to stay allocated (a probed call, a BPF program's run, an RCU
//! read-side section over the side table, a file reference held by C).
//! Lookups by an address that may belong to a freed inode take a `usize`,
//! never an `&Inode`.

use crate::{ffi, rcu::RcuGuard, recursion::Busy};
use core::ptr::{addr_of, addr_of_mut, NonNull};
use kernel::{
    alloc::{
        flags::{__GFP_NOWARN, GFP_KERNEL},
        KVVec,
    },
    bindings,
    ffi::c_void,
    prelude::*,
    types::Opaque,
};

/// A `struct inode`.
///
/// # Invariants
///
/// A `&'a Inode` points to an allocated `struct inode` for all of `'a`.
/// Every field is read through the kernel's own accessors (`READ_ONCE()`,
/// `rcu_access_pointer()`, `i_lock`), never as a Rust value.
#[repr(transparent)]
pub(crate) struct Inode(Opaque<bindings::inode>);

// SAFETY: the kernel synchronises the fields of `struct inode` itself
// (`i_lock`, RCU, atomics); this type only reads them through those means,
// from any task.
unsafe impl Send for Inode {}
// SAFETY: see `Send`.
unsafe impl Sync for Inode {}

/// The fsnotify state of an inode: `i_fsnotify_mask` and whether
/// `i_fsnotify_marks` is set (read from the inode, or recorded in a
/// shadow).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) struct FsnotifyState {
    /// `i_fsnotify_mask`.
    pub(crate) mask: u32,
    /// `i_fsnotify_marks != NULL`.
    pub(crate) has_marks: bool,
}

/// Reads a field of an [`Inode`] (`&Inode`) now, without its lock, with
/// `READ_ONCE()` semantics: `inode_read_once!(inode, i_flctx)`, or a path
/// of nested fields, `inode_read_once!(inode, i_sequence.counter)`.  A
/// snapshot others may be changing; for fields the caller only compares.
macro_rules! inode_read_once {
    ($inode:expr, $($field:ident).+) => {{
        let p: *mut ::kernel::bindings::inode = $crate::inode::Inode::as_ptr($inode);
        // SAFETY: `p` points to an allocated `struct inode` (type invariant
        // of `Inode`), so does the field; a volatile read of it is the
        // `READ_ONCE()` the C side would use for a lockless snapshot.
        unsafe { ::core::ptr::addr_of!((*p).$($field).+).read_volatile() }
    }};
}
pub(crate) use inode_read_once;

/// The address of a field of an [`Inode`] (`&Inode`), never dereferenced:
/// `inode_field_addr!(inode, i_devices)`, e.g. to tell an empty list head
/// (pointing to itself) with [`inode_read_once!`].
#[cfg_attr(ia_addons_devices, allow(unused_macros))]
macro_rules! inode_field_addr {
    ($inode:expr, $($field:ident).+) => {{
        let p: *mut ::kernel::bindings::inode = $crate::inode::Inode::as_ptr($inode);
        // SAFETY: `p` points to an allocated `struct inode` (type invariant
        // of `Inode`): the projection stays in bounds and reads nothing.
        unsafe { ::core::ptr::addr_of!((*p).$($field).+) }
    }};
}

impl Inode {
    /// Borrows the inode at `ptr` for `'a`; `None` if `ptr` is NULL.
    ///
    /// # Safety
    ///
    /// `ptr` must be NULL or point to a `struct inode` that stays allocated
    /// for all of `'a`.
    pub(crate) unsafe fn from_raw<'a>(ptr: *mut bindings::inode) -> Option<&'a Self> {
        // SAFETY: `Inode` is a transparent wrapper of `struct inode`;
        // allocated for `'a` by the caller's guarantee (type invariant).
        NonNull::new(ptr).map(|p| unsafe { &*p.as_ptr().cast::<Self>() })
    }

    /// The raw pointer, for C.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode {
        self.0.get()
    }

    /// The inode's address: the side table's key.
    pub(crate) fn addr(&self) -> usize {
        self.as_ptr() as usize
    }

    /// Takes `i_lock` if addons may be attached to the inode: it is on its
    /// super block's inode list and not being torn down (`I_FREEING`,
    /// `I_WILL_FREE`); otherwise `ENOENT`.  With `spin == false` never
    /// waits for the lock and fails with `EBUSY` when it is contended (BPF
    /// program context, where the interrupted code may hold it).
    ///
    /// Such an inode is destroyed only through `evict()`, which sets
    /// `I_FREEING` under `i_lock` before `__destroy_inode()`: whatever is
    /// attached under the guard is seen by the destruction.  An inode on no
    /// list is being set up or was never set up (the loser of
    /// `inode_insert5()`, a failed `inode_init_always()`): it may be
    /// destroyed without `I_FREEING`, even without `__destroy_inode()`, so
    /// nothing may be attached to it.  `i_sb_list` is tested under
    /// `i_lock`, not `s_inode_list_lock`: an inode leaves the list only
    /// after `I_FREEING`, so "listed and not freeing" under `i_lock` stays
    /// true until the lock is dropped; a racing addition makes this fail,
    /// which is harmless.
    ///
    /// The lock is held in a [`Busy`] section: BPF kfuncs called by a
    /// program attached inside it fail.
    pub(crate) fn lock_if_live(&self, spin: bool) -> Result<InodeLockGuard<'_>> {
        let busy = Busy::enter();
        // SAFETY: the inode is allocated (type invariant), so is its field.
        let lock = unsafe { addr_of_mut!((*self.as_ptr()).i_lock) };
        let locked = if spin {
            // SAFETY: `i_lock` is initialised (slab constructor, or
            // `SynthInodes::new`); released by the guard below.
            unsafe { bindings::spin_lock(lock) };
            true
        } else {
            // SAFETY: as above; on success released by the guard below.
            // A C function of its own, so that a test can attach a BPF
            // program inside the section (`tests/lifetime_bpf_recursion.rs`).
            unsafe { ffi::ia_inode_trylock(self.as_ptr()) }
        };
        if !locked {
            return Err(EBUSY);
        }
        // INVARIANT: the lock is held; if the inode turns out not to be
        // live, dropping the guard releases it.
        let guard = InodeLockGuard {
            inode: self,
            _busy: busy,
        };
        let freeing = bindings::I_FREEING | bindings::I_WILL_FREE;
        // SAFETY: the inode is allocated; `i_state` and `i_sb_list` change
        // under `i_lock` (held) or, for the list, only after `I_FREEING`.
        let (state, listed) = unsafe {
            let list = addr_of_mut!((*self.as_ptr()).i_sb_list);
            (
                addr_of!((*self.as_ptr()).i_state).read_volatile(),
                addr_of!((*list).next).read_volatile() != list,
            )
        };
        if state & freeing != 0 || !listed {
            return Err(ENOENT);
        }
        Ok(guard)
    }

    /// Whether the inode is being torn down (`I_FREEING`, `I_WILL_FREE`),
    /// read now without `i_lock`.
    #[cfg(ia_backend_embedded)]
    pub(crate) fn is_freeing(&self) -> bool {
        // SAFETY: the inode is allocated (type invariant); a racy read of a
        // word, as `READ_ONCE()`.
        let state = unsafe { addr_of!((*self.as_ptr()).i_state).read_volatile() };
        state & (bindings::I_FREEING | bindings::I_WILL_FREE) != 0
    }

    /// Whether the inode is a regular file or a directory.
    pub(crate) fn is_reg_or_dir(&self) -> bool {
        // A snapshot: `chmod()` rewrites `i_mode` under the inode's lock,
        // but never its type bits, the only ones compared here.
        let fmt = u32::from(inode_read_once!(self, i_mode)) & bindings::S_IFMT;
        fmt == bindings::S_IFREG || fmt == bindings::S_IFDIR
    }

    /// The real fsnotify state, read now.
    pub(crate) fn fsnotify_state(&self) -> FsnotifyState {
        // SAFETY: the inode is allocated (type invariant); the mask is read
        // with READ_ONCE() semantics.
        let mask = unsafe { ffi::ia_inode_fsnotify_mask(self.as_ptr()) };
        FsnotifyState {
            mask,
            has_marks: !self.fsnotify_marks().is_null(),
        }
    }

    /// `i_fsnotify_marks` (the connector, never dereferenced), read now.
    #[cfg(not(ia_backend_embedded))]
    pub(crate) fn fsnotify_marks(&self) -> *mut c_void {
        // `rcu_access_pointer()`.
        inode_read_once!(self, i_fsnotify_marks).cast()
    }

    /// `i_fsnotify_marks` in the inode's addons (the connector, never
    /// dereferenced), read now; NULL without addons (the kernel's
    /// placeholder has none).
    #[cfg(ia_backend_embedded)]
    pub(crate) fn fsnotify_marks(&self) -> *mut c_void {
        let _guard = RcuGuard::new();
        let p = self.addons_raw();
        if p.is_null() {
            return core::ptr::null_mut();
        }
        // SAFETY: `p` is the kernel's placeholder (static) or real addons,
        // which the kernel frees only after swapping the placeholder in and
        // a grace period that cannot end before `_guard` does; the field is
        // read with `rcu_access_pointer()` semantics.
        unsafe { addr_of!((*p).i_fsnotify_marks).read_volatile() }.cast()
    }

    /// The inode number.
    pub(crate) fn ino(&self) -> u64 {
        // SAFETY: the inode is allocated (type invariant); `i_ino` does not
        // change once the inode is visible.
        unsafe { (*self.as_ptr()).i_ino as u64 }
    }

    /// The address of the inode's super block (an identity, never
    /// dereferenced).
    #[cfg(ia_backend_embedded)]
    pub(crate) fn sb_addr(&self) -> usize {
        // SAFETY: the inode is allocated (type invariant); `i_sb` does not
        // change once the inode is set up.
        unsafe { (*self.as_ptr()).i_sb as usize }
    }
}

/// Holds `i_lock` of an inode that addons may be attached to.
///
/// # Invariants
///
/// The lock is held and, when it was taken, the inode was on its super
/// block's list without `I_FREEING`/`I_WILL_FREE`; those flags are set under
/// the lock, so they stay clear while it is held.
pub(crate) struct InodeLockGuard<'a> {
    inode: &'a Inode,
    /// Dropped after the lock is released (field order).
    _busy: Busy,
}

impl Drop for InodeLockGuard<'_> {
    fn drop(&mut self) {
        // SAFETY: the lock is held (type invariant).
        unsafe { bindings::spin_unlock(addr_of_mut!((*self.inode.as_ptr()).i_lock)) };
    }
}

/// The microbenchmark's synthetic inodes: zeroed `struct inode`s with
/// `i_lock` initialised, in one `kvmalloc()`ed array that nothing outside
/// the benchmark ever sees.
///
/// They are not real inodes: only the fields the backends' bench paths use
/// are meaningful (`i_lock`, `i_state`, `i_sb_list`, `i_addons`).  The
/// side table only hashes their address and takes `i_lock`; the embedded
/// path reads `i_state` and hands them to `inode_addons_alloc()`, which
/// reads `i_state` and `cmpxchg()`es `i_addons`.  A BPF program attached
/// there sees them too, and may create their addons or give them BPF
/// storage, which only the kernel can free: [`SynthInodes::release_addons`]
/// leaves such addons attached, and `drop` leaks them.  Their zeroed
/// `i_sb_list` is not an empty list head, so
/// [`Inode::lock_if_live`] takes them for inodes on their super block's
/// list.
///
/// # Invariants
///
/// `inodes` holds at least one such object; it never grows, so the objects
/// stay in place until `drop`.
pub(crate) struct SynthInodes {
    inodes: KVVec<Opaque<bindings::inode>>,
}

// SAFETY: the objects are shared with bench threads, which only use them
// through the backends' synchronised paths (`i_lock`, atomic `i_addons`, the
// table's locks).
unsafe impl Send for SynthInodes {}
// SAFETY: see `Send`.
unsafe impl Sync for SynthInodes {}

impl SynthInodes {
    /// `n` synthetic inodes, or `None` if they cannot be allocated.
    /// Process context (may sleep).
    pub(crate) fn new(n: usize) -> Option<Self> {
        if n == 0 {
            return None;
        }
        let mut inodes: KVVec<Opaque<bindings::inode>> =
            KVVec::with_capacity(n, GFP_KERNEL | __GFP_NOWARN).ok()?;
        let spare = inodes.spare_capacity_mut();
        // SAFETY: `spare` is valid for writes of `capacity >= n` objects.
        unsafe { core::ptr::write_bytes(spare.as_mut_ptr(), 0, n) };
        // SAFETY: the first `n` objects are initialised (zeroed: any byte
        // pattern is a valid `Opaque`).
        unsafe { inodes.set_len(n) };
        for (i, inode) in inodes.iter().enumerate() {
            // SAFETY: a zeroed `struct inode` in place (it never moves: the
            // vector never grows), not yet shared.
            unsafe { ffi::ia_spin_lock_init(addr_of_mut!((*inode.get()).i_lock)) };
            if i % 4096 == 4095 {
                crate::kthread::cond_resched();
            }
        }
        // INVARIANT: `n >= 1` initialised objects.
        Some(Self { inodes })
    }

    /// The `i`th synthetic inode (the last one if `i >= n`), borrowed from
    /// the array.
    pub(crate) fn get(&self, i: usize) -> &Inode {
        let i = i.min(self.inodes.len() - 1);
        // SAFETY: an object of the array (type invariant), which lives and
        // stays in place as long as `self`.
        unsafe { &*self.inodes[i].get().cast::<Inode>() }
    }

    /// Every synthetic inode, borrowed from the array.
    #[cfg(ia_backend_embedded)]
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Inode> + '_ {
        (0..self.inodes.len()).map(|i| self.get(i))
    }
}

/// Embedded backend: addons still attached to synthetic inodes
/// ([`SynthInodes::release_addons`] left them: only the kernel could free
/// them) are leaked, counted and warned about.  Their addresses go to a
/// vector that is leaked too and handed to kmemleak as a root, so that
/// kmemleak reports none of them; the array itself is freed, as nothing
/// the kernel keeps points to a synthetic inode (inode storage's owner is
/// the addons, patch 3; the kfunc's addons have no back pointer).  If the
/// vector cannot be allocated, the array is leaked and handed to kmemleak
/// in its place.  Process context (may sleep); the bench's threads have
/// exited.
#[cfg(ia_backend_embedded)]
impl Drop for SynthInodes {
    fn drop(&mut self) {
        // The deferred frees are module code and may still run.
        crate::rcu::barrier();
        let mut leaked: KVec<usize> = KVec::new();
        let (mut attached, mut keep_array) = (0, false);
        for (i, inode) in self.iter().enumerate() {
            let a = inode_read_once!(inode, i_addons);
            if !a.is_null() {
                crate::stats::STATS.bench_leaked.inc();
                attached += 1;
                keep_array |= leaked.push(a as usize, GFP_KERNEL).is_err();
            }
            if i % 4096 == 4095 {
                crate::kthread::cond_resched();
            }
        }
        if attached == 0 {
            return;
        }
        pr_warn!(
            "bench: a BPF program gave {attached} synthetic inodes addons or storage; \
             leaking them\n"
        );
        let root = if keep_array {
            let inodes = core::mem::replace(&mut self.inodes, KVVec::new());
            let p = inodes.as_ptr().cast::<c_void>();
            core::mem::forget(inodes);
            p
        } else {
            let p = leaked.as_ptr().cast::<c_void>();
            core::mem::forget(leaked);
            p
        };
        // SAFETY: the start of an allocation that is never freed.
        unsafe { ffi::ia_kmemleak_not_leak(root) };
    }
}

/// The inode the connector `conn` is attached to, NULL if none: an
/// address, which a borrow of it needs more than `conn` to be.
///
/// # Safety
///
/// `conn` is an allocated `struct fsnotify_mark_connector`.
#[cfg(not(ia_backend_embedded))]
unsafe fn connector_inode(conn: *mut bindings::fsnotify_mark_connector) -> *mut bindings::inode {
    // SAFETY: an allocated connector (by the caller); its type, then its
    // object below, are read with `READ_ONCE()`.
    let ty = unsafe { ffi::ia_conn_type(conn) };
    // SAFETY: constant data.
    if ty != unsafe { ffi::ia_fsnotify_obj_type_inode } {
        return core::ptr::null_mut();
    }
    // SAFETY: as for the type.  A detach since then has set it NULL.
    unsafe { ffi::ia_conn_obj(conn) }.cast()
}

/// A `struct fsnotify_mark_connector` whose object is pinned, only ever
/// borrowed.
///
/// # Invariants
///
/// For all of `'a`, a `&'a MarkConnector` points to an allocated connector
/// that stays attached to its object (if it has one), which stays
/// allocated.
#[cfg(not(ia_backend_embedded))]
#[repr(transparent)]
pub(crate) struct MarkConnector(Opaque<bindings::fsnotify_mark_connector>);

#[cfg(not(ia_backend_embedded))]
impl MarkConnector {
    /// The inode the connector is attached to, if it is attached to one.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: an allocated connector (type invariant).
        let inode = unsafe { connector_inode(self.0.get()) };
        // SAFETY: NULL or the connector's object, allocated for the borrow
        // of `self` (type invariant).
        unsafe { Inode::from_raw(inode) }
    }
}

/// A `struct fsnotify_mark` whose object is pinned, only ever borrowed.
///
/// # Invariants
///
/// For all of `'a`, a `&'a FsnotifyMark` points to an allocated mark whose
/// connector, whenever the mark has one, meets [`MarkConnector`]'s
/// invariants for `'a`.
#[cfg(not(ia_backend_embedded))]
#[repr(transparent)]
pub(crate) struct FsnotifyMark(Opaque<ffi::FsnotifyMark>);

#[cfg(not(ia_backend_embedded))]
impl FsnotifyMark {
    /// The inode the mark is attached to, if it is attached to one.
    pub(crate) fn inode(&self) -> Option<&Inode> {
        // SAFETY: an allocated mark (type invariant); `connector` is read
        // with `READ_ONCE()`.
        let conn = unsafe { ffi::ia_mark_connector(self.0.get()) };
        // SAFETY: NULL or the mark's connector, which meets
        // `MarkConnector`'s invariants for the borrow of `self` (type
        // invariant); `MarkConnector` is a transparent wrapper.
        unsafe { conn.cast::<MarkConnector>().as_ref() }?.inode()
    }
}

/// A `struct fsnotify_mark` someone holds a reference to, only ever
/// borrowed: its connector cannot go, but its object can (a connector is
/// detached from its object at the object's destruction even while marks
/// are on it, `fsnotify_destroy_marks()`).
///
/// # Invariants
///
/// For all of `'a`, a `&'a ReferencedMark` points to an allocated mark
/// whose connector, whenever the mark has one, stays allocated.
#[cfg(not(ia_backend_embedded))]
#[repr(transparent)]
pub(crate) struct ReferencedMark(Opaque<ffi::FsnotifyMark>);

#[cfg(not(ia_backend_embedded))]
impl ReferencedMark {
    /// The address of the inode the mark is attached to, if it is attached
    /// to one: an address only, the inode may be going.
    pub(crate) fn inode_addr(&self) -> Option<usize> {
        // SAFETY: an allocated mark (type invariant); `connector` is read
        // with `READ_ONCE()`.
        let conn = unsafe { ffi::ia_mark_connector(self.0.get()) };
        if conn.is_null() {
            return None;
        }
        // SAFETY: the mark's connector, allocated (type invariant).
        let inode = unsafe { connector_inode(conn) };
        (!inode.is_null()).then_some(inode as usize)
    }
}

/// The fsnotify functions the side table's shadow probes
/// (`fsnotify_probes.rs`), with what their callers guarantee about their
/// first argument: the contracts that let a probe borrow it.
#[cfg(not(ia_backend_embedded))]
pub(crate) mod fsnotify_fns {
    use super::{FsnotifyMark, MarkConnector, ReferencedMark};
    use crate::kprobe::{ArgAtEntry, ArgUntilReturn, ProbedFn};
    use kernel::{c_str, str::CStr};

    /// `int fsnotify_add_mark_locked(struct fsnotify_mark *mark, void *obj,
    /// unsigned int obj_type, int add_flags)`: attaches `mark` to `obj`.
    pub(crate) struct AddMarkLocked;

    impl ProbedFn for AddMarkLocked {
        const SYMBOL: &'static CStr = c_str!("fsnotify_add_mark_locked");
        const ARG: u32 = 0;
        type Arg = FsnotifyMark;
    }

    // SAFETY: every caller pins the object (inotify and fanotify through a
    // path, dnotify through a file, audit through a path, nfsd through
    // the inode) and holds a reference to `mark` and the group's
    // `mark_mutex` for the call.  Before the attach the mark has no
    // connector.  After it, the mark cannot be detached (that takes
    // `mark_mutex`, or the last reference), so its connector keeps a mark
    // and stays allocated; it is detached from the object only when the
    // object is destroyed (`fsnotify_destroy_marks()`), which the pin
    // rules out, and the object stays allocated.
    unsafe impl ArgAtEntry for AddMarkLocked {}
    // SAFETY: as for `ArgAtEntry`, until the function returns.
    unsafe impl ArgUntilReturn for AddMarkLocked {}

    /// `void fsnotify_recalc_mask(struct fsnotify_mark_connector *conn)`:
    /// recomputes the mask of `conn`'s object.
    pub(crate) struct RecalcMask;

    impl ProbedFn for RecalcMask {
        const SYMBOL: &'static CStr = c_str!("fsnotify_recalc_mask");
        const ARG: u32 = 0;
        type Arg = MarkConnector;
    }

    // SAFETY: "The caller must make sure connector and connector->obj
    // cannot disappear under us" (the function's comment in
    // fs/notify/mark.c), for the call.
    unsafe impl ArgAtEntry for RecalcMask {}
    // SAFETY: as for `ArgAtEntry`, until the function returns.
    unsafe impl ArgUntilReturn for RecalcMask {}

    /// `void fsnotify_put_mark(struct fsnotify_mark *mark)`: drops a
    /// reference to `mark`; the last one detaches it, and possibly its
    /// connector, and frees it.  Not [`ArgUntilReturn`], and its object is
    /// not pinned (a [`ReferencedMark`]).
    pub(crate) struct PutMark;

    impl ProbedFn for PutMark {
        const SYMBOL: &'static CStr = c_str!("fsnotify_put_mark");
        const ARG: u32 = 0;
        type Arg = ReferencedMark;
    }

    // SAFETY: at the entry, the caller owns the reference it is dropping:
    // "having mark reference is enough to protect mark->connector pointer
    // and to make sure fsnotify_mark_connector cannot disappear"
    // (fs/notify/mark.c).
    unsafe impl ArgAtEntry for PutMark {}
}

/// The kernel's `struct inode_addons` (kernels with the series), seen
/// through a shared reference.
///
/// # Invariants
///
/// Only ever referenced, never owned: a `&'a KernelAddons` points to the
/// real (slab-allocated, not the kernel's placeholder) addons of an inode,
/// allocated for all of `'a`.  The kernel frees them only after the inode's
/// destruction (which swaps the placeholder in) and an RCU grace period.
#[cfg(ia_backend_embedded)]
#[repr(transparent)]
pub(crate) struct KernelAddons(Opaque<bindings::inode_addons>);

// SAFETY: the kernel's subsystems synchronise their own fields; this type
// only reads them with `READ_ONCE()`/`rcu_access_pointer()` semantics.
#[cfg(ia_backend_embedded)]
unsafe impl Send for KernelAddons {}
// SAFETY: see `Send`.
#[cfg(ia_backend_embedded)]
unsafe impl Sync for KernelAddons {}

#[cfg(ia_backend_embedded)]
impl KernelAddons {
    /// Borrows the addons at `p` for `'a`; `None` if `p` is NULL.
    ///
    /// # Safety
    ///
    /// `p` must be NULL or an inode's real addons, allocated for all of
    /// `'a`.
    unsafe fn from_raw<'a>(p: *mut bindings::inode_addons) -> Option<&'a Self> {
        // SAFETY: `Self` is a transparent wrapper; allocated for `'a` (by
        // the caller).
        NonNull::new(p).map(|p| unsafe { &*p.as_ptr().cast::<Self>() })
    }

    /// The raw pointer, for C (the kfuncs) and as an identity.
    pub(crate) fn as_ptr(&self) -> *mut bindings::inode_addons {
        self.0.get()
    }

    /// The fsnotify state of `inode`, whose addons these are, as the kernel
    /// keeps it there: `i_fsnotify_marks` in the addons, the mask in them
    /// or, with patch 0005 (`ia_inline_mask`), in the inode.
    pub(crate) fn fsnotify_state(&self, inode: &Inode) -> FsnotifyState {
        let a = self.as_ptr();
        // SAFETY: the addons are allocated (type invariant); the mask is
        // read with `READ_ONCE()` semantics, as fsnotify's lockless readers
        // do.
        #[cfg(not(ia_inline_mask))]
        let mask = unsafe { addr_of!((*a).i_fsnotify_mask).read_volatile() };
        #[cfg(not(ia_inline_mask))]
        let _ = inode;
        #[cfg(ia_inline_mask)]
        let mask = inode_read_once!(inode, i_fsnotify_mask);
        // SAFETY: as above (`rcu_access_pointer()`: never dereferenced).
        let marks = unsafe { addr_of!((*a).i_fsnotify_marks).read_volatile() };
        FsnotifyState {
            mask,
            has_marks: !marks.is_null(),
        }
    }
}

/// Fields few inodes use, wherever the kernel keeps them: in `struct inode`
/// (stock and most flavors) or, on flavor `addons-cold`, in the addons
/// (`ia_addons_flctx`, `ia_addons_devices`, set by Kbuild from the struct).
/// Lockless snapshots, for the census, under the caller's RCU read-side
/// section (it keeps the addons of `addons-cold` allocated while read).
impl Inode {
    /// Whether the inode has a file lock context (`i_flctx` set): it had a
    /// POSIX, OFD or flock lock or a lease.
    pub(crate) fn has_file_lock_context(&self, _guard: &RcuGuard) -> bool {
        #[cfg(not(ia_addons_flctx))]
        return !inode_read_once!(self, i_flctx).is_null();
        #[cfg(ia_addons_flctx)]
        {
            self.addons(_guard)
                .is_some_and(|a| a.has_file_lock_context())
        }
    }

    /// Whether the inode is on a character device's list of inodes
    /// (`i_devices` linked): a character device inode that was opened.
    pub(crate) fn in_cdev_list(&self, _guard: &RcuGuard) -> bool {
        #[cfg(not(ia_addons_devices))]
        return inode_read_once!(self, i_devices.next).cast_const()
            != inode_field_addr!(self, i_devices);
        #[cfg(ia_addons_devices)]
        {
            self.addons(_guard).is_some_and(|a| a.in_cdev_list())
        }
    }
}

#[cfg(ia_backend_embedded)]
impl KernelAddons {
    /// `i_flctx` in the addons is set (flavor `addons-cold`).
    #[cfg(ia_addons_flctx)]
    fn has_file_lock_context(&self) -> bool {
        // SAFETY: the addons are allocated (type invariant); a `READ_ONCE()`
        // snapshot, never dereferenced.
        !unsafe { addr_of!((*self.as_ptr()).i_flctx).read_volatile() }.is_null()
    }

    /// `i_devices` in the addons is linked (flavor `addons-cold`): not NULL
    /// (never linked: the addons are zeroed) and not pointing to itself
    /// (unlinked by `list_del_init()`).
    #[cfg(ia_addons_devices)]
    fn in_cdev_list(&self) -> bool {
        let head = self.as_ptr();
        // SAFETY: the addons are allocated (type invariant); the projection
        // stays in bounds, and the read is a `READ_ONCE()` snapshot of the
        // list pointer, never dereferenced.
        let (next, this) = unsafe {
            (
                addr_of!((*head).i_devices.next).read_volatile(),
                addr_of!((*head).i_devices),
            )
        };
        !next.is_null() && next.cast_const() != this
    }
}

/// The embedded backend's view of `inode->i_addons` (kernels with the
/// series).
#[cfg(ia_backend_embedded)]
impl Inode {
    /// `inode_addons_get()`: `i_addons` as it is now, possibly the kernel's
    /// placeholder.
    fn addons_raw(&self) -> *mut bindings::inode_addons {
        // `READ_ONCE()`, paired with the kernel's `cmpxchg()`.
        inode_read_once!(self, i_addons)
    }

    /// Whether `p` (a non-NULL `i_addons`) is real addons, a slab object,
    /// rather than the kernel's placeholder (a static object).
    fn is_real_addons(p: *mut bindings::inode_addons) -> bool {
        // SAFETY: only the address is looked at (`virt_addr_valid()`, then
        // the folio of a valid address).
        unsafe { ffi::ia_is_slab_object(p.cast()) }
    }

    /// The inode's real addons, `None` if it has none (or the kernel's
    /// placeholder: it is being set up or torn down), borrowed for the
    /// caller's RCU read-side section.
    pub(crate) fn addons<'g>(&self, _guard: &'g RcuGuard) -> Option<&'g KernelAddons> {
        let p = self.addons_raw();
        if p.is_null() || !Self::is_real_addons(p) {
            return None;
        }
        // SAFETY: real addons, read under `_guard`: the kernel frees them
        // after the inode's destruction (which first swaps the placeholder
        // in, so a later read sees no addons) and a grace period that
        // cannot end before `_guard` does.
        unsafe { KernelAddons::from_raw(p) }
    }

    /// Whether the inode can take no addons any more: it is being torn down
    /// (`I_FREEING`, `I_WILL_FREE`) or has the kernel's placeholder.
    pub(crate) fn addons_closed(&self) -> bool {
        let p = self.addons_raw();
        self.is_freeing() || (!p.is_null() && !Self::is_real_addons(p))
    }

    /// `inode_addons_alloc()`: the inode's addons, allocated with `gfp` if
    /// it has none; `None` on allocation failure or for an inode being torn
    /// down.  `gfp` must suit the caller's context.
    ///
    /// The addons are borrowed for as long as the inode: the caller keeps
    /// it from being destroyed meanwhile (a file reference, a probed call).
    pub(crate) fn addons_alloc(&self, gfp: bindings::gfp_t) -> Option<&KernelAddons> {
        // SAFETY: the inode is allocated (type invariant); the flags suit
        // the context (by the caller).
        let p = unsafe { bindings::inode_addons_alloc(self.as_ptr(), gfp) };
        // SAFETY: non-NULL is the inode's real addons (the kernel never
        // hands out the placeholder), freed only after its destruction.
        unsafe { KernelAddons::from_raw(p) }
    }

    /// `inode_addons_attach_nolock()`: as [`Inode::addons_alloc`], but the
    /// object comes from the BPF memory allocator's per-CPU free lists,
    /// which any context may use: a BPF program can run inside the slab
    /// allocator, where a slab allocation could deadlock.  `None` when the
    /// lists are empty (and `gfp` may not sleep) or for an inode being torn
    /// down.  Called through `ia_addons_attach_nolock()`, where the tests
    /// inject the allocation failures failslab cannot.
    pub(crate) fn addons_alloc_nolock(&self, gfp: bindings::gfp_t) -> Option<&KernelAddons> {
        let mut p = core::ptr::null_mut();
        // SAFETY: the inode is allocated (type invariant); the function may
        // be called from any context, and writes `p` only on success.
        if unsafe { ffi::ia_addons_attach_nolock(self.as_ptr(), gfp, &mut p) } != 0 {
            return None;
        }
        // SAFETY: as in `addons_alloc`.
        unsafe { KernelAddons::from_raw(p) }
    }
}

#[cfg(ia_backend_embedded)]
impl SynthInodes {
    /// Whether `inode` is one of these synthetic inodes.
    fn contains(&self, inode: &Inode) -> bool {
        let base = self.inodes.as_ptr() as usize;
        let end = base + self.inodes.len() * core::mem::size_of::<bindings::inode>();
        (base..end).contains(&inode.addr())
    }

    /// Detaches the addons of `inode`, one of these synthetic inodes, and
    /// frees them, after a grace period unless `now` (no reader left);
    /// counted in the benchmark's counters.  Does nothing for an inode
    /// that is not one of these.
    ///
    /// The kernel frees addons in `__destroy_inode()`, which never runs for
    /// synthetic inodes.  Addons from `inode_addons_alloc()` without BPF
    /// storage take a `kfree()` (valid for `kmem_cache` objects).  Addons
    /// a BPF program created (from the BPF memory allocator) or gave
    /// storage (freed by the kernel's addons destruction, which modules
    /// cannot call) stay attached instead, counted in
    /// `bench_addons_leaked` by `drop`, which leaks them for good.
    /// Storage a program adds while the detached addons wait for their
    /// grace period is caught by the deferred free, which leaks them.  (The
    /// kernel creates inode storage only on referenced inodes, which these
    /// never are; checked anyway: the module does not rely on that rule.)
    pub(crate) fn release_addons(&self, inode: &Inode, now: bool) {
        if !self.contains(inode) {
            return;
        }
        // SAFETY: the inode is allocated; its `i_addons` is only accessed
        // atomically (here, and the kernel's `cmpxchg()`).
        let slot = unsafe {
            core::sync::atomic::AtomicPtr::from_ptr(addr_of_mut!((*inode.as_ptr()).i_addons))
        };
        let a = slot.load(core::sync::atomic::Ordering::Acquire);
        if a.is_null() {
            return;
        }
        // SAFETY: `a` is attached, so allocated; the flags were written
        // before the addons were published and stay while they are
        // attached (the `rcu` head sharing their storage is used only
        // after the detach below); `i_bpf_storage` is read with
        // `READ_ONCE()`.
        let kernel_only = unsafe {
            (*a).__bindgen_anon_1.i_alloc_flags & bindings::INODE_ADDONS_NOLOCK != 0
                || !core::ptr::read_volatile(addr_of!((*a).i_bpf_storage)).is_null()
        };
        // Left attached: counted when the array is dropped.  Only this
        // thread detaches this inode's addons, and nobody else replaces
        // attached ones: the exchange cannot fail.
        if kernel_only
            || slot
                .compare_exchange(
                    a,
                    core::ptr::null_mut(),
                    core::sync::atomic::Ordering::AcqRel,
                    core::sync::atomic::Ordering::Relaxed,
                )
                .is_err()
        {
            return;
        }
        if now {
            // SAFETY: detached above: nobody else can reach `a` (no reader
            // left, by the caller).
            unsafe { free_synthetic(a) };
        } else {
            // SAFETY: detached above; readers that found it may hold it
            // until a grace period has passed.  The callback is module code:
            // the benchmark ends with `rcu_barrier()`.
            unsafe {
                bindings::call_rcu(
                    addr_of_mut!((*a).__bindgen_anon_1.rcu),
                    Some(free_synthetic_addons),
                )
            };
        }
    }
}

/// Frees the addons of a synthetic inode after a grace period.
///
/// # Safety
///
/// `head` is the `rcu` of addons detached by
/// [`SynthInodes::release_addons`].
#[cfg(ia_backend_embedded)]
unsafe extern "C" fn free_synthetic_addons(head: *mut bindings::callback_head) {
    let off = core::mem::offset_of!(bindings::inode_addons, __bindgen_anon_1);
    // SAFETY: `rcu` is a member of the union at `off` (union members start
    // at the union's offset); a grace period has passed since the detach:
    // the object is no one else's (by the caller).
    unsafe { free_synthetic(head.cast::<u8>().sub(off).cast()) };
}

/// Frees `a`, addons of a synthetic inode from `inode_addons_alloc()`,
/// unless a BPF program gave them storage since they were checked: then
/// they are leaked (counted), and handed to kmemleak as a root, as nothing
/// points to them once the storage's map is gone.
///
/// # Safety
///
/// `a` is detached from its inode and no one else's any more.
#[cfg(ia_backend_embedded)]
unsafe fn free_synthetic(a: *mut bindings::inode_addons) {
    // SAFETY: allocated and no one else's (by the caller): no program
    // can be adding storage any more.
    if !unsafe { (*a).i_bpf_storage }.is_null() {
        // SAFETY: the start of a `kmem_cache` object, never freed.
        unsafe { ffi::ia_kmemleak_not_leak(a.cast()) };
        crate::stats::STATS.bench_leaked.inc();
        return;
    }
    // SAFETY: a `kmem_cache` object nobody else can reach (by the caller).
    unsafe { bindings::kfree(a.cast()) };
    crate::stats::STATS.bench_freed.inc();
}
