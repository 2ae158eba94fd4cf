#!/bin/sh
# Install the Debian packages the test suite runs for real: git (pre-commit), kmod (modprobe),
# ShellCheck, dash and strace (apply-memory), systemd (systemd-analyze verify),
# libvirt (virsh test driver, domain.rng; the embedded QEMU driver for
# apply-domains), mkosi and ignition (image layouts), a kernel, qemu,
# busybox and cpio for the boot tests, and grub-mkconfig, kernel-install and
# bootctl (systemd-boot) for the boot targets; openssh-server for the
# virtme-ng guests (they run the host's sshd).  Needs root (or sudo); safe to
# run again.
set -eu

PACKAGES="git kmod shellcheck dash systemd procps strace util-linux libvirt-clients libvirt0 libxml2-utils \
qemu-system-x86 linux-image-amd64 busybox-static cpio xz-utils grub2-common grub-common \
libvirt-daemon libvirt-daemon-driver-qemu mkosi ignition systemd-boot openssh-server openssh-client"

if [ "$(id -u)" -ne 0 ]; then
    exec sudo -E sh "$0" "$@"
fi

export DEBIAN_FRONTEND=noninteractive
# The kernel package's hook would build an initramfs the tests never use.
export INITRD=No

missing=""
for pkg in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    # Installing must not start daemons (sshd, libvirtd) on this machine.
    policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' > "$policy" && chmod 0755 "$policy"
        trap 'rm -f "$policy"' EXIT
    fi
    apt-get update -q -o DPkg::Lock::Timeout=600
    # shellcheck disable=SC2086
    apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=600 $missing
fi
