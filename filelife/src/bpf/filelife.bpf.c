// SPDX-License-Identifier: GPL-2.0
/*
 * filelife: how long a file lived and how much was written to it, reported
 * when it is unlinked (the libbpf-tools tool of that name, plus bytes).
 *
 * The per-file state lives in one of two backends; userspace loads the
 * programs of one of them (autoload), the other set is never verified:
 *
 *  hash_*     a BPF_MAP_TYPE_HASH keyed by (s_dev, i_ino), the key Tracee,
 *             Datadog's CWS and stackrox/fact use; the entry is deleted at
 *             vfs_unlink(), the only cleanup libbpf-tools' filelife has.  A
 *             file that goes another way (renamed over, unmounted, an
 *             unlinked file's last close...) leaves its entry behind, and a
 *             new inode with the same number finds it.
 *  storage_*  BPF inode local storage: the kernel frees it with the inode.
 *             These are fentry/fexit programs: they load on a kernel with
 *             the inode_addons series only.  Stock 6.12 gives inode storage
 *             to BPF LSM programs alone, and its verifier refuses
 *             bpf_inode_storage_get() here; the tool reports that refusal
 *             and does not fall back (LSM hooks see no byte counts).
 *
 * Both backends run the same logic (the inline functions below, with the
 * backend a compile-time constant), so their output is comparable line for
 * line: get-or-create the state when a file is created (vfs_open() with
 * FMODE_CREATED) or first written, add the bytes of each successful
 * vfs_write(), report and delete at vfs_unlink().  A state found when a
 * file has just been created belongs to another, dead file: counted as
 * found_at_create (the hash backend's stale hit; storage cannot have one).
 *
 * No vmlinux.h: minimal CO-RE definitions of the few fields read, so one
 * object relocates on every flavor and builds before any kernel is built.
 */
#include <stdbool.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "filelife.h"

#define FMODE_CREATED (1U << 20)

struct super_block {
	__u32 s_dev;
} __attribute__((preserve_access_index));

struct inode {
	unsigned long i_ino;
	struct super_block *i_sb;
} __attribute__((preserve_access_index));

struct qstr {
	const unsigned char *name;
} __attribute__((preserve_access_index));

struct dentry {
	struct qstr d_name;
	struct inode *d_inode;
} __attribute__((preserve_access_index));

struct file {
	unsigned int f_mode;
	struct inode *f_inode;
} __attribute__((preserve_access_index));

struct path;
struct mnt_idmap;

/* Only inodes of this device (kernel dev_t), 0: all. */
const volatile __u32 target_dev = 0;

/* Set by userspace before load (libbpf-tools' filelife uses 8192). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, struct fl_key);
	__type(value, struct fl_state);
} hash_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_INODE_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct fl_state);
} inode_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
} events SEC(".maps");

/* Counters, read by userspace from .bss. */
__u64 created;		/* states created (file created or first written) */
__u64 found_at_create;	/* a just-created file already had a state */
__u64 no_state;		/* a state could not be created (map full, ENOMEM) */
__u64 writes;		/* vfs_write() calls accounted */
__u64 reported;		/* unlinks reported (had a state) */
__u64 untracked_unlinks;	/* unlinks of files without a state */
__u64 deleted;		/* states deleted at unlink */
__u64 inode_freed;	/* inodes destroyed while they had a state */
__u64 lost_events;	/* ring buffer full */

static __always_inline bool wanted(struct inode *inode)
{
	return inode && (!target_dev || inode->i_sb->s_dev == target_dev);
}

static __always_inline struct fl_key key_of(struct inode *inode)
{
	struct fl_key k = {
		.dev = inode->i_sb->s_dev,
		.ino = inode->i_ino,
	};
	return k;
}

/*
 * The state of inode, or NULL.  With create, a missing state is created
 * zeroed (*fresh set): BPF_LOCAL_STORAGE_GET_F_CREATE, or its hash-map
 * equivalent, an insert with BPF_NOEXIST (Tracee's pattern).
 */
static __always_inline struct fl_state *state_get(bool storage, struct inode *inode,
						  bool create, bool *fresh)
{
	struct fl_state zero = {}, *st;
	struct fl_key k;

	if (storage) {
		st = bpf_inode_storage_get(&inode_state, inode, 0, 0);
		if (st || !create)
			return st;
		st = bpf_inode_storage_get(&inode_state, inode, 0,
					   BPF_LOCAL_STORAGE_GET_F_CREATE);
	} else {
		k = key_of(inode);
		st = bpf_map_lookup_elem(&hash_state, &k);
		if (st || !create)
			return st;
		bpf_map_update_elem(&hash_state, &k, &zero, BPF_NOEXIST);
		st = bpf_map_lookup_elem(&hash_state, &k);
	}
	if (!st) {
		__sync_fetch_and_add(&no_state, 1);
		return NULL;
	}
	*fresh = true;
	__sync_fetch_and_add(&created, 1);
	st->birth_ns = bpf_ktime_get_ns();
	return st;
}

