// SPDX-License-Identifier: GPL-2.0
/*
 * kvio_fuzz: coverage.  KCOV records the return address of every
 * __sanitizer_cov_trace_pc call the kernel makes; kvio's sites are found
 * in its .ko files (the relocations of those calls) and placed where the
 * loaded modules' sections are (/sys/module/<m>/sections).  A PC counts
 * when it is one of them: the set is exact, and its size is the total
 * reported against.
 *
 * Three KCOV instances: one per thread that makes system calls (the
 * runner and the helper, KCOV_ENABLE), and one enabled for remote
 * coverage with a common handle by the executor's first thread: the
 * threads it creates afterwards inherit the handle, the device takes it
 * at VHOST_SET_OWNER, and its worker's coverage arrives there.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <linux/elf.h>
#include <linux/kcov.h>

#include "fz.h"

#define FZ_KCOV		"/sys/kernel/debug/kcov"
#define FZ_COVER_WORDS	0x40000UL	/* per thread: 2 MiB */
#define FZ_REMOTE_WORDS	0x10000U	/* per work item */
#define FZ_START_KERNEL	0xffffffff81000000ULL

struct fz_site {
	__u64 pc;
	const char *mod;
	const char *sec;
	const char *fn;
	unsigned long off;
};

static struct fz_site *fz_sites;
static unsigned int fz_nsites;
static __u64 fz_lo, fz_hi;

struct fz_cover {
	int fd[3];
	unsigned long *area[3];
};

int fz_cover_available(void)
{
	return !access(FZ_KCOV, R_OK | W_OK);
}

unsigned int fz_sites_total(void)
{
	return fz_nsites;
}

const char *fz_site_name(unsigned int i, char *buf, size_t len)
{
	const struct fz_site *s = &fz_sites[i];

	snprintf(buf, len, "%s %s+%#lx %s", s->mod, s->sec, s->off,
		 s->fn ? s->fn : "?");
	return buf;
}

static void *fz_slurp(const char *path, size_t *len)
{
	struct stat st;
	void *p;
	int fd;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	if (fstat(fd, &st)) {
		close(fd);
		return NULL;
	}
	p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	*len = st.st_size;
	return p == MAP_FAILED ? NULL : p;
}

/* Where section @sec of loaded module @mod is, or 0. */
static __u64 fz_section_addr(const char *mod, const char *sec)
{
	char path[256];
	unsigned long long a = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/module/%s/sections/%s", mod, sec);
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llx", &a) != 1)
		a = 0;
	fclose(f);
	return a;
}

/* The kernel's KASLR offset, which KCOV takes off every PC. */
static __u64 fz_kaslr(void)
{
	unsigned long long a;
	char type, name[128];
	__u64 off = 0;
	FILE *f = fopen("/proc/kallsyms", "r");

	while (f && fscanf(f, "%llx %c %127s%*[^\n]", &a, &type, name) == 3) {
		if (!strcmp(name, "_text")) {
			off = a ? a - FZ_START_KERNEL : 0;
			break;
		}
	}
	if (f)
		fclose(f);
	return off;
}

struct fz_elf {
	const char *base;
	const struct elf64_shdr *sh;
	unsigned int nsh;
	const char *shstr;
	const struct elf64_sym *sym;
	unsigned int nsym;
	const char *str;
};

static int fz_elf_open(struct fz_elf *e, const char *p, size_t len)
{
	const struct elf64_hdr *eh = (const void *)p;
	unsigned int i;

	if (len < sizeof(*eh) || memcmp(eh->e_ident, ELFMAG, SELFMAG) ||
	    eh->e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh->e_shoff + (__u64)eh->e_shnum * sizeof(struct elf64_shdr) > len)
		return -1;
	e->base = p;
	e->sh = (const void *)(p + eh->e_shoff);
	e->nsh = eh->e_shnum;
	e->shstr = p + e->sh[eh->e_shstrndx].sh_offset;
	for (i = 0; i < e->nsh; i++) {
		if (e->sh[i].sh_type != SHT_SYMTAB)
			continue;
		e->sym = (const void *)(p + e->sh[i].sh_offset);
		e->nsym = e->sh[i].sh_size / sizeof(struct elf64_sym);
		e->str = p + e->sh[e->sh[i].sh_link].sh_offset;
	}
	return e->sym ? 0 : -1;
}

