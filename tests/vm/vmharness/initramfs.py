"""Build the throw-away initramfs: a newc cpio the kernel unpacks as /.

It is two archives back to back (the kernel unpacks concatenated cpio
archives in order): a base system built once per test run, and a small
overlay per boot with /init, the steps and the artifact tree.
"""

import functools
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from . import hosttools
from .errors import HarnessError
from .guest import guest_files

BASE_DIRS = ("bin", "sbin", "usr/bin", "usr/sbin", "proc", "sys", "dev", "tmp", "run", "etc", "artifacts")


def pack(root: Path) -> bytes:
    """ROOT as an uncompressed newc cpio archive, owned by root, in sorted order."""
    cpio = hosttools.require_program("cpio", "cpio")
    names = "".join(f"{name}\0" for name in _tree_names(root))
    proc = subprocess.run(
        [cpio, "--null", "--create", "--format=newc", "--owner=0:0", "--quiet"],
        cwd=root, input=names.encode(), capture_output=True, check=False,
    )
    if proc.returncode != 0:
        raise HarnessError(f"cpio failed: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


def _tree_names(root: Path) -> list[str]:
    """Every path below ROOT, relative, parents before children."""
    names = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel = Path(dirpath).relative_to(root)
        names += [str(rel / n) for n in dirnames + filenames]
    return sorted(names)


def install_program(root: Path, program: Path, dest: str | None = None) -> None:
    """Copy PROGRAM (to DEST, default its own path) and its shared libraries."""
    _copy_file(program, root / (dest or str(program)).lstrip("/"))
    for lib in hosttools.shared_libraries(program):
        target = root / str(lib).lstrip("/")
        if not target.exists():
            _copy_file(lib, target)


def _copy_file(src: Path, dst: Path) -> None:
    """Copy the file SRC points to (not the symlink), keeping its mode."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(src.resolve(), dst)


def _install_busybox(root: Path) -> None:
    """busybox-static at /bin/busybox, one symlink per applet in /bin."""
    busybox = hosttools.static_busybox()
    _copy_file(busybox, root / "bin/busybox")
    for applet in hosttools.busybox_applets(busybox):
        link = root / "bin" / applet
        if not link.exists() and not link.is_symlink():
            link.symlink_to("busybox")


def _install_dash(root: Path) -> None:
    """The host's real dash as /bin/sh: the shell apply-memory meets on Debian."""
    dash = hosttools.require_file(hosttools.DASH, "dash")
    install_program(root, dash, "/bin/dash")
    sh = root / "bin/sh"
    sh.unlink(missing_ok=True)  # replaces busybox's sh applet
    sh.symlink_to("dash")


def _install_systemd_sysctl(root: Path) -> None:
    """systemd-sysctl, if the host has it: the program that applies sysctl.d at boot."""
    if os.access(hosttools.SYSTEMD_SYSCTL, os.X_OK):
        install_program(root, hosttools.SYSTEMD_SYSCTL)


@functools.lru_cache(maxsize=1)
def base_archive() -> bytes:
    """The base system, identical for every boot of a test run."""
    with tempfile.TemporaryDirectory(prefix="hostspec-vm-base.") as tmp:
        root = Path(tmp)
        for d in BASE_DIRS:
            (root / d).mkdir(parents=True, exist_ok=True)
        _install_busybox(root)
        _install_dash(root)
        _install_systemd_sysctl(root)
        return pack(root)


def overlay_archive(steps, artifacts: Path | None) -> bytes:
    """/init, the steps and a copy of the ARTIFACTS tree at /artifacts."""
    with tempfile.TemporaryDirectory(prefix="hostspec-vm-overlay.") as tmp:
        root = Path(tmp)
        for rel, (content, mode) in guest_files(steps).items():
            _write_file(root / rel, content, mode)
        if artifacts is not None:
            shutil.copytree(artifacts, root / "artifacts", symlinks=True)
        return pack(root)


def _write_file(path: Path, content: str | bytes, mode: int) -> None:
    """Create PATH with CONTENT and MODE (parents included)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    path.chmod(mode)


def write_initrd(path: Path, steps, artifacts: Path | None) -> Path:
    """Write the full initramfs for one boot to PATH and return PATH."""
    path.write_bytes(base_archive() + overlay_archive(steps, artifacts))
    return path
