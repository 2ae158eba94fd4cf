"""A `.mem` draft from a host's facts and its domains: audit read backwards.

Each key is written where the host departs from the kernel's or libvirt's
default, or where the boot line or modprobe.d sets it; whatever cannot be
said in the language becomes a `# not expressible:` comment where it belongs
and a note for stderr.  The text is made canonical by the caller (`fmt`).
"""
from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Optional

from hostspec import records
from hostspec.language.units import format_size
from hostspec.language.words import HOST_KEYS
from hostspec.live.domain import GuestFacts
from hostspec.live.host import HostFacts
from hostspec.live.kernel import switch_of
from hostspec.model import GiB, MiB

DEFAULT_RESERVE = 2 * GiB
GUEST_OVERHEAD = 256 * MiB
DEFAULT_KERNEL = (6, 1)
KVM_DEFAULTS = {"kvm_intel": {"ept": True, "vpid": True, "nested": True},
                "kvm_amd": {"npt": True, "nested": True}}
MODULE_OF = {"intel": "kvm_intel", "amd": "kvm_amd"}
KSM_DEFAULTS = {"run": 0, "pages_to_scan": 100, "sleep_millisecs": 20, "merge_across_nodes": 1,
                "use_zero_pages": 0}
KSM_KEYS = {"run": "run", "pages_to_scan": "pages-to-scan", "sleep_millisecs": "sleep",
            "merge_across_nodes": "merge-across-nodes", "use_zero_pages": "use-zero-pages"}
THP_ENABLED = ("always", "madvise", "never")
THP_DEFRAG = ("always", "defer", "defer+madvise", "madvise", "never")
OVERCOMMIT = {0: "heuristic", 1: "always", 2: "never"}
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
TEMPLATE_MIN = 3


@records.define
class Note:
    """One thing read but not expressible: where it came from and what it is."""

    source: str
    text: str


@records.define
class PoolLine:
    size: int
    count: int
    nodes: Optional[tuple]
    at: str = "boot"

    def pages(self) -> int:
        return self.count * (len(self.nodes) if self.nodes else 1)


def size(value: int) -> str:
    return format_size(value)


def nodes_text(nodes) -> str:
    """`0`, `0,2` or `0-3`, as the language writes a node set."""
    nodes = sorted(nodes)
    if len(nodes) > 2 and nodes == list(range(nodes[0], nodes[-1] + 1)):
        return f"{nodes[0]}-{nodes[-1]}"
    return ",".join(map(str, nodes))


def _switch(value: bool) -> str:
    return "on" if value else "off"


