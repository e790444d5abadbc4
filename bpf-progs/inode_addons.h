/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by the programs in bpf-progs/: the module's kfuncs and a filter. */
#ifndef __INODE_ADDONS_BPF_H
#define __INODE_ADDONS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/* Scratch bytes per inode; tools/bpf.sh passes module/ia_glue.h's words. */
#ifndef IA_SCRATCH_WORDS
#error "IA_SCRATCH_WORDS is passed by tools/bpf.sh from module/ia_glue.h"
#endif
#define IA_SCRATCH_BYTES (IA_SCRATCH_WORDS * 8)

extern struct inode_addons *bpf_inode_addons_get(struct inode *inode) __ksym;
extern u32 bpf_inode_addons_shadow_mask(struct inode *inode) __ksym;
extern u8 *bpf_inode_addons_scratch(struct inode *inode, const int rdwr_buf_size) __ksym;

/*
 * Makes struct inode and struct inode_addons complete in the program's BTF:
 * libbpf (1.5) refuses to match a kfunc prototype that mentions a struct
 * the program only has as a forward declaration, which is what clang emits
 * when the program never touches a field of it (on addons-cold, whose
 * struct inode_addons points back to its inode, struct inode stayed a
 * forward declaration in create_in_destroy.bpf.o).  CO-RE size relocations
 * force the full types without reading anything.  Every program that calls
 * a kfunc calls this.
 */
static __always_inline void kfunc_types_complete(void)
{
	asm volatile("" : : "r"(bpf_core_type_size(struct inode)));
	asm volatile("" : : "r"(bpf_core_type_size(struct inode_addons)));
}

/* file->f_inode, with the kfuncs' types complete (kfunc_types_complete()). */
static __always_inline struct inode *file_inode_of(struct file *file)
{
	kfunc_types_complete();
	return file->f_inode;
}

/*
 * The tests run their workload from a thread named TEST_COMM, so that the
 * programs count only what the test did.
 */
/* A BPF inode-storage map of u64 values, as the storage tests use. */
#define INODE_STORAGE_U64(name)                            \
	struct {                                           \
		__uint(type, BPF_MAP_TYPE_INODE_STORAGE);  \
		__uint(map_flags, BPF_F_NO_PREALLOC);      \
		__type(key, int);                          \
		__type(value, u64);                        \
	} name SEC(".maps")

#define TEST_COMM "ia-bpf-test"

static __always_inline bool from_test_thread(void)
{
	char comm[16];
	const char want[] = TEST_COMM;

	if (bpf_get_current_comm(comm, sizeof(comm)))
		return false;
	for (int i = 0; i < sizeof(want); i++)
		if (comm[i] != want[i])
			return false;
	return true;
}

#endif
