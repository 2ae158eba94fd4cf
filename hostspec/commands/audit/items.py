"""What `hostspec audit` reads on a live host, and what each file should say.

Every item names one file under the root (`/proc`, `/sys`) and the value the
spec expects there, taken from the same functions the backends write with:
the kernel arguments from the cmdline backend, the sysfs values from
apply-memory's, the sysctls from sysctl.d's.  Only what the spec sets is
audited; keys it leaves out stay the kernel's business.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator, Optional

from hostspec import records
from hostspec.backends.apply_script import KSM, KSM_RUN, simple_values
from hostspec.backends.cmdline import arguments, boot_pools, kernel_size
from hostspec.checks.hugepages import PAGE_SIZES
from hostspec.backends.modprobe import MODULE_KEYS
from hostspec.backends.sysctl import settings
from hostspec.model import GiB, KiB, Spec
from hostspec.language.units import format_size, format_nodes
from hostspec.live.kernel import (ARCH_DEFAULT_SIZE, BootPages, chosen, cpu_flags, kernel_bytes, kernel_words,  # noqa: F401
                                  live_argument, read_boot_pages, switch_of)


def _plain(text: str) -> str:
    return text.strip()


@records.frozen
class Item:
    """One value to read: a file under the root and what it should hold."""

    name: str      # what is checked, for people: `kvm_intel ept`, `THP enabled`
    path: str      # relative to the root: `sys/module/kvm_intel/parameters/ept`
    expected: str  # the value as the kernel shows it
    actual_of: Callable[[str], str] = _plain  # file text -> the value it holds
    same: Callable[[str, str], bool] = lambda expected, actual: expected == actual


def items(spec: Spec) -> list[Item]:
    """Every item the spec sets, grouped: CPU, KVM, kernel arguments, pools, sysfs, sysctl."""
    return [*cpu_items(spec), *kvm_items(spec), *cmdline_items(spec), *pool_items(spec),
            *sysfs_items(spec), *sysctl_items(spec)]


# -- CPU flags ---------------------------------------------------------------

def _flag_item(flag: str) -> Item:
    return Item(f"CPU flag {flag}", "proc/cpuinfo", "present",
                lambda text: "present" if flag in cpu_flags(text) else "absent")


def cpu_items(spec: Spec) -> Iterator[Item]:
    """vmx/svm always on x86_64; ept, vpid and npt when switched on; pdpe1gb for 1GiB pools."""
    if spec.host.arch != "x86_64":
        return
    kvm = spec.host.kvm
    yield _flag_item("vmx" if spec.host.cpu == "intel" else "svm")
    for key in ("ept", "vpid", "npt"):
        if getattr(kvm, key):
            yield _flag_item(key)
    if GiB in spec.host.hugepages.sizes():
        yield _flag_item("pdpe1gb")


# -- KVM module parameters ---------------------------------------------------

def kvm_items(spec: Spec) -> Iterator[Item]:
    """One item per kvm key the spec sets, read from /sys/module/<module>/parameters."""
    if spec.host.arch != "x86_64":
        return
    module, keys = MODULE_KEYS[spec.host.cpu]
    for key in keys:
        value = getattr(spec.host.kvm, key)
        if value is None:
            continue
        # kvm_amd's nested is an int parameter; the others are bools.
        shown = str(int(value)) if (module, key) == ("kvm_amd", "nested") else "YN"[not value]
        yield Item(f"{module} {key}", f"sys/module/{module}/parameters/{key}", shown,
                   same=lambda want, got: switch_of(want) == switch_of(got))


# -- kernel command line -----------------------------------------------------

def shown_pages(size: int, counts: Optional[dict]) -> str:
    """A size's reservation as one canonical argument pair, or `absent`."""
    if not counts or not any(counts.values()):
        return "absent"
    if None in counts:
        return f"hugepagesz={kernel_size(size)} hugepages={counts[None]}"
    return f"hugepagesz={kernel_size(size)} hugepages=" + ",".join(
        f"{node}:{count}" for node, count in sorted(counts.items()) if count)


def cmdline_items(spec: Spec) -> Iterator[Item]:
    """The default size, each size's boot reservation and every other argument the
    cmdline backend writes, each compared by what the kernel makes of it."""
    sizes, nodes = PAGE_SIZES[spec.host.arch], spec.host.numa_nodes
    words = [word for word, _ in arguments(spec)]
    ours = read_boot_pages(words, sizes, nodes)

    def live(text: str) -> BootPages:
        return read_boot_pages(kernel_words(text), sizes, nodes)

    for word in words:
        key, _, value = word.partition("=")
        if key == "default_hugepagesz":
            yield Item("kernel argument default_hugepagesz", "proc/cmdline", word,
                       lambda text: _shown_default(live(text)), same=_same_default)
        elif key == "hugepagesz":
            size = kernel_bytes(value)
            yield Item(f"kernel argument {word}", "proc/cmdline", shown_pages(size, ours.pools.get(size)),
                       lambda text, size=size: shown_pages(size, live(text).pools.get(size)))
        elif key != "hugepages":
            yield Item(f"kernel argument {key}", "proc/cmdline", word,
                       lambda text, key=key: live_argument(key, text))


