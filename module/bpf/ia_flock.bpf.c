// SPDX-License-Identifier: GPL-2.0
/*
 * A BPF tracing program using the inode_addons kfuncs: counts flock() calls
 * per inode in the inode's addons scratch area, creating the addons on first
 * use (the way a BPF inode-storage user would), and checks the shadowed
 * fsnotify mask read through the returned pointer against the kfunc.
 *
 * tp_btf: flock_lock_inode hands over the inode directly (fentry programs
 * can call the kfuncs too, see bpf-progs/count_open_kfunc.bpf.c).  No vmlinux.h: the program only
 * passes kernel pointers through, so minimal CO-RE definitions do (and the
 * compile stays fast under TCG).  They must be structs, not forward
 * declarations: libbpf checks kfunc prototypes by kind.
 *
 * Build: clang -O2 -g -target bpf -I<libbpf include> -c ia_append.bpf.c
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

/*
 * i_fsnotify_mask is in struct inode on stock and, with patch 0005, on the
 * addons-inline-mask kernel, and in struct inode_addons on the addons
 * kernel (and in the stock module's own struct inode_addons): the program
 * reads whichever exists (CO-RE field existence, the other access is dead
 * code the verifier never sees).
 */
struct inode {
	unsigned long i_ino;
	__u32 i_fsnotify_mask;
} __attribute__((preserve_access_index));

struct file_lock {
	unsigned int fl_pid;
} __attribute__((preserve_access_index));

struct inode_addons___local {
	__u32 i_fsnotify_mask;
} __attribute__((preserve_access_index));

extern struct inode_addons___local *bpf_inode_addons_get(struct inode *inode) __ksym;
extern __u32 bpf_inode_addons_shadow_mask(struct inode *inode) __ksym;
extern __u8 *bpf_inode_addons_scratch(struct inode *inode, const int rdwr_buf_size) __ksym;

/* Read by the test through the skeleton-less map dump (bpftool map dump). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} ia_counts SEC(".maps");

static void bump(__u32 k, __u64 v)
{
	__u64 *c = bpf_map_lookup_elem(&ia_counts, &k);

	if (c)
		__sync_fetch_and_add(c, v);
}

SEC("tp_btf/flock_lock_inode")
int BPF_PROG(ia_flock, struct inode *inode, struct file_lock *fl, int ret)
{
	struct inode_addons___local *a;
	__u64 *scratch;
	__u32 mask;

	a = bpf_inode_addons_get(inode);
	if (!a) {
		bump(1, 1);	/* refused or no memory */
		return 0;
	}
	bump(0, 1);		/* addons reached */
	scratch = (__u64 *)bpf_inode_addons_scratch(inode, sizeof(__u64));
	if (scratch) {
		*scratch += 1;	/* flock() calls on this inode */
		if (*scratch == 1)
			bump(2, 1);	/* distinct inodes */
	}
	if (bpf_core_field_exists(a->i_fsnotify_mask))
		mask = a->i_fsnotify_mask;
	else
		mask = inode->i_fsnotify_mask;
	if (mask == bpf_inode_addons_shadow_mask(inode))
		bump(3, 1);	/* field read == kfunc read */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
