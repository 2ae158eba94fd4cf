"""Boot this machine's own userspace under QEMU with virtme-ng, reach it over SSH.

A :class:`VM` is one ``vng --run`` of a kernel from ``/boot`` with the host's
root file system shared read-only and the usual directories (``/etc``,
``/usr``, ``/var``, ``/tmp`` ...) plus ``/boot`` copy-on-write inside the
guest: nothing the guest writes reaches the host.  virtme-ng's own init starts
sshd, and QEMU forwards a loopback port of the host to the guest's port 22, so
``ssh``, ``scp`` and ``ansible-playbook`` reach the guest as root at
``127.0.0.1:PORT``.

    with VM(name="a", numa=["1G", "1G"], append="hugepages=0:8,1:4") as vm:
        vm.run("cat /proc/cmdline").stdout

See README.md beside this package for what works on this machine.
"""

from .machine import VM, VMError, boot_all, stop_all
from .hosttools import find_kernel, missing_tools, ssh_identity

__all__ = ["VM", "VMError", "boot_all", "stop_all", "find_kernel", "missing_tools", "ssh_identity"]
