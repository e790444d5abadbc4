// SPDX-License-Identifier: GPL-2.0
/*
 * inode_addons: the C that 6.12 still demands, and no logic (module/README.md,
 * "What is still C"): wrappers of static inlines and macros, kprobe and misc
 * device plumbing (no such types in 6.12's Rust bindings), layouts Rust
 * checks at load, and the kfuncs, which must be C to get BTF.  Every
 * function calls the kernel or the Rust crate (ia_rust_*, c_entry.rs).
 */

#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/completion.h>
#include <linux/error-injection.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/kmemleak.h>
#include <linux/kprobes.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>

#include "ia_glue.h"

/* ---- static inlines and macros (rhashtable: params by value) ---------- */

int ia_rht_init(struct rhashtable *ht, const struct rhashtable_params *p)
{
	return rhashtable_init(ht, p);
}

/* Caller holds rcu_read_lock(). */
void *ia_rht_lookup(struct rhashtable *ht, const void *key,
		    const struct rhashtable_params *p)
{
	return rhashtable_lookup(ht, key, *p);
}

/* NULL: inserted; an object: that one was there first; ERR_PTR: error. */
void *ia_rht_lookup_get_insert(struct rhashtable *ht, struct rhash_head *obj,
			       const struct rhashtable_params *p)
{
	return rhashtable_lookup_get_insert_fast(ht, obj, *p);
}

int ia_rht_remove(struct rhashtable *ht, struct rhash_head *obj,
		  const struct rhashtable_params *p)
{
	return rhashtable_remove_fast(ht, obj, *p);
}

void ia_rcu_read_lock(void)
{
	rcu_read_lock();
}

void ia_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

bool ia_in_task(void)
{
	return in_task();
}

bool ia_irqs_disabled(void)
{
	return irqs_disabled();
}

void ia_cond_resched(void)
{
	cond_resched();
}

bool ia_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void ia_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

bool ia_inode_trylock(struct inode *inode)
{
	return spin_trylock(&inode->i_lock);
}

void ia_init_completion(struct completion *c)
{
	init_completion(c);
}

void ia_kmemleak_not_leak(const void *ptr)
{
	kmemleak_not_leak(ptr);
}

/*
 * The recursion counter of module/recursion.rs (as bpf_task_storage_busy):
 * ia_busy_inc() disables preemption and returns this CPU's count, this
 * section included; ia_busy_dec() undoes one ia_busy_inc() on this CPU.
 */
static DEFINE_PER_CPU(int, ia_busy);

int ia_busy_inc(void)
{
	preempt_disable();
	return this_cpu_inc_return(ia_busy);
}

void ia_busy_dec(void)
{
	this_cpu_dec(ia_busy);
	preempt_enable();
}

/*
 * ---- kprobes: Rust owns each probe's memory (ia_k*probe_size zeroed bytes,
 * u64-aligned, freed after unregistration); trampolines pass @ctx to Rust.
 */

struct ia_kprobe {
	struct kprobe kp;
	ia_kprobe_fn pre;
	const void *ctx;
};

struct ia_kretprobe {
	struct kretprobe rp;
	ia_kret_entry_fn entry;
	ia_kret_ret_fn ret;
	const void *ctx;
};

static_assert(__alignof__(struct ia_kprobe) <= sizeof(u64) &&
	      __alignof__(struct ia_kretprobe) <= sizeof(u64));
const size_t ia_kprobe_size = sizeof(struct ia_kprobe);
const size_t ia_kretprobe_size = sizeof(struct ia_kretprobe);

static int ia_kprobe_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct ia_kprobe *p = container_of(kp, struct ia_kprobe, kp);

	p->pre(p->ctx, regs);
	return 0;
}

int ia_kprobe_register(struct ia_kprobe *p, const char *symbol,
		       ia_kprobe_fn pre, const void *ctx)
{
	*p = (struct ia_kprobe){ .kp.symbol_name = symbol,
				 .kp.pre_handler = ia_kprobe_pre,
				 .pre = pre, .ctx = ctx };
	return register_kprobe(&p->kp);
}

