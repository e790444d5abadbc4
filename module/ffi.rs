// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C glue in `ia_glue.c`.
//!
//! Mirrors `ia_glue.h` by hand: the kernel's own bindings cover the kernel
//! types used here (`struct rhashtable`, `struct inode`, ...), the module's
//! own C functions and types are declared below.  Only the safe wrappers
//! (`rhashtable.rs`, `kprobe.rs`, `rcu.rs`, `inode.rs`, `vfs.rs`,
//! `kthread.rs`, `recursion.rs`, and the ones at the end of this file)
//! call these.

use kernel::bindings;
#[cfg(not(ia_backend_embedded))]
use kernel::ffi::c_ulong;
use kernel::ffi::{c_char, c_int, c_uint, c_void};
use kernel::types::{AsBytes, FromBytes};

/// Words of BPF scratch space per inode (`IA_SCRATCH_WORDS`).
pub(crate) const SCRATCH_WORDS: usize = 4;

/// A BPF scratch area (`u64 ia_scratch[IA_SCRATCH_WORDS]`), zeroed when
/// made: memory only BPF programs use, through the pointer the scratch
/// kfunc returns; Rust neither reads nor writes it.
#[repr(transparent)]
pub(crate) struct Scratch(kernel::types::Opaque<[u64; SCRATCH_WORDS]>);

// SAFETY: Rust code never accesses the contents (no accessor but the
// pointer); BPF programs' accesses to it are theirs to order, as with any
// map value.
unsafe impl Send for Scratch {}
// SAFETY: see `Send`.
unsafe impl Sync for Scratch {}

impl Scratch {
    /// A zeroed area.
    pub(crate) const fn new() -> Self {
        Self(kernel::types::Opaque::new([0; SCRATCH_WORDS]))
    }

    /// The area, for the BPF program that called the kfunc.
    pub(crate) fn as_ptr(&self) -> *mut u64 {
        self.0.get().cast()
    }
}

/// `struct ia_kprobe` (opaque; `ia_kprobe_size` bytes).
#[cfg(not(ia_backend_embedded))]
#[repr(C)]
pub(crate) struct IaKprobe {
    _opaque: [u8; 0],
}

/// `struct ia_kretprobe` (opaque; `ia_kretprobe_size` bytes).
#[cfg(not(ia_backend_embedded))]
#[repr(C)]
pub(crate) struct IaKretprobe {
    _opaque: [u8; 0],
}

/// `struct fsnotify_mark` (opaque).
#[cfg(not(ia_backend_embedded))]
#[repr(C)]
pub(crate) struct FsnotifyMark {
    _opaque: [u8; 0],
}

/// `struct ia_layout`: `struct inode_addons` as C lays it out.
#[cfg(not(ia_backend_embedded))]
#[repr(C)]
#[derive(Default, PartialEq, Eq, Debug)]
pub(crate) struct IaLayout {
    pub(crate) size: u32,
    pub(crate) off_i_fsnotify_marks: u32,
    pub(crate) off_i_bpf_storage: u32,
    pub(crate) off_i_fsnotify_mask: u32,
    pub(crate) off_ia_flags: u32,
    pub(crate) off_ia_inode: u32,
    pub(crate) off_ia_node: u32,
    pub(crate) off_ia_rcu: u32,
    pub(crate) off_ia_scratch: u32,
}

/// `struct ia_query`, the ioctl argument (`ia_uapi.h`, the definition;
/// checked against it at load, [`IaQuery::check_layout`]).
#[repr(C)]
#[derive(Clone, Copy, Default)]
pub(crate) struct IaQuery {
    pub(crate) fd: i32,
    pub(crate) flags: u32,
    pub(crate) ino: u64,
    pub(crate) present: u32,
    pub(crate) created: u32,
    pub(crate) shadow_mask: u32,
    pub(crate) real_mask: u32,
    pub(crate) shadow_has_marks: u32,
    pub(crate) real_has_marks: u32,
}

// SAFETY: integers only, without padding (4 + 4 + 8 + 6 * 4 bytes, every
// field at a multiple of its alignment; checked against C at load): every
// byte pattern is a valid value.
unsafe impl FromBytes for IaQuery {}
// SAFETY: integers only, without padding (see `FromBytes`): no byte is
// uninitialised.
unsafe impl AsBytes for IaQuery {}

/// `IA_QUERY_CREATE`.
pub(crate) const QUERY_CREATE: u32 = 0x1;
/// `IA_IOC_QUERY`: `_IOWR(0xa1, 1, struct ia_query)`.
pub(crate) const IOC_QUERY: u32 = kernel::ioctl::_IOWR::<IaQuery>(0xa1, 1);

