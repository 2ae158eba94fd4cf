#!/bin/sh
# Make a virtme-ng guest a kernel-install host (systemd-boot style, entries
# in Boot Loader Specification layout): /boot on its own ext4 disk
# (/dev/vda), /etc/kernel/{install.conf,entry-token,cmdline}, and the
# admin's own entries, written by kernel-install before hostspec comes.
# Only the loader-entry plugin runs (depmod over the guest's 9p root takes
# minutes under TCG, and this kernel's modules.dep is there already).
set -eu
export KERNEL_INSTALL_PLUGINS=/usr/lib/kernel/install.d/90-loaderentry.install
if ! grep -q ' /boot ext4 ' /proc/mounts; then
    mount -t ext4 /dev/vda /mnt
    if [ ! -d /mnt/loader ]; then
        cp -a /boot/. /mnt/
        mkdir -p /mnt/loader/entries /mnt/hostspec-fleet
    fi
    umount /mnt
    mount -t ext4 /dev/vda /boot
fi
mkdir -p /etc/kernel
[ -f /etc/kernel/install.conf ] || echo layout=bls > /etc/kernel/install.conf
[ -f /etc/kernel/entry-token ] || echo hostspec-fleet > /etc/kernel/entry-token
[ -f /etc/kernel/cmdline ] || echo "ro quiet" > /etc/kernel/cmdline
if ! ls /boot/loader/entries/*.conf >/dev/null 2>&1; then
    for image in /boot/vmlinuz-*; do
        kernel-install add "${image#/boot/vmlinuz-}" "$image"
    done
fi