/* Returns once no handler of @p runs any more. */
void ia_kprobe_unregister(struct ia_kprobe *p)
{
	unregister_kprobe(&p->kp);
}

/* Non-zero: do not arm the return probe for this call. */
static int ia_kret_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ia_kretprobe *p =
		container_of(get_kretprobe(ri), struct ia_kretprobe, rp);

	return !p->entry(p->ctx, regs, (unsigned long *)ri->data);
}

static int ia_kret_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ia_kretprobe *p =
		container_of(get_kretprobe(ri), struct ia_kretprobe, rp);

	p->ret(p->ctx, regs, (const unsigned long *)ri->data);
	return 0;
}

int ia_kretprobe_register(struct ia_kretprobe *p, const char *symbol,
			  ia_kret_entry_fn entry, ia_kret_ret_fn ret,
			  const void *ctx, int maxactive, size_t data_size)
{
	*p = (struct ia_kretprobe){ .rp.kp.symbol_name = symbol,
				    .rp.entry_handler = ia_kret_entry,
				    .rp.handler = ia_kret_ret,
				    .rp.data_size = data_size,
				    .rp.maxactive = maxactive,
				    .entry = entry, .ret = ret, .ctx = ctx };
	return register_kretprobe(&p->rp);
}

/* Returns once no handler of @p runs and none will run any more. */
void ia_kretprobe_unregister(struct ia_kretprobe *p)
{
	unregister_kretprobe(&p->rp);
}

int ia_kretprobe_nmissed(struct ia_kretprobe *p)
{
	return READ_ONCE(p->rp.nmissed);
}

unsigned long ia_regs_arg(struct pt_regs *regs, unsigned int n)
{
	return regs_get_kernel_argument(regs, n);
}

unsigned long ia_regs_ret(struct pt_regs *regs)
{
	return regs_return_value(regs);
}

/* ---- fsnotify accessors (wherever the series put the fields) ------------ */

u32 ia_inode_fsnotify_mask(struct inode *inode)
{
#ifdef CONFIG_INODE_ADDONS
	return fsnotify_inode_mask(inode);
#else
	return READ_ONCE(inode->i_fsnotify_mask);
#endif
}

struct fsnotify_mark_connector *ia_mark_connector(struct fsnotify_mark *mark)
{
	return READ_ONCE(mark->connector);
}

unsigned int ia_conn_type(struct fsnotify_mark_connector *conn)
{
	return READ_ONCE(conn->type);
}

void *ia_conn_obj(struct fsnotify_mark_connector *conn)
{
	return READ_ONCE(conn->obj);
}

const unsigned int ia_fsnotify_obj_type_inode = FSNOTIFY_OBJ_TYPE_INODE;

/* ---- layouts Rust checks at load, embedded-backend accessors ----------- */
#define IA_OFF(type, field) .off_##field = offsetof(struct type, field)

const unsigned int ia_scratch_words = IA_SCRATCH_WORDS;

const struct ia_query_layout ia_query_layout = {
	.size = sizeof(struct ia_query),
	IA_OFF(ia_query, fd), IA_OFF(ia_query, flags), IA_OFF(ia_query, ino),
	IA_OFF(ia_query, present), IA_OFF(ia_query, created),
	IA_OFF(ia_query, shadow_mask), IA_OFF(ia_query, real_mask),
	IA_OFF(ia_query, shadow_has_marks), IA_OFF(ia_query, real_has_marks),
	.ioc_query = IA_IOC_QUERY,
	.query_create = IA_QUERY_CREATE,
};

