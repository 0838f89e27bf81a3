#!/usr/bin/env bash
# SPDX-License-Identifier: GPL-2.0
#
# make demo: boot a VM with fiber.ko and show what the product does.  The
# guest side is demo/fiber-demo; the VM run is judged like a test run
# (clean kernel log, module removed), and the verdict is the last line.
set -euo pipefail
kernel=${1:-6.1}
root=$(cd "$(dirname "$0")/.." && pwd)
echo "Booting Debian's $kernel kernel under QEMU with fiber.ko (about 10 s)..."
exec "$root/testing/vm/fiber-vm" --kernel "$kernel" --show fiber-demo \
	-o "$root/build/vm/demo-$kernel"
