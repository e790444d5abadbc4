// SPDX-License-Identifier: GPL-2.0
/*
 * Fail the module's any-context addons allocation for the test thread
 * (tests/fault_addons_alloc.rs, embedded backend only).
 *
 * The kfunc bpf_inode_addons_get() takes new addons from
 * inode_addons_attach_nolock(), whose objects come from the BPF memory
 * allocator's per-CPU free list (refilled from irq_work), never from the
 * slab allocator in the caller's context: failslab cannot fail them.  This
 * program makes ia_addons_attach_nolock(), the module's call of it, return
 * -ENOMEM without calling it, as an empty free list would.  fmod_ret needs
 * the function on the error-injection list (ALLOW_ERROR_INJECTION in
 * module/ia_glue.c, CONFIG_FUNCTION_ERROR_INJECTION).
 *
 * injected: calls failed.
 */
#include "inode_addons.h"

#define IA_ENOMEM 12

u64 injected;

SEC("fmod_ret/ia_addons_attach_nolock")
int BPF_PROG(fail_attach_nolock)
{
	if (!from_test_thread())
		return 0;
	injected++;
	return -IA_ENOMEM;
}

char LICENSE[] SEC("license") = "GPL";
