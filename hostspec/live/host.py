"""A host's memory facts as its kernel shows them under a root: what `import` drafts from.

Every file is read through `Root` (no link followed out of the root, a size
cap, regular files only).  A file that is not there leaves its facts out (a
module not loaded, a kernel built without KSM); one that is there but cannot
be read is an error the caller reports.  The kernel's own formats are read by
the same functions audit uses (`live.kernel`).
"""
from __future__ import annotations

import re
from typing import Optional

import attrs

from hostspec import records
from hostspec.live.kernel import BootPages, chosen, cpu_flags, kernel_words, read_boot_pages
from hostspec.live.root import Root, Unreadable
from hostspec.model import KiB

MAX_CMDLINE_BYTES = 64 * KiB        # COMMAND_LINE_SIZE is 2048 on x86 (4096 on arm64)
MAX_CPUINFO_BYTES = 16 * 1024 * KiB  # ~1.5 KiB per CPU
REQUIRED = ("proc/cpuinfo", "proc/meminfo", "proc/cmdline")
KVM_MODULES = {"kvm_intel": ("ept", "vpid", "nested"), "kvm_amd": ("npt", "nested")}
KSM_FILES = ("run", "pages_to_scan", "sleep_millisecs", "merge_across_nodes", "use_zero_pages")
MODPROBE_DIRS = ("etc/modprobe.d", "run/modprobe.d", "usr/local/lib/modprobe.d",
                 "usr/lib/modprobe.d", "lib/modprobe.d")
_POOL_DIR = re.compile(r"hugepages-(\d+)kB")
_NODE_DIR = re.compile(r"node(\d+)")


@records.define
class HostFacts:
    """What the root says about the host's memory, each as the kernel shows it."""

    vendor: Optional[str] = None     # intel | amd | None (another vendor or arch)
    arch: str = "x86_64"
    mem_total: int = 0               # bytes, MemTotal
    nodes: list = attrs.field(factory=lambda: [0])  # node numbers present
    release: Optional[str] = None    # `6.1.0-57-amd64`
    cmdline: list = attrs.field(factory=list)  # the kernel's own words
    boot: BootPages = attrs.field(factory=BootPages)
    sizes: list = attrs.field(factory=list)   # huge page sizes the kernel offers, bytes
    pages: dict = attrs.field(factory=dict)   # size -> {node: count} (or {None: total})
    kvm: dict = attrs.field(factory=dict)     # module -> {param: text}, loaded modules only
    options: dict = attrs.field(factory=dict)  # module -> {param: text} from modprobe.d
    thp: dict = attrs.field(factory=dict)     # enabled / defrag -> chosen word
    thp_default: Optional[str] = None         # the kernel's built-in THP mode, when known
    ksm: dict = attrs.field(factory=dict)     # file -> int
    swap_bytes: int = 0
    vm: dict = attrs.field(factory=dict)      # swappiness / overcommit_memory / overcommit_ratio -> int
    boot_target: Optional[str] = None         # grub | bls | kernel-install | bootc | None
    read: list = attrs.field(factory=list)    # every file read, for a copy of the root


class _Reader:
    def __init__(self, root: Root):
        self.root, self.read, self.errors = root, [], []

    def text(self, path: str, limit: int = 1024 * KiB) -> Optional[str]:
        try:
            found = self.root.read(path, limit)
        except Unreadable as exc:
            self.errors.append(exc)
            return None
        if found is not None:
            self.read.append(path)
        return found

    def exists(self, path: str, directory: bool = False) -> bool:
        """Whether a path (a directory, when asked) is there; one that is counts as read."""
        found = self.root.is_dir(path) if directory else self.root.exists(path)
        if found:
            self.read.append(path + "/" if self.root.is_dir(path) else path)
        return found

    def listdir(self, path: str) -> list[str]:
        """Names in a directory; each directory among them counts as read."""
        try:
            names = self.root.listdir(path)
        except Unreadable as exc:
            self.errors.append(exc)
            return []
        self.read += [f"{path}/{name}/" for name in names if self.root.is_dir(f"{path}/{name}")]
        return names

    def number(self, path: str) -> Optional[int]:
        text = self.text(path)
        if text is None:
            return None
        found = re.fullmatch(r"\s*(-?\d+)\s*", text)
        if not found:
            self.errors.append(Unreadable(path, f"not a number: {text.strip()[:40]!r}"))
            return None
        return int(found[1])