/// `struct ia_query_layout`: `struct ia_query` and its ioctl constants as
/// C sees them.
#[repr(C)]
#[derive(Default, PartialEq, Eq, Debug)]
pub(crate) struct IaQueryLayout {
    pub(crate) size: u32,
    pub(crate) off_fd: u32,
    pub(crate) off_flags: u32,
    pub(crate) off_ino: u32,
    pub(crate) off_present: u32,
    pub(crate) off_created: u32,
    pub(crate) off_shadow_mask: u32,
    pub(crate) off_real_mask: u32,
    pub(crate) off_shadow_has_marks: u32,
    pub(crate) off_real_has_marks: u32,
    pub(crate) ioc_query: u32,
    pub(crate) query_create: u32,
}

/// Compares the layout of a `#[repr(C)]` Rust type with its C definition,
/// as C's constant `$c` reports it (`size`, one offset per listed field,
/// then `$extra` fields compared as given).  A mismatch fails the load
/// (`EINVAL`) instead of corrupting memory.
macro_rules! check_layout {
    ($ty:ty, $c_name:literal, $layout:ident, $c:ident,
     { $($off:ident: $field:ident),* $(,)? } $(, $extra:ident: $val:expr)*) => {{
        // SAFETY: an immutable C object, initialised at build time.
        let c = unsafe { &$crate::ffi::$c };
        let rust = $crate::ffi::$layout {
            size: ::core::mem::size_of::<$ty>() as u32,
            $($off: ::core::mem::offset_of!($ty, $field) as u32,)*
            $($extra: $val,)*
        };
        if *c == rust {
            Ok(())
        } else {
            ::kernel::pr_err!("struct {} differs between C and Rust\n", $c_name);
            Err(::kernel::error::code::EINVAL)
        }
    }};
}
// For the side table's `struct inode_addons` (addons.rs); the embedded
// backend has no layout of its own to check.
#[cfg(not(ia_backend_embedded))]
pub(crate) use check_layout;

/// Checks that C's `IA_SCRATCH_WORDS` (the kfunc scratch area, as the
/// side table's `struct inode_addons` and the BPF programs size it) is
/// [`SCRATCH_WORDS`].
pub(crate) fn check_scratch_words() -> kernel::error::Result {
    // SAFETY: an immutable C object, initialised at build time.
    if unsafe { ia_scratch_words } as usize == SCRATCH_WORDS {
        Ok(())
    } else {
        kernel::pr_err!("IA_SCRATCH_WORDS differs between C and Rust\n");
        Err(kernel::error::code::EINVAL)
    }
}

impl IaQuery {
    /// Checks that C's `struct ia_query` and ioctl constants are this
    /// type's layout and [`IOC_QUERY`], [`QUERY_CREATE`].
    pub(crate) fn check_layout() -> kernel::error::Result {
        check_layout!(Self, "ia_query", IaQueryLayout, ia_query_layout, {
            off_fd: fd,
            off_flags: flags,
            off_ino: ino,
            off_present: present,
            off_created: created,
            off_shadow_mask: shadow_mask,
            off_real_mask: real_mask,
            off_shadow_has_marks: shadow_has_marks,
            off_real_has_marks: real_has_marks,
        }, ioc_query: IOC_QUERY, query_create: QUERY_CREATE)
    }
}

#[cfg(not(ia_backend_embedded))]
pub(crate) type KprobeFn = unsafe extern "C" fn(ctx: *const c_void, regs: *mut bindings::pt_regs);
#[cfg(not(ia_backend_embedded))]
pub(crate) type KretEntryFn = unsafe extern "C" fn(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: *mut c_ulong,
) -> bool;
#[cfg(not(ia_backend_embedded))]
pub(crate) type KretRetFn =
    unsafe extern "C" fn(ctx: *const c_void, regs: *mut bindings::pt_regs, data: *const c_ulong);

