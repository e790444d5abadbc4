/* SPDX-License-Identifier: GPL-2.0 */
/*
 * inode_addons: the C side of the module.
 *
 * The Rust crate (inode_addons_main.rs) does the work.  This header is the
 * contract between the two halves of the module:
 *
 *  - one-line wrappers of C static inline functions and macros that Rust
 *    cannot call (rhashtable fast paths, RCU read side, per-CPU counter,
 *    spinlock and completion set-up), and of what 6.12's bindings have no
 *    types for (kprobes, fsnotify marks);
 *  - struct inode_addons, so that the kfuncs returning it get BTF (pahole
 *    does not emit BTF for Rust objects), and the layouts Rust checks;
 *  - the functions the Rust crate exports to C (ia_rust_*).
 *
 * Every prototype here is mirrored by hand in module/ffi.rs; the layouts of
 * struct inode_addons and struct ia_query (ia_uapi.h) are checked against
 * the Rust types at module load.
 */
#ifndef _INODE_ADDONS_GLUE_H
#define _INODE_ADDONS_GLUE_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/rhashtable-types.h>
#include <linux/spinlock_types.h>

#include "ia_uapi.h"

struct pt_regs;
struct inode;
struct fsnotify_mark;
struct fsnotify_mark_connector;
struct bpf_local_storage;

#define IA_SCRATCH_WORDS 4
#define IA_SCRATCH_BYTES (IA_SCRATCH_WORDS * sizeof(__u64))

#ifndef CONFIG_INODE_ADDONS
/*
 * The per-inode addons object of the side-table backend; a kernel with
 * CONFIG_INODE_ADDONS has its own (include/linux/fs.h).  The first three fields are the proposal
 * (Christian Brauner, Nov 2024); the rest is what the side-table prototype
 * needs.  Mirrored by `InodeAddons` in module/addons.rs.
 */
struct inode_addons {
	/* Shadow of inode->i_fsnotify_marks (the connector, not owned). */
	struct fsnotify_mark_connector __rcu *i_fsnotify_marks;
	/* BPF inode storage; always NULL in the prototype. */
	struct bpf_local_storage __rcu *i_bpf_storage;
	/* Shadow of inode->i_fsnotify_mask. */
	__u32 i_fsnotify_mask;
	/* IA_F_* (and, Rust-only, a microbenchmark object bit) */
	__u32 ia_flags;
	/* Side table key: address of the owning inode. */
	unsigned long ia_inode;
	/* Side table linkage and deferred free. */
	struct rhash_head ia_node;
	struct rcu_head ia_rcu;
	/* Scratch space for BPF tracing programs (bpf_inode_addons_scratch). */
	__u64 ia_scratch[IA_SCRATCH_WORDS];
};

#define IA_F_HAS_MARKS 0x1

/* Layout of struct inode_addons as C sees it; compared with Rust at load. */
struct ia_layout {
	__u32 size;
	__u32 off_i_fsnotify_marks;
	__u32 off_i_bpf_storage;
	__u32 off_i_fsnotify_mask;
	__u32 off_ia_flags;
	__u32 off_ia_inode;
	__u32 off_ia_node;
	__u32 off_ia_rcu;
	__u32 off_ia_scratch;
};
#endif /* !CONFIG_INODE_ADDONS */

/*
 * Layout of struct ia_query and its ioctl constants as C sees them
 * (ia_uapi.h); compared with Rust's IaQuery at load.
 */
struct ia_query_layout {
	__u32 size;
	__u32 off_fd;
	__u32 off_flags;
	__u32 off_ino;
	__u32 off_present;
	__u32 off_created;
	__u32 off_shadow_mask;
	__u32 off_real_mask;
	__u32 off_shadow_has_marks;
	__u32 off_real_has_marks;
	__u32 ioc_query;
	__u32 query_create;
};

extern const struct ia_query_layout ia_query_layout;
extern const unsigned int ia_scratch_words;
#ifndef CONFIG_INODE_ADDONS
extern const struct ia_layout ia_layout;
#endif

