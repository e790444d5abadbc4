// SPDX-License-Identifier: GPL-2.0
/*
 * Give the microbenchmark's synthetic inodes addons and storage that only
 * the kernel can free (tests/module_microbench.rs), from the bench's
 * kthreads (ia_bench/N) only.  inode_addons_alloc() exists on the kernels
 * with the series; elsewhere the program does not load.
 *
 * Each inode is picked by its address, the same way in both programs:
 * - fentry of inode_addons_alloc(), for picked inodes: creates the addons
 *   first with bpf_inode_addons_get() (from the BPF memory allocator),
 *   which inode_addons_alloc() then returns;
 * - fexit, for the others: gives the addons inode_addons_alloc() just
 *   created (from its slab cache) inode storage.
 *
 * kfunc_got: addons the kfunc created; storage_got: storage created.
 */
#include "inode_addons.h"

INODE_STORAGE_U64(synth_storage);

u64 kfunc_got;
u64 storage_got;

static __always_inline bool from_bench_thread(void)
{
	char comm[16];
	const char want[] = "ia_bench/";

	if (bpf_get_current_comm(comm, sizeof(comm)))
		return false;
	for (int i = 0; i < sizeof(want) - 1; i++)
		if (comm[i] != want[i])
			return false;
	return true;
}

/* About every other synthetic inode (struct inode is several cache lines). */
static __always_inline bool picked(struct inode *inode)
{
	return ((unsigned long)inode >> 6) & 1;
}

SEC("fentry/inode_addons_alloc")
int BPF_PROG(create_first, struct inode *inode, gfp_t gfp)
{
	kfunc_types_complete();
	if (!from_bench_thread() || !picked(inode))
		return 0;
	if (bpf_inode_addons_get(inode))
		__sync_fetch_and_add(&kfunc_got, 1);
	return 0;
}

SEC("fexit/inode_addons_alloc")
int BPF_PROG(add_storage, struct inode *inode, gfp_t gfp,
	     struct inode_addons *ret)
{
	if (!from_bench_thread() || picked(inode) || !ret)
		return 0;
	if (bpf_inode_storage_get(&synth_storage, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		__sync_fetch_and_add(&storage_got, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
