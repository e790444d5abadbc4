// SPDX-License-Identifier: GPL-2.0

//! Declarations of the C glue in `ia_glue.c`.
//!
//! Mirrors `ia_glue.h` by hand: the kernel's own bindings cover the kernel
//! types used here (`struct rhashtable`, `struct inode`, ...), the module's
//! own C functions and types are declared below.  Only the safe wrappers
//! (`rhashtable.rs`, `kprobe.rs`, `rcu.rs`, `inode.rs`) call these.

use kernel::bindings;
use kernel::ffi::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

/// Words of BPF scratch space per inode (`IA_SCRATCH_WORDS`).
pub(crate) const SCRATCH_WORDS: usize = 4;

/// `struct ia_kprobe` (opaque).
#[repr(C)]
pub(crate) struct IaKprobe {
    _opaque: [u8; 0],
}

/// `struct ia_kretprobe` (opaque).
#[repr(C)]
pub(crate) struct IaKretprobe {
    _opaque: [u8; 0],
}

/// `struct fsnotify_mark` (opaque).
#[repr(C)]
pub(crate) struct FsnotifyMark {
    _opaque: [u8; 0],
}

/// `struct fsnotify_mark_connector` (opaque).
#[repr(C)]
pub(crate) struct FsnotifyConnector {
    _opaque: [u8; 0],
}

/// `struct ia_layout`.
#[repr(C)]
#[derive(Default, PartialEq, Eq, Debug)]
pub(crate) struct IaLayout {
    pub(crate) size: u32,
    pub(crate) off_marks: u32,
    pub(crate) off_storage: u32,
    pub(crate) off_mask: u32,
    pub(crate) off_flags: u32,
    pub(crate) off_inode: u32,
    pub(crate) off_node: u32,
    pub(crate) off_rcu: u32,
    pub(crate) off_scratch: u32,
}

/// `struct ia_sizes`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct IaSizes {
    pub(crate) inode_size: u32,
    pub(crate) fsnotify_span: u32,
    pub(crate) ptr_size: u32,
    pub(crate) proposed_size: u32,
    pub(crate) proposed_alloc: u32,
    pub(crate) prototype_alloc: u32,
}

/// `struct ia_query`, the ioctl argument (`ia_uapi.h`, the definition;
/// checked against it at load, [`IaQuery::check_layout`]).
#[repr(C)]
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

/// `struct ia_query_layout`.
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
}