def _spread(counts: dict, nodes: list) -> bool:
    """True when per-node counts are what the kernel's round robin from node 0 gives."""
    total, k = sum(counts.values()), len(nodes)
    return all(counts.get(node, 0) == total // k + (i < total % k) for i, node in enumerate(nodes))


def _grouped(per_node: dict, size_: int, at: str) -> list[PoolLine]:
    """Per-node counts as pools, nodes with equal counts in one `node` set."""
    by_count: dict[int, list] = {}
    for node, count in sorted(per_node.items()):
        if count:
            by_count.setdefault(count, []).append(node)
    return [PoolLine(size_, count, tuple(nodes), at) for count, nodes in
            sorted(by_count.items(), key=lambda item: item[1])]


def pools(host: HostFacts, notes: list[Note]) -> list[PoolLine]:
    """Boot pools from the command line, runtime pools for the pages beyond them."""
    found: list[PoolLine] = []
    for size_ in host.sizes:
        live = host.pages.get(size_, {})
        boot = {n: c for n, c in host.boot.pools.get(size_, {}).items() if c}
        if None in boot:
            found.append(PoolLine(size_, boot[None], None))
            total = sum(c or 0 for c in live.values())
            if total != boot[None]:
                notes.append(Note("proc/cmdline", f"the kernel holds {total} pages of "
                                  f"{size(size_)}, not the {boot[None]} the boot line reserves "
                                  "(the boot reservation fell short, or pages were added or freed "
                                  "since; a size reserved by a bare `hugepages=` has no runtime pool)"))
            continue
        if boot:
            found += _grouped(boot, size_, "boot")
            for node, count in boot.items():
                if live.get(node, count) != count:
                    notes.append(Note("proc/cmdline", f"node {node} holds {live.get(node)} pages of "
                                      f"{size(size_)}, not the {count} the boot line reserves there "
                                      "(a boot and a runtime pool cannot share a node)"))
            rest = {n: c for n, c in live.items() if n is not None and n not in boot}
            found += _grouped(rest, size_, "runtime")
            continue
        if None in live:
            if live[None]:
                found.append(PoolLine(size_, live[None], None, "runtime"))
        elif any(live.values()):
            if _spread(live, host.nodes):
                found.append(PoolLine(size_, sum(live.values()), None, "runtime"))
            else:
                found += _grouped(live, size_, "runtime")
    return found


@records.define
class Draft:
    lines: list
    notes: list
    guests: list  # (GuestFacts, base path or None) written


def _kvm_lines(host: HostFacts, notes: list[Note], all_keys: bool) -> list[str]:
    module = MODULE_OF.get(host.vendor or "")
    if module is None or module not in host.kvm:
        return []
    boot_set = {w.partition("=")[0].split(".", 1)[1] for w in host.cmdline
                if w.partition("=")[0].replace("-", "_").startswith(module + ".")}
    options = host.options.get(module, {})
    lines = []
    for param in KVM_DEFAULTS[module]:
        if param not in host.kvm[module]:
            continue
        value = switch_of(host.kvm[module][param])
        if not isinstance(value, bool):
            notes.append(Note(f"sys/module/{module}/parameters/{param}",
                              f"{module} {param} is `{host.kvm[module][param]}`"))
            lines.append(f"# not expressible: {module} {param}={host.kvm[module][param]}")
            continue
        explicit = param in options or param in boot_set
        if all_keys or explicit or value != KVM_DEFAULTS[module][param]:
            lines.append(f"{param} {_switch(value)}")
    return lines


def _hugepage_lines(host: HostFacts, found: list[PoolLine]) -> list[str]:
    lines = []
    if host.boot.default is not None:
        lines.append(f"default-size {size(host.boot.default)}")
    for pool in found:
        where = f" node {nodes_text(pool.nodes)}" if pool.nodes else ""
        when = " at runtime" if pool.at == "runtime" else ""
        lines.append(f"pool {size(pool.size)} count {pool.count}{where}{when}")
    return lines


def _thp_lines(host: HostFacts, notes: list[Note], all_keys: bool) -> list[str]:
    lines = []
    enabled, defrag = host.thp.get("enabled"), host.thp.get("defrag")
    on_boot = [w.partition("=")[2] for w in host.cmdline if w.startswith("transparent_hugepage=")]
    if enabled is not None:
        if enabled not in THP_ENABLED:
            lines.append(f"# not expressible: transparent_hugepage/enabled {enabled}")
            notes.append(Note("sys/kernel/mm/transparent_hugepage/enabled", f"THP enabled `{enabled}`"))
        elif all_keys or on_boot or enabled != (host.thp_default or "always"):
            if not on_boot or on_boot[-1] != enabled:
                lines.append("# the boot line does not say `transparent_hugepage="
                             f"{enabled}`: compile adds it, audit shows it until the next boot")
            lines.append(f"enabled {enabled}")
    if defrag is not None:
        if defrag not in THP_DEFRAG:
            lines.append(f"# not expressible: transparent_hugepage/defrag {defrag}")
            notes.append(Note("sys/kernel/mm/transparent_hugepage/defrag", f"THP defrag `{defrag}`"))
        elif all_keys or defrag != "madvise":
            lines.append(f"defrag {defrag}")
    return lines


def _ksm_lines(host: HostFacts, notes: list[Note], all_keys: bool) -> list[str]:
    lines = []
    for name, key in KSM_KEYS.items():
        value = host.ksm.get(name)
        if value is None or (value == KSM_DEFAULTS[name] and not all_keys):
            continue
        if name == "run":
            if value not in (0, 1, 2):
                lines.append(f"# not expressible: ksm run {value}")
                notes.append(Note("sys/kernel/mm/ksm/run", f"KSM run `{value}`"))
                continue
            lines.append(f"run {('off', 'on', 'unmerge')[value]}")
        elif name == "sleep_millisecs":
            lines.append(f"sleep {value}ms")
        elif name in ("merge_across_nodes", "use_zero_pages"):
            lines.append(f"{key} {_switch(bool(value))}")
        else:
            lines.append(f"{key} {value}")
    return lines


def _swap_lines(host: HostFacts, all_keys: bool) -> list[str]:
    lines = []
    if host.swap_bytes:
        lines.append(f"size {size(host.swap_bytes)}")
    swappiness = host.vm.get("swappiness")
    if swappiness is not None and (all_keys or swappiness != 60):
        lines.append(f"swappiness {swappiness}")
    return lines


def _block(name: str, lines: list[str], indent: str = "    ") -> list[str]:
    if not lines:
        return []
    inner = indent + "    "
    return ["", f"{indent}{name} {{", *[inner + line for line in lines], f"{indent}}}"]


def shape(guest: GuestFacts, default_size: int) -> tuple:
    """Every key of a guest but its name and base, as (key, words) lines in order."""
    lines = [("memory", size(guest.memory))]
    if guest.current_memory is not None:
        lines.append(("current-memory", size(guest.current_memory)))
    if guest.vcpus != 1:
        lines.append(("vcpus", str(guest.vcpus)))
    if guest.hugepages:
        words = f"hugepages {size(guest.page_size or default_size)}"
        if guest.nodes:
            words += f" node {nodes_text(guest.nodes)}"
        lines.append(("backing", words))
    if not guest.share_pages:
        lines.append(("share-pages", "off"))
    if guest.locked:
        lines.append(("locked", "on"))
    if guest.balloon == "none":
        lines.append(("balloon", "none"))
    else:
        inner = tuple((key, _switch(value)) for key, value in
                      (("autodeflate", guest.autodeflate),
                       ("free-page-reporting", guest.free_page_reporting)) if value is not None)
        if guest.stats_period:
            inner += (("stats-period", f"{guest.stats_period}s"),)
        if inner:
            lines.append(("balloon virtio", inner))
    return tuple(lines)


def _shape_lines(lines: tuple) -> list[str]:
    out = []
    for key, words in lines:
        if isinstance(words, tuple):
            out += [f"{key} {{", *[f"    {k} {w}" for k, w in words], "}"]
        else:
            out.append(f"{key} {words}")
    return out


def _guest_notes(guest: GuestFacts, overhead: int, notes: list[Note]) -> list[str]:
    comments = []
    for _key, text in guest.notes:
        comments.append(f"# not expressible: {text}")
        notes.append(Note(guest.source, text))
    if guest.locked and guest.hard_limit is not None and guest.hard_limit != guest.memory + overhead:
        text = (f"memtune/hard_limit {size(guest.hard_limit)} (a locked guest gets memory + "
                f"guest-overhead = {size(guest.memory + overhead)})")
        comments.append(f"# not expressible: {text}")
        notes.append(Note(guest.source, text))
    return comments


def _template_name(names: list[str], taken: set[str]) -> str:
    prefix = re.sub(r"[-_.]?\d*$", "", _common_prefix(names)) or "shape"
    candidate, n = prefix, 2
    while candidate in taken or not NAME.fullmatch(candidate):
        candidate, n = f"{prefix if NAME.fullmatch(prefix) else 'shape'}-{n}", n + 1
    taken.add(candidate)
    return candidate


def _common_prefix(names: list[str]) -> str:
    first, last = min(names), max(names)
    i = 0
    while i < min(len(first), len(last)) and first[i] == last[i]:
        i += 1
    return first[:i]


def capacity(host: HostFacts, memory: int, found: list[PoolLine], guests: list[GuestFacts]
             ) -> tuple[Optional[int], Optional[float], list[str]]:
    """`reserve` and `max-ratio` that let today's host pass the capacity checks (IMPORT.md)."""
    pooled = sum(pool.pages() * pool.size for pool in found)
    avail = memory - pooled - GUEST_OVERHEAD * len(guests)
    ordinary = sum(g.memory for g in guests if not g.hugepages)
    comments, reserve, ratio = [], None, None
    if avail - ordinary >= DEFAULT_RESERVE:
        return None, None, comments
    if avail - ordinary > 0:
        reserve = (avail - ordinary) // MiB * MiB
        comments.append(f"# below the default 2GiB: what the host leaves free today")
        return reserve, None, comments
    reserve = max(0, min(DEFAULT_RESERVE, avail // MiB * MiB))
    if reserve < DEFAULT_RESERVE:
        comments.append(f"# below the default 2GiB: what the host leaves free today")
    left = avail - reserve
    if left > 0 and ordinary:
        ratio = math.ceil(Fraction(ordinary, left) * 100) / 100
    return reserve, ratio, comments


def draft(host: HostFacts, guests: list[GuestFacts], name: str, bases: dict,
          all_keys: bool = False) -> Draft:
    """The draft's lines (not yet canonical) and the notes for stderr."""
    notes: list[Note] = []
    host_lines: list[str] = []
    if host.vendor is None:
        host_lines.append("# not expressible: a CPU vendor other than Intel or AMD")
        notes.append(Note("proc/cpuinfo", "the CPU vendor is neither GenuineIntel nor AuthenticAMD"))
    host_lines.append(f"cpu {host.vendor or 'intel'}")
    if host.arch != "x86_64" or all_keys:
        host_lines.append(f"arch {host.arch}")
    memory = -(-host.mem_total // GiB) * GiB
    host_lines.append(f"memory {size(memory)}")
    found = pools(host, notes)
    reserve, ratio, reserve_comments = capacity(host, memory, found, guests)
    if reserve is not None:
        host_lines += reserve_comments + [f"reserve {size(reserve) if reserve else '0MiB'}"]
    nodes = max(host.nodes) + 1
    if nodes != len(host.nodes):
        host_lines.append(f"# not expressible: NUMA nodes {','.join(map(str, host.nodes))} "
                          "(hostspec numbers nodes from 0 without gaps)")
        notes.append(Note("sys/devices/system/node", "NUMA node numbers with gaps"))
    if nodes != 1 or all_keys:
        host_lines.append(f"numa-nodes {nodes}")
    version = re.match(r"(\d+)\.(\d+)", host.release or "")
    if version and ((int(version[1]), int(version[2])) != DEFAULT_KERNEL or all_keys):
        host_lines.append(f"kernel {int(version[1])}.{int(version[2])}")
    if "boot" in HOST_KEYS and host.boot_target and (host.boot_target != "grub" or all_keys):
        host_lines.append(f"boot {host.boot_target}")
    host_lines += _block("kvm", _kvm_lines(host, notes, all_keys), "")
    host_lines += _block("hugepages", _hugepage_lines(host, found), "")
    host_lines += _block("thp", _thp_lines(host, notes, all_keys), "")
    host_lines += _block("ksm", _ksm_lines(host, notes, all_keys), "")
    host_lines += _block("swap", _swap_lines(host, all_keys), "")
    overcommit = []
    policy = host.vm.get("overcommit_memory")
    if policy is not None and (policy != 0 or all_keys):
        overcommit.append(f"policy {OVERCOMMIT.get(policy, policy)}")
    if host.vm.get("overcommit_ratio") not in (None, 50) or (all_keys and "overcommit_ratio" in host.vm):
        overcommit.append(f"ratio {host.vm['overcommit_ratio']}")
    if ratio is not None:
        overcommit += ["# the guests overcommit the host's ordinary memory today",
                       f"max-ratio {ratio:.2f}"]
    host_lines += _block("overcommit", overcommit, "")
    lines = ["hostspec 1", "", f"host {name} {{", *["    " + l if l else "" for l in host_lines], "}"]
    lines += _guest_lines(host, guests, bases, notes)
    return Draft(lines, notes, guests)


def _guest_lines(host: HostFacts, guests: list[GuestFacts], bases: dict, notes: list[Note]) -> list[str]:
    default_size = host.boot.default or 2 * MiB
    shapes: dict[tuple, list[GuestFacts]] = {}
    for guest in sorted(guests, key=lambda g: g.name):
        shapes.setdefault(shape(guest, default_size), []).append(guest)
    templates, taken, lines = {}, set(), []
    for form, members in shapes.items():
        if len(members) >= TEMPLATE_MIN:
            templates[form] = _template_name([g.name for g in members], taken)
            lines += ["", f"template {templates[form]} {{",
                      *["    " + l for l in _shape_lines(form)], "}"]
    for guest in sorted(guests, key=lambda g: g.name):
        form = shape(guest, default_size)
        comments = _guest_notes(guest, GUEST_OVERHEAD, notes)
        body = [] if form in templates else _shape_lines(form)
        body = comments + body
        if guest.name in bases:
            body.append(f'base "{bases[guest.name]}"')
        parent = f" from {templates[form]}" if form in templates else ""
        lines += ["", f"guest {guest.name}{parent} {{", *["    " + l for l in body], "}"]
    return lines