struct completion;
struct super_block;

/* rhashtable: the fast paths are static inlines taking the params by value. */
int ia_rht_init(struct rhashtable *ht, const struct rhashtable_params *p);
void *ia_rht_lookup(struct rhashtable *ht, const void *key,
		    const struct rhashtable_params *p);
void *ia_rht_lookup_get_insert(struct rhashtable *ht, struct rhash_head *obj,
			       const struct rhashtable_params *p);
int ia_rht_remove(struct rhashtable *ht, struct rhash_head *obj,
		  const struct rhashtable_params *p);

/* Macros and static inlines: RCU, context, locks, the recursion counter. */
void ia_rcu_read_lock(void);
void ia_rcu_read_unlock(void);
bool ia_in_task(void);
bool ia_irqs_disabled(void);
void ia_cond_resched(void);
bool ia_fatal_signal_pending(void);
void ia_spin_lock_init(spinlock_t *lock);
bool ia_inode_trylock(struct inode *inode);
void ia_init_completion(struct completion *c);
/* A static inline without CONFIG_DEBUG_KMEMLEAK. */
void ia_kmemleak_not_leak(const void *ptr);
int ia_busy_inc(void);
void ia_busy_dec(void);

/* kprobes and kretprobes: no kprobe type in 6.12's bindings. */
struct ia_kprobe;
struct ia_kretprobe;
typedef void (*ia_kprobe_fn)(const void *ctx, struct pt_regs *regs);
typedef bool (*ia_kret_entry_fn)(const void *ctx, struct pt_regs *regs,
				 unsigned long *data);
typedef void (*ia_kret_ret_fn)(const void *ctx, struct pt_regs *regs,
			       const unsigned long *data);
extern const size_t ia_kprobe_size;
extern const size_t ia_kretprobe_size;
int ia_kprobe_register(struct ia_kprobe *p, const char *symbol,
		       ia_kprobe_fn pre, const void *ctx);
void ia_kprobe_unregister(struct ia_kprobe *p);
int ia_kretprobe_register(struct ia_kretprobe *p, const char *symbol,
			  ia_kret_entry_fn entry, ia_kret_ret_fn ret,
			  const void *ctx, int maxactive, size_t data_size);
void ia_kretprobe_unregister(struct ia_kretprobe *p);
int ia_kretprobe_nmissed(struct ia_kretprobe *p);
unsigned long ia_regs_arg(struct pt_regs *regs, unsigned int n);
unsigned long ia_regs_ret(struct pt_regs *regs);

/* fsnotify: fsnotify_backend.h's types are opaque to Rust. */
__u32 ia_inode_fsnotify_mask(struct inode *inode);
struct fsnotify_mark_connector *ia_mark_connector(struct fsnotify_mark *mark);
unsigned int ia_conn_type(struct fsnotify_mark_connector *conn);
void *ia_conn_obj(struct fsnotify_mark_connector *conn);
extern const unsigned int ia_fsnotify_obj_type_inode;

#ifdef CONFIG_INODE_ADDONS
/* The embedded backend: the kernel's inode->i_addons. */
bool ia_is_slab_object(const void *p);
int ia_addons_attach_nolock(struct inode *inode, gfp_t gfp,
			    struct inode_addons **addons);
#endif

/* The misc device and the kfuncs (debugfs files are made from Rust). */
int ia_misc_register(void);
void ia_misc_deregister(void);
int ia_kfuncs_register(void);

/* Implemented in Rust (module/c_entry.rs), each with its contract there. */
long ia_rust_ioctl(unsigned int cmd, unsigned long arg);
struct inode_addons *ia_rust_get_or_create_atomic(struct inode *inode);
__u32 ia_rust_shadow_mask(struct inode *inode);
__u8 *ia_rust_scratch(struct inode *inode, int size);

#endif /* _INODE_ADDONS_GLUE_H */
