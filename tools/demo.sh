#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot a test VM, start a nested QEMU guest whose virtio-net is
# served by kvio-net through vhostfd=, show traffic, then the same through
# upstream vhost-net, and print both side by side.
#
# KVIO_DEMO_KERNEL picks the outer kernel (default 6.12).
set -u

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/demo
mkdir -p "$out"
kernel=${KVIO_DEMO_KERNEL:-6.12}

# One VM, both devices, one after the other (same host, same guest).
inner=$out/inner.sh
cat >"$inner" <<'INNER'
#!/bin/sh
top=$1
for dev in /dev/kvio-net /dev/vhost-net; do
	name=${dev#/dev/}
	echo "demo: === nested guest through $dev ==="
	KVIO_VHOST_DEV=$dev sh "$top/selftests/kvio/qemu_vhostfd.sh" \
		"$top/build/selftests" >"$KVIO_OUT/$name.log" 2>&1
	echo "demo: $name exit $?"
	sed -n 's/^# //p; /^not ok/p' "$KVIO_OUT/$name.log"
done
INNER

echo "demo: booting a $kernel test VM (TCG); the nested guests take a few minutes"
"$top/tools/vm/run" --kernel "$kernel" --mem 4G --out "$out/vm" -- \
	sh "$inner" "$top" | tee "$out/demo.log" | grep '^demo: '
rc=$?

# The summary: every diagnostic line of both runs, side by side by topic.
summary() {
	log=$out/vm/$1.log
	[ -f "$log" ] || { echo "  (no log)"; return; }
	grep -E '^(ok|not ok) ' "$log" | sed 's/^/  /'
	grep -E '^# (first ping|guest -> host|host -> guest|workers|two-queue|total|accelerator)' \
		"$log" | sed 's/^# /  /'
}
echo
echo "=================== kvio-net ==================="
summary kvio-net
echo
echo "============ upstream vhost-net ================"
summary vhost-net
echo
echo "(TCG: absolute numbers are slow; compare the two columns of one run only.)"
exit $rc
