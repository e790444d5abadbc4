// SPDX-License-Identifier: GPL-2.0

//! A safe wrapper around the kernel's resizable hash table.
//!
//! C header: [`include/linux/rhashtable.h`](srctree/include/linux/rhashtable.h)
//!
//! The table owns its objects: they are inserted as [`KBox`]es and freed
//! either after an RCU grace period ([`RhashTable::remove`]) or when the table
//! is dropped.  Lookups are lockless under RCU and return references bound to
//! an [`RcuGuard`].  Keys are `usize` values stored in the object.

use crate::{ffi, rcu::RcuGuard};
use core::{
    marker::PhantomData,
    ptr::{addr_of, addr_of_mut},
};
use kernel::{
    bindings,
    error::{to_result, Error},
    ffi::c_void,
    init::{self, PinInit},
    prelude::*,
    types::Opaque,
};

/// An object that can live in an [`RhashTable`].  Implement it with
/// [`impl_rhash_entry!`], which checks the fields' types.
///
/// # Safety
///
/// `HEAD_OFFSET` must be the offset of a [`RhashNode`], `KEY_OFFSET` of a
/// `usize` key that never changes while the object is in a table, and
/// `RCU_OFFSET` of a [`RhashRcu`], all inside `Self`; `HEAD_OFFSET` and
/// `KEY_OFFSET` at most `u16::MAX` (`struct rhashtable_params`' fields).
pub(crate) unsafe trait RhashEntry: Sized + Send + Sync {
    /// Offset of the [`RhashNode`].
    const HEAD_OFFSET: usize;
    /// Offset of the `usize` key.
    const KEY_OFFSET: usize;
    /// Offset of the [`RhashRcu`].
    const RCU_OFFSET: usize;
}

/// Implements [`RhashEntry`] for `$t` with its fields `node` (a
/// [`RhashNode`]), `key` (a `usize`) and `rcu` (a [`RhashRcu`]).
///
/// The field types, and the alignment of the two heads, are checked at
/// build time.  A `usize` field cannot
/// change while its object is shared, and a table only hands out shared
/// references to its objects: the key is fixed while the object is in one.
macro_rules! impl_rhash_entry {
    ($t:ty { node: $node:ident, key: $key:ident, rcu: $rcu:ident $(,)? }) => {
        // SAFETY: the offsets of the fields the trait wants, with the types
        // it wants, aligned (checked below); a `usize` key does not change
        // while the object is shared (see the macro).
        unsafe impl $crate::rhashtable::RhashEntry for $t {
            const HEAD_OFFSET: usize = ::core::mem::offset_of!($t, $node);
            const KEY_OFFSET: usize = ::core::mem::offset_of!($t, $key);
            const RCU_OFFSET: usize = ::core::mem::offset_of!($t, $rcu);
        }
        // A packed `$t` would misalign them (`call_rcu()` refuses a
        // misaligned head); `struct rhashtable_params` holds the node and
        // key offsets in `u16`s.
        const _: () = assert!(
            ::core::mem::offset_of!($t, $node) <= u16::MAX as usize
                && ::core::mem::offset_of!($t, $key) <= u16::MAX as usize
        );
        const _: () = assert!(
            ::core::mem::align_of::<$t>()
                >= ::core::mem::align_of::<$crate::rhashtable::RhashRcu>()
                && ::core::mem::offset_of!($t, $node)
                    % ::core::mem::align_of::<$crate::rhashtable::RhashNode>()
                    == 0
                && ::core::mem::offset_of!($t, $rcu)
                    % ::core::mem::align_of::<$crate::rhashtable::RhashRcu>()
                    == 0
        );
        const _: () = {
            /// Never called: compiles only if the fields have the types
            /// above (raw pointers do not coerce).
            #[allow(dead_code)]
            fn field_types(
                p: *const $t,
            ) -> (
                *const $crate::rhashtable::RhashNode,
                *const usize,
                *const $crate::rhashtable::RhashRcu,
            ) {
                // SAFETY: computes places, reads nothing (never called).
                unsafe {
                    (
                        ::core::ptr::addr_of!((*p).$node),
                        ::core::ptr::addr_of!((*p).$key),
                        ::core::ptr::addr_of!((*p).$rcu),
                    )
                }
            }
        };
    };
}
pub(crate) use impl_rhash_entry;

/// The `struct rhash_head` linkage of an [`RhashEntry`]: only its table
/// uses it (no accessor).
#[repr(transparent)]
pub(crate) struct RhashNode(Opaque<bindings::rhash_head>);

/// The `struct callback_head` with which an [`RhashEntry`]'s table frees
/// it after a grace period: only the table uses it (no accessor).
#[repr(transparent)]
pub(crate) struct RhashRcu(Opaque<bindings::callback_head>);

// SAFETY: written by the table only, under its bucket locks (`rhash_head`,
// read under RCU) or once removed (`callback_head`, by `call_rcu()`).
unsafe impl Send for RhashNode {}
// SAFETY: see `Send`.
unsafe impl Sync for RhashNode {}
// SAFETY: as for `RhashNode`.
unsafe impl Send for RhashRcu {}
// SAFETY: as for `RhashNode`.
unsafe impl Sync for RhashRcu {}

