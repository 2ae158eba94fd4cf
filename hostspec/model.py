"""The checked host model: frozen attrs records built from a schema-valid document.

The constructors only ever see documents that passed the JSON Schema, so they
apply defaults and convert; they do not validate.  Each record keeps the
document path it came from (`path`, not part of equality) so checks can point
back at the source.
"""
from __future__ import annotations

from typing import Iterator, Optional

import attrs

from hostspec import records

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
Path = tuple

_path = attrs.field(default=(), eq=False, repr=False)


@records.frozen
class Kvm:
    ept: Optional[bool] = None
    vpid: Optional[bool] = None
    npt: Optional[bool] = None
    nested: Optional[bool] = None
    path: Path = _path


@records.frozen
class Pool:
    size: int
    count: int
    nodes: Optional[tuple[int, ...]] = None  # None: the kernel spreads the pool
    at: str = "boot"
    path: Path = _path

    @property
    def at_boot(self) -> bool:
        return self.at == "boot"


@records.frozen
class Hugepages:
    default_size: Optional[int] = None
    pools: tuple[Pool, ...] = ()
    path: Path = _path

    def sizes(self) -> list[int]:
        return sorted({pool.size for pool in self.pools})


@records.frozen
class Thp:
    enabled: Optional[str] = None
    defrag: Optional[str] = None
    path: Path = _path


@records.frozen
class Ksm:
    run: Optional[str] = None  # on | off | unmerge
    pages_to_scan: Optional[int] = None
    sleep_ms: Optional[int] = None
    merge_across_nodes: Optional[bool] = None
    use_zero_pages: Optional[bool] = None
    path: Path = _path


@records.frozen
class Swap:
    size: int = 0
    swappiness: Optional[int] = None
    path: Path = _path


@records.frozen
class Overcommit:
    policy: Optional[str] = None  # heuristic | always | never
    ratio: Optional[int] = None
    max_ratio: float = 1.0
    path: Path = _path


@records.frozen
class KernelCapabilities:
    """What the spec states the kernel has, whatever its version says (distribution
    kernels backport); None: decided by the version."""

    per_node_hugepages: Optional[bool] = None
    path: Path = _path


@records.frozen
class Host:
    name: str
    cpu: str
    memory: int
    arch: str = "x86_64"
    reserve: int = 2 * GiB
    numa_nodes: int = 1
    kernel: tuple[int, int] = (6, 1)
    capabilities: KernelCapabilities = KernelCapabilities()
    guest_overhead: int = 256 * MiB
    boot: str = "grub"  # grub | bls | kernel-install | bootc | none
    cmdline_budget: int = 1024  # bytes of hostspec's own kernel arguments
    kvm: Kvm = Kvm()
    hugepages: Hugepages = Hugepages()
    thp: Thp = Thp()
    ksm: Ksm = Ksm()
    swap: Swap = Swap()
    overcommit: Overcommit = Overcommit()
    path: Path = _path


@records.frozen
class Backing:
    type: str = "normal"  # normal | hugepages
    size: Optional[int] = None  # None: the host's default (see page_size)
    nodes: Optional[tuple[int, ...]] = None
    path: Path = _path

    @property
    def hugepages(self) -> bool:
        return self.type == "hugepages"


@records.frozen
class Balloon:
    model: str = "virtio"  # virtio | none
    autodeflate: Optional[bool] = None
    free_page_reporting: Optional[bool] = None
    stats_period_s: Optional[int] = None
    path: Path = _path


@records.frozen
class Guest:
    name: str
    memory: int
    current_memory: int
    vcpus: int = 1
    backing: Backing = Backing()
    share_pages: bool = True
    locked: bool = False
    balloon: Balloon = Balloon()
    base: Optional[str] = None
    guest_overhead: Optional[int] = None  # None: the host's `guest-overhead`
    path: Path = _path


@records.frozen
class Spec:
    """One host and its guests."""

    host: Host
    guests: tuple[Guest, ...] = ()

    def overhead(self, guest: Guest) -> int:
        """QEMU's own memory counted for a guest: its `guest-overhead`, or the host's."""
        return self.host.guest_overhead if guest.guest_overhead is None else guest.guest_overhead

    def hard_limit(self, guest: Guest) -> int:
        """The `<hard_limit>` of a locked guest: its memory plus its `guest-overhead`."""
        return guest.memory + self.overhead(guest)

    def page_size(self, guest: Guest) -> Optional[int]:
        """The huge page size backing a guest, or None (normal, or undecidable)."""
        if not guest.backing.hugepages:
            return None
        if guest.backing.size is not None:
            return guest.backing.size
        if self.host.hugepages.default_size is not None:
            return self.host.hugepages.default_size
        sizes = self.host.hugepages.sizes()
        return sizes[0] if len(sizes) == 1 else None


