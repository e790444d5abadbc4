// SPDX-License-Identifier: GPL-2.0
/*
 * inode_addons: C glue.
 *
 * Wrappers for static inline functions and macros the Rust crate cannot
 * call, the debugfs files and the misc device (plumbing only: the work is
 * done by the ia_rust_* functions), and the BPF kfuncs, which must be
 * defined in C to get BTF.
 */

#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/ctype.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fsnotify_backend.h>
#include <linux/kprobes.h>
#include <linux/kthread.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/mutex.h>
#include <linux/module.h>
#include <linux/ptrace.h>
#include <linux/rhashtable.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>

#include "ia_glue.h"

/* ---- rhashtable ---------------------------------------------------- */

int ia_rht_init(struct rhashtable *ht, const struct rhashtable_params *p)
{
	return rhashtable_init(ht, p);
}

void ia_rht_free_and_destroy(struct rhashtable *ht,
			     void (*free_fn)(void *ptr, void *arg), void *arg)
{
	rhashtable_free_and_destroy(ht, free_fn, arg);
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

/*
 * Calls @fn for every object under RCU (@fn must not sleep).  A concurrent
 * resize may show an object twice.
 */
int ia_rht_walk(struct rhashtable *ht, void (*fn)(void *obj, void *arg),
		void *arg)
{
	struct rhashtable_iter iter;
	void *obj;
	int err = 0;

	rhashtable_walk_enter(ht, &iter);
	rhashtable_walk_start(&iter);
	while ((obj = rhashtable_walk_next(&iter))) {
		if (IS_ERR(obj)) {
			if (PTR_ERR(obj) == -EAGAIN)
				continue;
			err = PTR_ERR(obj);
			break;
		}
		fn(obj, arg);
	}
	rhashtable_walk_stop(&iter);
	rhashtable_walk_exit(&iter);
	return err;
}

/* ---- RCU ------------------------------------------------------------ */

void ia_rcu_read_lock(void)
{
	rcu_read_lock();
}

void ia_rcu_read_unlock(void)
{
	rcu_read_unlock();
}

/* ---- kprobes ---------------------------------------------------------- */

struct ia_kprobe {
	struct kprobe kp;
	ia_kprobe_fn pre;
	const void *ctx;
};

static int ia_kprobe_pre(struct kprobe *kp, struct pt_regs *regs)
{
	struct ia_kprobe *p = container_of(kp, struct ia_kprobe, kp);

	p->pre(p->ctx, regs);
	return 0;
}

int ia_kprobe_register(const char *symbol, ia_kprobe_fn pre, const void *ctx,
		       struct ia_kprobe **out)
{
	struct ia_kprobe *p;
	int err;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->kp.symbol_name = symbol;
	p->kp.pre_handler = ia_kprobe_pre;
	p->pre = pre;
	p->ctx = ctx;
	err = register_kprobe(&p->kp);
	if (err) {
		kfree(p);
		return err;
	}
	*out = p;
	return 0;
}

/* Returns once no handler of @p runs any more. */
void ia_kprobe_unregister(struct ia_kprobe *p)
{
	unregister_kprobe(&p->kp);
	kfree(p);
}

struct ia_kretprobe {
	struct kretprobe rp;
	ia_kret_entry_fn entry;
	ia_kret_ret_fn ret;
	const void *ctx;
};

static int ia_kret_entry(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ia_kretprobe *p =
		container_of(get_kretprobe(ri), struct ia_kretprobe, rp);

	/* Non-zero: do not arm the return probe for this call. */
	return p->entry(p->ctx, regs, (unsigned long *)ri->data) ? 0 : 1;
}

static int ia_kret_ret(struct kretprobe_instance *ri, struct pt_regs *regs)
{
	struct ia_kretprobe *p =
		container_of(get_kretprobe(ri), struct ia_kretprobe, rp);

	p->ret(p->ctx, regs, *(unsigned long *)ri->data);
	return 0;
}

int ia_kretprobe_register(const char *symbol, ia_kret_entry_fn entry,
			  ia_kret_ret_fn ret, const void *ctx, int maxactive,
			  struct ia_kretprobe **out)
{
	struct ia_kretprobe *p;
	int err;

	p = kzalloc(sizeof(*p), GFP_KERNEL);
	if (!p)
		return -ENOMEM;
	p->rp.kp.symbol_name = symbol;
	p->rp.entry_handler = ia_kret_entry;
	p->rp.handler = ia_kret_ret;
	p->rp.data_size = sizeof(unsigned long);
	p->rp.maxactive = maxactive;
	p->entry = entry;
	p->ret = ret;
	p->ctx = ctx;
	err = register_kretprobe(&p->rp);
	if (err) {
		kfree(p);
		return err;
	}
	*out = p;
	return 0;
}

/* Returns once no handler of @p runs and none will run any more. */
void ia_kretprobe_unregister(struct ia_kretprobe *p)
{
	unregister_kretprobe(&p->rp);
	kfree(p);
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

/* ---- inodes and fsnotify ------------------------------------------------ */

/*
 * Takes inode->i_lock if addons may be attached to the inode: it is on its
 * super block's inode list and not being torn down (I_FREEING or
 * I_WILL_FREE).  Such an inode is destroyed only by evict(), which sets
 * I_FREEING under i_lock before __destroy_inode().  An inode on no list is
 * being set up or was never set up (the loser of inode_insert5(), a failed
 * inode_init_always()): it may be destroyed without I_FREEING, even without
 * __destroy_inode(), so nothing may be attached to it.  With @spin false
 * never waits for the lock (BPF program context, where the lock may be held
 * by the interrupted code).
 *
 * i_sb_list is tested under i_lock, not s_inode_list_lock: an inode is
 * only taken off the list after I_FREEING, so "on the list and not
 * I_FREEING" under i_lock stays true until the lock is dropped; a racing
 * addition makes this fail, which is harmless.
 *
 * Return: 0 with the lock held, -ENOENT if the inode is being set up or
 * torn down, -EBUSY if @spin is false and the lock is contended.
 */
int ia_inode_lock_if_live(struct inode *inode, bool spin)
{
	if (spin)
		spin_lock(&inode->i_lock);
	else if (!spin_trylock(&inode->i_lock))
		return -EBUSY;
	if ((inode->i_state & (I_FREEING | I_WILL_FREE)) ||
	    list_empty(&inode->i_sb_list)) {
		spin_unlock(&inode->i_lock);
		return -ENOENT;
	}
	return 0;
}

void ia_inode_unlock(struct inode *inode)
{
	spin_unlock(&inode->i_lock);
}

/*
 * The real fsnotify state of an inode.  With CONFIG_INODE_ADDONS the
 * kernel's accessors find the fields wherever the series put them (the
 * mask in the addons, or in struct inode with patch 0005).
 */
u32 ia_inode_fsnotify_mask(struct inode *inode)
{
#ifdef CONFIG_INODE_ADDONS
	return fsnotify_inode_mask(inode);
#else
	return READ_ONCE(inode->i_fsnotify_mask);
#endif
}

void *ia_inode_fsnotify_marks(struct inode *inode)
{
#ifdef CONFIG_INODE_ADDONS
	struct inode_addons *a = inode_addons_get(inode);

	return a ? rcu_access_pointer(a->i_fsnotify_marks) : NULL;
#else
	return rcu_access_pointer(inode->i_fsnotify_marks);
#endif
}

/* The inode a connector is attached to, or NULL (other object, detached). */
struct inode *ia_conn_inode(struct fsnotify_mark_connector *conn)
{
	if (!conn || READ_ONCE(conn->type) != FSNOTIFY_OBJ_TYPE_INODE)
		return NULL;
	return READ_ONCE(conn->obj);
}

struct inode *ia_mark_inode(struct fsnotify_mark *mark)
{
	return ia_conn_inode(READ_ONCE(mark->connector));
}

bool ia_in_task(void)
{
	return in_task();
}

/*
 * The recursion guard (module/recursion.rs): sections of the module that
 * its kfuncs must not enter on the same CPU, as bpf_task_storage_busy.
 */
static DEFINE_PER_CPU(int, ia_busy);

void ia_busy_enter(void)
{
	preempt_disable();
	this_cpu_inc(ia_busy);
}

bool ia_busy_try_enter(void)
{
	preempt_disable();
	if (this_cpu_inc_return(ia_busy) != 1) {
		this_cpu_dec(ia_busy);
		preempt_enable();
		return false;
	}
	return true;
}

void ia_busy_exit(void)
{
	this_cpu_dec(ia_busy);
	preempt_enable();
}

/* Serialises writers of the fsnotify shadows (module/addons.rs). */
static DEFINE_SPINLOCK(ia_shadow_lock_);

unsigned long ia_shadow_lock(void)
{
	unsigned long flags;

	spin_lock_irqsave(&ia_shadow_lock_, flags);
	return flags;
}

void ia_shadow_unlock(unsigned long flags)
{
	spin_unlock_irqrestore(&ia_shadow_lock_, flags);
}

/*
 * Inodes allocated right now: the kernel's own counter (nr_inodes, summed
 * per CPU by get_nr_inodes()), which is not exported; read it where the
 * kernel publishes it.  Process context only.
 *
 * Return: the count, or a negative errno.
 */
s64 ia_count_inodes(void)
{
	char buf[64];
	struct file *f;
	loff_t pos = 0;
	ssize_t n;
	char *sp;
	u64 v;
	int err;

	f = filp_open("/proc/sys/fs/inode-nr", O_RDONLY, 0);
	if (IS_ERR(f))
		return PTR_ERR(f);
	n = kernel_read(f, buf, sizeof(buf) - 1, &pos);
	fput(f);
	if (n < 0)
		return n;
	buf[n] = '\0';
	sp = strpbrk(buf, " \t\n");
	if (sp)
		*sp = '\0';
	err = kstrtou64(buf, 10, &v);
	return err ? err : (s64)v;
}

/* The struct of the proposal, for its size only. */
struct ia_proposed_addons {
	struct fsnotify_mark_connector __rcu *i_fsnotify_marks;
	struct bpf_local_storage __rcu *i_bpf_storage;
	__u32 i_fsnotify_mask;
};

void ia_get_sizes(struct ia_sizes *s)
{
	s->inode_size = sizeof(struct inode);
	s->ptr_size = sizeof(void *);
#ifdef CONFIG_INODE_ADDONS
	/*
	 * The series is applied: struct inode keeps no fsnotify pointer (the
	 * mask of patch 0005 fills a hole), and the addons are the kernel's.
	 */
	s->fsnotify_span = 0;
	s->proposed_size = sizeof(struct inode_addons);
	s->proposed_alloc = kmalloc_size_roundup(sizeof(struct inode_addons));
	s->prototype_alloc = s->proposed_alloc;
#else
	/*
	 * What moving the fsnotify fields out of struct inode frees: on stock
	 * the mask, the hole after it and the marks pointer, which are
	 * adjacent.  Where the mask sits in a hole of its own (stock-packed),
	 * moving it out frees no byte, only the marks pointer does.
	 */
	if (offsetof(struct inode, i_fsnotify_marks) >
	    offsetof(struct inode, i_fsnotify_mask) &&
	    offsetof(struct inode, i_fsnotify_marks) -
	    offsetof(struct inode, i_fsnotify_mask) <= sizeof(void *))
		s->fsnotify_span = offsetofend(struct inode, i_fsnotify_marks) -
				   offsetof(struct inode, i_fsnotify_mask);
	else
		s->fsnotify_span = sizeof_field(struct inode, i_fsnotify_marks);
	s->proposed_size = sizeof(struct ia_proposed_addons);
	s->proposed_alloc = kmalloc_size_roundup(sizeof(struct ia_proposed_addons));
	s->prototype_alloc = kmalloc_size_roundup(sizeof(struct inode_addons));
#endif
}

void ia_get_query_layout(struct ia_query_layout *l)
{
	l->size = sizeof(struct ia_query);
	l->off_fd = offsetof(struct ia_query, fd);
	l->off_flags = offsetof(struct ia_query, flags);
	l->off_ino = offsetof(struct ia_query, ino);
	l->off_present = offsetof(struct ia_query, present);
	l->off_created = offsetof(struct ia_query, created);
	l->off_shadow_mask = offsetof(struct ia_query, shadow_mask);
	l->off_real_mask = offsetof(struct ia_query, real_mask);
	l->off_shadow_has_marks = offsetof(struct ia_query, shadow_has_marks);
	l->off_real_has_marks = offsetof(struct ia_query, real_has_marks);
}

#ifndef CONFIG_INODE_ADDONS
void ia_get_layout(struct ia_layout *l)
{
	l->size = sizeof(struct inode_addons);
	l->off_marks = offsetof(struct inode_addons, i_fsnotify_marks);
	l->off_storage = offsetof(struct inode_addons, i_bpf_storage);
	l->off_mask = offsetof(struct inode_addons, i_fsnotify_mask);
	l->off_flags = offsetof(struct inode_addons, ia_flags);
	l->off_inode = offsetof(struct inode_addons, ia_inode);
	l->off_node = offsetof(struct inode_addons, ia_node);
	l->off_rcu = offsetof(struct inode_addons, ia_rcu);
	l->off_scratch = offsetof(struct inode_addons, ia_scratch);
}
#else /* CONFIG_INODE_ADDONS */

/* ---- embedded backend: inode->i_addons ---------------------------------- */

/*
 * inode_addons_get(), with the placeholder the kernel installs on inodes
 * being set up or torn down (a static object, not exported) reported as
 * NULL: real addons always come from the inode_addons_cache slab.
 */
struct inode_addons *ia_addons_get(struct inode *inode)
{
	struct inode_addons *a = inode_addons_get(inode);

	if (!a || !virt_addr_valid(a) || !folio_test_slab(virt_to_folio(a)))
		return NULL;
	return a;
}

struct inode_addons *ia_addons_alloc(struct inode *inode, gfp_t gfp)
{
	return inode_addons_alloc(inode, gfp);
}

/* Can @inode not take addons any more (being torn down)? */
bool ia_inode_closed(struct inode *inode)
{
	if (READ_ONCE(inode->i_state) & (I_FREEING | I_WILL_FREE))
		return true;
	return inode_addons_get(inode) && !ia_addons_get(inode);
}

/* The mask as stored for an inode with addons @a. */
u32 ia_addons_fsnotify_mask(struct inode *inode, struct inode_addons *a)
{
#ifdef IA_INLINE_MASK
	return READ_ONCE(inode->i_fsnotify_mask);
#else
	return READ_ONCE(a->i_fsnotify_mask);
#endif
}

void *ia_addons_fsnotify_marks(struct inode_addons *a)
{
	return rcu_access_pointer(a->i_fsnotify_marks);
}

/* Serialises the module's sleepable creators (ioctl). */
static DEFINE_MUTEX(ia_create_mutex);

void ia_create_lock(void)
{
	mutex_lock(&ia_create_mutex);
}

void ia_create_unlock(void)
{
	mutex_unlock(&ia_create_mutex);
}

struct ia_walk {
	ia_walk_fn fn;
	void *arg;
};

static void ia_walk_sb(struct super_block *sb, void *data)
{
	struct ia_walk *w = data;
	struct inode *inode;
	struct inode_addons *a;

	spin_lock(&sb->s_inode_list_lock);
	list_for_each_entry(inode, &sb->s_inodes, i_sb_list) {
		a = ia_addons_get(inode);
		if (a)
			w->fn(inode, a, w->arg);
	}
	spin_unlock(&sb->s_inode_list_lock);
}

#define IA_FS_LIST_MAX (2 * PAGE_SIZE)

/* File system type names, NUL-separated, read once at load. */
static char *ia_fs_names;
static size_t ia_fs_names_len;

/*
 * iterate_supers() is not exported: the file system types are taken from
 * /proc/filesystems, once at load (reading it from inside a seq_file read,
 * such as the stats file, would nest two seq_file locks of one class), and
 * each one's super blocks are walked with iterate_supers_type().  Types
 * registered after the load are not walked.
 */
static int ia_walk_prepare(void)
{
	char *buf, *line, *next, *name, *out;
	struct file *f;
	loff_t pos = 0;
	ssize_t n;

	buf = kmalloc(IA_FS_LIST_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	f = filp_open("/proc/filesystems", O_RDONLY, 0);
	if (IS_ERR(f)) {
		kfree(buf);
		return PTR_ERR(f);
	}
	n = kernel_read(f, buf, IA_FS_LIST_MAX - 1, &pos);
	fput(f);
	if (n < 0) {
		kfree(buf);
		return n;
	}
	buf[n] = '\0';
	/* Compact "nodev\tname\n" lines into "name\0name\0..." in place. */
	out = buf;
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		name = strrchr(line, '\t');
		name = name ? name + 1 : line;
		if (!*name)
			continue;
		memmove(out, name, strlen(name) + 1);
		out += strlen(out) + 1;
	}
	ia_fs_names = buf;
	ia_fs_names_len = out - buf;
	return 0;
}

/*
 * Calls @fn for every inode with addons on the s_inodes list of a super
 * block, under that list's lock (@fn must not sleep).  Inodes on no list
 * (new_inode_pseudo(): sockets, pipes) are not seen.  Process context.
 *
 * Return: 0 or a negative errno.
 */
int ia_walk_inodes(ia_walk_fn fn, void *arg)
{
	struct ia_walk w = { .fn = fn, .arg = arg };
	struct file_system_type *type;
	const char *name;

	if (!ia_fs_names)
		return -ENOENT;
	for (name = ia_fs_names; name < ia_fs_names + ia_fs_names_len;
	     name += strlen(name) + 1) {
		type = get_fs_type(name);
		if (!type)
			continue;
		iterate_supers_type(type, ia_walk_sb, &w);
		module_put(type->owner);
	}
	return 0;
}
#endif /* CONFIG_INODE_ADDONS */

/* ---- microbenchmark (module/bench.rs) ------------------------------------ */

void ia_cond_resched(void)
{
	cond_resched();
}

bool ia_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

/*
 * @n zeroed objects of the size of struct inode with only i_lock initialised:
 * the microbenchmark's synthetic inodes.  They are never handed to any other
 * kernel function: the side table only hashes their address and takes
 * i_lock, the embedded path only reads i_state and reads/cmpxchg()es
 * i_addons.  Their zeroed i_sb_list is not an empty list head, so
 * ia_inode_lock_if_live() takes them for inodes on their super block's list.
 *
 * Return: the array, or NULL (no memory, or too large for kvmalloc).
 */
struct inode *ia_bench_inodes_alloc(size_t n)
{
	struct inode *inodes;
	size_t i;

	inodes = kvcalloc(n, sizeof(*inodes), GFP_KERNEL | __GFP_NOWARN);
	if (!inodes)
		return NULL;
	for (i = 0; i < n; i++) {
		spin_lock_init(&inodes[i].i_lock);
		if (i % 4096 == 4095)
			cond_resched();
	}
	return inodes;
}

struct ia_bench_worker {
	struct task_struct *task;
	ia_bench_fn fn;
	const void *arg;
	unsigned int idx;
	int ret;
	atomic_t *left;
	struct completion *done;
};

static int ia_bench_threadfn(void *data)
{
	struct ia_bench_worker *w = data;

	w->ret = w->fn(w->arg, w->idx);
	/* Last access to *w and the waiter's stack: it may return now. */
	if (atomic_dec_and_test(w->left))
		complete(w->done);
	return 0;
}

/*
 * Runs @fn(@arg, i) in @n kthreads, i < @n, and waits for all of them.  A
 * fatal signal calls @stop(@arg) (the threads must then return soon) and
 * still waits for them.
 *
 * Return: 0, the first thread's error, -EINTR, or a kthread_create() error
 * (then no thread ran).
 */
int ia_bench_run_threads(unsigned int n, ia_bench_fn fn, ia_bench_stop_fn stop,
			 const void *arg)
{
	DECLARE_COMPLETION_ONSTACK(done);
	struct ia_bench_worker *w;
	struct task_struct *t;
	unsigned int i, made;
	atomic_t left;
	int ret = 0;

	w = kcalloc(n, sizeof(*w), GFP_KERNEL);
	if (!w)
		return -ENOMEM;
	atomic_set(&left, n);
	for (made = 0; made < n; made++) {
		w[made].fn = fn;
		w[made].arg = arg;
		w[made].idx = made;
		w[made].left = &left;
		w[made].done = &done;
		t = kthread_create(ia_bench_threadfn, &w[made], "ia_bench/%u",
				   made);
		if (IS_ERR(t)) {
			ret = PTR_ERR(t);
			break;
		}
		/* The thread may exit before kthread_stop_put(). */
		get_task_struct(t);
		w[made].task = t;
	}
	if (ret) {
		/* Never woken up: kthread_stop() makes them exit unrun. */
		for (i = 0; i < made; i++)
			kthread_stop_put(w[i].task);
		kfree(w);
		return ret;
	}
	for (i = 0; i < n; i++)
		wake_up_process(w[i].task);
	if (wait_for_completion_killable(&done)) {
		stop(arg);
		wait_for_completion(&done);
		ret = -EINTR;
	}
	for (i = 0; i < n; i++) {
		kthread_stop_put(w[i].task);
		if (!ret)
			ret = w[i].ret;
	}
	kfree(w);
	return ret;
}

#ifdef CONFIG_INODE_ADDONS
static void ia_bench_addons_free_rcu(struct rcu_head *head)
{
	kfree(container_of(head, struct inode_addons, rcu));
	ia_rust_bench_addons_freed();
}

/*
 * Detaches the addons of a synthetic inode of the microbenchmark and frees
 * them, after a grace period unless @now (no reader left).  The kernel frees
 * addons in __destroy_inode(), which never runs for these; they never get
 * BPF storage, so kfree() (valid for kmem_cache objects) is all it takes.
 */
void ia_bench_addons_release(struct inode *inode, bool now)
{
	struct inode_addons *a = xchg(&inode->i_addons, NULL);

	if (!a)
		return;
	if (now) {
		kfree(a);
		ia_rust_bench_addons_freed();
	} else {
		call_rcu(&a->rcu, ia_bench_addons_free_rcu);
	}
}
#endif /* CONFIG_INODE_ADDONS */

/* ---- debugfs ------------------------------------------------------------ */

#define IA_TEXT_MAX PAGE_SIZE

static int ia_show_text(struct seq_file *m,
			long (*fmt)(char *buf, unsigned long len))
{
	char *buf;
	long n;

	buf = kmalloc(IA_TEXT_MAX, GFP_KERNEL);
	if (!buf)
		return -ENOMEM;
	n = fmt(buf, IA_TEXT_MAX);
	if (n > 0)
		seq_write(m, buf, n);
	kfree(buf);
	return n < 0 ? n : 0;
}

static int ia_stats_show(struct seq_file *m, void *unused)
{
	return ia_show_text(m, ia_rust_format_stats);
}
DEFINE_SHOW_ATTRIBUTE(ia_stats);

static int ia_selfcheck_show(struct seq_file *m, void *unused)
{
	return ia_show_text(m, ia_rust_selfcheck);
}
DEFINE_SHOW_ATTRIBUTE(ia_selfcheck);

/* The last bench run's TSV; ia_bench_lock serialises runs and readers. */
static DEFINE_MUTEX(ia_bench_lock);
static char *ia_bench_text;
static size_t ia_bench_len;

#define IA_BENCH_TEXT_MAX (4 * PAGE_SIZE)

static int ia_bench_show(struct seq_file *m, void *unused)
{
	if (!mutex_trylock(&ia_bench_lock))
		return -EBUSY;
	if (ia_bench_text)
		seq_write(m, ia_bench_text, ia_bench_len);
	mutex_unlock(&ia_bench_lock);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(ia_bench);

/* Runs "bench @args"; -EBUSY while another run (or reader) holds the lock. */
static long ia_bench_start(const char *args)
{
	char *buf;
	long n;

	if (!mutex_trylock(&ia_bench_lock))
		return -EBUSY;
	buf = kmalloc(IA_BENCH_TEXT_MAX, GFP_KERNEL);
	if (!buf) {
		n = -ENOMEM;
		goto out;
	}
	n = ia_rust_bench(args, buf, IA_BENCH_TEXT_MAX);
	if (n < 0) {
		kfree(buf);
		goto out;
	}
	kfree(ia_bench_text);
	ia_bench_text = buf;
	ia_bench_len = n;
out:
	mutex_unlock(&ia_bench_lock);
	return n;
}

#define IA_CONTROL_MAX 32

static ssize_t ia_control_write(struct file *file, const char __user *ubuf,
				size_t count, loff_t *ppos)
{
	char buf[IA_CONTROL_MAX];

	if (count == 0 || count >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, count))
		return -EFAULT;
	buf[count] = '\0';
	if (sysfs_streq(buf, "selfcheck")) {
		long n = ia_rust_selfcheck(NULL, 0);

		return n < 0 ? n : count;
	}
	/* "bench [TRACKED [THREADS]]"; no NUL inside. */
	if (!strncmp(buf, "bench", 5) && (!buf[5] || isspace(buf[5])) &&
	    strlen(buf) == count) {
		long n = ia_bench_start(buf + 5);

		return n < 0 ? n : count;
	}
	return -EINVAL;
}

static const struct file_operations ia_control_fops = {
	.owner = THIS_MODULE,
	.write = ia_control_write,
	.llseek = noop_llseek,
};

/* ---- misc device ---------------------------------------------------------- */

static long ia_dev_ioctl(struct file *file, unsigned int cmd,
			 unsigned long arg)
{
	void __user *uarg = (void __user *)arg;
	struct ia_query q;
	struct inode *inode;
	struct fd f;
	int ret;

	if (cmd != IA_IOC_QUERY)
		return -ENOTTY;
	if (copy_from_user(&q, uarg, sizeof(q)))
		return -EFAULT;
	if (q.flags & ~IA_QUERY_CREATE)
		return -EINVAL;

	f = fdget(q.fd);
	if (!fd_file(f))
		return -EBADF;
	inode = file_inode(fd_file(f));
	/* Only inodes a user can watch and name: files and directories. */
	if (!S_ISREG(inode->i_mode) && !S_ISDIR(inode->i_mode))
		ret = -EINVAL;
	else
		ret = ia_rust_query(inode, q.flags & IA_QUERY_CREATE, &q);
	fdput(f);
	if (ret)
		return ret;
	if (copy_to_user(uarg, &q, sizeof(q)))
		return -EFAULT;
	return 0;
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

static struct dentry *ia_debugfs_dir;

int ia_control_register(void)
{
	int err;

#ifdef CONFIG_INODE_ADDONS
	err = ia_walk_prepare();
	if (err)
		return err;
#endif
	err = misc_register(&ia_miscdev);
	if (err) {
		ia_walk_release();
		return err;
	}
	ia_debugfs_dir = debugfs_create_dir("inode_addons", NULL);
	debugfs_create_file("stats", 0400, ia_debugfs_dir, NULL, &ia_stats_fops);
	debugfs_create_file("selfcheck", 0400, ia_debugfs_dir, NULL,
			    &ia_selfcheck_fops);
	debugfs_create_file("control", 0200, ia_debugfs_dir, NULL,
			    &ia_control_fops);
	debugfs_create_file("bench", 0400, ia_debugfs_dir, NULL, &ia_bench_fops);
	return 0;
}

/* Returns once no debugfs or ioctl call is running. */
void ia_control_unregister(void)
{
	debugfs_remove(ia_debugfs_dir);
	misc_deregister(&ia_miscdev);
	kfree(ia_bench_text);
	ia_bench_text = NULL;
}

/*
 * Frees what ia_walk_inodes() needs.  Separate from ia_control_unregister():
 * the unload path still walks the inodes after the control plane is gone.
 */
void ia_walk_release(void)
{
#ifdef CONFIG_INODE_ADDONS
	kfree(ia_fs_names);
	ia_fs_names = NULL;
#endif
}

/* ---- kfuncs ------------------------------------------------------------- */

/*
 * The kfuncs take the inode with the trust bpf_inode_storage_get() and
 * bpf_task_storage_get() give their object argument in tracing programs: a
 * BTF pointer the program got from the traced function (e.g. file->f_inode
 * in fentry/security_file_open), which the call keeps alive, possibly NULL.
 * Not KF_TRUSTED_ARGS, deliberately: in 6.12 only tp_btf and iterator
 * programs have trusted arguments, not fentry (prog_args_trusted()), and
 * the storage use case is fentry on VFS entry points; with the flag no
 * fentry program could call them.  A NULL inode gets NULL/0 back.
 *
 * What they return (the addons, the scratch area) stays valid while the
 * inode does and, since the inode may be freed after a grace period, until
 * the end of the caller's RCU read-side section: ia_kfunc_filter() keeps
 * them from sleepable programs, which run under RCU tasks trace instead.
 */

__bpf_kfunc_start_defs();

/**
 * bpf_inode_addons_get - get or create the addons of @inode
 * @inode: an inode pointer, possibly NULL
 *
 * Never sleeps: the allocation is GFP_ATOMIC.  The object lives until the
 * inode is destroyed and an RCU grace period has passed.
 *
 * Return: the addons, or NULL (allocation failure, inode being torn down,
 * i_lock contended, not in task context).
 */
__bpf_kfunc struct inode_addons *bpf_inode_addons_get(struct inode *inode)
{
	return ia_rust_get_or_create_atomic(inode);
}

/**
 * bpf_inode_addons_shadow_mask - the fsnotify mask shadowed in the addons
 * @inode: an inode pointer, possibly NULL
 *
 * Return: the shadow of inode->i_fsnotify_mask, 0 if @inode has no addons.
 */
__bpf_kfunc u32 bpf_inode_addons_shadow_mask(struct inode *inode)
{
	return ia_rust_shadow_mask(inode);
}

/**
 * bpf_inode_addons_scratch - the BPF scratch area of an inode's addons
 * @inode: an inode pointer, possibly NULL
 * @rdwr_buf_size: bytes the program accesses (a verifier constant)
 *
 * Return: the scratch area, or NULL if @inode has no addons or the size is
 * out of range.
 */
__bpf_kfunc u8 *bpf_inode_addons_scratch(struct inode *inode,
					 const int rdwr_buf_size)
{
	if (rdwr_buf_size <= 0 ||
	    rdwr_buf_size > IA_SCRATCH_BYTES)
		return NULL;
	return (u8 *)ia_rust_scratch(inode);
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
