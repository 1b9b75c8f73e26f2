# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=sh
#
# KTAP output for the shell tests, sourced.  The caller names its tests,
# in order, in KTAP_NAMES before it sources this file; then:
#
#   ktap_begin               the header ("TAP version 13")
#   ktap_plan                the plan ("1..N", N the number of names)
#   ktap_ok NAME [DIAG]      a pass; DIAG goes first as a "# " line
#   ktap_fail NAME [DIAG]    a failure
#   ktap_result ok|fail NAME [DIAG]
#   ktap_result_skip NAME REASON   one test that cannot run here
#   ktap_diag TEXT...        a "# " line
#   ktap_bail TEXT           a fatal failure: every test not yet reported
#                            fails, then exit 1
#   ktap_skip_all REASON     the test cannot run here (never for a failure):
#                            every test not yet reported is skipped, then
#                            exit 0
#   ktap_finish              exit 0 if nothing failed, else 1
#
# A runner counts what is printed and compares it with the plan: a script
# that dies half way loses the rest of its results, which count as failed.

ktap_n=0
ktap_fails=0
ktap_begun=
ktap_planned=

ktap_count() {
	# shellcheck disable=SC2086 # split the names
	set -- $KTAP_NAMES
	echo $#
}

ktap_begin() {
	[ -n "$ktap_begun" ] && return
	ktap_begun=1
	echo "TAP version 13"
}

ktap_plan() {
	ktap_begin
	[ -n "$ktap_planned" ] && return
	ktap_planned=1
	echo "1..$(ktap_count)"
}

ktap_diag() { echo "# $*"; }

ktap_result() { # ok|fail name [diagnostic]
	ktap_plan
	ktap_n=$((ktap_n + 1))
	[ $# -gt 2 ] && ktap_diag "$3"
	if [ "$1" = ok ]; then
		echo "ok $ktap_n $2"
	else
		ktap_fails=$((ktap_fails + 1))
		echo "not ok $ktap_n $2"
	fi
}

ktap_ok() { ktap_result ok "$@"; }

# One test that cannot run here (never for a failure): a skip, not a pass.
ktap_result_skip() { # name reason
	ktap_plan
	ktap_n=$((ktap_n + 1))
	echo "ok $ktap_n $1 # SKIP $2"
}
ktap_fail() { ktap_result fail "$@"; }

ktap_bail() { # reason
	ktap_diag "$1"
	ktap_plan
	ktap_i=0
	for ktap_t in $KTAP_NAMES; do
		ktap_i=$((ktap_i + 1))
		[ "$ktap_i" -gt "$ktap_n" ] && ktap_result fail "$ktap_t"
	done
	exit 1
}

# Exit 0: the runners fail a script on any other status, and they count
# the skips (a skip is never a pass).
ktap_skip_all() { # reason
	ktap_plan
	ktap_i=0
	for ktap_t in $KTAP_NAMES; do
		ktap_i=$((ktap_i + 1))
		[ "$ktap_i" -le "$ktap_n" ] && continue
		ktap_n=$ktap_i
		echo "ok $ktap_n $ktap_t # SKIP $1"
	done
	exit 0
}

ktap_finish() {
	[ "$ktap_fails" -eq 0 ] && [ "$ktap_n" -eq "$(ktap_count)" ]
	exit $?
}
