#!/usr/bin/env python3
"""Synthetic fleets and big hosts that pass `hostspec check` without a diagnostic.

A host mixes the guests a real hypervisor runs: ballooned web guests from a
shared template, small guests on 2MiB pages bound to a node, databases on
1GiB pages, locked and plain guests.  Pools are reserved per node for exactly
what the guests bound there need, plus some slack, and RAM is sized so that
ordinary memory is not overcommitted.

    python bench/generate.py fleet DIR [HOSTS] [GUESTS]   # DIR/host-0001.mem ...
    python bench/generate.py host FILE [GUESTS]           # one host, one block per guest
"""
from __future__ import annotations

import pathlib
import sys

GiB_PER_2M_PAGE = 512  # 2MiB pages in one GiB
RESERVE_GIB, OVERHEAD_MIB = 8, 256

TEMPLATES = """\
hostspec 1

# Guest shapes shared by every host of the fleet.

template ballooned {
    vcpus 2
    balloon virtio {
        autodeflate on
        free-page-reporting on
        stats-period 5s
    }
}

template web from ballooned {
    memory 4GiB
    current-memory 3GiB
}

template small-hugepages {
    memory 2GiB
    vcpus 2
    backing hugepages 2MiB
    balloon none
}
"""

# One guest in every ten of each kind: (kind, count in ten).
MIX = (("web", 6), ("cache", 2), ("db", 1), ("app", 1))
# Memory in GiB, and the huge page size in MiB (0: ordinary memory).
SHAPES = {"web": (4, 0), "cache": (2, 2), "db": (8, 1024), "app": (8, 0)}


def kinds(guests: int) -> list[str]:
    """The kind of each guest, spread evenly: 20 guests give 12 web, 4 cache, 2 db, 2 app."""
    pattern = [kind for kind, count in MIX for _ in range(count)]
    return [pattern[(i * 7) % 10] for i in range(guests)]