/// Compares the layout of a `#[repr(C)]` Rust type with its C definition,
/// as C's `$get()` reports it in `$layout` (`size`, then one offset per
/// listed field).  A mismatch fails the load (`EINVAL`) instead of
/// corrupting memory.
macro_rules! check_layout {
    ($ty:ty, $c_name:literal, $layout:ident, $get:ident,
     { $($off:ident: $field:ident),* $(,)? }) => {{
        let mut c = $crate::ffi::$layout::default();
        // SAFETY: `c` is valid for writes.
        unsafe { $crate::ffi::$get(&mut c) };
        let rust = $crate::ffi::$layout {
            size: ::core::mem::size_of::<$ty>() as u32,
            $($off: ::core::mem::offset_of!($ty, $field) as u32,)*
        };
        if c == rust {
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

impl IaQuery {
    /// Checks that C's `struct ia_query` has this type's layout.
    pub(crate) fn check_layout() -> kernel::error::Result {
        check_layout!(Self, "ia_query", IaQueryLayout, ia_get_query_layout, {
            off_fd: fd,
            off_flags: flags,
            off_ino: ino,
            off_present: present,
            off_created: created,
            off_shadow_mask: shadow_mask,
            off_real_mask: real_mask,
            off_shadow_has_marks: shadow_has_marks,
            off_real_has_marks: real_has_marks,
        })
    }
}

pub(crate) type KprobeFn = unsafe extern "C" fn(ctx: *const c_void, regs: *mut bindings::pt_regs);
pub(crate) type KretEntryFn = unsafe extern "C" fn(
    ctx: *const c_void,
    regs: *mut bindings::pt_regs,
    data: *mut c_ulong,
) -> bool;
pub(crate) type KretRetFn =
    unsafe extern "C" fn(ctx: *const c_void, regs: *mut bindings::pt_regs, data: c_ulong);

/// `ia_walk_fn`.
#[cfg(ia_backend_embedded)]
pub(crate) type IaWalkFn =
    unsafe extern "C" fn(inode: *mut bindings::inode, addons: *mut c_void, arg: *mut c_void);

// `struct inode` embeds types bindgen leaves empty; only pointers to it
// cross the boundary, so its FFI-safety by value does not matter.
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ia_rht_init(
        ht: *mut bindings::rhashtable,
        p: *const bindings::rhashtable_params,
    ) -> c_int;
    pub(crate) fn ia_rht_free_and_destroy(
        ht: *mut bindings::rhashtable,
        free_fn: Option<unsafe extern "C" fn(ptr: *mut c_void, arg: *mut c_void)>,
        arg: *mut c_void,
    );
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
    pub(crate) fn ia_rht_walk(
        ht: *mut bindings::rhashtable,
        f: Option<unsafe extern "C" fn(obj: *mut c_void, arg: *mut c_void)>,
        arg: *mut c_void,
    ) -> c_int;

    pub(crate) fn ia_rcu_read_lock();
    pub(crate) fn ia_rcu_read_unlock();

    pub(crate) fn ia_kprobe_register(
        symbol: *const c_char,
        pre: Option<KprobeFn>,
        ctx: *const c_void,
        out: *mut *mut IaKprobe,
    ) -> c_int;
    pub(crate) fn ia_kprobe_unregister(p: *mut IaKprobe);
    pub(crate) fn ia_kretprobe_register(
        symbol: *const c_char,
        entry: Option<KretEntryFn>,
        ret: Option<KretRetFn>,
        ctx: *const c_void,
        maxactive: c_int,
        out: *mut *mut IaKretprobe,
    ) -> c_int;
    pub(crate) fn ia_kretprobe_unregister(p: *mut IaKretprobe);
    pub(crate) fn ia_kretprobe_nmissed(p: *mut IaKretprobe) -> c_int;
    pub(crate) fn ia_regs_arg(regs: *mut bindings::pt_regs, n: c_uint) -> c_ulong;
    pub(crate) fn ia_regs_ret(regs: *mut bindings::pt_regs) -> c_ulong;

    pub(crate) fn ia_inode_lock_if_live(inode: *mut bindings::inode, spin: bool) -> c_int;
    pub(crate) fn ia_inode_unlock(inode: *mut bindings::inode);
    pub(crate) fn ia_inode_fsnotify_mask(inode: *mut bindings::inode) -> u32;
    pub(crate) fn ia_inode_fsnotify_marks(inode: *mut bindings::inode) -> *mut c_void;
    pub(crate) fn ia_conn_inode(conn: *mut FsnotifyConnector) -> *mut bindings::inode;
    pub(crate) fn ia_mark_inode(mark: *mut FsnotifyMark) -> *mut bindings::inode;
    pub(crate) fn ia_in_task() -> bool;
    pub(crate) fn ia_busy_enter();
    pub(crate) fn ia_busy_try_enter() -> bool;
    pub(crate) fn ia_busy_exit();
    pub(crate) fn ia_shadow_lock() -> c_ulong;
    pub(crate) fn ia_shadow_unlock(flags: c_ulong);
    pub(crate) fn ia_count_inodes() -> i64;
    pub(crate) fn ia_get_sizes(s: *mut IaSizes);
    pub(crate) fn ia_get_layout(l: *mut IaLayout);
    pub(crate) fn ia_get_query_layout(l: *mut IaQueryLayout);

    pub(crate) fn ia_control_register() -> c_int;
    pub(crate) fn ia_control_unregister();
    /// Frees what `ia_walk_inodes()` needs (after the last walk).
    pub(crate) fn ia_walk_release();
    pub(crate) fn ia_kfuncs_register() -> c_int;
}

/// A bench kthread's body (`ia_bench_fn`).
pub(crate) type BenchFn = unsafe extern "C" fn(arg: *const c_void, idx: c_uint) -> c_int;
/// Asks a bench's kthreads to stop (`ia_bench_stop_fn`).
pub(crate) type BenchStopFn = unsafe extern "C" fn(arg: *const c_void);

// The microbenchmark's helpers (`ia_glue.c`).
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ia_cond_resched();
    pub(crate) fn ia_fatal_signal_pending() -> bool;
    pub(crate) fn ia_bench_inodes_alloc(n: usize) -> *mut bindings::inode;
    pub(crate) fn ia_bench_run_threads(
        n: c_uint,
        fn_: Option<BenchFn>,
        stop: Option<BenchStopFn>,
        arg: *const c_void,
    ) -> c_int;
}

/// Keeps `c_long` in use for the exported `ia_rust_*` functions' signatures.
pub(crate) type CLong = c_long;

// The embedded backend's helpers (`ia_glue.c`, `CONFIG_INODE_ADDONS` only).
#[cfg(ia_backend_embedded)]
#[allow(improper_ctypes)]
extern "C" {
    pub(crate) fn ia_addons_get(inode: *mut bindings::inode) -> *mut c_void;
    pub(crate) fn ia_addons_alloc(inode: *mut bindings::inode, gfp: u32) -> *mut c_void;
    pub(crate) fn ia_inode_closed(inode: *mut bindings::inode) -> bool;
    pub(crate) fn ia_addons_fsnotify_mask(inode: *mut bindings::inode, a: *mut c_void) -> u32;
    pub(crate) fn ia_addons_fsnotify_marks(a: *mut c_void) -> *mut c_void;
    pub(crate) fn ia_create_lock();
    pub(crate) fn ia_create_unlock();
    pub(crate) fn ia_walk_inodes(fn_: Option<IaWalkFn>, arg: *mut c_void) -> c_int;
    pub(crate) fn ia_bench_addons_release(inode: *mut bindings::inode, now: bool);
}
