// SPDX-License-Identifier: GPL-2.0
/*
 * kvio-assign end to end: this program is a minimal VMM on /dev/kvm.
 * Its guest's RAM is DMA-mapped at IOVA = GPA, edu's BAR
 * (an mmap of the device fd) is a memory slot in guest-physical space,
 * and edu's MSI reaches the guest through the eventfd, KVM_IRQFD and an
 * MSI route in KVM's in-kernel irqchip.  The guest, a few real-mode
 * instructions, has edu copy a buffer of guest RAM into edu and back to
 * another place in guest RAM with a completion interrupt, whose handler
 * leaves a marker and reports through an I/O port.
 */
#include <signal.h>
#include <sys/wait.h>

#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "kvio_harness.h"
#include "assign_lib.h"

#define GUEST_RAM	0x80000UL	/* 512 KiB at GPA 0 */
#define GUEST_CODE	0x1000
#define GUEST_SRC	0x3000		/* the data the guest has edu copy */
#define GUEST_DST	0x5000		/* where edu writes it back */
#define GUEST_LEN	2048
#define GUEST_MARK	0x600		/* the interrupt handler's marker */
#define GUEST_BAR_GPA	0x90000UL	/* edu's first BAR page */
#define GUEST_VECTOR	0x30
#define GUEST_PORT	0xf0
#define MSI_GSI		24

/*
 * The guest, 16-bit real mode, loaded at GUEST_CODE with CS = DS = 0: ES
 * points at edu's BAR (segment GUEST_BAR_GPA >> 4).  It starts a DMA
 * RAM -> edu, polls for its end, starts edu -> RAM with the completion
 * interrupt, then halts with interrupts on.  The handler, at
 * GUEST_HANDLER, marks GUEST_MARK, stores edu's interrupt status beside it,
 * acknowledges it and writes to GUEST_PORT.  Assembled by hand (as --32
 * with .code16), so that the bytes are all here.
 */
static const unsigned char guest_code[] = {
	0xfa,						/* cli */
	0xb8, 0x00, 0x90,				/* mov $0x9000, %ax */
	0x8e, 0xc0,					/* mov %ax, %es */
	0x26, 0x66, 0xc7, 0x06, 0x80, 0x00,		/* movl $0x3000, %es:0x80 */
	0x00, 0x30, 0x00, 0x00,
	0x26, 0x66, 0xc7, 0x06, 0x88, 0x00,		/* movl $0x40000, %es:0x88 */
	0x00, 0x00, 0x04, 0x00,
	0x26, 0x66, 0xc7, 0x06, 0x90, 0x00,		/* movl $2048, %es:0x90 */
	0x00, 0x08, 0x00, 0x00,
	0x26, 0x66, 0xc7, 0x06, 0x98, 0x00,		/* movl $1, %es:0x98 */
	0x01, 0x00, 0x00, 0x00,
	0x26, 0x66, 0xf7, 0x06, 0x98, 0x00,		/* 1: testl $1, %es:0x98 */
	0x01, 0x00, 0x00, 0x00,
	0x75, 0xf4,					/* jnz 1b */
	0x26, 0x66, 0xc7, 0x06, 0x80, 0x00,		/* movl $0x40000, %es:0x80 */
	0x00, 0x00, 0x04, 0x00,
	0x26, 0x66, 0xc7, 0x06, 0x88, 0x00,		/* movl $0x5000, %es:0x88 */
	0x00, 0x50, 0x00, 0x00,
	0x26, 0x66, 0xc7, 0x06, 0x98, 0x00,		/* movl $7, %es:0x98 */
	0x07, 0x00, 0x00, 0x00,
	0xfb,						/* sti */
	0xf4,						/* 2: hlt */
	0xeb, 0xfd,					/* jmp 2b */
	/* GUEST_HANDLER: */
	0xc7, 0x06, 0x00, 0x06, 0xfe, 0xca,		/* movw $0xcafe, 0x600 */
	0x26, 0x66, 0xa1, 0x24, 0x00,			/* mov %es:0x24, %eax */
	0x26, 0x66, 0xa3, 0x64, 0x00,			/* mov %eax, %es:0x64 */
	0x66, 0xa3, 0x04, 0x06,				/* mov %eax, 0x604 */
	0xba, 0xf0, 0x00,				/* mov $0xf0, %dx */
	0xee,						/* out %al, (%dx) */
	0xcf,						/* iret */
};