def host_block(name: str, cpu: str, nodes: int, demand: dict) -> str:
    """The `host` block, sized for `demand`: pages per (size, node) and ordinary GiB."""
    pools = "".join(f"        pool {size} count {count} node {node}\n"
                    for (size, node), count in sorted(demand["pages"].items()))
    pooled_gib = sum(count * (1 if size == "1GiB" else 1 / GiB_PER_2M_PAGE)
                     for (size, _), count in demand["pages"].items())
    overhead_gib = demand["guests"] * OVERHEAD_MIB / 1024
    memory = RESERVE_GIB + pooled_gib + overhead_gib + demand["ordinary"]
    memory_gib = -(-int(memory * 1.1) // 64) * 64  # some headroom, whole 64GiB
    kvm = "ept on\n        vpid on" if cpu == "intel" else "npt on"
    return f"""\
host {name} {{
    cpu {cpu}
    memory {memory_gib}GiB
    reserve {RESERVE_GIB}GiB
    numa-nodes {nodes}

    kvm {{
        {kvm}
        nested off
    }}

    hugepages {{
        default-size 2MiB
{pools}    }}

    thp {{
        enabled madvise
        defrag defer+madvise
    }}

    ksm {{
        run on
        pages-to-scan 500
        sleep 20ms
        merge-across-nodes off
    }}

    swap {{
        size 16GiB
        swappiness 10
    }}

    overcommit {{
        policy heuristic
        max-ratio 1.2
    }}
}}
"""


def demand_of(guests: list[tuple[str, str, int]], nodes: int) -> dict:
    """Pages per (size, node) (with 10% slack) and ordinary GiB the guests need."""
    pages: dict[tuple[str, int], int] = {("2MiB", node): 64 for node in range(nodes)}
    ordinary = 0
    for _, kind, node in guests:
        memory, page_mib = SHAPES[kind]
        if page_mib == 2:
            pages[("2MiB", node)] += memory * GiB_PER_2M_PAGE
        elif page_mib == 1024:
            pages[("1GiB", node)] = pages.get(("1GiB", node), 0) + memory
        else:
            ordinary += memory
    slack = {key: count + count // 10 for key, count in pages.items()}
    return {"pages": slack, "ordinary": ordinary, "guests": len(guests)}


def guest_block(name: str, kind: str, node: int) -> str:
    """One guest written out in full (only `web` guests lean on a template)."""
    if kind == "web":
        return f"guest {name} from web {{\n}}\n"
    if kind == "cache":
        return f"guest {name} from small-hugepages {{\n    backing hugepages 2MiB node {node}\n}}\n"
    if kind == "db":
        return (f"guest {name} {{\n    memory 8GiB\n    vcpus 8\n"
                f"    backing hugepages 1GiB node {node}\n    locked on\n"
                f"    share-pages off\n    balloon none\n}}\n")
    return f"guest {name} {{\n    memory 8GiB\n    vcpus 4\n    balloon none\n}}\n"


def explicit_guests(count: int, nodes: int) -> list[tuple[str, str, int]]:
    """(name, kind, node) for `count` guests, each its own block."""
    width = len(str(count))
    # The node shifts every ten guests so that every kind lands on every node.
    return [(f"{kind}-{i + 1:0{width}d}", kind, (i + i // 10) % nodes)
            for i, kind in enumerate(kinds(count))]


def host_text(name: str, guests: int, nodes: int = 2, cpu: str = "intel",
              ranges: bool = True) -> str:
    """A whole .mem file; `ranges` writes guests of one kind and node as one range."""
    listed = explicit_guests(guests, nodes)
    body = _ranged(listed, nodes) if ranges else "\n".join(
        guest_block(name_, kind, node) for name_, kind, node in listed)
    include = 'include "templates/fleet.mem"\n\n' if ranges else ""
    templates = "" if ranges else TEMPLATES.split("\n", 2)[2] + "\n"
    return (f"hostspec 1\n\n# {name}: {guests} guests on {nodes} NUMA nodes.\n\n"
            f"{include}{templates}{host_block(name, cpu, nodes, demand_of(listed, nodes))}\n{body}")


def _ranged(listed: list[tuple[str, str, int]], nodes: int) -> str:
    """Guests grouped by (kind, node), each group one `guest kind-nN-{01..K}` range."""
    groups: dict[tuple[str, int], int] = {}
    for _, kind, node in listed:
        groups[(kind, node)] = groups.get((kind, node), 0) + 1
    blocks = []
    for (kind, node), count in sorted(groups.items()):
        name = f"{kind}-n{node}-" + (f"{{01..{count:02d}}}" if count > 1 else "01")
        blocks.append(guest_block(name, kind, node))
    return "\n".join(blocks)


def write_fleet(directory: pathlib.Path, hosts: int, guests: int) -> list[pathlib.Path]:
    """`hosts` files DIR/host-NNNN.mem sharing DIR/templates/fleet.mem; their paths."""
    (directory / "templates").mkdir(parents=True, exist_ok=True)
    (directory / "templates" / "fleet.mem").write_text(TEMPLATES)
    paths = []
    for number in range(1, hosts + 1):
        name = f"host-{number:04d}"
        path = directory / f"{name}.mem"
        path.write_text(host_text(name, guests, cpu="intel" if number % 2 else "amd"))
        paths.append(path)
    return paths


def write_host(path: pathlib.Path, guests: int, nodes: int = 4) -> pathlib.Path:
    """One big host with every guest written as its own block."""
    path.write_text(host_text(f"big-{guests}", guests, nodes=nodes, ranges=False))
    return path


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "fleet":
        hosts = int(argv[2]) if len(argv) > 2 else 500
        write_fleet(pathlib.Path(argv[1]), hosts, int(argv[3]) if len(argv) > 3 else 20)
        return 0
    if len(argv) >= 2 and argv[0] == "host":
        write_host(pathlib.Path(argv[1]), int(argv[2]) if len(argv) > 2 else 2000)
        return 0
    print(__doc__.split("\n\n")[-1], file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