impl RhashNode {
    /// Linkage of an object in no table.
    pub(crate) const fn new() -> Self {
        Self(Opaque::uninit())
    }
}

impl RhashRcu {
    /// The head of an object in no table.
    pub(crate) const fn new() -> Self {
        Self(Opaque::uninit())
    }
}

/// Result of [`RhashTable::insert`].
pub(crate) enum Insert<'g, T> {
    /// The object was inserted; here it is.
    Inserted(&'g T),
    /// An object with that key was there first: it is returned with the
    /// caller's object, which was not inserted.
    Exists(&'g T, KBox<T>),
}

/// A `struct rhashtable` holding `KBox<T>` objects.
///
/// # Invariants
///
/// - `table` is initialised (`rhashtable_init` succeeded) and is destroyed
///   only in `drop`.
/// - Every object in the table came from `KBox::into_raw` and is owned by
///   the table until removed.
/// - `params` is the parameter block the table was initialised with.
pub(crate) struct RhashTable<T: RhashEntry> {
    table: Opaque<bindings::rhashtable>,
    params: bindings::rhashtable_params,
    _owns: PhantomData<KBox<T>>,
}

// SAFETY: `struct rhashtable` does its own locking (bucket locks, RCU) and
// the objects are `Send + Sync`.
unsafe impl<T: RhashEntry> Send for RhashTable<T> {}
// SAFETY: see `Send`; every method takes `&self` and is safe to call
// concurrently.
unsafe impl<T: RhashEntry> Sync for RhashTable<T> {}

/// `IS_ERR()`.
fn is_err(p: *mut c_void) -> bool {
    (p as usize) >= (-(bindings::MAX_ERRNO as isize)) as usize
}

impl<T: RhashEntry> RhashTable<T> {
    /// Creates an empty table.
    pub(crate) fn new() -> impl PinInit<Self, Error> {
        // SAFETY: all-zero is a valid `rhashtable_params` (no callbacks: the
        // default jhash over `key_len` bytes is used).
        let mut params: bindings::rhashtable_params = unsafe { core::mem::zeroed() };
        // Lossless: at most `u16::MAX` (trait safety contract).
        params.head_offset = T::HEAD_OFFSET as u16;
        params.key_offset = T::KEY_OFFSET as u16;
        params.key_len = core::mem::size_of::<usize>() as u16;
        params.automatic_shrinking = true;
        // SAFETY: on success every field of `*slot` is initialised; on error
        // nothing was initialised that needs dropping (`rhashtable_init`
        // frees what it allocated when it fails).  The table is initialised
        // in place and never moved since the result is pinned.
        unsafe {
            init::pin_init_from_closure(move |slot: *mut Self| {
                addr_of_mut!((*slot).params).write(params);
                addr_of_mut!((*slot)._owns).write(PhantomData);
                let ht = Opaque::raw_get(addr_of!((*slot).table));
                to_result(ffi::ia_rht_init(ht, addr_of!((*slot).params)))
            })
        }
    }

    fn ht(&self) -> *mut bindings::rhashtable {
        self.table.get()
    }

    /// Number of objects in the table.
    pub(crate) fn len(&self) -> usize {
        // SAFETY: `nelems` is an `atomic_t` of the initialised table (type
        // invariant); reading it racily is how `rhashtable` itself does it.
        let n = unsafe { core::ptr::read_volatile(addr_of!((*self.ht()).nelems.counter)) };
        n.max(0) as usize
    }

    /// Finds the object with key `key`.
    pub(crate) fn lookup<'g>(&'g self, key: usize, _guard: &'g RcuGuard) -> Option<&'g T> {
        // SAFETY: the table is initialised (type invariant), RCU is held
        // (the guard), `key` is `key_len` bytes.
        let p = unsafe { ffi::ia_rht_lookup(self.ht(), addr_of!(key).cast(), &self.params) };
        // SAFETY: a non-NULL result is an object in the table; it is freed
        // only after a grace period, so it outlives `_guard`.
        (!p.is_null()).then(|| unsafe { &*p.cast::<T>() })
    }

    /// Inserts `obj` unless an object with its key is already there
    /// (`rhashtable_lookup_get_insert_fast`).
    ///
    /// On error (out of memory, table full) the object is handed back.
    pub(crate) fn insert<'g>(
        &'g self,
        obj: KBox<T>,
        _guard: &'g RcuGuard,
    ) -> core::result::Result<Insert<'g, T>, (Error, KBox<T>)> {
        let raw = KBox::into_raw(obj);
        // SAFETY: `HEAD_OFFSET` is inside `T` (trait safety contract).
        let head = unsafe { raw.cast::<u8>().add(T::HEAD_OFFSET) }.cast::<bindings::rhash_head>();
        // SAFETY: the table is initialised, `head` is the linkage of a valid
        // object that is in no table.
        let p = unsafe { ffi::ia_rht_lookup_get_insert(self.ht(), head, &self.params) };
        if p.is_null() {
            // SAFETY: the table now owns `raw`; it is freed after a grace
            // period at the earliest, so it outlives `_guard`.
            return Ok(Insert::Inserted(unsafe { &*raw }));
        }
        // SAFETY: `raw` was not inserted; we still own it.
        let mine = unsafe { KBox::from_raw(raw) };
        if is_err(p) {
            return Err((Error::from_errno(p as isize as i32), mine));
        }
        // SAFETY: `p` is the object that was in the table, valid under RCU.
        Ok(Insert::Exists(unsafe { &*p.cast::<T>() }, mine))
    }

    /// Removes `obj` and frees it after an RCU grace period.
    ///
    /// Returns `false` if it was not in the table (already removed).
    pub(crate) fn remove(&self, obj: &T) -> bool {
        let raw = obj as *const T as *mut T;
        // SAFETY: `HEAD_OFFSET` is inside `T`.
        let head = unsafe { raw.cast::<u8>().add(T::HEAD_OFFSET) }.cast::<bindings::rhash_head>();
        // SAFETY: the table is initialised; `head` belongs to a live object.
        if unsafe { ffi::ia_rht_remove(self.ht(), head, &self.params) } != 0 {
            return false;
        }
        // SAFETY: `RCU_OFFSET` is inside `T`.
        let rcu = unsafe { raw.cast::<u8>().add(T::RCU_OFFSET) }.cast::<bindings::callback_head>();
        // SAFETY: we removed the object, so we own it now; readers may still
        // hold references under RCU, hence the deferred free.  The callback
        // is module code: module exit calls `rcu::barrier()`.
        unsafe { bindings::call_rcu(rcu, Some(free_rcu::<T>)) };
        true
    }

    /// Calls `f` for every object, with the RCU read-side section that keeps
    /// it alive for the call; a concurrent resize may show an object twice.
    /// `f` must not sleep.  Process context.
    #[cfg(not(ia_backend_embedded))]
    pub(crate) fn for_each(&self, mut f: impl FnMut(&T, &RcuGuard)) -> Result {
        let mut iter = core::mem::MaybeUninit::<bindings::rhashtable_iter>::uninit();
        let it = iter.as_mut_ptr();
        // SAFETY: the table is initialised (type invariant); `iter` is
        // initialised here and released by `rhashtable_walk_exit()` below.
        unsafe { ffi::rhashtable_walk_enter(self.ht(), it) };
        // SAFETY: entered above; the walk is an RCU read-side section until
        // `rhashtable_walk_stop()`.  `-EAGAIN` (a resize) only means that
        // objects may be seen twice.
        let _ = unsafe { ffi::rhashtable_walk_start_check(it) };
        let mut r = Ok(());
        loop {
            // SAFETY: the walk is started.
            let obj = unsafe { ffi::rhashtable_walk_next(it) };
            if obj.is_null() {
                break;
            }
            if is_err(obj) {
                let e = Error::from_errno(obj as isize as i32);
                if e == EAGAIN {
                    continue;
                }
                r = Err(e);
                break;
            }
            // Nested in the walk's own read-side section, which is what
            // keeps `obj` alive; the guard lets `f` borrow what it finds for
            // the call only.
            let guard = RcuGuard::new();
            // SAFETY: `obj` is an object of the table (type invariant),
            // valid under the walk's RCU read-side section, which encloses
            // `guard`.
            f(unsafe { &*obj.cast::<T>() }, &guard);
        }
        // SAFETY: started above; then entered above.
        unsafe {
            ffi::rhashtable_walk_stop(it);
            ffi::rhashtable_walk_exit(it);
        }
        r
    }
}

