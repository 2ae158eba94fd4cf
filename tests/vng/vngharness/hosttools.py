"""What the harness needs from the host: vng, qemu, sshd, a kernel, an SSH key."""

import fcntl
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

# Debian package (or PyPI project) that provides each program.
TOOLS = {
    "vng": "virtme-ng (PyPI, the test extra)",
    "virtme-run": "virtme-ng (PyPI, the test extra)",
    "qemu-system-x86_64": "qemu-system-x86",
    "sshd": "openssh-server (the guest runs the host's /usr/sbin/sshd)",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
}


def tool_path() -> str:
    """PATH with the running interpreter's bin directory first (where pip puts vng)."""
    bindir = str(Path(sys.executable).parent)
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    return bindir + os.pathsep + path + os.pathsep + "/usr/sbin:/sbin"


def missing_tools() -> list[str]:
    """Names (with the package to install) of the tools that are not there."""
    path = tool_path()
    missing = [f"{tool} ({pkg})" for tool, pkg in TOOLS.items()
               if shutil.which(tool, path=path) is None]
    if find_kernel(required=False) is None:
        missing.append("a kernel /boot/vmlinuz-* (linux-image-amd64)")
    return missing


def _version_key(path: Path):
    parts = re.split(r"(\d+)", path.name)
    return [int(p) if p.isdigit() else p for p in parts]


def find_kernel(required: bool = True) -> Path | None:
    """The newest /boot/vmlinuz-*, the kernel of the Debian package."""
    kernels = sorted(Path("/boot").glob("vmlinuz-*"), key=_version_key)
    if not kernels:
        if required:
            raise FileNotFoundError("no /boot/vmlinuz-*: install linux-image-amd64")
        return None
    return kernels[-1]


def cache_dir() -> Path:
    """virtme-ng's cache, where it keeps the guests' SSH host keys and client key."""
    return Path.home() / ".cache" / "virtme-ng"


def ssh_identity() -> Path:
    """The private key every guest accepts for root (virtme-ng's ``id_virtme``).

    Made here, under a lock, before any guest starts: two ``vng --ssh`` started
    at once would otherwise both generate it and one guest would trust a key
    the other run overwrote.
    """
    ssh_dir = cache_dir() / ".ssh"
    ssh_dir.mkdir(parents=True, exist_ok=True)
    identity = ssh_dir / "id_virtme"
    with open(cache_dir() / ".hostspec-vng.lock", "w", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        (ssh_dir / "etc" / "ssh").mkdir(parents=True, exist_ok=True)
        subprocess.run(["ssh-keygen", "-A", "-f", str(ssh_dir)], check=True,
                       stdout=subprocess.DEVNULL, env={**os.environ, "PATH": tool_path()})
        if not identity.exists() or not identity.with_suffix(".pub").exists():
            identity.unlink(missing_ok=True)
            identity.with_suffix(".pub").unlink(missing_ok=True)
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(identity)],
                           check=True, env={**os.environ, "PATH": tool_path()})
    return identity
