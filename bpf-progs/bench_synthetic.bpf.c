// SPDX-License-Identifier: GPL-2.0
/*
 * Give the microbenchmark's synthetic inodes addons that only the kernel
 * can free (tests/module_microbench.rs).  The test thread writes the bench
 * command: the bench creates the addons of its tracked inodes in that
 * thread, before its timed phases (which run in kthreads, untouched here).
 * inode_addons_alloc() exists on the kernels with the series; elsewhere
 * the program does not load.
 *
 * Every other call of inode_addons_alloc():
 * - fentry: creates the addons first with bpf_inode_addons_get() (from
 *   the BPF memory allocator), which inode_addons_alloc() then returns;
 * - fexit, for the other calls: asks for inode storage on the addons
 *   inode_addons_alloc() just created (from its slab cache), which the
 *   kernel refuses on an unreferenced inode (i_count 0), as these are.
 *
 * kfunc_got: addons the kfunc created; storage_got: storage created.
 */
#include "inode_addons.h"

INODE_STORAGE_U64(synth_storage);

u64 kfunc_got;
u64 storage_got;

/*
 * Calls of inode_addons_alloc() by the test thread, counted at fentry.
 * One thread makes them one after another, so at fexit an odd count means
 * this call's fentry was the one that asked the kfunc.
 */
u64 calls;

SEC("fentry/inode_addons_alloc")
int BPF_PROG(create_first, struct inode *inode, gfp_t gfp)
{
	kfunc_types_complete();
	if (!from_test_thread() || calls++ % 2)
		return 0;
	if (bpf_inode_addons_get(inode))
		kfunc_got++;
	return 0;
}

SEC("fexit/inode_addons_alloc")
int BPF_PROG(add_storage, struct inode *inode, gfp_t gfp,
	     struct inode_addons *ret)
{
	if (!from_test_thread() || !ret || calls % 2)
		return 0;
	if (bpf_inode_storage_get(&synth_storage, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		storage_got++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
