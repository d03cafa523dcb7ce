#!/bin/bash
# Stage 2 of a vm-test guest: PID 1 in the host's root (read-only, with writable overlays).
# Runs each test binary named in the plan, with its output on the console and in the
# results file the host reads, then powers the guest off.
# Usage (from the kernel command line): stage2.sh, with vmtest.plan=FILE.
plan=$(sed -n 's/.*vmtest\.plan=\([^ ]*\).*/\1/p' /proc/cmdline)
results=$(sed -n 's/.*vmtest\.results=\([^ ]*\).*/\1/p' /proc/cmdline)
export HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
. "$plan"   # sets WORKDIR, TEST_TIMEOUT, BINARIES (name=path ...), and the test environment
cd "$WORKDIR" || cd /
: > "$results"
echo "vm-test: ready $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)" | tee -a "$results"
for entry in "${BINARIES[@]}"; do
  name=${entry%%=*} bin=${entry#*=}
  echo "vm-test: begin $name" | tee -a "$results"
  timeout -k 10 "$TEST_TIMEOUT" "$bin" --test-threads=1 < /dev/null 2>&1 | tee -a "$results"
  echo "vm-test: end $name status ${PIPESTATUS[0]}" | tee -a "$results"
done
echo "vm-test: done $(cut -d' ' -f1 /proc/uptime)s" | tee -a "$results"
sync
echo o > /proc/sysrq-trigger
sleep 60
