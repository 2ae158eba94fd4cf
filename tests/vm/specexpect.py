"""What a spec promises the kernel, derived from its JSON form.

The input is what `hostspec export SPEC` prints (schemas/hostspec-v1.
schema.json: sizes in bytes, durations in milliseconds, switches as
booleans).  Expectations come from the spec, never from the compiled
artifacts, so a compiler that writes the wrong thing cannot also write
the expectation it is checked against.
"""

from dataclasses import dataclass
from pathlib import Path

from vmharness.expect import Reservation

SPECS_DIR = Path(__file__).resolve().parent / "specs"
MIB = 1024**2
X86_DEFAULT_PAGE = 2 * MIB  # the kernel's default huge page size without default_hugepagesz=
KSM_RUN = {"off": "0", "on": "1", "unmerge": "2"}
OVERCOMMIT = {"heuristic": "0", "always": "1", "never": "2"}
# JSON key -> (sysfs file under /sys/kernel/mm/ksm, value as the kernel prints it)
KSM_FILES = {
    "run": ("run", KSM_RUN.__getitem__),
    "pages-to-scan": ("pages_to_scan", str),
    "sleep": ("sleep_millisecs", str),
    "merge-across-nodes": ("merge_across_nodes", lambda on: "1" if on else "0"),
    "use-zero-pages": ("use_zero_pages", lambda on: "1" if on else "0"),
}


@dataclass(frozen=True)
class SpecExpectation:
    """The machine a spec describes and the kernel state it asks for.

    State keys are those of a vmharness state dump (``ksm.run``,
    ``thp.enabled`` as the bracketed mode, ``vm.swappiness``).
    """

    host: str
    mem_mib: int
    nodes: int
    default_size: int
    boot_pools: Reservation
    all_pools: Reservation
    thp: dict[str, str]
    ksm: dict[str, str]
    sysctl: dict[str, str]


def from_export(doc: dict) -> SpecExpectation:
    """Expectations from the exported JSON document of one spec."""
    host = doc["host"]
    pools = host.get("hugepages", {}).get("pools", [])
    default_size = host.get("hugepages", {}).get("default-size", X86_DEFAULT_PAGE)
    return SpecExpectation(
        host=host["name"], mem_mib=host["memory"] // MIB, nodes=host.get("numa-nodes", 1),
        default_size=default_size,
        boot_pools=reservation(pools, {"boot"}), all_pools=reservation(pools, {"boot", "runtime"}),
        thp={f"thp.{k}": v for k, v in host.get("thp", {}).items()},
        ksm=ksm_values(host.get("ksm", {})),
        sysctl=sysctl_values(host, pools, default_size),
    )


def reservation(pools: list[dict], when: set[str]) -> Reservation:
    """Pages per size and node of the pools reserved at WHEN (boot, runtime).

    A pool with ``nodes`` reserves ``count`` on each listed node; one
    without is spread by the kernel, so only its total counts (node None).
    """
    result: Reservation = {}
    for pool in pools:
        if pool.get("at", "boot") in when:
            per_node = result.setdefault(pool["size"], {})
            for node in pool.get("nodes") or [None]:
                per_node[node] = per_node.get(node, 0) + pool["count"]
    return result


def ksm_values(ksm: dict) -> dict[str, str]:
    """ksm.<file> -> value for every KSM key the spec sets."""
    return {f"ksm.{KSM_FILES[key][0]}": KSM_FILES[key][1](value) for key, value in ksm.items()}


def sysctl_values(host: dict, pools: list[dict], default_size: int) -> dict[str, str]:
    """vm.<name> -> value for what the spec sets through sysctl.d."""
    values = {}
    if "swappiness" in host.get("swap", {}):
        values["vm.swappiness"] = str(host["swap"]["swappiness"])
    overcommit = host.get("overcommit", {})
    if "policy" in overcommit:
        values["vm.overcommit_memory"] = OVERCOMMIT[overcommit["policy"]]
    if "ratio" in overcommit:
        values["vm.overcommit_ratio"] = str(overcommit["ratio"])
    values.update(_sysctl_pool(pools, default_size))
    return values


def _sysctl_pool(pools: list[dict], default_size: int) -> dict[str, str]:
    """vm.nr_hugepages for a runtime pool of the default size on no node."""
    for pool in pools:
        if pool.get("at") == "runtime" and pool["size"] == default_size and not pool.get("nodes"):
            return {"vm.nr_hugepages": str(pool["count"])}
    return {}