def _sub(cls, doc: Optional[dict], path: Path, renames: dict[str, str] = {}, **convert):
    """Build a record of `cls` from an optional sub-document."""
    if doc is None:
        return cls(path=path)
    kwargs = {}
    for key, value in doc.items():
        field = renames.get(key, key.replace("-", "_"))
        kwargs[field] = convert[field](value) if field in convert else value
    return cls(path=path, **kwargs)


def _nodes(value):
    return tuple(sorted(value)) if value is not None else None


def _host(doc: dict) -> Host:
    path = ("host",)
    pools = tuple(
        _sub(Pool, pool, path + ("hugepages", "pools", i), nodes=_nodes)
        for i, pool in enumerate(doc.get("hugepages", {}).get("pools", ()))
    )
    hugepages = Hugepages(doc.get("hugepages", {}).get("default-size"), pools,
                          path + ("hugepages",))
    kernel = doc.get("kernel", "6.1")
    stated = dict(kernel) if isinstance(kernel, dict) else {"version": kernel}
    major, minor = (int(part) for part in stated.pop("version").split("."))
    scalars = {k.replace("-", "_"): v for k, v in doc.items()
               if k in ("name", "cpu", "memory", "arch", "reserve", "numa-nodes", "guest-overhead",
                        "boot", "cmdline-budget")}
    return Host(
        **scalars, kernel=(major, minor), hugepages=hugepages, path=path,
        capabilities=_sub(KernelCapabilities, stated, path + ("kernel",)),
        kvm=_sub(Kvm, doc.get("kvm"), path + ("kvm",)),
        thp=_sub(Thp, doc.get("thp"), path + ("thp",)),
        ksm=_sub(Ksm, doc.get("ksm"), path + ("ksm",), {"sleep": "sleep_ms"}),
        swap=_sub(Swap, doc.get("swap"), path + ("swap",)),
        overcommit=_sub(Overcommit, doc.get("overcommit"), path + ("overcommit",),
                        max_ratio=float),
    )


def _guest(doc: dict, index: int) -> Guest:
    path = ("guests", index)
    balloon = doc.get("balloon")
    if balloon is not None and "stats-period" in balloon:
        balloon = dict(balloon)
        balloon["stats-period"] = balloon["stats-period"] // 1000
    return Guest(
        name=doc["name"], memory=doc["memory"],
        current_memory=doc.get("current-memory", doc["memory"]),
        vcpus=doc.get("vcpus", 1),
        backing=_sub(Backing, doc.get("backing"), path + ("backing",), nodes=_nodes),
        share_pages=doc.get("share-pages", True), locked=doc.get("locked", False),
        balloon=_sub(Balloon, balloon, path + ("balloon",), {"stats-period": "stats_period_s"}),
        base=doc.get("base"), guest_overhead=doc.get("guest-overhead"), path=path,
    )


def from_document(doc: dict) -> Spec:
    """The model of a schema-valid document."""
    guests = tuple(_guest(g, i) for i, g in enumerate(doc.get("guests", ())))
    return Spec(_host(doc["host"]), guests)


# -- the kernel command line a spec asks for ---------------------------------------
# One function for every target and check: `default_hugepagesz=`, then per boot
# pool size (ascending) `hugepagesz=SIZE hugepages=COUNT` (or the per-node form
# `hugepages=0:64,1:64`), then `transparent_hugepage=MODE`.

_UNITS = (("G", 1024 ** 3), ("M", 1024 ** 2), ("K", KiB))


def kernel_size(size: int) -> str:
    """A page size the way the kernel documents it: 64K, 2M, 32M, 1G."""
    for suffix, unit in _UNITS:
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


def boot_pools(spec: Spec) -> dict[int, list[Pool]]:
    """Boot pools grouped by page size, sizes ascending."""
    grouped: dict[int, list[Pool]] = {}
    for pool in sorted(spec.host.hugepages.pools, key=lambda p: p.size):
        if pool.at_boot:
            grouped.setdefault(pool.size, []).append(pool)
    return grouped


def count_argument(pools: list[Pool]) -> str:
    """`hugepages=N` for a spread pool, `hugepages=0:N,1:M` for per-node pools."""
    spread = [pool for pool in pools if pool.nodes is None]
    if spread:
        return f"hugepages={sum(pool.count for pool in spread)}"
    per_node = {node: pool.count for pool in pools for node in pool.nodes}
    return "hugepages=" + ",".join(f"{node}:{count}" for node, count in sorted(per_node.items()))


def kernel_arguments(spec: Spec) -> Iterator[tuple[str, tuple]]:
    """(argument, document path that asked for it), in command line order."""
    hugepages = spec.host.hugepages
    if hugepages.default_size is not None:
        yield (f"default_hugepagesz={kernel_size(hugepages.default_size)}",
               hugepages.path + ("default-size",))
    for size, pools in boot_pools(spec).items():
        yield f"hugepagesz={kernel_size(size)}", pools[0].path
        yield count_argument(pools), pools[0].path
    if spec.host.thp.enabled is not None:
        yield f"transparent_hugepage={spec.host.thp.enabled}", spec.host.thp.path + ("enabled",)
