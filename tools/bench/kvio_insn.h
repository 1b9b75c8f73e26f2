/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The window markers of the kvio_insn TCG plugin (tools/bench/kvio_insn.c):
 * multi-byte NOPs on any x86-64 CPU; under QEMU with the plugin, every
 * guest instruction between kvio_insn_start() and kvio_insn_stop(), on
 * every vCPU, kernel and user apart, is counted.
 */
#ifndef KVIO_INSN_H
#define KVIO_INSN_H

static inline void kvio_insn_start(void)
{
	/* nopl 0x4b564930(%rax) */
	__asm__ __volatile__(".byte 0x0f, 0x1f, 0x80, 0x30, 0x49, 0x56, 0x4b"
			     ::: "memory");
}

static inline void kvio_insn_stop(void)
{
	/* nopl 0x4b564931(%rax) */
	__asm__ __volatile__(".byte 0x0f, 0x1f, 0x80, 0x31, 0x49, 0x56, 0x4b"
			     ::: "memory");
}

#endif
