#!/bin/sh
# Make a virtme-ng guest a GRUB host, as far as update-grub can tell:
# /boot on its own ext4 disk (/dev/vda, like a separate /boot partition), a
# block device behind the "/dev/root" that the guest's 9p root names (so
# grub-probe finds a device for /), and Debian's /etc/default/grub.
# The first run copies the kernel from the read-only /boot onto the disk.
set -eu
if [ ! -e /dev/root ]; then
    dev=$(cat /sys/block/vda/dev)
    mknod /dev/root b "${dev%%:*}" "${dev##*:}"
fi
if ! grep -q ' /boot ext4 ' /proc/mounts; then
    mount -t ext4 /dev/vda /mnt
    if [ ! -d /mnt/grub ]; then
        cp -a /boot/. /mnt/
        mkdir -p /mnt/grub
    fi
    umount /mnt
    mount -t ext4 /dev/vda /boot
fi
[ -f /etc/default/grub ] || cp /usr/share/grub/default/grub /etc/default/grub