#ifndef CONFIG_INODE_ADDONS
const struct ia_layout ia_layout = {
	.size = sizeof(struct inode_addons),
	IA_OFF(inode_addons, i_fsnotify_marks), IA_OFF(inode_addons, i_bpf_storage),
	IA_OFF(inode_addons, i_fsnotify_mask), IA_OFF(inode_addons, ia_flags),
	IA_OFF(inode_addons, ia_inode), IA_OFF(inode_addons, ia_node),
	IA_OFF(inode_addons, ia_rcu), IA_OFF(inode_addons, ia_scratch),
};
#else
/* Real addons are slab objects; the kernel's placeholder is not. */
bool ia_is_slab_object(const void *p)
{
	return virt_addr_valid(p) && folio_test_slab(virt_to_folio(p));
}

/*
 * inode_addons_attach_nolock() for the kfuncs, as an errno: 0 and *@addons
 * set, or -ENOMEM / -ESTALE.  Also the point where the tests fail that
 * allocation (fmod_ret program, tests/fault_addons_alloc.rs): its object
 * comes from the BPF memory allocator's per-CPU free list, refilled from
 * irq_work, so the caller never reaches the slab allocator that failslab
 * hooks.
 */
noinline int ia_addons_attach_nolock(struct inode *inode, gfp_t gfp,
				     struct inode_addons **addons)
{
	struct inode_addons *a = inode_addons_attach_nolock(inode, gfp);

	if (IS_ERR(a))
		return PTR_ERR(a);
	*addons = a;
	return 0;
}
ALLOW_ERROR_INJECTION(ia_addons_attach_nolock, ERRNO);
#endif

/* ---- misc device: file operations calling Rust ----------------------- */
static long ia_dev_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	return ia_rust_ioctl(cmd, arg);
}

static const struct file_operations ia_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = ia_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice ia_miscdev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "inode_addons",
	.fops = &ia_dev_fops,
	.mode = 0600,
};

int ia_misc_register(void)
{
	return misc_register(&ia_miscdev);
}

/*
 * No open after it; ioctls on files opened before may still run (each such
 * file holds a module reference).
 */
void ia_misc_deregister(void)
{
	misc_deregister(&ia_miscdev);
}

/*
 * ---- kfuncs: trust, lifetime and context of their arguments and results
 * (why not KF_TRUSTED_ARGS, why no sleepable caller) in module/README.md,
 * "Interfaces"; the contracts of the ia_rust_* functions in c_entry.rs.
 */

__bpf_kfunc_start_defs();

/* Get or create @inode's addons (GFP_ATOMIC); NULL on any failure. */
__bpf_kfunc struct inode_addons *bpf_inode_addons_get(struct inode *inode)
{
	return ia_rust_get_or_create_atomic(inode);
}

/* The fsnotify mask shadowed in @inode's addons; 0 without addons. */
__bpf_kfunc u32 bpf_inode_addons_shadow_mask(struct inode *inode)
{
	return ia_rust_shadow_mask(inode);
}

/* @inode's scratch area, if it has addons and 0 < size <= 32; or NULL. */
__bpf_kfunc u8 *bpf_inode_addons_scratch(struct inode *inode,
					 const int rdwr_buf_size)
{
	return ia_rust_scratch(inode, rdwr_buf_size);
}

__bpf_kfunc_end_defs();

BTF_KFUNCS_START(ia_kfunc_ids)
BTF_ID_FLAGS(func, bpf_inode_addons_get, KF_RET_NULL)
BTF_ID_FLAGS(func, bpf_inode_addons_shadow_mask)
BTF_ID_FLAGS(func, bpf_inode_addons_scratch, KF_RET_NULL)
BTF_KFUNCS_END(ia_kfunc_ids)

/* Rejects the kfuncs in sleepable programs (verifier: "not allowed"). */
static int ia_kfunc_filter(const struct bpf_prog *prog, u32 kfunc_id)
{
	if (!btf_id_set8_contains(&ia_kfunc_ids, kfunc_id))
		return 0;
	return prog->sleepable ? -EACCES : 0;
}

static const struct btf_kfunc_id_set ia_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &ia_kfunc_ids,
	.filter = ia_kfunc_filter,
};

int ia_kfuncs_register(void)
{
	return register_btf_kfunc_id_set(BPF_PROG_TYPE_TRACING, &ia_kfunc_set);
}