// `struct inode` embeds types bindgen leaves empty; only pointers to it
// cross the boundary, so its FFI-safety by value does not matter.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) static ia_query_layout: IaQueryLayout;
    pub(crate) static ia_scratch_words: c_uint;
    #[cfg(not(ia_backend_embedded))]
    pub(crate) static ia_layout: IaLayout;

    pub(crate) fn ia_rht_init(
        ht: *mut bindings::rhashtable,
        p: *const bindings::rhashtable_params,
    ) -> c_int;
    pub(crate) fn ia_rht_lookup(
        ht: *mut bindings::rhashtable,
        key: *const c_void,
        p: *const bindings::rhashtable_params,
    ) -> *mut c_void;
    pub(crate) fn ia_rht_lookup_get_insert(
        ht: *mut bindings::rhashtable,
        obj: *mut bindings::rhash_head,
        p: *const bindings::rhashtable_params,
    ) -> *mut c_void;
    pub(crate) fn ia_rht_remove(
        ht: *mut bindings::rhashtable,
        obj: *mut bindings::rhash_head,
        p: *const bindings::rhashtable_params,
    ) -> c_int;

    pub(crate) fn ia_rcu_read_lock();
    pub(crate) fn ia_rcu_read_unlock();
    pub(crate) fn ia_in_task() -> bool;
    pub(crate) fn ia_irqs_disabled() -> bool;
    pub(crate) fn ia_cond_resched();
    pub(crate) fn ia_fatal_signal_pending() -> bool;
    pub(crate) fn ia_spin_lock_init(lock: *mut bindings::spinlock_t);
    pub(crate) fn ia_inode_trylock(inode: *mut bindings::inode) -> bool;
    pub(crate) fn ia_init_completion(c: *mut bindings::completion);
    pub(crate) fn ia_busy_inc() -> c_int;
    pub(crate) fn ia_busy_dec();

    pub(crate) fn ia_inode_fsnotify_mask(inode: *mut bindings::inode) -> u32;

    pub(crate) fn ia_misc_register() -> c_int;
    pub(crate) fn ia_misc_deregister();
    pub(crate) fn ia_kfuncs_register() -> c_int;
}

// The side table's kprobes and fsnotify probes; the embedded backend has
// neither.
#[cfg(not(ia_backend_embedded))]
extern "C" {
    pub(crate) static ia_kprobe_size: usize;
    pub(crate) static ia_kretprobe_size: usize;
    pub(crate) fn ia_kprobe_register(
        p: *mut IaKprobe,
        symbol: *const c_char,
        pre: Option<KprobeFn>,
        ctx: *const c_void,
    ) -> c_int;
    pub(crate) fn ia_kprobe_unregister(p: *mut IaKprobe);
    pub(crate) fn ia_kretprobe_register(
        p: *mut IaKretprobe,
        symbol: *const c_char,
        entry: Option<KretEntryFn>,
        ret: Option<KretRetFn>,
        ctx: *const c_void,
        maxactive: c_int,
        data_size: usize,
    ) -> c_int;
    pub(crate) fn ia_kretprobe_unregister(p: *mut IaKretprobe);
    pub(crate) fn ia_kretprobe_nmissed(p: *mut IaKretprobe) -> c_int;
    pub(crate) fn ia_regs_arg(regs: *mut bindings::pt_regs, n: c_uint) -> c_ulong;
    pub(crate) fn ia_regs_ret(regs: *mut bindings::pt_regs) -> c_ulong;

    pub(crate) fn ia_mark_connector(
        mark: *mut FsnotifyMark,
    ) -> *mut bindings::fsnotify_mark_connector;
    pub(crate) fn ia_conn_type(conn: *mut bindings::fsnotify_mark_connector) -> c_uint;
    pub(crate) fn ia_conn_obj(conn: *mut bindings::fsnotify_mark_connector) -> *mut c_void;
    pub(crate) static ia_fsnotify_obj_type_inode: c_uint;
}

// Real kernel functions that 6.12's bindings leave out (`rhashtable.h` is
// not in `bindings_helper.h`).
extern "C" {
    pub(crate) fn rhashtable_free_and_destroy(
        ht: *mut bindings::rhashtable,
        free_fn: Option<unsafe extern "C" fn(ptr: *mut c_void, arg: *mut c_void)>,
        arg: *mut c_void,
    );
}

// The walk (`RhashTable::for_each`), which only the side table uses.
#[cfg(not(ia_backend_embedded))]
extern "C" {
    pub(crate) fn rhashtable_walk_enter(
        ht: *mut bindings::rhashtable,
        iter: *mut bindings::rhashtable_iter,
    );
    pub(crate) fn rhashtable_walk_exit(iter: *mut bindings::rhashtable_iter);
    pub(crate) fn rhashtable_walk_start_check(iter: *mut bindings::rhashtable_iter) -> c_int;
    pub(crate) fn rhashtable_walk_next(iter: *mut bindings::rhashtable_iter) -> *mut c_void;
    pub(crate) fn rhashtable_walk_stop(iter: *mut bindings::rhashtable_iter);
}

