"""The host's memory posture in words, one line per topic, for `hostspec explain`."""
from __future__ import annotations

from hostspec.model import Host, Spec
from hostspec.language.units import format_nodes, format_size

_VENDOR = {"intel": ("Intel", "kvm_intel"), "amd": ("AMD", "kvm_amd")}
_POLICY = {"heuristic": 0, "always": 1, "never": 2}


def posture_lines(spec: Spec) -> list[str]:
    """One sentence per topic: machine, KVM, pools, THP, KSM, swap, overcommit."""
    host = spec.host
    return [_machine(host), _kvm(host), _pools(host), _thp(host), _ksm(host), _swap(host),
            _overcommit(host)]


def _machine(host: Host) -> str:
    nodes = "1 NUMA node" if host.numa_nodes == 1 else f"{host.numa_nodes} NUMA nodes"
    return (f"{_VENDOR[host.cpu][0]} {host.arch} host with {format_size(host.memory)} of RAM on "
            f"{nodes}; {format_size(host.reserve)} kept for the host OS, "
            f"{format_size(host.guest_overhead)} of overhead counted per guest; artifacts for "
            f"kernel {host.kernel[0]}.{host.kernel[1]} or newer{_capabilities(host)}")


def _capabilities(host: Host) -> str:
    stated = host.capabilities.per_node_hugepages
    if stated is None:
        return ""
    return f" ({'with' if stated else 'without'} per-node boot pools, as stated)"


def _kvm(host: Host) -> str:
    keys = [(key, getattr(host.kvm, key)) for key in ("ept", "vpid", "npt", "nested")]
    written = [f"{key.upper() if key != 'nested' else 'nested'} {'on' if value else 'off'}"
               for key, value in keys if value is not None]
    module = _VENDOR[host.cpu][1] if host.arch == "x86_64" else "kvm"
    if not written:
        return f"KVM ({module}): every option left at the kernel's default"
    return f"KVM ({module}): " + ", ".join(written) + "; other options at the kernel's default"


def _pools(host: Host) -> str:
    hugepages = host.hugepages
    if not hugepages.pools:
        return "Huge pages: no pools reserved"
    parts = []
    for pool in hugepages.pools:
        where = (f"on each of {format_nodes(pool.nodes)}" if pool.nodes and len(pool.nodes) > 1
                 else f"on {format_nodes(pool.nodes)}" if pool.nodes else "spread over the nodes")
        parts.append(f"{pool.count} x {format_size(pool.size)} {where} at {pool.at}")
    default = (f"default size {format_size(hugepages.default_size)}; "
               if hugepages.default_size else "")
    return "Huge pages: " + default + "; ".join(parts)


def _thp(host: Host) -> str:
    thp = host.thp
    if thp.enabled is None and thp.defrag is None:
        return "Transparent huge pages: left at the kernel's defaults"
    parts = [f"{key} {value}" for key, value in (("enabled", thp.enabled), ("defrag", thp.defrag))
             if value is not None]
    return "Transparent huge pages: " + ", ".join(parts)


def _ksm(host: Host) -> str:
    ksm = host.ksm
    state = {"on": "running", "off": "stopped (merged pages kept)",
             "unmerge": "stopped, every merged page split",
             None: "not set (the kernel's default: not running)"}[ksm.run]
    extra = [text for text, is_set in (
        (f"scans {ksm.pages_to_scan} pages", ksm.pages_to_scan is not None),
        (f"every {ksm.sleep_ms}ms", ksm.sleep_ms is not None),
        (f"merge across nodes {'on' if ksm.merge_across_nodes else 'off'}",
         ksm.merge_across_nodes is not None),
        (f"zero pages {'on' if ksm.use_zero_pages else 'off'}", ksm.use_zero_pages is not None),
    ) if is_set]
    return "KSM: " + state + ("; " + ", ".join(extra) if extra else "")


def _swap(host: Host) -> str:
    swap = host.swap
    size = f"{format_size(swap.size)} counted as a reclaim path" if swap.size else "none counted"
    swappiness = (f", swappiness {swap.swappiness}" if swap.swappiness is not None
                  else ", swappiness at the kernel's default")
    return f"Swap: {size}{swappiness}"


def _overcommit(host: Host) -> str:
    overcommit = host.overcommit
    policy = (f"policy {overcommit.policy} (vm.overcommit_memory {_POLICY[overcommit.policy]})"
              if overcommit.policy else "policy at the kernel's default")
    ratio = f", ratio {overcommit.ratio}%" if overcommit.ratio is not None else ""
    return f"Overcommit: {policy}{ratio}; hostspec allows up to {overcommit.max_ratio!r}x"
