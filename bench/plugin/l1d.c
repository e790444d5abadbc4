// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * l1d: a QEMU TCG plugin that models one L1 data cache and reports its
 * misses between markers that the guest program executes.
 *
 * The benchmark (bench/src/main.rs) executes the marker instruction
 * "xchg %bx,%bx" (66 87 db, a no-op that compilers do not emit) before and
 * after each measured loop.  At every marker the plugin appends one line to
 * its output file with cumulative counts (only the differences between
 * markers mean anything):
 *
 *   mark <n> insns <instructions> accesses <loads+stores> misses <L1D misses>
 *
 * The first marker starts the model (the cache is empty then; everything
 * before it, the boot, is not modelled).  The host pairs consecutive markers
 * with the guest's list of measured loops (tools/guest-bench.sh, report.py).
 *
 * The model: one set-associative, write-allocate cache with true LRU,
 * indexed by guest physical address (virtual when QEMU cannot tell), every
 * load and store of every instruction, kernel and user, counted by the
 * line of its first byte; MMIO accesses are skipped.  No prefetcher, no
 * other core, no instruction cache.  One vCPU only (the counters are not
 * atomic; the benchmark boots one vCPU).  Instructions are counted per
 * translated block entered, so a block left early by an exception is
 * counted whole: the guest's icount clock is the exact instruction count.
 *
 * Arguments: out=FILE (required), size=BYTES (32768), assoc=WAYS (8),
 * line=BYTES (64).  The defaults are a common x86 L1D (32 KiB, 8-way).
 *
 * Written for this project after QEMU's contrib/plugins/cache.c (Mahmoud
 * Mandour, GPL-2.0-or-later), which models more and is too slow to boot a
 * kernel under.
 */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glib.h>
#include <qemu-plugin.h>

QEMU_PLUGIN_EXPORT int qemu_plugin_version = QEMU_PLUGIN_VERSION;

static const uint8_t marker[] = { 0x66, 0x87, 0xdb };

static FILE *out;
static bool enabled;
static uint64_t insns, accesses, misses, nmarks, clock_now;
static unsigned int line_bits, set_bits, assoc;
static uint64_t *tags;	/* [set][way]: line address + 1, 0 = empty */
static uint64_t *stamp;	/* [set][way]: last use, for LRU */

static void cache_access(uint64_t addr)
{
	uint64_t line = addr >> line_bits;
	uint64_t set = line & ((1ULL << set_bits) - 1);
	uint64_t *t = &tags[set * assoc], *s = &stamp[set * assoc];
	unsigned int i, victim = 0;

	accesses++;
	clock_now++;
	for (i = 0; i < assoc; i++) {
		if (t[i] == line + 1) {
			s[i] = clock_now;
			return;
		}
		if (s[i] < s[victim])
			victim = i;
	}
	misses++;
	t[victim] = line + 1;
	s[victim] = clock_now;
}

static void mem_cb(unsigned int vcpu, qemu_plugin_meminfo_t info,
		   uint64_t vaddr, void *udata)
{
	struct qemu_plugin_hwaddr *hw;

	if (!enabled)
		return;
	hw = qemu_plugin_get_hwaddr(info, vaddr);
	if (hw && qemu_plugin_hwaddr_is_io(hw))
		return;
	cache_access(hw ? qemu_plugin_hwaddr_phys_addr(hw) : vaddr);
}

static void marker_cb(unsigned int vcpu, void *udata)
{
	enabled = true;
	fprintf(out, "mark %" PRIu64 " insns %" PRIu64 " accesses %" PRIu64
		" misses %" PRIu64 "\n", nmarks++, insns, accesses, misses);
}

static void tb_trans(qemu_plugin_id_t id, struct qemu_plugin_tb *tb)
{
	size_t i, n = qemu_plugin_tb_n_insns(tb);

	qemu_plugin_register_vcpu_tb_exec_inline(tb, QEMU_PLUGIN_INLINE_ADD_U64,
						 &insns, n);
	for (i = 0; i < n; i++) {
		struct qemu_plugin_insn *insn = qemu_plugin_tb_get_insn(tb, i);

		if (qemu_plugin_insn_size(insn) == sizeof(marker) &&
		    !memcmp(qemu_plugin_insn_data(insn), marker, sizeof(marker)))
			qemu_plugin_register_vcpu_insn_exec_cb(insn, marker_cb,
							       QEMU_PLUGIN_CB_NO_REGS,
							       NULL);
		qemu_plugin_register_vcpu_mem_cb(insn, mem_cb,
						 QEMU_PLUGIN_CB_NO_REGS,
						 QEMU_PLUGIN_MEM_RW, NULL);
	}
}

static void at_exit(qemu_plugin_id_t id, void *p)
{
	fprintf(out, "end %" PRIu64 " insns %" PRIu64 " accesses %" PRIu64
		" misses %" PRIu64 "\n", nmarks, insns, accesses, misses);
	fclose(out);
}

static int log2_exact(uint64_t v, unsigned int *bits)
{
	if (!v || (v & (v - 1)))
		return -1;
	*bits = __builtin_ctzll(v);
	return 0;
}

QEMU_PLUGIN_EXPORT int qemu_plugin_install(qemu_plugin_id_t id,
					   const qemu_info_t *info,
					   int argc, char **argv)
{
	uint64_t size = 32768, line = 64, sets;
	const char *path = NULL;
	int i;

	assoc = 8;
	for (i = 0; i < argc; i++) {
		if (!strncmp(argv[i], "out=", 4))
			path = argv[i] + 4;
		else if (!strncmp(argv[i], "size=", 5))
			size = strtoull(argv[i] + 5, NULL, 0);
		else if (!strncmp(argv[i], "assoc=", 6))
			assoc = strtoul(argv[i] + 6, NULL, 0);
		else if (!strncmp(argv[i], "line=", 5))
			line = strtoull(argv[i] + 5, NULL, 0);
		else {
			fprintf(stderr, "l1d: unknown argument %s\n", argv[i]);
			return -1;
		}
	}
	if (!path || !assoc || !line || size % (line * assoc) ||
	    log2_exact(line, &line_bits) ||
	    log2_exact(size / (line * assoc), &set_bits)) {
		fprintf(stderr, "l1d: need out=FILE and power-of-two geometry\n");
		return -1;
	}
	if (info->system_emulation && info->system.smp_vcpus != 1) {
		fprintf(stderr, "l1d: one vCPU only\n");
		return -1;
	}
	sets = size / (line * assoc);
	tags = g_new0(uint64_t, sets * assoc);
	stamp = g_new0(uint64_t, sets * assoc);
	out = fopen(path, "w");
	if (!out) {
		perror(path);
		return -1;
	}
	/* Line-buffered: a marker line is on disk when its round ends. */
	setvbuf(out, NULL, _IOLBF, 0);
	fprintf(out, "# l1d size %" PRIu64 " assoc %u line %" PRIu64 "\n",
		size, assoc, line);
	qemu_plugin_register_vcpu_tb_trans_cb(id, tb_trans);
	qemu_plugin_register_atexit_cb(id, at_exit, NULL);
	return 0;
}