/// Frees an object removed from the table, after a grace period.
///
/// # Safety
///
/// `head` is the `callback_head` of an object that came from
/// `KBox::into_raw` and is in no table any more.
unsafe extern "C" fn free_rcu<T: RhashEntry>(head: *mut bindings::callback_head) {
    // SAFETY: `head` is the `callback_head` at `RCU_OFFSET` of an object
    // removed from the table, which came from `KBox::into_raw`.
    drop(unsafe { KBox::from_raw(head.cast::<u8>().sub(T::RCU_OFFSET).cast::<T>()) });
}

/// Frees an object of a table being destroyed.
///
/// # Safety
///
/// `obj` came from `KBox::into_raw` and no reader can reach it any more.
unsafe extern "C" fn free_now<T: RhashEntry>(obj: *mut c_void, _arg: *mut c_void) {
    // SAFETY: `obj` is an object still in the table being destroyed; no
    // reader can exist any more (`drop` has `&mut self`).
    drop(unsafe { KBox::from_raw(obj.cast::<T>()) });
}

impl<T: RhashEntry> Drop for RhashTable<T> {
    fn drop(&mut self) {
        // SAFETY: the table is initialised (type invariant) and nobody else
        // can use it (`&mut self`); every remaining object is freed now.
        unsafe {
            ffi::rhashtable_free_and_destroy(self.ht(), Some(free_now::<T>), core::ptr::null_mut())
        };
    }
}