static __always_inline void state_delete(bool storage, struct inode *inode)
{
	struct fl_key k;

	if (storage) {
		bpf_inode_storage_delete(&inode_state, inode);
	} else {
		k = key_of(inode);
		bpf_map_delete_elem(&hash_state, &k);
	}
	__sync_fetch_and_add(&deleted, 1);
}

static __always_inline int on_open(bool storage, struct file *file, int ret)
{
	struct inode *inode = file->f_inode;
	bool fresh = false;

	if (ret || !(file->f_mode & FMODE_CREATED) || !wanted(inode))
		return 0;
	if (state_get(storage, inode, true, &fresh) && !fresh)
		__sync_fetch_and_add(&found_at_create, 1);
	return 0;
}

static __always_inline int on_write(bool storage, struct file *file, long ret)
{
	struct inode *inode = file->f_inode;
	struct fl_state *st;
	bool fresh = false;

	if (ret <= 0 || !wanted(inode))
		return 0;
	st = state_get(storage, inode, true, &fresh);
	if (!st)
		return 0;
	__sync_fetch_and_add(&st->bytes, ret);
	__sync_fetch_and_add(&st->writes, 1);
	__sync_fetch_and_add(&writes, 1);
	return 0;
}

static __always_inline int on_unlink(bool storage, struct dentry *dentry)
{
	struct inode *inode = dentry->d_inode;
	struct fl_state *st;
	struct fl_event *e;
	bool fresh = false;

	if (!wanted(inode))
		return 0;
	st = state_get(storage, inode, false, &fresh);
	if (!st) {
		__sync_fetch_and_add(&untracked_unlinks, 1);
		return 0;
	}
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (e) {
		e->dev = inode->i_sb->s_dev;
		e->pad = 0;
		e->ino = inode->i_ino;
		e->age_ns = bpf_ktime_get_ns() - st->birth_ns;
		e->bytes = st->bytes;
		e->writes = st->writes;
		bpf_probe_read_kernel_str(e->name, sizeof(e->name), dentry->d_name.name);
		bpf_ringbuf_submit(e, 0);
	} else {
		__sync_fetch_and_add(&lost_events, 1);
	}
	__sync_fetch_and_add(&reported, 1);
	state_delete(storage, inode);
	return 0;
}

SEC("fexit/vfs_open")
int BPF_PROG(hash_open, const struct path *path, struct file *file, int ret)
{
	return on_open(false, file, ret);
}

SEC("fexit/vfs_write")
int BPF_PROG(hash_write, struct file *file, const char *buf, __u64 count,
	     __s64 *pos, long ret)
{
	return on_write(false, file, ret);
}

SEC("fentry/vfs_unlink")
int BPF_PROG(hash_unlink, struct mnt_idmap *idmap, struct inode *dir,
	     struct dentry *dentry)
{
	return on_unlink(false, dentry);
}

SEC("fexit/vfs_open")
int BPF_PROG(storage_open, const struct path *path, struct file *file, int ret)
{
	return on_open(true, file, ret);
}

SEC("fexit/vfs_write")
int BPF_PROG(storage_write, struct file *file, const char *buf, __u64 count,
	     __s64 *pos, long ret)
{
	return on_write(true, file, ret);
}

SEC("fentry/vfs_unlink")
int BPF_PROG(storage_unlink, struct mnt_idmap *idmap, struct inode *dir,
	     struct dentry *dentry)
{
	return on_unlink(true, dentry);
}

/*
 * Not needed for the state's lifetime: counts the tracked inodes destroyed
 * while they have a state (inode_freed).  Storage: the kernel frees the
 * state with the inode (an RCU grace period later), so userspace can tell
 * how many states are live, which it cannot walk.  Hash: the entry stays
 * behind, stale, for the next inode with that number.
 */
static __always_inline int on_free(bool storage, struct inode *inode)
{
	if (wanted(inode) && state_get(storage, inode, false, NULL))
		__sync_fetch_and_add(&inode_freed, 1);
	return 0;
}

SEC("fentry/security_inode_free")
int BPF_PROG(hash_free, struct inode *inode)
{
	return on_free(false, inode);
}

SEC("fentry/security_inode_free")
int BPF_PROG(storage_free, struct inode *inode)
{
	return on_free(true, inode);
}

char LICENSE[] SEC("license") = "GPL";
