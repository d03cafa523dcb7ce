#!/bin/busybox sh
# PID 1 of a vm-test guest (stage 1, in the initramfs). Loads the modules the root file
# system needs, mounts this host's / read-only over 9p, gives the guest writable scratch
# places, then switch_root's into the host's root and runs stage 2 there (as PID 1, so the
# kernel's module autoload helper resolves /sbin/modprobe in the real root).
B=/bin/busybox
say() { echo "vm-init: $*"; }
die() { say "$*"; $B poweroff -f; }
$B mount -t proc proc /proc
$B mount -t sysfs sys /sys
$B mount -t devtmpfs dev /dev
CMDLINE=$($B cat /proc/cmdline)
arg() { $B echo "$CMDLINE" | $B sed -n "s/.*vmtest\.$1=\([^ ]*\).*/\1/p"; }
for m in $($B cat /modules/order); do $B insmod "/modules/$m" || say "insmod $m failed"; done
N=/newroot
$B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,ro,cache=loose host $N || die "cannot mount the host's root over 9p"
$B mount -t tmpfs -o mode=755 run $N/run
# Writable scratch over the read-only root: a tmpfs upper layer each, lost at power-off.
for d in tmp var/tmp etc root lib; do
  u=$N/run/vmtest-overlay/$($B echo $d | $B tr / _)
  $B mkdir -p $u/upper $u/work
  $B mount -t overlay overlay -o lowerdir=$N/$d,upperdir=$u/upper,workdir=$u/work $N/$d || die "cannot overlay /$d"
done
# The one host directory the guest writes to (cargo's target/), shared read-write.
RW=$(arg rw)
[ -n "$RW" ] && { $B mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 rw $N$RW || die "cannot mount $RW read-write"; }
# The guest kernel's own modules where modprobe looks for them.
K=$($B uname -r)
$B mkdir -p $N/lib/modules && $B ln -sfn "$(arg kmods)" $N/lib/modules/$K
$B mount --move /proc $N/proc
$B mount --move /sys $N/sys
$B mount --move /dev $N/dev
$B mkdir -p $N/dev/pts $N/dev/shm
$B mount -t devpts devpts $N/dev/pts
$B mount -t tmpfs shm $N/dev/shm
$B mount -t bpf bpf $N/sys/fs/bpf
$B mount -t tracefs tracefs $N/sys/kernel/tracing
$B mount -t debugfs debugfs $N/sys/kernel/debug
$B mount -t cgroup2 cgroup2 $N/sys/fs/cgroup
$B hostname vmtest
$B ip link set lo up
STAGE2=$(arg stage2)
[ -n "$STAGE2" ] || die "no vmtest.stage2= on the kernel command line"
exec $B switch_root $N /bin/bash "$STAGE2"
