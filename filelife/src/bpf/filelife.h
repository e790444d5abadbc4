/* SPDX-License-Identifier: GPL-2.0 */
/* Shared by filelife.bpf.c and, field for field, src/lib.rs. */
#ifndef __FILELIFE_H
#define __FILELIFE_H

#define FL_NAME_LEN 32

/* The hash backend's key: what Tracee, CWS and fact key their maps by. */
struct fl_key {
	__u32 dev;	/* super_block->s_dev (kernel dev_t) */
	__u32 pad;
	__u64 ino;
};

/* Per-file state, the value of either backend. */
struct fl_state {
	__u64 birth_ns;	/* bpf_ktime_get_ns() when the state was created */
	__u64 bytes;	/* bytes written */
	__u64 writes;	/* successful vfs_write() calls */
};

/* One unlink, as reported through the ring buffer. */
struct fl_event {
	__u32 dev;
	__u32 pad;
	__u64 ino;
	__u64 age_ns;
	__u64 bytes;
	__u64 writes;
	char name[FL_NAME_LEN];
};

#endif