def _shown_default(read: BootPages) -> str:
    if read.default is not None:
        return f"default_hugepagesz={kernel_size(read.default)}"
    return f"{kernel_size(ARCH_DEFAULT_SIZE)} (not set: the architecture's default)"


def _same_default(expected: str, actual: str) -> bool:
    size = actual.split("=")[-1].split()[0]
    return kernel_bytes(expected.partition("=")[2]) == kernel_bytes(size)


# -- huge pages, THP and KSM through sysfs ------------------------------------

def sysfs_values(spec: Spec) -> dict[str, str]:
    """Every file under /sys apply-memory sets, and the value it writes."""
    ksm = spec.host.ksm
    values = {path: str(value) for path, value in simple_values(spec)}
    if ksm.merge_across_nodes is not None:
        values[KSM + "merge_across_nodes"] = str(int(ksm.merge_across_nodes))
    if ksm.run is not None:
        values[KSM + "run"] = str(KSM_RUN[ksm.run])
    return values


def per_node_files(size: int, nodes) -> list[str]:
    """The sysfs files that hold a per-node pool's pages, one per node (relative to the root)."""
    return [f"sys/{path}" for path in _pool_files(size, nodes)]


def _pool_files(size: int, nodes) -> list[str]:
    leaf = f"hugepages/hugepages-{size // KiB}kB/nr_hugepages"
    if nodes is None:
        return ["kernel/mm/" + leaf]
    return [f"devices/system/node/node{node}/" + leaf for node in nodes]


def _boot_pool_values(spec: Spec) -> dict[str, str]:
    """Boot pools: the same files apply-memory writes for runtime ones."""
    return {path: str(pool.count) for pools in boot_pools(spec).values() for pool in pools
            for path in _pool_files(pool.size, pool.nodes)}


_POOL_FILE = re.compile(r"(?:devices/system/node/node(\d+)/)?(?:kernel/mm/)?"
                        r"hugepages/hugepages-(\d+)kB/nr_hugepages")


def sysfs_name(path: str) -> str:
    """`huge pages 1GiB node 0`, `THP enabled`, `KSM run`: what a sysfs file holds."""
    pool = _POOL_FILE.fullmatch(path)
    if pool:
        where = f" {format_nodes([int(pool[1])])}" if pool[1] else ""
        return f"huge pages {format_size(int(pool[2]) * KiB)}{where}"
    topic, _, key = path.rpartition("/")
    return ("THP " if "transparent_hugepage" in topic else "KSM ") + key


def _sysfs_item(path: str, value: str) -> Item:
    return Item(sysfs_name(path), "sys/" + path, value, chosen)


def _unlisted_nodes(spec: Spec) -> dict[str, str]:
    """0 pages on every node a size's per-node pools leave out, unless a spread pool
    of that size is there: extra pages there are memory the capacity checks never saw."""
    pools = spec.host.hugepages.pools
    values = {}
    for size in sorted({pool.size for pool in pools}):
        if any(pool.size == size and pool.nodes is None for pool in pools):
            continue  # the total file is audited
        listed = {node for pool in pools if pool.size == size for node in pool.nodes}
        others = [node for node in range(spec.host.numa_nodes) if node not in listed]
        values.update({path: "0" for path in _pool_files(size, others)})
    return values


def pool_items(spec: Spec) -> list[Item]:
    """Reserved pages of every pool, boot or runtime, per size and node, and none elsewhere."""
    values = {**_unlisted_nodes(spec), **_boot_pool_values(spec),
              **{p: v for p, v in sysfs_values(spec).items() if p.endswith("nr_hugepages")}}
    ordered = sorted(values, key=lambda p: (int(_POOL_FILE.fullmatch(p)[2]), p))
    return [_sysfs_item(path, values[path]) for path in ordered]


def sysfs_items(spec: Spec) -> list[Item]:
    """THP and KSM values, in the order apply-memory writes them."""
    return [_sysfs_item(path, value) for path, value in sysfs_values(spec).items()
            if not path.endswith("nr_hugepages")]


def sysctl_items(spec: Spec) -> list[Item]:
    """vm.swappiness and the overcommit keys (vm.nr_hugepages is a pool item)."""
    return [Item(key, "proc/sys/" + key.replace(".", "/"), str(value))
            for key, value in settings(spec) if key != "vm.nr_hugepages"]
