#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# The shell blocks of a reStructuredText guide (Documentation/
# admin-guide.rst) and who runs them.  Every ".. code-block:: sh" comes
# after a comment line, blank lines between, that says who:
#
#   .. kvio-run: NAME        selftests/kvio/admin_guide.sh runs the block
#                            as it stands (NAME: its result's name)
#   .. kvio-example: PATH    the test at PATH (from the repository's top)
#                            runs the same commands with its own names
#
# usage: guide_blocks.sh check GUIDE
#            exit 1, saying why, unless every block says who runs it,
#            every NAME is a distinct word and every PATH exists
#        guide_blocks.sh extract GUIDE DIR
#            check, then write DIR/NAME.sh for each kvio-run block (its
#            indentation removed) and DIR/names, the NAMEs in order
set -u

mode=${1:-}
guide=${2:-}
dir=${3:-}
case $mode in
check) [ -n "$guide" ] ;;
extract) [ -n "$guide" ] && [ -n "$dir" ] ;;
*) false ;;
esac || {
	echo "usage: guide_blocks.sh check GUIDE | extract GUIDE DIR" >&2
	exit 2
}
[ -f "$guide" ] || {
	echo "guide_blocks.sh: no $guide" >&2
	exit 2
}
top=$(cd "$(dirname "$guide")/.." && pwd)

awk -v mode="$mode" -v dir="$dir" -v top="$top" -v guide="$guide" '
function bad(msg) {
	printf "%s:%d: %s\n", guide, FNR, msg > "/dev/stderr"
	err = 1
}
# The end of a block: its lines, from the first to the last non-blank.
function flush(  i, f) {
	if (kind == "run" && mode == "extract") {
		f = dir "/" name ".sh"
		while (n > 0 && lines[n] == "")
			n--
		for (i = 1; i <= n; i++)
			print lines[i] > f
		close(f)
		print name > (dir "/names")
	}
	inblock = 0
	kind = ""
}
inblock && /^$/ { if (n) lines[++n] = ""; next }
inblock && /^   / { lines[++n] = substr($0, 4); next }
inblock { flush() }
/^\.\. kvio-(run|example):/ {
	if (tag != "")
		bad("\"" tag "\" is not followed by a code block")
	tag = $0
	tagkind = $2 == "kvio-run:" ? "run" : "example"
	tagarg = $3
	if (NF != 3)
		bad("one word after " $2)
	else if (tagkind == "run" && tagarg !~ /^[a-z][a-z0-9_]*$/)
		bad("block name \"" tagarg "\": lower case, digits, _")
	else if (tagkind == "run" && (tagarg in seen))
		bad("block name \"" tagarg "\" used twice")
	else if (tagkind == "example" &&
		 system("test -e \"" top "/" tagarg "\"") != 0)
		bad("no test " tagarg)
	seen[tagarg] = 1
	next
}
/^\.\. code-block::/ {
	if ($3 == "sh" && tag == "")
		bad("a sh block that says not who runs it (.. kvio-run: or .. kvio-example:)")
	if ($3 != "sh" && tag != "")
		bad("\"" tag "\" is before a block that is not sh")
	if ($3 == "sh" && tag != "") {
		inblock = 1
		kind = tagkind
		name = tagarg
		n = 0
		# the blank line after the directive
		getline
	}
	tag = ""
	next
}
/^$/ { next }
tag != "" { bad("\"" tag "\" is not followed by a code block"); tag = "" }
END {
	if (inblock)
		flush()
	if (tag != "")
		bad("\"" tag "\" is not followed by a code block")
	exit err
}' "$guide"