#define GUEST_HANDLER	0x5c	/* offset of the handler in guest_code */

static void on_alarm(int sig)
{
	(void)sig;	/* only to interrupt KVM_RUN */
}

struct vmm {
	int kvm, vm, vcpu, dev, efd;
	struct kvm_run *run;
	unsigned char *ram;
	void *bar;
	struct edu_addr a;
};

static int vm_memory(struct vmm *v)
{
	struct kvm_userspace_memory_region ram = {
		.slot = 0, .guest_phys_addr = 0, .memory_size = GUEST_RAM,
		.userspace_addr = (uintptr_t)v->ram,
	}, bar = {
		.slot = 1, .guest_phys_addr = GUEST_BAR_GPA,
		.memory_size = 4096, .userspace_addr = (uintptr_t)v->bar,
	};

	if (ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &ram) ||
	    ioctl(v->vm, KVM_SET_USER_MEMORY_REGION, &bar))
		return -errno;
	return 0;
}

/* edu's MSI: eventfd -> irqfd on MSI_GSI -> an MSI to APIC 0. */
static int vm_irq_route(struct vmm *v)
{
	struct {
		struct kvm_irq_routing r;
		struct kvm_irq_routing_entry e[1];
	} rt = { .r = { .nr = 1 } };
	struct kvm_irqfd irqfd = { .fd = v->efd, .gsi = MSI_GSI };

	rt.e[0].gsi = MSI_GSI;
	rt.e[0].type = KVM_IRQ_ROUTING_MSI;
	rt.e[0].u.msi.address_lo = 0xfee00000;	/* APIC ID 0, physical */
	rt.e[0].u.msi.data = GUEST_VECTOR;	/* fixed, edge */
	if (ioctl(v->vm, KVM_SET_GSI_ROUTING, &rt) ||
	    ioctl(v->vm, KVM_IRQFD, &irqfd))
		return -errno;
	return 0;
}

/* Real mode at GUEST_CODE, and the local APIC software-enabled. */
static int vm_vcpu_state(struct vmm *v)
{
	struct kvm_lapic_state lapic;
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	__u32 *svr = (__u32 *)&lapic.regs[0xf0];

	if (ioctl(v->vcpu, KVM_GET_SREGS, &sregs))
		return -errno;
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	sregs.ds.base = 0;
	sregs.es.base = 0;
	sregs.ss.base = 0;
	sregs.ds.selector = 0;
	sregs.es.selector = 0;
	sregs.ss.selector = 0;
	if (ioctl(v->vcpu, KVM_SET_SREGS, &sregs))
		return -errno;
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE;
	regs.rsp = 0x8000;
	regs.rflags = 0x2;
	if (ioctl(v->vcpu, KVM_SET_REGS, &regs))
		return -errno;
	if (ioctl(v->vcpu, KVM_GET_LAPIC, &lapic))
		return -errno;
	*svr |= 0x100 | 0xff;
	if (ioctl(v->vcpu, KVM_SET_LAPIC, &lapic))
		return -errno;
	return 0;
}

static int vm_create(struct vmm *v)
{
	int size;

	v->vm = ioctl(v->kvm, KVM_CREATE_VM, 0);
	if (v->vm < 0)
		return -errno;
	if (ioctl(v->vm, KVM_CREATE_IRQCHIP, 0))
		return -errno;
	v->vcpu = ioctl(v->vm, KVM_CREATE_VCPU, 0);
	if (v->vcpu < 0)
		return -errno;
	size = ioctl(v->kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size < 0)
		return -errno;
	v->run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->vcpu, 0);
	if (v->run == MAP_FAILED)
		return -errno;
	return 0;
}

/* The guest's RAM: code, the IVT entry, the source data. */
static void vm_load(struct vmm *v)
{
	__u16 *ivt = (__u16 *)(v->ram + GUEST_VECTOR * 4);
	int i;

	memcpy(v->ram + GUEST_CODE, guest_code, sizeof(guest_code));
	ivt[0] = GUEST_CODE + GUEST_HANDLER;
	ivt[1] = 0;
	for (i = 0; i < GUEST_LEN; i++)
		v->ram[GUEST_SRC + i] = i * 13 + 1;
	memset(v->ram + GUEST_DST, 0xee, 2 * GUEST_LEN);
}

