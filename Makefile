# SPDX-License-Identifier: GPL-2.0
#
# kvio: build against every installed Debian kernel (or one KDIR=), run the
# selftests in VMs, check the style.  See README.md.

TOP := $(abspath $(dir $(lastword $(MAKEFILE_LIST))))
BUILD := $(TOP)/build

# Kernel trees to build against: KDIR= names one, else every installed
# headers tree that has a Module.symvers (i.e. is complete).
ifneq ($(KDIR),)
KDIRS := $(KDIR)
else
KDIRS = $(patsubst %/Module.symvers,%,$(wildcard /usr/src/linux-headers-*-amd64/Module.symvers))
endif

# The newest installed headers provide the uAPI the selftests build with.
UAPI_SRC = $(lastword $(sort $(wildcard /usr/src/linux-headers-*-common/include/uapi)))
KSRC_TAR = $(lastword $(sort $(wildcard /usr/src/linux-source-*.tar.xz)))
KSFT_DIR := $(BUILD)/ksrc/tools/testing/selftests
CHECKPATCH := $(BUILD)/ksrc/scripts/checkpatch.pl

KBUILD_FILES := Kbuild dkms.conf drivers include uapi

.PHONY: all modules deps check check-debug check-full demo bench selftests style sparse clean help \
	dkms-install dkms-remove

all: modules

help:
	@echo 'make            build the modules for every installed kernel (or KDIR=)'
	@echo 'make deps       install the Debian packages everything needs'
	@echo 'make check      deps, build, and every selftest in VMs on every kernel'
	@echo 'make check-debug  the same on the KASAN/lockdep/kmemleak debug kernel'
	@echo 'make check-full   check, then check-debug: what an issue needs before it is resolved'
	@echo 'make demo       a nested guest through kvio-net, then through vhost-net'
	@echo 'make bench      benchmarks against upstream vhost-net: table, CSV, plot'
	@echo 'make style      checkpatch --strict over our C, shellcheck over our shell'
	@echo 'make sparse     build with sparse (C=1)'
	@echo 'make dkms-install  install with DKMS for every kernel with headers'
	@echo 'make dkms-remove   remove it from DKMS again'

