#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# fiberstat's bash completion, as bash runs it: sourced after the system's
# bash-completion (as an installed one would be), then asked to complete
# command lines.  The commands and set's keys it offers are checked against
# fiberstat.c's own, so that a new one cannot be forgotten here; show's
# pids come from a stand-in fiberstat on PATH, since the host has no
# module.  Runs from the source tree or as build/tests/fiberstat/*.  TAP.
set -u
here=$(cd "$(dirname "$0")" && pwd)
n=0 failed=0

result() {
	n=$((n + 1))
	if [ "$1" = 0 ]; then
		echo "ok $n - $2"
	else
		[ -z "${3:-}" ] || echo "#   $3"
		echo "not ok $n - $2"
		failed=1
	fi
}

echo "TAP version 13"
src=
for d in "$here" "$here/../../../tools/fiberstat" "${FIBER_ROOT:-/nonexistent}/tools/fiberstat"; do
	if [ -f "$d/fiberstat.bash-completion" ] && [ -f "$d/fiberstat.c" ]; then
		src=$(cd "$d" && pwd)
		break
	fi
done
if [ -z "$src" ]; then
	echo "Bail out! no tools/fiberstat/fiberstat.bash-completion near $here"
	exit 1
fi

# Loaded the way bash-completion loads it, after its own functions.
if [ -f /usr/share/bash-completion/bash_completion ]; then
	# shellcheck disable=SC1091
	. /usr/share/bash-completion/bash_completion
else
	echo "# no /usr/share/bash-completion/bash_completion: the completion alone"
fi
# shellcheck disable=SC1091
. "$src/fiberstat.bash-completion"

spec=$(complete -p fiberstat 2>&1)
[ "$spec" = "complete -F _fiberstat fiberstat" ]
result $? "sourcing it registers _fiberstat for fiberstat" "$spec"

# A stand-in fiberstat: the table of two processes, one with two groups.
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cat > "$tmp/fiberstat" <<'EOF'
#!/bin/sh
[ $# = 0 ] || exit 2
echo "    PID COMM              ID CARRIERS   RUN   BLK   CLM  WAIT  PARK  PEND   BLOCKS   CLAIMS   GRANTS"
echo "   4242 app                1        4     4     0     0     0     0     0       10        0        0"
echo "   4242 app                2        1     1     0     0     0     0     0        0        0        0"
echo "    515 other              3        0     0     0     0     0     0     0        0        0        0"
EOF
chmod +x "$tmp/fiberstat"
PATH=$tmp:$PATH

# completions LINE: what completing at the end of LINE offers, sorted, on
# one line.
completions() {
	local line=$1
	read -r -a COMP_WORDS <<< "$line"
	[[ $line == *' ' ]] && COMP_WORDS+=('')
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	COMP_LINE=$line
	COMP_POINT=${#line}
	COMPREPLY=()
	_fiberstat fiberstat "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' ' | sed 's/ $//'
}

# expect LINE WANT: completing LINE offers exactly WANT.
expect() {
	local got
	got=$(completions "$1")
	[ "$got" = "$2" ]
	result $? "'$1' offers '$2'" "got '$got'"
}

commands=$(sed -n 's/.*strcmp(rest\[0\], "\([a-z]*\)").*/\1/p' "$src/fiberstat.c" | sort | tr '\n' ' ' | sed 's/ $//')
keys=$(sed -n 's/^\t{ "\([a-z_]*\)", FIBER_STATS_A_.*/\1/p' "$src/fiberstat.c" | sort | tr '\n' ' ' | sed 's/ $//')
[ "$commands" = "set show stats watch" ] && [ -n "$keys" ]
result $? "fiberstat.c's commands and keys were found ($commands; $keys)"

expect "fiberstat " "$commands"
expect "fiberstat s" "set show stats"
expect "fiberstat -" "--help --json --version -h"
expect "fiberstat --json " "$commands"
expect "fiberstat --json -" ""
expect "fiberstat --help " ""
expect "fiberstat --version " ""
expect "fiberstat stats " "--json"
expect "fiberstat stats --json " ""
expect "fiberstat show " "4242 515"
expect "fiberstat show 4" "4242"
expect "fiberstat show 4242 " "--json"
expect "fiberstat set " "$keys"
expect "fiberstat set max_" "max_carriers max_groups_per_user"
expect "fiberstat set max_carriers " ""
expect "fiberstat --json set " ""
expect "fiberstat watch " "--count --events --interval --json -i -n"
expect "fiberstat watch --events " "--count --json --timeout -n"
expect "fiberstat watch -i 0.5 " "--count --json -n"
expect "fiberstat watch -n 3 --json " "--events --interval -i"
expect "fiberstat watch -n " ""
expect "fiberstat watch --events --timeout " ""
expect "fiberstat watch --events --timeout 5 -n 1 " "--json"

echo "1..$n"
exit $failed
