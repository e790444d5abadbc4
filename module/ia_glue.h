/* SPDX-License-Identifier: GPL-2.0 */
/*
 * inode_addons: the C side of the module.
 *
 * The Rust crate (inode_addons_main.rs) does the work.  This header is the
 * contract between the two halves of the module:
 *
 *  - tiny wrappers for C static inline functions and macros that Rust cannot
 *    call (rhashtable fast paths, RCU read side, kprobe plumbing, i_lock);
 *  - struct inode_addons, so that the kfuncs returning it get BTF (pahole
 *    does not emit BTF for Rust objects);
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
	__u32 off_marks;
	__u32 off_storage;
	__u32 off_mask;
	__u32 off_flags;
	__u32 off_inode;
	__u32 off_node;
	__u32 off_rcu;
	__u32 off_scratch;
};
#endif /* !CONFIG_INODE_ADDONS */

/* Sizes the embedded-layout estimate is computed from. */
struct ia_sizes {
	__u32 inode_size;
	/*
	 * Bytes that moving i_fsnotify_mask and i_fsnotify_marks out of
	 * struct inode frees (with the hole between them when adjacent).
	 */
	__u32 fsnotify_span;
	/* Bytes struct inode_addons *i_addons would take. */
	__u32 ptr_size;
	/* sizeof() and kmalloc bucket of the proposed 3-field struct. */
	__u32 proposed_size;
	__u32 proposed_alloc;
	/* kmalloc bucket of this prototype's struct inode_addons. */
	__u32 prototype_alloc;
};

/* Layout of struct ia_query as C sees it; compared with Rust at load. */
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
};

/* rhashtable: wrappers of the static inline fast paths. */
int ia_rht_init(struct rhashtable *ht, const struct rhashtable_params *p);
void ia_rht_free_and_destroy(struct rhashtable *ht,
			     void (*free_fn)(void *ptr, void *arg), void *arg);
void *ia_rht_lookup(struct rhashtable *ht, const void *key,
		    const struct rhashtable_params *p);
void *ia_rht_lookup_get_insert(struct rhashtable *ht, struct rhash_head *obj,
			       const struct rhashtable_params *p);
int ia_rht_remove(struct rhashtable *ht, struct rhash_head *obj,
		  const struct rhashtable_params *p);
int ia_rht_walk(struct rhashtable *ht, void (*fn)(void *obj, void *arg),
		void *arg);

/* RCU. */
void ia_rcu_read_lock(void);
void ia_rcu_read_unlock(void);

/* kprobes and kretprobes. */
struct ia_kprobe;
struct ia_kretprobe;
typedef void (*ia_kprobe_fn)(const void *ctx, struct pt_regs *regs);
typedef bool (*ia_kret_entry_fn)(const void *ctx, struct pt_regs *regs,
				 unsigned long *data);
typedef void (*ia_kret_ret_fn)(const void *ctx, struct pt_regs *regs,
			       unsigned long data);
int ia_kprobe_register(const char *symbol, ia_kprobe_fn pre, const void *ctx,
		       struct ia_kprobe **out);
void ia_kprobe_unregister(struct ia_kprobe *p);
int ia_kretprobe_register(const char *symbol, ia_kret_entry_fn entry,
			  ia_kret_ret_fn ret, const void *ctx, int maxactive,
			  struct ia_kretprobe **out);
void ia_kretprobe_unregister(struct ia_kretprobe *p);
int ia_kretprobe_nmissed(struct ia_kretprobe *p);
unsigned long ia_regs_arg(struct pt_regs *regs, unsigned int n);
unsigned long ia_regs_ret(struct pt_regs *regs);

/* inodes and fsnotify. */
int ia_inode_lock_if_live(struct inode *inode, bool spin);
void ia_inode_unlock(struct inode *inode);
__u32 ia_inode_fsnotify_mask(struct inode *inode);
void *ia_inode_fsnotify_marks(struct inode *inode);
struct inode *ia_conn_inode(struct fsnotify_mark_connector *conn);
struct inode *ia_mark_inode(struct fsnotify_mark *mark);
bool ia_in_task(void);
void ia_busy_enter(void);
bool ia_busy_try_enter(void);
void ia_busy_exit(void);
unsigned long ia_shadow_lock(void);
void ia_shadow_unlock(unsigned long flags);
__s64 ia_count_inodes(void);
void ia_get_sizes(struct ia_sizes *s);
void ia_get_query_layout(struct ia_query_layout *l);
#ifndef CONFIG_INODE_ADDONS
void ia_get_layout(struct ia_layout *l);
#else
/* The embedded backend: the kernel's inode->i_addons. */
struct inode_addons *ia_addons_get(struct inode *inode);
struct inode_addons *ia_addons_alloc(struct inode *inode, gfp_t gfp);
bool ia_inode_closed(struct inode *inode);
__u32 ia_addons_fsnotify_mask(struct inode *inode, struct inode_addons *a);
void *ia_addons_fsnotify_marks(struct inode_addons *a);
void ia_create_lock(void);
void ia_create_unlock(void);
typedef void (*ia_walk_fn)(struct inode *inode, struct inode_addons *a,
			   void *arg);
int ia_walk_inodes(ia_walk_fn fn, void *arg);
#endif

/* The microbenchmark (module/bench.rs). */
typedef int (*ia_bench_fn)(const void *arg, unsigned int idx);
typedef void (*ia_bench_stop_fn)(const void *arg);
void ia_cond_resched(void);
bool ia_fatal_signal_pending(void);
struct inode *ia_bench_inodes_alloc(size_t n);
int ia_bench_run_threads(unsigned int n, ia_bench_fn fn, ia_bench_stop_fn stop,
			 const void *arg);
#ifdef CONFIG_INODE_ADDONS
void ia_bench_addons_release(struct inode *inode, bool now);
#endif

/* Control plane (debugfs, misc device) and kfuncs. */
int ia_control_register(void);
void ia_control_unregister(void);
void ia_walk_release(void);
int ia_kfuncs_register(void);

/* Implemented in Rust. */
int ia_rust_query(struct inode *inode, bool create, struct ia_query *q);
long ia_rust_format_stats(char *buf, unsigned long len);
long ia_rust_selfcheck(char *buf, unsigned long len);
struct inode_addons *ia_rust_get_or_create_atomic(struct inode *inode);
__u32 ia_rust_shadow_mask(struct inode *inode);
__u64 *ia_rust_scratch(struct inode *inode);
long ia_rust_bench(const char *args, char *buf, unsigned long len);
void ia_rust_bench_addons_freed(void);

#endif /* _INODE_ADDONS_GLUE_H */