def read_host(root: Root) -> tuple[HostFacts, list[Unreadable]]:
    """The host's facts, and every file that is there but could not be read or is malformed."""
    r, facts = _Reader(root), HostFacts()
    for path in REQUIRED:
        if not root.exists(path):
            r.errors.append(Unreadable(path, "missing: is this the root of a Linux host?"))
    cpuinfo = r.text("proc/cpuinfo", MAX_CPUINFO_BYTES) or ""
    facts.vendor, facts.arch = _vendor(cpuinfo), _arch(cpuinfo)
    facts.mem_total = _mem_total(r, r.text("proc/meminfo"))
    nodes = sorted(int(m[1]) for name in r.listdir("sys/devices/system/node")
                   if (m := _NODE_DIR.fullmatch(name)))
    facts.nodes = nodes or [0]
    release = r.text("proc/sys/kernel/osrelease")
    facts.release = release.strip() if release else None
    cmdline = r.text("proc/cmdline", MAX_CMDLINE_BYTES) or ""
    facts.cmdline = kernel_words(cmdline)
    facts.sizes = sorted(int(m[1]) * KiB for name in r.listdir("sys/kernel/mm/hugepages")
                         if (m := _POOL_DIR.fullmatch(name)))
    facts.boot = read_boot_pages(facts.cmdline, tuple(facts.sizes), len(facts.nodes))
    facts.pages = _pages(r, facts)
    facts.kvm = {module: {param: text.strip() for param in params
                          if (text := r.text(f"sys/module/{module}/parameters/{param}")) is not None}
                 for module, params in KVM_MODULES.items()
                 if r.exists(f"sys/module/{module}/parameters", directory=True)}
    facts.options = _modprobe_options(r)
    for key in ("enabled", "defrag"):
        text = r.text(f"sys/kernel/mm/transparent_hugepage/{key}")
        if text is not None:
            facts.thp[key] = chosen(text)
    facts.thp_default = _thp_default(r, facts.release)
    facts.ksm = {name: value for name in KSM_FILES
                 if (value := r.number(f"sys/kernel/mm/ksm/{name}")) is not None}
    facts.swap_bytes = _swap_bytes(r, r.text("proc/swaps"))
    facts.vm = {name: value for name in ("swappiness", "overcommit_memory", "overcommit_ratio")
                if (value := r.number(f"proc/sys/vm/{name}")) is not None}
    facts.boot_target = boot_target(r)
    facts.read = list(dict.fromkeys(r.read))
    return facts, r.errors


def _vendor(cpuinfo: str) -> Optional[str]:
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "vendor_id":
            return {"GenuineIntel": "intel", "AuthenticAMD": "amd"}.get(value.strip())
    return None


def _arch(cpuinfo: str) -> str:
    """x86_64 when the CPUs have long mode (`lm`), aarch64 when they list arm64 `Features`."""
    if "lm" in cpu_flags(cpuinfo):
        return "x86_64"
    if re.search(r"^Features\s*:", cpuinfo, re.M) and re.search(r"^CPU implementer", cpuinfo, re.M):
        return "aarch64"
    return "x86_64"


def _mem_total(r: _Reader, text: Optional[str]) -> int:
    for line in (text or "").splitlines():
        found = re.fullmatch(r"MemTotal:\s+(\d+) kB", line.strip())
        if found:
            return int(found[1]) * KiB
    if text is not None:
        r.errors.append(Unreadable("proc/meminfo", "no `MemTotal:` line"))
    return 0


def _pages(r: _Reader, facts: HostFacts) -> dict:
    """Pages reserved per size: per node where the node files are there, else the total."""
    pages = {}
    for size in facts.sizes:
        leaf = f"hugepages/hugepages-{size // KiB}kB/nr_hugepages"
        per_node = {node: r.number(f"sys/devices/system/node/node{node}/{leaf}")
                    for node in facts.nodes}
        if all(count is not None for count in per_node.values()):
            pages[size] = per_node
        else:
            total = r.number("sys/kernel/mm/" + leaf)
            pages[size] = {None: total or 0}
    return pages


def _modprobe_options(r: _Reader) -> dict:
    """`options` lines for the kvm modules, as `modprobe -c` merges them: a file name in
    an earlier directory hides the same name in a later one, files are read in name
    order, a later option of the same name wins; `-` and `_` are one in module names."""
    files: dict[str, str] = {}
    for directory in MODPROBE_DIRS:
        for name in r.listdir(directory):
            if name.endswith(".conf") and name not in files:
                files[name] = f"{directory}/{name}"
    found: dict[str, dict[str, str]] = {}
    for name in sorted(files):
        text = r.text(files[name]) or ""
        for line in text.replace("\\\n", " ").splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) < 3 or words[0] != "options":
                continue
            module = words[1].replace("-", "_")
            if module in KVM_MODULES:
                for word in words[2:]:
                    key, _, value = word.partition("=")
                    found.setdefault(module, {})[key] = value or "1"
    return found


def _thp_default(r: _Reader, release: Optional[str]) -> Optional[str]:
    """The THP mode the kernel was built with (`boot/config-RELEASE`), when the root has it."""
    if release is None or "/" in release:
        return None
    config = r.text(f"boot/config-{release}", 4 * 1024 * KiB) or ""
    for mode in ("ALWAYS", "MADVISE", "NEVER"):
        if f"CONFIG_TRANSPARENT_HUGEPAGE_{mode}=y" in config:
            return mode.lower()
    return None


def _swap_bytes(r: _Reader, text: Optional[str]) -> int:
    """The sum of the sizes in /proc/swaps (KiB, third column)."""
    total = 0
    for line in (text or "").splitlines()[1:]:
        words = line.split()
        if len(words) >= 3 and words[2].isdigit():
            total += int(words[2]) * KiB
    return total


def boot_target(r: _Reader) -> Optional[str]:
    """Which boot stack puts arguments on this host's command line (TARGETS.md)."""
    if r.exists("usr/lib/bootc") or r.exists("ostree") or r.exists("run/ostree-booted"):
        return "bootc"
    if r.exists("etc/kernel/proxmox-boot-uuids"):
        return "kernel-install"
    if r.exists("etc/kernel/cmdline") and any(
            r.exists(f"{esp}/loader/loader.conf") for esp in ("boot/efi", "efi", "boot")):
        return "kernel-install"
    if r.exists("boot/loader/entries", directory=True) and r.exists("etc/redhat-release"):
        return "bls"
    os_release = r.text("etc/os-release") or r.text("usr/lib/os-release") or ""
    family = re.search(r"^ID_LIKE=.*\bdebian\b|^ID=\"?(debian|ubuntu)", os_release, re.M)
    if family and (r.exists("etc/default/grub.d", directory=True) or r.exists("etc/default/grub")):
        return "grub"
    return None