/* The function of section @shndx that holds offset @off. */
static const char *fz_elf_fn(const struct fz_elf *e, unsigned int shndx,
			     unsigned long off)
{
	unsigned int i;

	for (i = 0; i < e->nsym; i++) {
		const struct elf64_sym *s = &e->sym[i];

		if (ELF64_ST_TYPE(s->st_info) == STT_FUNC &&
		    s->st_shndx == shndx && off >= s->st_value &&
		    off < s->st_value + s->st_size)
			return strdup(e->str + s->st_name);
	}
	return NULL;
}

static int fz_add_site(__u64 pc, const char *mod, const char *sec,
		       const char *fn, unsigned long off)
{
	struct fz_site *s;

	if (fz_nsites >= FZ_MAX_SITES)
		return -1;
	s = &fz_sites[fz_nsites++];
	s->pc = pc;
	s->mod = mod;
	s->sec = sec;
	s->fn = fn;
	s->off = off;
	return 0;
}

/* The call sites of one relocation section. */
static void fz_rela_sites(const struct fz_elf *e, const struct elf64_shdr *rs,
			  const char *mod, __u64 kaslr)
{
	const struct elf64_rela *r = (const void *)(e->base + rs->sh_offset);
	const struct elf64_shdr *ts = &e->sh[rs->sh_info];
	const char *sec = e->shstr + ts->sh_name;
	unsigned int i, n = rs->sh_size / sizeof(*r);
	__u64 addr = fz_section_addr(mod, sec);
	const char *name;
	unsigned long off;

	if (!(ts->sh_flags & SHF_EXECINSTR))
		return;
	for (i = 0; i < n; i++) {
		name = e->str + e->sym[ELF64_R_SYM(r[i].r_info)].st_name;
		if (strcmp(name, "__sanitizer_cov_trace_pc"))
			continue;
		/* the call's return address: past the 4-byte displacement */
		off = r[i].r_offset + 4;
		fz_add_site(addr ? addr + off - kaslr : 0, mod, strdup(sec),
			    fz_elf_fn(e, rs->sh_info, off), off);
	}
}

static int fz_module_sites(const char *kodir, const char *mod, __u64 kaslr)
{
	struct fz_elf e = { 0 };
	char path[512];
	unsigned int i;
	size_t len;
	void *p;

	snprintf(path, sizeof(path), "%s/%s.ko", kodir, mod);
	p = fz_slurp(path, &len);
	if (!p || fz_elf_open(&e, p, len)) {
		fprintf(stderr, "kvio_fuzz: cannot read %s\n", path);
		return -1;
	}
	for (i = 0; i < e.nsh; i++)
		if (e.sh[i].sh_type == SHT_RELA && e.sh[i].sh_info < e.nsh)
			fz_rela_sites(&e, &e.sh[i], mod, kaslr);
	munmap(p, len);
	return 0;
}

static int fz_site_cmp(const void *a, const void *b)
{
	const struct fz_site *x = a, *y = b;

	return x->pc < y->pc ? -1 : x->pc > y->pc;
}

/* kvio's coverage sites, from the .ko files in @kodir (NULL: the build). */
int fz_sites_load(const char *kodir)
{
	static char dflt[512];
	__u64 kaslr = fz_kaslr();
	struct utsname u;
	unsigned int i;

	if (!kodir) {
		uname(&u);
		snprintf(dflt, sizeof(dflt), "%s/build/%s",
			 kvio_env_or("KVIO_REPO", "."), u.release);
		kodir = dflt;
	}
	fz_sites = calloc(FZ_MAX_SITES, sizeof(*fz_sites));
	if (!fz_sites || fz_module_sites(kodir, "kvio_vhost", kaslr) ||
	    fz_module_sites(kodir, "kvio_net", kaslr))
		return -1;
	qsort(fz_sites, fz_nsites, sizeof(*fz_sites), fz_site_cmp);
	fz_lo = ~0ULL;
	for (i = 0; i < fz_nsites; i++) {
		if (!fz_sites[i].pc)
			continue;
		if (fz_sites[i].pc < fz_lo)
			fz_lo = fz_sites[i].pc;
		fz_hi = fz_sites[i].pc;
	}
	return fz_nsites ? 0 : -1;
}

