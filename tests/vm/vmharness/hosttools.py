"""Find the host programs the harness needs, or say which package is missing.

Every lookup fails with a HarnessError naming the Debian package, so a
machine without the VM layer's dependencies fails loudly instead of
skipping the tests.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

from .errors import HarnessError
from .kernel import find_kernel

BUSYBOX = Path("/bin/busybox")
DASH = Path("/bin/dash")
SYSTEMD_SYSCTL = Path("/usr/lib/systemd/systemd-sysctl")

# Shared-library paths in ldd output: "libc.so.6 => /lib/.../libc.so.6 (0x...)"
# and the loader's own line "/lib64/ld-linux-x86-64.so.2 (0x...)".
_LDD_PATH = re.compile(r"(/\S+) \(0x[0-9a-f]+\)")


def require_program(name: str, package: str) -> str:
    """Return the full path of NAME on PATH, or fail naming its package."""
    path = shutil.which(name)
    if path is None:
        raise HarnessError(f"{name} not found on PATH: install the Debian package {package}")
    return path


def require_file(path: Path, package: str) -> Path:
    """Return PATH if it is an executable file, or fail naming its package."""
    if not os.access(path, os.X_OK):
        raise HarnessError(f"{path} missing or not executable: install the Debian package {package}")
    return path


def shared_libraries(program: Path) -> list[Path]:
    """The shared libraries (transitively) that PROGRAM loads, per ldd.

    A static program yields an empty list: ldd exits non-zero for it.
    """
    ldd = require_program("ldd", "libc-bin")
    proc = subprocess.run([ldd, str(program)], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return []
    return [Path(p) for p in _LDD_PATH.findall(proc.stdout)]


def static_busybox() -> Path:
    """The busybox-static binary; a dynamic busybox would need its libc too."""
    busybox = require_file(BUSYBOX, "busybox-static")
    if shared_libraries(busybox):
        raise HarnessError(f"{busybox} is dynamically linked: install the Debian package busybox-static")
    return busybox


def busybox_applets(busybox: Path) -> list[str]:
    """Every applet name the given busybox binary provides."""
    proc = subprocess.run([str(busybox), "--list"], capture_output=True, text=True, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        raise HarnessError(f"{busybox} --list failed: {proc.stderr.strip()}")
    return proc.stdout.split()


def missing_tools() -> list[str]:
    """Every missing host dependency of the VM layer, one message each."""
    checks = [
        lambda: require_program("qemu-system-x86_64", "qemu-system-x86"),
        lambda: require_program("cpio", "cpio"),
        static_busybox,
        lambda: require_file(DASH, "dash"),
        find_kernel,
    ]
    return [str(err) for err in _failures(checks)]


def _failures(checks) -> list[HarnessError]:
    """Run each check; collect the HarnessErrors instead of stopping at the first."""
    failures = []
    for check in checks:
        try:
            check()
        except HarnessError as err:
            failures.append(err)
    return failures
