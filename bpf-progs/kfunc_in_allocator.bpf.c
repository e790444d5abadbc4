// SPDX-License-Identifier: GPL-2.0
/*
 * Call the module's bpf_inode_addons_get() from inside the kernel's memory
 * allocators (tests/lifetime_bpf_kfunc_in_allocator.rs), test thread only.
 *
 * in_alloc: fentry of kmem_cache_alloc_noprof(), the slab allocator's entry
 * for every struct file the test thread opens: interrupts enabled, no
 * allocator lock held.  Asks for the addons of the working directory's
 * parent: both backends must create them there.
 *
 * zone_locked: the mm_page_alloc_zone_locked tracepoint, which
 * __rmqueue_smallest() fires with the zone's lock held and interrupts
 * disabled, when the page allocator refills a per-CPU list from the buddy
 * lists.  Asks for the addons of the working directory: the side table,
 * which allocates from the slab (whose new slabs come from this allocator),
 * must refuse to create them there; the embedded backend takes its BPF
 * addons from the any-context allocator and creates them.
 *
 * Both also ask for the scratch area of the same inode
 * (bpf_inode_addons_scratch()), a slab object on both backends: created at
 * the slab allocator's entry, never under the zone lock.
 *
 * *_calls: runs in the test thread; *_got: calls that got addons;
 * *_scratch: calls that got a scratch area.
 */
#include "inode_addons.h"

u64 alloc_calls;
u64 alloc_got;
u64 zone_locked_calls;
u64 zone_locked_got;
u64 alloc_scratch;
u64 zone_locked_scratch;

static __always_inline struct dentry *cwd_dentry(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	kfunc_types_complete();
	return t->fs->pwd.dentry;
}

SEC("fentry/kmem_cache_alloc_noprof")
int BPF_PROG(in_alloc, struct kmem_cache *s, gfp_t flags)
{
	if (!from_test_thread())
		return 0;
	alloc_calls++;
	if (bpf_inode_addons_get(cwd_dentry()->d_parent->d_inode))
		alloc_got++;
	if (bpf_inode_addons_scratch(cwd_dentry()->d_parent->d_inode,
				     IA_SCRATCH_BYTES))
		alloc_scratch++;
	return 0;
}

SEC("tp_btf/mm_page_alloc_zone_locked")
int BPF_PROG(zone_locked, struct page *page, unsigned int order,
	     int migratetype, int percpu_refill)
{
	if (!from_test_thread())
		return 0;
	zone_locked_calls++;
	if (bpf_inode_addons_get(cwd_dentry()->d_inode))
		zone_locked_got++;
	if (bpf_inode_addons_scratch(cwd_dentry()->d_inode, IA_SCRATCH_BYTES))
		zone_locked_scratch++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
