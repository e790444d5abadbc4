// SPDX-License-Identifier: GPL-2.0
/*
 * Create inode storage from inside allocation paths
 * (tests/bpf_storage_alloc_context.rs).
 *
 * in_kmem_cache_alloc and in_slab_slowpath run inside the slab allocator
 * (kmem_cache_alloc_noprof() on every allocation, ___slab_alloc() when a
 * CPU slab runs empty, with interrupts disabled) and create storage for the
 * current working directory of the test thread: the addons that creation
 * attaches must not come from the slab allocator.  in_slab_slowpath counts
 * apart the calls made while a storage helper runs on the CPU, which must be
 * refused.
 *
 * in_attach runs at the entry of inode_addons_attach(), the slab-backed
 * path fsnotify uses, and creates storage for the inode it is about to
 * attach addons to.  in_attach_nolock runs at the entry of
 * inode_addons_attach_nolock(), which only the storage helpers call, with
 * the CPU's inode storage busy counter raised: its own creation must be
 * refused, never deadlock.
 *
 * check_open looks the storage up (no creation) on every open of the test
 * thread, so the test can tell which inodes got storage.
 */
#include "inode_addons.h"

INODE_STORAGE_U64(slab_map);
INODE_STORAGE_U64(attach_map);
INODE_STORAGE_U64(nolock_map);

u64 slab_calls, slab_created;
u64 slowpath_calls, slowpath_created;
u64 slowpath_nested_calls, slowpath_nested_created, slowpath_nested_lost;
u64 attach_calls, attach_created;
u64 nolock_calls, nolock_created;
u64 open_slab_found, open_attach_found, open_nolock_found;
u64 open_attach_ino;

static __always_inline struct inode *cwd_inode(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return t->fs->pwd.dentry->d_inode;
}

SEC("fentry/kmem_cache_alloc_noprof")
int BPF_PROG(in_kmem_cache_alloc, struct kmem_cache *s, gfp_t flags)
{
	if (!from_test_thread())
		return 0;
	slab_calls++;
	if (bpf_inode_storage_get(&slab_map, cwd_inode(), 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		slab_created++;
	return 0;
}

/*
 * The series' per-CPU count of storage helpers running on this CPU (patch
 * 5).  Weak: stock has none, and there the verifier must refuse the storage
 * helper, not this symbol.
 */
extern const int bpf_inode_storage_busy __ksym __weak;

static __always_inline bool storage_helper_running(void)
{
	if (!&bpf_inode_storage_busy)
		return false;
	return *(const int *)bpf_this_cpu_ptr(&bpf_inode_storage_busy) > 0;
}

/*
 * ___slab_alloc() also runs inside a storage helper: the BPF memory
 * allocator refills its free lists from irq_work, which can fire on this
 * CPU while a helper runs.  Those calls must not create storage (the
 * helper's locks may be held), but must still find storage that exists: a
 * busy CPU only skips the lookup cache.  The others must find or create it.
 */
SEC("kprobe/___slab_alloc")
int in_slab_slowpath(struct pt_regs *ctx)
{
	bool nested, existed;
	void *sdata;

	if (!from_test_thread())
		return 0;
	nested = storage_helper_running();
	existed = bpf_inode_storage_get(&slab_map, cwd_inode(), 0, 0);
	sdata = bpf_inode_storage_get(&slab_map, cwd_inode(), 0,
				      BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (nested) {
		slowpath_nested_calls++;
		if (sdata && !existed)
			slowpath_nested_created++;
		if (existed && !sdata)
			slowpath_nested_lost++;
	} else {
		slowpath_calls++;
		if (sdata)
			slowpath_created++;
	}
	return 0;
}

SEC("fentry/inode_addons_attach")
int BPF_PROG(in_attach, struct inode *inode, gfp_t gfp)
{
	asm volatile("" : : "r"(bpf_core_type_size(struct inode)));
	if (!from_test_thread())
		return 0;
	attach_calls++;
	if (bpf_inode_storage_get(&attach_map, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		attach_created++;
	return 0;
}

SEC("fentry/inode_addons_attach_nolock")
int BPF_PROG(in_attach_nolock, struct inode *inode, gfp_t gfp)
{
	if (!from_test_thread())
		return 0;
	nolock_calls++;
	if (bpf_inode_storage_get(&nolock_map, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		nolock_created++;
	return 0;
}

SEC("fentry/security_file_open")
int BPF_PROG(check_open, struct file *file)
{
	struct inode *inode = file_inode_of(file);

	if (!from_test_thread())
		return 0;
	if (bpf_inode_storage_get(&slab_map, inode, 0, 0))
		open_slab_found++;
	if (bpf_inode_storage_get(&attach_map, inode, 0, 0)) {
		open_attach_found++;
		open_attach_ino = inode->i_ino;
	}
	if (bpf_inode_storage_get(&nolock_map, inode, 0, 0))
		open_nolock_found++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
