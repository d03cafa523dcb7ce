#!/bin/bash
# Stage 2 of a vm-test guest: PID 1 in the host's root (read-only, with writable overlays).
# Runs each test binary named in the plan, with its output on the console and in the
# results file the host reads, then powers the guest off.
# The kernel command line names the plan (vmtest.plan=) and the results file (vmtest.results=).
plan=$(sed -n 's/.*vmtest\.plan=\([^ ]*\).*/\1/p' /proc/cmdline)
results=$(sed -n 's/.*vmtest\.results=\([^ ]*\).*/\1/p' /proc/cmdline)
export HOME=/root TERM=dumb PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# One test binary: its output on the console and in the results file, between markers.
run_binary() {
  local name=$1 bin=$2; shift 2
  echo "vm-test: begin $name" | tee -a "$results"
  timeout -k 10 "$TEST_TIMEOUT" "$bin" --test-threads=1 "$@" < /dev/null 2>&1 | tee -a "$results"
  echo "vm-test: end $name status ${PIPESTATUS[0]}" | tee -a "$results"
}
: > "$results"
echo "vm-test: ready $(cut -d' ' -f1 /proc/uptime)s kernel $(uname -r)" | tee -a "$results"
# The plan: WORKDIR, TEST_TIMEOUT, the tests' environment, then one run_binary line a binary.
. "$plan"
echo "vm-test: done $(cut -d' ' -f1 /proc/uptime)s" | tee -a "$results"
sync
echo o > /proc/sysrq-trigger
sleep 60