static int fz_site_find(__u64 pc)
{
	unsigned int lo = 0, hi = fz_nsites, mid;

	if (pc < fz_lo || pc > fz_hi)
		return -1;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (fz_sites[mid].pc < pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < fz_nsites && fz_sites[lo].pc == pc ? (int)lo : -1;
}

static int fz_kcov_new(struct fz_cover *cov, int i)
{
	cov->fd[i] = open(FZ_KCOV, O_RDWR | O_CLOEXEC);
	if (cov->fd[i] < 0 ||
	    ioctl(cov->fd[i], KCOV_INIT_TRACE, FZ_COVER_WORDS))
		return -1;
	cov->area[i] = mmap(NULL, FZ_COVER_WORDS * sizeof(unsigned long),
			    PROT_READ | PROT_WRITE, MAP_SHARED, cov->fd[i], 0);
	return cov->area[i] == MAP_FAILED ? -1 : 0;
}

/*
 * Opens the three KCOV instances and, in the calling thread, enables the
 * remote one: threads created afterwards carry its common handle.
 */
struct fz_cover *fz_cover_open(int remote)
{
	struct fz_cover *cov = calloc(1, sizeof(*cov));
	struct kcov_remote_arg arg = {
		.trace_mode = KCOV_TRACE_PC,
		.area_size = FZ_REMOTE_WORDS,
		.common_handle = kcov_remote_handle(KCOV_SUBSYSTEM_COMMON,
						    getpid()),
	};
	int i;

	if (!cov)
		return NULL;
	for (i = 0; i < 3; i++) {
		if (fz_kcov_new(cov, i)) {
			fprintf(stderr, "kvio_fuzz: kcov: %s\n", strerror(errno));
			return NULL;
		}
	}
	if (remote && ioctl(cov->fd[2], KCOV_REMOTE_ENABLE, &arg)) {
		fprintf(stderr, "kvio_fuzz: KCOV_REMOTE_ENABLE: %s\n",
			strerror(errno));
		return NULL;
	}
	return cov;
}

/* Coverage of the calling thread's system calls goes to slot @slot. */
void fz_cover_thread(struct fz_cover *cov, int slot)
{
	if (cov && ioctl(cov->fd[slot], KCOV_ENABLE, KCOV_TRACE_PC))
		fprintf(stderr, "kvio_fuzz: KCOV_ENABLE: %s\n", strerror(errno));
}

void fz_cover_reset(struct fz_cover *cov)
{
	int i;

	for (i = 0; cov && i < 3; i++)
		__atomic_store_n(&cov->area[i][0], 0, __ATOMIC_RELAXED);
}

static void fz_bit(unsigned char *map, unsigned int i)
{
	map[i / 8] |= 1 << (i % 8);
}

/* kvio's sites and edges (pairs of consecutive kvio sites) in one area. */
static unsigned long fz_collect_area(const unsigned long *area,
				     struct fz_shm *shm)
{
	unsigned long n = __atomic_load_n(&area[0], __ATOMIC_RELAXED), i;
	unsigned int prev = 0;
	int s;

	if (n >= FZ_COVER_WORDS)
		n = FZ_COVER_WORDS - 1;
	for (i = 1; i <= n; i++) {
		s = fz_site_find(area[i]);
		if (s < 0)
			continue;
		fz_bit(shm->sites, s);
		fz_bit(shm->edges, (prev * 0x9e3779b1U ^ s) % FZ_EDGE_BITS);
		prev = s + 1;
	}
	return n;
}

void fz_cover_collect(struct fz_cover *cov, struct fz_shm *shm)
{
	int i;

	memset(shm->sites, 0, sizeof(shm->sites));
	memset(shm->edges, 0, sizeof(shm->edges));
	shm->pcs = 0;
	for (i = 0; cov && i < 3; i++)
		shm->pcs += fz_collect_area(cov->area[i], shm);
}
