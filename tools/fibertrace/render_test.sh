#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# TAP: fiber-trace-png draws a small trace where the trace says, in the
# colours it should: it writes the lanes' rows and the scale with --layout,
# and the pixels at a slice's place must have that slice's colour.  Then
# the window (--from, --to), every error path (non-zero exit, one line on
# stderr), the JSON Array Format, and a trace of 200k events in time.
# Skipped where the tool's python3 or its Pillow (python3-pil) is missing.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
tool=$here/fiber-trace-png
synth=$here/testdata/synth-trace.py
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
. "$here/../../testing/vm/lib.sh"
echo "TAP version 13"

# The interpreter the tool runs under, as its first line names it.
py=$(sed -n '1s/^#! *//p' "$tool")
why=
if ! [ -x "${py%% *}" ]; then
	why="no ${py:-python3}"
elif ! "$py" -c 'import PIL' 2> /dev/null; then
	why="no Pillow for $py (python3-pil; make deps)"
fi
if [ -n "$why" ]; then
	echo "ok 1 - fiber-trace-png renders traces # SKIP $why"
	echo "1..1"
	exit 0
fi

# A trace of 400 us from ts 1000 (unsorted, as a trace may be): P0 runs
# fiber 7 and fiber 3, P1 fiber 8; M3 holds P0 and makes a system call that
# blocks in the kernel; M4 claims P0.
cat > "$tmp/small.json" << 'EOF'
{"displayTimeUnit":"ns","otherData":{"producer":"libfiber test"},
 "traceEvents":[
  {"ph":"X","pid":1,"tid":0,"ts":1200,"dur":100,"name":"fiber 3","cat":"fiber","args":{"fiber":3}},
  {"ph":"M","name":"process_name","pid":1,"args":{"name":"Ps"}},
  {"ph":"M","name":"process_sort_index","pid":1,"args":{"sort_index":1}},
  {"ph":"M","name":"thread_name","pid":1,"tid":0,"args":{"name":"P0"}},
  {"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"P1"}},
  {"ph":"M","name":"process_name","pid":2,"args":{"name":"Ms (threads)"}},
  {"ph":"M","name":"process_sort_index","pid":2,"args":{"sort_index":2}},
  {"ph":"M","name":"thread_name","pid":2,"tid":3,"args":{"name":"M3 tid 1234"}},
  {"ph":"M","name":"thread_name","pid":2,"tid":4,"args":{"name":"M4 tid 1235"}},
  {"ph":"X","pid":1,"tid":0,"ts":1000,"dur":100,"name":"fiber 7","cat":"fiber","args":{"fiber":7,"end":"park"}},
  {"ph":"X","pid":1,"tid":1,"ts":1050.5,"dur":200,"name":"fiber 8","cat":"fiber","args":{"fiber":8}},
  {"ph":"X","pid":2,"tid":3,"ts":1000,"dur":400,"name":"P0","cat":"m"},
  {"ph":"X","pid":2,"tid":3,"ts":1100,"dur":100,"name":"syscall","cat":"syscall","args":{"fiber":7}},
  {"ph":"X","pid":2,"tid":3,"ts":1110,"dur":80,"name":"blocked","cat":"fiber.ko"},
  {"ph":"i","s":"t","pid":2,"tid":4,"ts":1120,"name":"claim","cat":"fiber.ko","args":{"from":3,"p":0}},
  {"ph":"i","s":"t","pid":2,"tid":3,"ts":1190,"name":"hold","cat":"fiber.ko"},
  {"ph":"i","s":"t","pid":2,"tid":3,"ts":1195,"name":"grant","cat":"fiber.ko"},
  {"ph":"i","s":"t","pid":1,"tid":0,"ts":1090,"name":"ready","cat":"sched","args":{"fiber":8}},
  {"ph":"s","id":42,"pid":1,"tid":0,"ts":1090,"name":"ready","cat":"flow"},
  {"ph":"f","bp":"e","id":42,"pid":1,"tid":1,"ts":1250,"name":"ready","cat":"flow"}
 ]}
EOF

# pixel PNG LAYOUT LANE TS DEPTH: the colour at time TS (us, absolute) on
# the lane named LANE, two rows into the bar of DEPTH, away from labels,
# instants and flows; then the colour the layout gives to KEY (a fiber id,
# or syscall, blocked, m) as "got want".
pixel() {
	"$py" - "$@" << 'EOF'
import json, sys
from PIL import Image
png, lay, lane, ts, depth, key = sys.argv[1:7]
L = json.load(open(lay))
ln = [l for l in L["lanes"] if l["name"] == lane][0]
x = int(L["plot_x0"] + (float(ts) - L["t0_us"]) * L["px_per_us"])
y = ln["depth_rows"][int(depth)][0] + 2
got = Image.open(png).convert("RGB").getpixel((x, y))
want = L["fiber_colors"].get(key) or L["colors"].get(key)
print("%s %s" % (",".join(map(str, got)), ",".join(map(str, want or []))))
EOF
}

# same GOT_WANT DESCRIPTION: a tap_check that the two colours agree.
same() {
	local got=${1% *} want=${1#* }
	[ -n "$want" ] && [ "$got" = "$want" ]
	tap_check $? "$2" "pixel $got, expected ${want:-nothing}"
}

# size PNG: "WIDTH HEIGHT".
size() { "$py" -c 'import sys; from PIL import Image; print(*Image.open(sys.argv[1]).size)' "$1"; }

out=$("$tool" --layout "$tmp/small.lay" "$tmp/small.json" "$tmp/small.png" 2>&1)
tap_check $? "renders a small trace" "$out"
[ -s "$tmp/small.png" ] && [ "$(head -c 8 "$tmp/small.png" | od -An -tx1 | tr -d ' ')" = 89504e470d0a1a0a ]
tap_check $? "writes a PNG"
read -r w h <<< "$(size "$tmp/small.png")"
[ "$w" = 1600 ] && [ "$h" -ge 150 ] && [ "$h" -le 600 ]
tap_check $? "it is 1600 px wide (the default) and of a plausible height ($w x $h)"

same "$(pixel "$tmp/small.png" "$tmp/small.lay" P0 1030 0 7)" "fiber 7 is drawn on P0 in its colour"
same "$(pixel "$tmp/small.png" "$tmp/small.lay" P0 1270 0 3)" "fiber 3 is drawn on P0 in its colour"
same "$(pixel "$tmp/small.png" "$tmp/small.lay" P1 1150 0 8)" "fiber 8 is drawn on P1 in its colour"
c7=$(pixel "$tmp/small.png" "$tmp/small.lay" P0 1030 0 7)
c3=$(pixel "$tmp/small.png" "$tmp/small.lay" P0 1270 0 3)
[ "${c7% *}" != "${c3% *}" ]
tap_check $? "fibers 7 and 3 have different colours" "$c7 / $c3"
same "$(pixel "$tmp/small.png" "$tmp/small.lay" "M3 tid 1234" 1300 0 m)" "the M's P-holding slice is drawn"
same "$(pixel "$tmp/small.png" "$tmp/small.lay" "M3 tid 1234" 1104 1 syscall)" \
	"the system call is a thinner grey bar inside it"
same "$(pixel "$tmp/small.png" "$tmp/small.lay" "M3 tid 1234" 1150 2 blocked)" \
	"the blocked span is a red bar inside the system call"
idle=$("$py" -c '
import json, sys
from PIL import Image
L = json.load(open(sys.argv[1]))
ln = [l for l in L["lanes"] if l["name"] == "P0"][0]
x = int(L["plot_x0"] + (1150 - L["t0_us"]) * L["px_per_us"])
print(Image.open(sys.argv[2]).convert("RGB").getpixel((x, ln["depth_rows"][0][0] + 2)) in L["fiber_colors"].values())
' "$tmp/small.lay" "$tmp/small.png" 2>&1)
[ "$idle" = False ]
tap_check $? "nothing is drawn where P0 is idle" "$idle"

# Wider, narrower.
"$tool" --width 900 --title "a title" "$tmp/small.json" "$tmp/w.png" 2> "$tmp/err"
rc=$?
read -r w h <<< "$(size "$tmp/w.png" 2> /dev/null)"
[ $rc = 0 ] && [ "$w" = 900 ]
tap_check $? "--width 900 makes it 900 px wide" "exit $rc, width $w: $(cat "$tmp/err")"

# A window: from 0.15 ms to 0.35 ms after the start (ts 1150 to 1350).
"$tool" --from 0.15 --to 0.35 --layout "$tmp/win.lay" "$tmp/small.json" "$tmp/win.png" 2> "$tmp/err"
tap_check $? "--from 0.15 --to 0.35 renders" "$(cat "$tmp/err")"
win=$("$py" -c '
import json, sys
L = json.load(open(sys.argv[1]))
print(L["t0_us"], L["t1_us"], " ".join(sorted(L["fiber_colors"])))' "$tmp/win.lay" 2>&1)
[ "$win" = "1150.0 1350.0 3 8" ]
tap_check $? "the window spans ts 1150 to 1350 and holds fibers 3 and 8, not 7" "$win"
same "$(pixel "$tmp/win.png" "$tmp/win.lay" P0 1250 0 3)" "fiber 3 is where the window puts it"
"$tool" --from 0.18 --layout "$tmp/from.lay" "$tmp/small.json" "$tmp/from.png" 2> "$tmp/err" &&
	same "$(pixel "$tmp/from.png" "$tmp/from.lay" P0 1250 0 3)" "--from alone runs to the end of the trace"

# Errors: non-zero, one line on stderr that names the tool.
err_case() {
	local want=$1 desc=$2
	shift 2
	"$tool" "$@" > "$tmp/out" 2> "$tmp/err"
	local rc=$?
	[ "$rc" = "$want" ] && [ "$(wc -l < "$tmp/err")" = 1 ] &&
		grep -q '^fiber-trace-png: ' "$tmp/err" && [ ! -s "$tmp/out" ]
	tap_check $? "$desc: exit $want, one line on stderr ($(head -1 "$tmp/err"))" \
		"exit $rc; stderr: $(tr '\n' '|' < "$tmp/err")"
}
printf '{"traceEvents": [' > "$tmp/broken.json"
echo '{"events": []}' > "$tmp/noevents.json"
echo '{"traceEvents": [{"ph":"M","name":"thread_name","pid":1,"tid":1,"args":{"name":"x"}}]}' \
	> "$tmp/untimed.json"
err_case 1 "a missing file" "$tmp/missing.json" "$tmp/x.png"
err_case 1 "a file that is not JSON" "$tmp/broken.json" "$tmp/x.png"
err_case 1 "JSON without traceEvents" "$tmp/noevents.json" "$tmp/x.png"
err_case 1 "a trace with no timed event" "$tmp/untimed.json" "$tmp/x.png"
err_case 1 "a window past the end" --from 5 "$tmp/small.json" "$tmp/x.png"
err_case 1 "--to before --from" --from 0.3 --to 0.1 "$tmp/small.json" "$tmp/x.png"
err_case 1 "a negative --from" --from -1 "$tmp/small.json" "$tmp/x.png"
err_case 1 "a width too small" --width 50 "$tmp/small.json" "$tmp/x.png"
err_case 1 "an output that cannot be written" "$tmp/small.json" "$tmp/no/such/dir/x.png"
err_case 2 "a width that is not a number" --width wide "$tmp/small.json" "$tmp/x.png"
err_case 2 "an unknown option" --colour "$tmp/small.json" "$tmp/x.png"
err_case 2 "a missing argument" "$tmp/small.json"

# The JSON Array Format: a bare list of events.
"$py" -c 'import json, sys; print(json.dumps(json.load(open(sys.argv[1]))["traceEvents"]))' \
	"$tmp/small.json" > "$tmp/array.json"
"$tool" "$tmp/array.json" "$tmp/array.png" 2> "$tmp/err"
tap_check $? "a bare array of events renders too" "$(cat "$tmp/err")"

# 200k events, unsorted, in well under 30 s.
"$py" "$synth" --us 600000 --fibers 500 --seed 3 "$tmp/big.json" > "$tmp/count" 2>&1
count=$(cat "$tmp/count")
[ "${count:-0}" -ge 200000 ] 2> /dev/null
tap_check $? "synth-trace.py writes a trace of 200k events ($count)" "$count"
start=$(date +%s%N)
"$tool" "$tmp/big.json" "$tmp/big.png" 2> "$tmp/err"
rc=$?
ms=$((($(date +%s%N) - start) / 1000000))
[ $rc = 0 ] && [ $ms -lt 30000 ]
tap_check $? "it renders in under 30 s ($ms ms)" "exit $rc after $ms ms: $(cat "$tmp/err")"

tap_plan
