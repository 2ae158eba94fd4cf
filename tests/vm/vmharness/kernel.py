"""Pick the kernel to boot and, when possible, a decompressed copy of it.

Debian's /boot/vmlinuz-* is a bzImage carrying an xz payload.  Under TCG
the guest spends seconds decompressing it, so the payload is extracted
once on the host (as the kernel's scripts/extract-vmlinux does), cached,
and QEMU enters the ELF through its PVH note: the same kernel code runs
from x86_64_start_kernel on, with the same command line.  If extraction
fails the bzImage is booted as it is.
"""

import lzma
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .errors import HarnessError

XZ_MAGIC = b"\xfd7zXZ\x00"
ELF_MAGIC = b"\x7fELF"
DEFAULT_CACHE = Path("/var/tmp/hostspec-tests")


@dataclass(frozen=True)
class KernelImage:
    """The file QEMU gets with -kernel, and how it was obtained."""

    path: Path
    source: Path
    mode: str  # "pvh" (decompressed ELF) or "bzimage"


def _version_key(path: Path) -> list:
    """Sort key that orders 6.1.0-9 before 6.1.0-10 (like sort -V)."""
    parts = re.split(r"(\d+)", path.name)
    return [(0, int(p)) if p.isdigit() else (1, p) for p in parts]


def find_kernel() -> Path:
    """HOSTSPEC_VM_KERNEL, or the newest readable /boot/vmlinuz-*."""
    override = os.environ.get("HOSTSPEC_VM_KERNEL")
    candidates = [Path(override)] if override else sorted(Path("/boot").glob("vmlinuz-*"), key=_version_key)
    readable = [p for p in candidates if os.access(p, os.R_OK)]
    if not readable:
        where = f"HOSTSPEC_VM_KERNEL={override}" if override else "/boot/vmlinuz-*"
        raise HarnessError(f"no readable kernel at {where}: install the Debian package linux-image-amd64")
    return readable[-1]


def cache_dir() -> Path:
    """Where decompressed kernels are kept between runs."""
    return Path(os.environ.get("HOSTSPEC_VM_CACHE", DEFAULT_CACHE))


def _cache_name(kernel: Path) -> str:
    """A name that changes whenever the kernel file is replaced."""
    st = kernel.stat()
    return f"vmlinux-{kernel.name}-{st.st_size}-{int(st.st_mtime)}"


def extract_vmlinux(bzimage: bytes) -> bytes | None:
    """The ELF inside a bzImage's xz payload, or None if there is none.

    Like extract-vmlinux, try each xz magic in turn: the first one may be
    a chance match inside the setup code.
    """
    start = bzimage.find(XZ_MAGIC)
    while start != -1:
        elf = _decompress_xz(bzimage[start:])
        if elf is not None and elf.startswith(ELF_MAGIC):
            return elf
        start = bzimage.find(XZ_MAGIC, start + 1)
    return None


def _decompress_xz(data: bytes) -> bytes | None:
    """Decompress the single xz stream at the start of DATA (trailing bytes ignored)."""
    try:
        return lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(data)
    except lzma.LZMAError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write DATA to PATH via a rename, so a concurrent run never reads half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    os.replace(tmp, path)


def _cached_vmlinux(kernel: Path) -> Path | None:
    """The decompressed kernel from the cache, extracting it on first use."""
    cached = cache_dir() / _cache_name(kernel)
    if cached.is_file() and cached.stat().st_size > 0:
        return cached
    elf = extract_vmlinux(kernel.read_bytes())
    if elf is None:
        return None
    try:
        _write_atomically(cached, elf)
    except OSError:
        return None  # an unwritable cache only costs the faster boot
    return cached


def _is_elf(path: Path) -> bool:
    """True when PATH is already an ELF kernel (QEMU can enter it via PVH)."""
    with path.open("rb") as f:
        return f.read(4) == ELF_MAGIC


def kernel_image() -> KernelImage:
    """The kernel to boot: decompressed for PVH unless HOSTSPEC_VM_BOOT=bzimage."""
    kernel = find_kernel()
    if _is_elf(kernel):
        return KernelImage(kernel, kernel, "pvh")
    if os.environ.get("HOSTSPEC_VM_BOOT", "pvh") != "bzimage":
        vmlinux = _cached_vmlinux(kernel)
        if vmlinux is not None:
            return KernelImage(vmlinux, kernel, "pvh")
    return KernelImage(kernel, kernel, "bzimage")
