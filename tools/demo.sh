#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot a test VM, start a nested QEMU guest whose virtio-net is
# served by kvio-net through vhostfd=, show traffic, then the same through
# upstream vhost-net, and print both in one table, a row per measure.
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

# One line per measure of a run's log (qemu_vhostfd.sh's KTAP), in a
# fixed order: "measure<TAB>value", "-" where the log has none.
measures() { # log
	[ -f "$1" ] || : >"$1"
	tr -d '\r' <"$1" | awk '
	function avg(s,  a, r) { split(s, a, "= "); split(a[2], r, "/"); return r[2] }
	/^(ok|not ok) [0-9]/ { n++; if ($1 == "ok") ok++ }
	/^# accelerator:/ { v[2] = $3 }
	/^# first ping answered/ { v[3] = $5 " s" }
	/^# guest -> host: [0-9]+ packets/ { v[4] = avg($0) " ms" }
	/^# host -> guest: [0-9]+ packets/ { v[5] = avg($0) " ms" }
	/^# guest -> host: [0-9]+ KiB,/ { v[6] = $(NF - 1) " KiB/s" }
	/^# host -> guest: [0-9]+ KiB,/ { v[7] = $(NF - 1) " KiB/s" }
	/^# two streams/ {
		sub(/.*guest -> host /, ""); split($0, w, " ")
		v[8] = w[1] " KiB/s"; v[9] = w[6] " KiB/s"
	}
	/^# workers / { sub(/,/, "", $4); v[10] = $4 ", " $5 " ran" }
	/^# total .* with QEMU/ { v[11] = $3 " s" }
	END {
		v[1] = (ok + 0) "/" (n + 0) " ok"
		split("results|accelerator|first ping after QEMU start|" \
		      "ping guest -> host, average|ping host -> guest, average|" \
		      "TCP guest -> host|TCP host -> guest|" \
		      "two-queue NIC, 2 streams guest -> host|" \
		      "two-queue NIC, 2 streams host -> guest|" \
		      "device worker threads|total with QEMU", m, "|")
		for (i = 1; i <= 11; i++)
			printf "%s\t%s\n", m[i], (i in v) ? v[i] : "-"
	}'
}

# Both runs in one table, a row per measure.
echo
measures "$out/vm/kvio-net.log" >"$out/kvio-net.txt"
measures "$out/vm/vhost-net.log" >"$out/vhost-net.txt"
printf '%-40s %-18s %s\n' measure kvio-net "vhost-net (upstream)"
paste "$out/kvio-net.txt" "$out/vhost-net.txt" |
	awk -F '\t' '{ printf "%-40s %-18s %s\n", $1, $2, $4 }'
echo
echo "(TCG: absolute numbers are slow; compare the two columns of one run only."
echo " Every check and timing: $out/vm/kvio-net.log and vhost-net.log.)"
exit $rc
