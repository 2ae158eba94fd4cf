"""What `hostspec audit` reads on a live host, and what each file should say.

Every item names one file under the root (`/proc`, `/sys`) and the value the
spec expects there, taken from the same functions the backends write with:
the kernel arguments from the cmdline backend, the sysfs values from
apply-memory's, the sysctls from sysctl.d's.  Only what the spec sets is
audited; keys it leaves out stay the kernel's business.
"""
from __future__ import annotations

import re
from typing import Callable, Iterator

from . import records
from .backends.apply_script import KSM, KSM_RUN, simple_values
from .backends.cmdline import arguments, boot_pools
from .backends.modprobe import MODULE_KEYS
from .backends.sysctl import settings
from .model import GiB, KiB, Spec
from .units import format_size, format_nodes


def _plain(text: str) -> str:
    return text.strip()


def chosen(text: str) -> str:
    """The bracketed choice of `always [madvise] never`, else the whole value."""
    found = re.search(r"\[([^\]]*)\]", text)
    return found[1] if found else text.strip()


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

def cpu_flags(text: str) -> set[str]:
    """The flags every CPU of /proc/cpuinfo has (a flag one CPU lacks does not count)."""
    lines = [line.split(":", 1)[1].split() for line in text.splitlines()
             if ":" in line and line.split(":", 1)[0].strip() == "flags"]
    return set.intersection(*map(set, lines)) if lines else set()


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

def switch_of(text: str):
    """A module parameter as True/False: bools print Y/N, int parameters 1/0."""
    first = text.strip()[:1]
    return {"Y": True, "y": True, "1": True, "N": False, "n": False, "0": False}.get(first, text)


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

def cmdline_terms(spec: Spec) -> list[str]:
    """The kernel arguments, each `hugepages=` kept with the `hugepagesz=` it follows."""
    terms: list[str] = []
    for word, _ in arguments(spec):
        if word.startswith("hugepages=") and terms and terms[-1].startswith("hugepagesz="):
            terms[-1] += " " + word
        else:
            terms.append(word)
    return terms


def kernel_bytes(text: str):
    """A size the way the kernel parses it (memparse): `2M`, `1G`, `1024M`; else the text."""
    found = re.fullmatch(r"(\d+)([KMGTPE]?)", text, re.I)
    if not found:
        return text
    return int(found[1]) * 1024 ** " KMGTPE".index(found[2].upper() or " ")


def term_meaning(term: str) -> tuple:
    """What a term sets, so `1024M` equals `1G` and `1:8,0:8` equals `0:8,1:8`."""
    meaning = []
    for word in term.split():
        key, _, value = word.partition("=")
        if key in ("hugepagesz", "default_hugepagesz"):
            value = kernel_bytes(value)
        elif key == "hugepages" and ":" in value:
            value = tuple(sorted(value.split(",")))
        meaning.append((key, value))
    return tuple(meaning)


def kernel_words(text: str) -> list[str]:
    """The kernel's own arguments: words before a `--` (the rest belongs to init)."""
    words = text.split()
    return words[:words.index("--")] if "--" in words else words


def live_term(term: str, text: str) -> str:
    """The live command line's counterpart of `term`, as the kernel would take it."""
    words = kernel_words(text)
    key, _, value = term.split()[0].partition("=")
    if key == "hugepagesz":
        return _live_pool(kernel_bytes(value), words)
    found = [word for word in words if word.partition("=")[0] == key]
    if not found:
        return "absent"
    # default_hugepagesz is taken once (later ones are ignored); other keys: last wins.
    return found[0] if key == "default_hugepagesz" else found[-1]


def _live_pool(size, words: list[str]) -> str:
    """`hugepagesz=SIZE` and the `hugepages=` that follows it before the next size."""
    for i, word in enumerate(words):
        key, _, value = word.partition("=")
        if key == "hugepagesz" and kernel_bytes(value) == size:
            for later in words[i + 1:]:
                if later.startswith("hugepagesz="):
                    break
                if later.startswith("hugepages="):
                    return f"{word} {later}"
            return f"{word} (no hugepages=)"
    return "absent"


def cmdline_items(spec: Spec) -> Iterator[Item]:
    """One item per argument (a pool's two words together) the cmdline backend writes."""
    for term in cmdline_terms(spec):
        first = term.split()[0]
        name = first if first.startswith("hugepagesz=") else first.partition("=")[0]
        yield Item(f"kernel argument {name}", "proc/cmdline", term,
                   lambda text, term=term: live_term(term, text),
                   same=lambda want, got: term_meaning(want) == term_meaning(got))


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


def pool_items(spec: Spec) -> list[Item]:
    """Reserved pages of every pool, boot or runtime, per size and node."""
    values = {**_boot_pool_values(spec),
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
