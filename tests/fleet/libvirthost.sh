#!/bin/sh
# Make a virtme-ng guest a libvirt host: this machine's own libvirtd (Debian's
# libvirt-daemon and libvirt-daemon-driver-qemu) behind qemu:///system, its
# persistent definitions in /etc/libvirt/qemu as on any host.  Debian builds
# the QEMU driver for a libvirt-qemu user and group, which only
# libvirt-daemon-system creates, and the driver does not start without them:
# the guest gets them in its copy-on-write /etc/passwd and /etc/group.
# qemu.conf runs QEMU as root (no guest is started; QEMU only answers the
# driver's capability probe).  Run again, say after the definitions were
# restored from the last boot, it restarts the daemon, which then reads them.
set -eu
grep -q '^libvirt-qemu:' /etc/group || echo 'libvirt-qemu:x:64055:' >>/etc/group
grep -q '^libvirt-qemu:' /etc/passwd ||
    echo 'libvirt-qemu:x:64055:64055:Libvirt Qemu:/var/lib/libvirt:/usr/sbin/nologin' >>/etc/passwd
[ -f /etc/libvirt/qemu.conf ] || printf 'user = "root"\ngroup = "root"\n' >/etc/libvirt/qemu.conf
mkdir -p /var/log/libvirt
if [ -f /run/libvirtd.pid ]; then
    pid=$(cat /run/libvirtd.pid)
    if kill "$pid" 2>/dev/null; then
        i=0
        while kill -0 "$pid" 2>/dev/null; do
            i=$((i + 1)); [ "$i" -le 300 ] || { echo "libvirtd $pid does not stop" >&2; exit 1; }
            sleep 0.2
        done
    fi
fi
libvirtd -d
i=0
until virsh -q -c qemu:///system version >/dev/null 2>&1; do
    i=$((i + 1)); [ "$i" -le 120 ] || { tail -n 20 /var/log/libvirt/libvirtd.log >&2; exit 1; }
    sleep 1
done
