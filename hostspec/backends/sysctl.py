"""sysctl.d: swappiness, overcommit and the default-size runtime pool."""
from __future__ import annotations

from typing import Optional

from hostspec.diagnostics import Diagnostic
from hostspec.model import MiB, Pool, Spec
from hostspec.backends import Artifact, Context, header

PATH = "etc/sysctl.d/90-hostspec.conf"
OVERCOMMIT_MEMORY = {"heuristic": 0, "always": 1, "never": 2}

# The kernel's default huge page size without `default_hugepagesz=`: the PMD
# size, 2 MiB on x86_64 and on aarch64 with 4K pages (the sizes the language
# allows on aarch64 are those of the 4K granule).
ARCH_DEFAULT_PAGE_SIZE = 2 * MiB


def default_page_size(spec: Spec) -> int:
    """The size /proc/sys/vm/nr_hugepages counts on this host."""
    return spec.host.hugepages.default_size or ARCH_DEFAULT_PAGE_SIZE


def default_runtime_pool(spec: Spec) -> Optional[Pool]:
    """The spread runtime pool of the default size, which vm.nr_hugepages sets."""
    size = default_page_size(spec)
    for pool in spec.host.hugepages.pools:
        if pool.size == size and pool.nodes is None and not pool.at_boot:
            return pool
    return None


def settings(spec: Spec) -> list[tuple[str, int]]:
    """(key, value) pairs in the order they are written."""
    host, found = spec.host, []
    if host.swap.swappiness is not None:
        found.append(("vm.swappiness", host.swap.swappiness))
    if host.overcommit.policy is not None:
        found.append(("vm.overcommit_memory", OVERCOMMIT_MEMORY[host.overcommit.policy]))
    if host.overcommit.ratio is not None:
        found.append(("vm.overcommit_ratio", host.overcommit.ratio))
    pool = default_runtime_pool(spec)
    if pool is not None:
        found.append(("vm.nr_hugepages", pool.count))
    return found


def sysctl_settings(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The sysctl.d file, when the spec sets any of its keys."""
    pairs = settings(spec)
    if not pairs:
        return [], []
    # sysctl.d only knows whole-line comments: no value carries one.
    body = "".join(f"{key} = {value}\n" for key, value in pairs)
    keys = ", ".join(key for key, _ in pairs)
    return [Artifact(PATH, (header(ctx) + body).encode("ascii"), "sysctl", "runtime",
                     summary=f"sets {keys}; at boot or `sysctl --system`")], []
