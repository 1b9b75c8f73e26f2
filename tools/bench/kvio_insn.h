/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The window markers of the kvio_insn TCG plugin (tools/bench/kvio_insn.c).
 *
 * A marker is "nopl DISP(%rax)" (0f 1f 80 + a 32-bit displacement), a
 * multi-byte NOP on any x86-64 CPU.  Its displacement says what it marks:
 * bits 31-16 are 0x4b56 ("VK"), bit 15 is set for the end of a window and
 * clear for its start, bits 14-0 are the window's id.  Under QEMU with the
 * plugin, every guest instruction run between the start and the end of a
 * window, on every vCPU, kernel and user apart, is counted for that id.
 *
 * KVIO_INSN_START(id) and KVIO_INSN_STOP(id) take an id known at compile
 * time; kvio_insn_make() writes the two markers of an id chosen at run
 * time into a page of code.
 *
 * Id KVIO_INSN_POLL is not a window: kvio's worker marks its adaptive
 * poll with it (drivers/vhost/worker.c), and the kernel instructions a
 * vCPU runs between its start and its end are also counted apart, as
 * "poll", in every window open meanwhile.  Windows use ids below it.
 */
#ifndef KVIO_INSN_H
#define KVIO_INSN_H

#include <string.h>
#include <sys/mman.h>

#define KVIO_INSN_MAGIC		0x4b560000u
#define KVIO_INSN_END		0x8000u
#define KVIO_INSN_ID_MAX	0x7fffu
#define KVIO_INSN_POLL		0x7fffu	/* must match drivers/vhost */

#define KVIO_INSN_MARK(disp)						\
	({ __asm__ __volatile__(".byte 0x0f, 0x1f, 0x80\n\t.long %c0"	\
				: : "i" (disp) : "memory"); })
#define KVIO_INSN_START(id)	KVIO_INSN_MARK(KVIO_INSN_MAGIC | (id))
#define KVIO_INSN_STOP(id)	KVIO_INSN_MARK(KVIO_INSN_MAGIC | KVIO_INSN_END | (id))

struct kvio_insn {
	void (*start)(void);
	void (*stop)(void);
};

/* One marker and a return, at @p: 8 bytes. */
static inline void kvio_insn_put(unsigned char *p, unsigned int disp)
{
	p[0] = 0x0f;
	p[1] = 0x1f;
	p[2] = 0x80;
	memcpy(p + 3, &disp, 4);	/* x86 is little-endian */
	p[7] = 0xc3;			/* ret */
}

/*
 * The markers of window @id; 0, or -1 for an id that is not a window's or
 * if no page of code can be had.
 */
static inline int kvio_insn_make(struct kvio_insn *w, unsigned int id)
{
	unsigned char *code;

	if (id >= KVIO_INSN_POLL)
		return -1;
	code = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (code == MAP_FAILED)
		return -1;
	kvio_insn_put(code, KVIO_INSN_MAGIC | id);
	kvio_insn_put(code + 8, KVIO_INSN_MAGIC | KVIO_INSN_END | id);
	if (mprotect(code, 4096, PROT_READ | PROT_EXEC)) {
		munmap(code, 4096);
		return -1;
	}
	w->start = (void (*)(void))code;
	w->stop = (void (*)(void))(code + 8);
	return 0;
}

#endif
