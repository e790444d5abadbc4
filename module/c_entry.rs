// SPDX-License-Identifier: GPL-2.0

//! The Rust functions the C glue calls (`ia_rust_*`): the misc device's
//! ioctl and the kfunc bodies.  Each is `unsafe extern "C"` with its
//! contract and borrows the published module state for the call only
//! ([`with_state`]).

use crate::{
    active::ActiveBackend,
    backend::{AddonsObject, AllocCtx, Backend},
    control::{with_state, ModuleState},
    ffi::{self, IaQuery},
    inode::Inode,
    rcu::RcuGuard,
    recursion::Busy,
    stats::STATS,
    vfs::FileRef,
};
use core::{mem::size_of, ptr::null_mut};
use kernel::{
    bindings,
    ffi::{c_int, c_long, c_uint, c_ulong, c_void},
    prelude::*,
    uaccess::UserSlice,
};

/// `IA_IOC_QUERY` on the misc device: fills the `struct ia_query` at `arg`
/// for the inode of its `fd`, creating its addons if asked.
fn ioctl_query(a: &ModuleState, arg: usize) -> Result {
    let (mut reader, mut writer) = UserSlice::new(arg, size_of::<IaQuery>()).reader_writer();
    let mut q: IaQuery = reader.read()?;
    if q.flags & !ffi::QUERY_CREATE != 0 {
        return Err(EINVAL);
    }
    let file = FileRef::get(q.fd).ok_or(EBADF)?;
    let inode = file.inode().ok_or(EBADF)?;
    // Only inodes a user can watch and name: files and directories.
    if !inode.is_reg_or_dir() {
        return Err(EINVAL);
    }
    query(a, inode, q.flags & ffi::QUERY_CREATE != 0, &mut q)?;
    drop(file);
    writer.write(&q)
}

/// The misc device's `unlocked_ioctl` (and, through `compat_ptr_ioctl()`,
/// `compat_ioctl`): `ENOTTY` for any command but `IA_IOC_QUERY`.
///
/// # Safety
///
/// Called by the C glue's file operation while the entry points are
/// registered (an open device file pins the module), in process context,
/// with the command and its (user pointer) argument.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_ioctl(cmd: c_uint, arg: c_ulong) -> c_long {
    if cmd != ffi::IOC_QUERY {
        return ENOTTY.to_errno() as c_long;
    }
    // SAFETY: a C entry point (by the caller).
    match unsafe { with_state(|a| ioctl_query(a, arg)) }.unwrap_or(Err(ENODEV)) {
        Ok(()) => 0,
        Err(e) => e.to_errno() as c_long,
    }
}

fn query(a: &ModuleState, inode: &Inode, create: bool, q: &mut IaQuery) -> Result {
    let real = inode.fsnotify_state();
    q.ino = inode.ino();
    q.real_mask = real.mask;
    q.real_has_marks = real.has_marks as u32;
    let mut fill = |addons: Option<&<ActiveBackend as Backend>::Addons>, created: bool| {
        q.present = addons.is_some() as u32;
        q.created = created as u32;
        let shadow = addons.map(|ad| ad.recorded_fsnotify_state(inode));
        q.shadow_mask = shadow.map_or(0, |s| s.mask);
        q.shadow_has_marks = shadow.is_some_and(|s| s.has_marks) as u32;
    };
    if create {
        a.backend
            .get_or_create(inode, AllocCtx::Sleepable, |ad, created| {
                fill(Some(ad), created)
            })
    } else {
        let guard = RcuGuard::new();
        fill(a.backend.lookup(inode, &guard), false);
        Ok(())
    }
}

/// `bpf_inode_addons_get()`.
///
/// # Safety
///
/// Called by the kfunc while the entry points are registered (a loaded BPF
/// program pins the module); `inode` is NULL or an inode the program's
/// traced function keeps allocated for the call.  That last part is the
/// program author's obligation, which the verifier does not check (the
/// kfuncs take untrusted pointers, no `KF_TRUSTED_ARGS`: module/README.md,
/// "Interfaces").
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_get_or_create_atomic(
    inode: *mut bindings::inode,
) -> *mut c_void {
    // SAFETY: NULL or allocated for the call (by the caller's contract,
    // unchecked by the verifier).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return null_mut();
    };
    // A program attached inside one of the module's locked sections on
    // this CPU gets NULL.
    let Some(_busy) = Busy::try_enter() else {
        STATS.refused_busy.inc();
        return null_mut();
    };
    let get = |a: &ModuleState| {
        a.backend
            .get_or_create(inode, AllocCtx::Bpf, |ad, _| ad.as_c_ptr())
            .unwrap_or(null_mut())
    };
    // SAFETY: a C entry point.
    unsafe { with_state(get) }.unwrap_or(null_mut())
}

/// `bpf_inode_addons_shadow_mask()`.
///
/// # Safety
///
/// As for [`ia_rust_get_or_create_atomic`].
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_shadow_mask(inode: *mut bindings::inode) -> u32 {
    // SAFETY: allocated for the call (by the caller).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return 0;
    };
    let mask = |a: &ModuleState| {
        let guard = RcuGuard::new();
        a.backend
            .lookup(inode, &guard)
            .map_or(0, |ad| ad.recorded_fsnotify_state(inode).mask)
    };
    // SAFETY: a C entry point.
    unsafe { with_state(mask) }.unwrap_or(0)
}

/// `bpf_inode_addons_scratch()`: NULL unless `0 < size <=` the scratch
/// area's size.
///
/// # Safety
///
/// As for [`ia_rust_get_or_create_atomic`]; the program runs under RCU
/// (the kfunc is not available to sleepable programs), which keeps the
/// returned area alive while the program runs.
#[no_mangle]
pub(crate) unsafe extern "C" fn ia_rust_scratch(
    inode: *mut bindings::inode,
    size: c_int,
) -> *mut u8 {
    if size <= 0 || size as usize > ffi::SCRATCH_WORDS * size_of::<u64>() {
        return null_mut();
    }
    // SAFETY: allocated for the call (by the caller).
    let Some(inode) = (unsafe { Inode::from_raw(inode) }) else {
        return null_mut();
    };
    // The embedded backend's scratch table takes bucket locks.
    let Some(_busy) = Busy::try_enter() else {
        STATS.refused_busy.inc();
        return null_mut();
    };
    // SAFETY: a C entry point.
    unsafe { with_state(|a| a.backend.scratch(inode)) }.map_or(null_mut(), |p| p.cast())
}