// debugfs is not in 6.12's bindings; these are real exported functions
// when `CONFIG_DEBUG_FS=y`, which every flavor has.  `struct dentry` and
// `struct file_operations` are opaque here (`c_void`): rustc does not take
// the bindings' ones for FFI-safe (an empty member struct, depending on the
// config).  Only `debugfs.rs` calls them.
extern "C" {
    pub(crate) fn debugfs_create_dir(name: *const c_char, parent: *mut c_void) -> *mut c_void;
    pub(crate) fn debugfs_create_file(
        name: *const c_char,
        mode: bindings::umode_t,
        parent: *mut c_void,
        data: *mut c_void,
        fops: *const c_void,
    ) -> *mut c_void;
    pub(crate) fn debugfs_remove(dentry: *mut c_void);
}

// `<linux/namei.h>` is not in 6.12's bindings; `kern_path()` is exported.
// Only `vfs::FsTypes::walk` calls it.  `struct path` leads to types bindgen
// leaves empty (through `struct super_block`); only a pointer to it
// crosses the boundary.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn kern_path(name: *const c_char, flags: c_uint, path: *mut bindings::path)
        -> c_int;
}

// The embedded backend's helpers (`ia_glue.c`, `CONFIG_INODE_ADDONS` only).
// Only pointers to `struct inode` cross (see the first block).
#[cfg(ia_backend_embedded)]
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ia_is_slab_object(p: *const c_void) -> bool;
    pub(crate) fn ia_kmemleak_not_leak(ptr: *const c_void);
    pub(crate) fn ia_addons_attach_nolock(
        inode: *mut bindings::inode,
        gfp: bindings::gfp_t,
        addons: *mut *mut bindings::inode_addons,
    ) -> c_int;
}

/// `kmalloc_size_roundup()`: the size of the kmalloc object an allocation
/// of `size` bytes gets.
pub(crate) fn kmalloc_size_roundup(size: usize) -> usize {
    // SAFETY: a pure computation on the kmalloc caches; no precondition.
    unsafe { bindings::kmalloc_size_roundup(size) }
}

/// `get_random_u32()`.
pub(crate) fn random_u32() -> u32 {
    // SAFETY: no precondition (any context, the entropy pool is set up
    // before modules load).
    unsafe { bindings::get_random_u32() }
}

/// `si_mem_available()`: pages available for new allocations without
/// swapping, an estimate.
pub(crate) fn mem_available_pages() -> usize {
    // SAFETY: no precondition; it reads global counters.
    let pages = unsafe { bindings::si_mem_available() };
    pages.max(0) as usize
}

/// Registers the kfuncs (`ia_kfunc_set` in `ia_glue.c`) for tracing
/// programs.  There is no unregistration: the set goes with the module's
/// BTF.  Programs can use the kfuncs once the module is live
/// (`btf_try_get_module()` wants `BTF_MODULE_F_LIVE`).  Process context.
pub(crate) fn register_kfuncs() -> kernel::error::Result {
    // SAFETY: process context, no other precondition.
    kernel::error::to_result(unsafe { ia_kfuncs_register() })
}

/// The misc device `/dev/inode_addons` (`ia_miscdev` in `ia_glue.c`),
/// registered until dropped.  Its ioctl calls `ia_rust_ioctl()`.
///
/// Dropping it stops new opens but does not wait for the ioctls of files
/// opened before; each open file holds a module reference.
///
/// # Invariants
///
/// `ia_miscdev` is registered while a `MiscDevice` exists, and only one
/// exists at a time (`MISC_REGISTERED`).
pub(crate) struct MiscDevice(());

/// Set while a [`MiscDevice`] exists: `ia_miscdev` is one static object,
/// which `misc_register()` must not get twice.
static MISC_REGISTERED: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

impl MiscDevice {
    /// Registers the device; `EBUSY` if it is registered.  Process
    /// context.
    pub(crate) fn register() -> kernel::error::Result<Self> {
        use core::sync::atomic::Ordering::{Acquire, Release};
        if MISC_REGISTERED
            .compare_exchange(false, true, Acquire, Acquire)
            .is_err()
        {
            return Err(kernel::error::code::EBUSY);
        }
        // SAFETY: process context; not registered (`MISC_REGISTERED`).
        if let Err(e) = kernel::error::to_result(unsafe { ia_misc_register() }) {
            MISC_REGISTERED.store(false, Release);
            return Err(e);
        }
        // INVARIANT: registered, and the only one.
        Ok(Self(()))
    }
}

impl Drop for MiscDevice {
    fn drop(&mut self) {
        // SAFETY: registered (type invariant); process context.
        unsafe { ia_misc_deregister() };
        MISC_REGISTERED.store(false, core::sync::atomic::Ordering::Release);
    }
}
