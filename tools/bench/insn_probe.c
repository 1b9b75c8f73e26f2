// SPDX-License-Identifier: GPL-2.0
/*
 * insn_probe: a known amount of work between kvio_insn markers, to check
 * the plugin's counts.  Window 0: N iterations of a loop of a known
 * number of user instructions and no system call (markers written in
 * place); window 1: N getppid() system calls (markers made at run
 * time).  Prints what it did; the caller compares.
 *
 * usage: insn_probe N
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "kvio_insn.h"

/* Four instructions per iteration: add, nop, dec, jnz. */
static void spin(unsigned long n)
{
	unsigned long acc = 0;

	__asm__ __volatile__("1:\n\t"
			     "add $3, %0\n\t"
			     "nop\n\t"
			     "dec %1\n\t"
			     "jnz 1b\n\t"
			     : "+r"(acc), "+r"(n) : : "cc");
}

int main(int argc, char **argv)
{
	unsigned long n = argc > 1 ? strtoul(argv[1], NULL, 0) : 1000000;
	struct kvio_insn w;
	unsigned long i;

	if (!n)
		return 2;
	KVIO_INSN_START(0);
	spin(n);
	KVIO_INSN_STOP(0);
	if (kvio_insn_make(&w, 1))
		return 1;
	w.start();
	for (i = 0; i < n; i++)
		syscall(SYS_getppid);
	w.stop();
	printf("insn_probe: window 0: %lu loop iterations of 4 user instructions\n", n);
	printf("insn_probe: window 1: %lu getppid() calls\n", n);
	return 0;
}
