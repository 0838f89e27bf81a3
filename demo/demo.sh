#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot a VM with fiber.ko and show what the product does.  The
# guest side is demo/fiber-demo; the VM run is judged like a test run
# (clean kernel log, module removed), and the verdict is the last line.
# The guest's trace comes back inside its output, gzipped and in base64
# between @@trace-begin and @@trace-end: it is taken out of what is
# shown, written to build/demo/trace-KERNEL.json and drawn into
# build/demo/trace-KERNEL.png.
set -euo pipefail
kernel=${1:-6.1}
root=$(cd "$(dirname "$0")/.." && pwd)
out=$root/build/demo
mkdir -p "$out"
echo "Booting Debian's $kernel kernel under QEMU with fiber.ko (about 10 s)..."
status=0
"$root/testing/vm/fiber-vm" --kernel "$kernel" --show fiber-demo \
	-o "$root/build/vm/demo-$kernel" > "$out/output-$kernel.txt" || status=$?
awk '/^@@trace-begin$/ { skip = 1; next } /^@@trace-end$/ { skip = 0; next }
	!skip' "$out/output-$kernel.txt"
json=$out/trace-$kernel.json png=$out/trace-$kernel.png
rm -f "$json" "$png"
awk '/^@@trace-end$/ { on = 0 } on; /^@@trace-begin$/ { on = 1 }' \
	"$out/output-$kernel.txt" | base64 -d 2>/dev/null | gunzip > "$json" 2>/dev/null || true
if [ ! -s "$json" ]; then
	echo "demo: no trace came back from the guest" >&2
	exit 1
fi
if "$root/tools/fibertrace/fiber-trace-png" --title "make demo on Linux $kernel: trace-demo, 2 Ps, a read() blocks for 20 ms" \
	"$json" "$png"; then
	echo "Trace: $json (open it in ui.perfetto.dev); drawn: $png"
else
	echo "demo: fiber-trace-png could not draw $json" >&2
	status=1
fi
exit $status