# One output tree per kernel: a tree of symlinks to the sources, so that
# objects for 6.1 and 6.12 never overwrite each other.
modules:
	@test -n "$(strip $(KDIRS))" || \
		{ echo 'no kernel headers found: run make deps (or pass KDIR=)' >&2; exit 1; }
	@set -e; for kdir in $(KDIRS); do \
		kver=$$(basename $$(readlink -f $$kdir)); kver=$${kver#linux-headers-}; \
		[ -d /lib/modules/$$kver ] || kver=$$(cat $$kdir/include/config/kernel.release); \
		out=$(BUILD)/$$kver; mkdir -p $$out; \
		for f in $(KBUILD_FILES); do \
			[ ! -e $(TOP)/$$f ] || cp -rsf $(TOP)/$$f $$out/; done; \
		echo "  BUILD   $$kver"; \
		$(MAKE) -C $$kdir M=$$out W=1 $(if $(C),C=$(C)) modules; \
		cp -f $$out/drivers/vhost/kvio_vhost.ko $$out/drivers/net/kvio_net.ko \
			$$out/drivers/assign/kvio_assign.ko $$out/; \
	done

sparse:
	$(MAKE) modules C=2

deps:
	@sh $(TOP)/tools/deps.sh

# Files taken from the installed linux-source package at build time.
$(BUILD)/ksrc/.stamp: $(KSRC_TAR)
	@test -n "$(KSRC_TAR)" || { echo 'linux-source-6.12 missing: make deps' >&2; exit 1; }
	@mkdir -p $(BUILD)/ksrc
	tar -xJf $(KSRC_TAR) -C $(BUILD)/ksrc --strip-components=1 --wildcards \
		'*/tools/testing/selftests/kselftest.h' \
		'*/tools/testing/selftests/kselftest_harness.h' \
		'*/scripts/checkpatch.pl' '*/scripts/spelling.txt' \
		'*/scripts/const_structs.checkpatch'
	@touch $@

# The kernel's own extract-vmlinux, which tools/vm/run boots Debian's
# kernels with (their vmlinux through PVH, no decompression in the guest).
VMLINUX_X := $(BUILD)/ksrc/scripts/extract-vmlinux
$(VMLINUX_X): $(KSRC_TAR)
	@test -n "$(KSRC_TAR)" || { echo 'linux-source-6.12 missing: make deps' >&2; exit 1; }
	@mkdir -p $(BUILD)/ksrc
	tar -xJf $(KSRC_TAR) -C $(BUILD)/ksrc --strip-components=1 --wildcards \
		'*/scripts/extract-vmlinux'
	@touch $@

# The uAPI headers as headers_install would export them: kernel-only
# includes and annotations stripped.
UAPI_HDRS := vhost.h vhost_types.h virtio_config.h virtio_ring.h virtio_types.h

$(BUILD)/uapi/.stamp: $(UAPI_SRC)/linux/vhost.h
	@mkdir -p $(BUILD)/uapi/linux
	@for h in $(UAPI_HDRS); do \
		sed -E -e 's@^#include <linux/compiler(_types)?\.h>@@' \
			-e 's/(^|[^A-Za-z0-9_])__(user|force|iomem)([^A-Za-z0-9_]|$$)/\1\3/g' \
			$(UAPI_SRC)/linux/$$h >$(BUILD)/uapi/linux/$$h; \
	done
	@touch $@

selftests: $(BUILD)/ksrc/.stamp $(BUILD)/uapi/.stamp $(VMLINUX_X)
	$(MAKE) -C $(TOP)/selftests/kvio KSFT_DIR=$(KSFT_DIR) \
		UAPI_INC=$(BUILD)/uapi OUTPUT=$(BUILD)/selftests

# The userspace virtio driver the selftests, the fuzzer and the benchmark
# share: one virtqueue library.
VQ_SRC := $(TOP)/selftests/kvio/lib/vq.c
VQ_HDR := $(TOP)/selftests/kvio/lib/vq.h

$(BUILD)/bench/kvio_bench: $(TOP)/tools/bench/kvio_bench.c $(TOP)/tools/bench/kvio_insn.h \
		$(VQ_SRC) $(VQ_HDR) \
		$(BUILD)/uapi/.stamp
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -I$(BUILD)/uapi \
		-I$(TOP)/selftests/kvio/lib -pthread -o $@ $< $(VQ_SRC) -pthread

# The TCG plugin that counts guest instructions per measurement window,
# built against the qemu-plugin.h of Debian's own QEMU source (fetched
# once, outside the clone), and a probe that checks its counts.
$(BUILD)/bench/kvio_insn.so: $(TOP)/tools/bench/kvio_insn.c $(TOP)/tools/bench/kvio_insn.h \
		$(TOP)/tools/qemu-src/fetch
	@mkdir -p $(dir $@)
	@src=$$(sh $(TOP)/tools/qemu-src/fetch --header-only) && \
	set -x && $(CC) -Wall -Wextra -Werror -O2 -g -shared -fPIC \
		-I$$(echo $$src/qemu-*/include/qemu) -o $@ $< -pthread

$(BUILD)/bench/insn_probe: $(TOP)/tools/bench/insn_probe.c $(TOP)/tools/bench/kvio_insn.h
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -Werror -O2 -g -o $@ $<

# The selftests, and kvio_bench for the operator's guide's commands
# (selftests/kvio/admin_guide.sh).
check: deps
	$(MAKE) -C $(TOP) modules selftests $(BUILD)/bench/kvio_bench
	@sh $(TOP)/tools/check.sh

# The fuzzer (tools/fuzz): its own sources and the selftests' userspace
# virtio driver, ndp_*.c, diff_*.c and the virtqueue library lib/vq.c.
FUZZ_SRCS = $(wildcard $(TOP)/tools/fuzz/*.c) \
	$(wildcard $(TOP)/selftests/kvio/ndp_*.c) \
	$(TOP)/selftests/kvio/diff_env.c $(TOP)/selftests/kvio/diff_rec.c \
	$(VQ_SRC)
FUZZ_HDRS = $(wildcard $(TOP)/tools/fuzz/*.h) \
	$(TOP)/selftests/kvio/net_datapath.h $(TOP)/selftests/kvio/vhost_diff.h \
	$(TOP)/uapi/linux/kvio_vhost_compat.h $(VQ_HDR)

.PHONY: fuzz
fuzz: $(BUILD)/fuzz/kvio_fuzz $(VMLINUX_X)

$(BUILD)/fuzz/kvio_fuzz: $(FUZZ_SRCS) $(FUZZ_HDRS) $(BUILD)/ksrc/.stamp $(BUILD)/uapi/.stamp
	@mkdir -p $(dir $@)
	$(CC) -Wall -Wextra -Werror -O2 -g -D_GNU_SOURCE -pthread -I$(BUILD)/uapi \
		-idirafter $(TOP)/selftests/kvio/uapi-shim -isystem $(KSFT_DIR) \
		-I$(TOP)/selftests/kvio -I$(TOP)/uapi -o $@ $(FUZZ_SRCS) -pthread

# The whole suite on the debug kernel (tools/debug-kernel/build: built
# once per machine, outside the clone, printing its directory), every VM
# ending with a kmemleak scan, then the fuzzer for 20 minutes
# (KVIO_DEBUG_FUZZ_TIME seconds; KVIO_DEBUG_FUZZ: another command, 0: none).
check-debug: deps
	@dir=$$(sh $(TOP)/tools/debug-kernel/build) && \
		$(MAKE) -C $(TOP) modules KDIR=$$dir/linux
	$(MAKE) -C $(TOP) selftests fuzz $(BUILD)/bench/kvio_bench
	@KVIO_KERNELS=debug KVIO_DKMS=0 sh $(TOP)/tools/check.sh

# Everything, one after the other (never in parallel: both boot VMs on
# every CPU): about 30 + 65 minutes on 2 CPUs.
check-full:
	$(MAKE) -C $(TOP) check
	$(MAKE) -C $(TOP) check-debug

demo: deps
	$(MAKE) -C $(TOP) modules selftests
	@sh $(TOP)/tools/demo.sh

bench: deps
	$(MAKE) -C $(TOP) modules selftests $(BUILD)/bench/kvio_bench \
		$(BUILD)/bench/kvio_insn.so $(BUILD)/bench/insn_probe
	@sh $(TOP)/tools/bench/run.sh

STYLE_FILES = $(shell cd $(TOP) && git ls-files -co --exclude-standard \
		'*.c' '*.h' | grep -v '^build/')

# Every shell script: the *.sh files and those named here.
SHELL_FILES = $(shell cd $(TOP) && git ls-files '*.sh' 2>/dev/null) \
	tools/vm/run tools/vm/init tools/vm/stage2 tools/debug-kernel/build \
	tools/fuzz/run tools/fuzz/ledger tools/kvio-assign tools/qemu-src/fetch .ci/run

style: $(BUILD)/ksrc/.stamp
	cd $(TOP) && perl $(CHECKPATCH) --strict --no-tree --terse \
		--ignore SPDX_LICENSE_TAG,FILE_PATH_CHANGES -f $(STYLE_FILES)
	cd $(TOP) && shellcheck -x $(SHELL_FILES)
	cd $(TOP) && sh selftests/kvio/lib/guide_blocks.sh check Documentation/admin-guide.rst

# DKMS: the module tree to /usr/src/kvio-<version>, dkms add and install
# for every kernel with headers (AUTOINSTALL for later ones).
dkms-install:
	@sh $(TOP)/tools/dkms.sh install

dkms-remove:
	@sh $(TOP)/tools/dkms.sh remove

clean:
	rm -rf $(BUILD)
