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

/* Threads whose current call got its addons from the kfunc (one: the test's). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, u32);
	__type(value, u8);
} kfunc_created SEC(".maps");

u64 calls;

SEC("fentry/inode_addons_alloc")
int BPF_PROG(create_first, struct inode *inode, gfp_t gfp)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();
	u8 one = 1;

	kfunc_types_complete();
	if (!from_test_thread() || __sync_fetch_and_add(&calls, 1) % 2)
		return 0;
	if (!bpf_inode_addons_get(inode))
		return 0;
	__sync_fetch_and_add(&kfunc_got, 1);
	bpf_map_update_elem(&kfunc_created, &tid, &one, BPF_ANY);
	return 0;
}

SEC("fexit/inode_addons_alloc")
int BPF_PROG(add_storage, struct inode *inode, gfp_t gfp,
	     struct inode_addons *ret)
{
	u32 tid = (u32)bpf_get_current_pid_tgid();

	if (!from_test_thread() || !ret)
		return 0;
	if (bpf_map_lookup_elem(&kfunc_created, &tid)) {
		bpf_map_delete_elem(&kfunc_created, &tid);
		return 0;
	}
	if (bpf_inode_storage_get(&synth_storage, inode, 0,
				  BPF_LOCAL_STORAGE_GET_F_CREATE))
		__sync_fetch_and_add(&storage_got, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