FIXTURE(kvm) {
	struct vmm v;
	struct pin_count pc0;
};

FIXTURE_SETUP(kvm)
{
	struct vmm *v = &self->v;

	memset(v, 0, sizeof(*v));
	v->kvm = -1;
	v->vm = -1;
	v->vcpu = -1;
	v->dev = -1;
	v->efd = -1;
	if (access(ASSIGN_CTL, F_OK))
		SKIP(return, ASSIGN_CTL " is missing: load kvio_assign.ko");
	if (find_edu(&v->a, 1, 0))
		SKIP(return, "no edu device alone in an IOMMU group");
	v->kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm < 0)
		SKIP(return, "no /dev/kvm (modprobe kvm_amd or kvm_intel)");
	ASSERT_EQ(0, assign_bind(v->a.name));
	pin_count_read(&self->pc0);
	v->dev = assign_open(&v->a);
	ASSERT_LE(0, v->dev) TH_LOG("open: %s", strerror(-v->dev));
	v->bar = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED,
		      v->dev, 0);
	ASSERT_NE(MAP_FAILED, v->bar);
	v->ram = mmap(NULL, GUEST_RAM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, v->ram);
	v->efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, v->efd);
}

FIXTURE_TEARDOWN(kvm)
{
	struct vmm *v = &self->v;
	struct pin_count pc;

	if (v->vcpu >= 0)
		close(v->vcpu);
	if (v->vm >= 0)
		close(v->vm);
	if (v->kvm >= 0)
		close(v->kvm);
	if (v->bar && v->bar != MAP_FAILED)
		munmap(v->bar, 4096);
	if (v->dev >= 0) {
		close(v->dev);
		pin_count_read(&pc);
		EXPECT_EQ(self->pc0.pins, pc.pins);
		EXPECT_EQ(self->pc0.vmlck_kb, pc.vmlck_kb);
	}
}

TEST_F(kvm, guest_drives_edu_dma_and_msi)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct vmm *v = &self->v;
	int runs = 0;

	vm_load(v);
	ASSERT_EQ(0, dma_map(v->dev, v->ram, 0, GUEST_RAM,
			     KVIO_ASSIGN_DMA_READ | KVIO_ASSIGN_DMA_WRITE));
	ASSERT_EQ(0, enable_master(v->dev));
	ASSERT_EQ(0, set_irqs(v->dev, KVIO_ASSIGN_IRQ_MSI, 1, &v->efd));
	ASSERT_EQ(0, vm_create(v));
	ASSERT_EQ(0, vm_memory(v));
	ASSERT_EQ(0, vm_irq_route(v));
	ASSERT_EQ(0, vm_vcpu_state(v));

	/* A guest that never reports must not hang the test. */
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	alarm(30);
	for (;;) {
		runs++;
		if (ioctl(v->vcpu, KVM_RUN, 0) < 0) {
			ASSERT_EQ(EINTR, errno) TH_LOG("KVM_RUN: %m");
			break;
		}
		if (v->run->exit_reason != KVM_EXIT_INTR)
			break;
	}
	alarm(0);
	ASSERT_EQ(KVM_EXIT_IO, v->run->exit_reason)
		TH_LOG("exit reason %u after %d runs", v->run->exit_reason,
		       runs);
	EXPECT_EQ(GUEST_PORT, v->run->io.port);
	EXPECT_EQ(KVM_EXIT_IO_OUT, v->run->io.direction);
	/* The handler ran, for edu's DMA-done interrupt (0x100). */
	EXPECT_EQ(0xcafe, *(__u16 *)(v->ram + GUEST_MARK));
	EXPECT_EQ(0x100, *(__u32 *)(v->ram + GUEST_MARK + 4));
	EXPECT_EQ(0, memcmp(v->ram + GUEST_DST, v->ram + GUEST_SRC,
			    GUEST_LEN));
	EXPECT_EQ(0xee, v->ram[GUEST_DST + GUEST_LEN]);
	EXPECT_EQ(0xee, v->ram[GUEST_DST - 1 + 2 * GUEST_LEN]);
	/* Nothing left for the VMM: the eventfd went to KVM. */
	EXPECT_EQ(0, efd_wait(v->efd, 0));
}

TEST_HARNESS_MAIN
