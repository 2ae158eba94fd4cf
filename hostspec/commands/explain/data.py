"""The JSON form of `hostspec explain` (schemas/explain-v1.schema.json).

Sizes are bytes, pages are counts, the ratio is a number rounded to 4 places
(`null` when there is no ordinary memory).
"""
from __future__ import annotations

from typing import Optional

from hostspec.backends import step_of
from hostspec.checks.demand import Capacity, SizeFit
from hostspec.model import Spec

EFFECT_ORDER = ("runtime", "guest-restart", "module-reload", "boot")


def explain_json(spec: Spec, capacity: Capacity, artifacts: Optional[list], version: str) -> dict:
    """Everything `explain` shows, as data."""
    host = spec.host
    return {
        "explain": 1,
        "hostspec": version,
        "host": {"name": host.name, "cpu": host.cpu, "arch": host.arch, "memory": host.memory,
                 "reserve": host.reserve, "numa_nodes": host.numa_nodes,
                 "kernel": f"{host.kernel[0]}.{host.kernel[1]}", "boot": host.boot},
        "capacity": capacity_json(spec, capacity),
        "guests": [_guest(spec, g) for g in spec.guests],
        "artifacts": None if artifacts is None else [
            {"path": a.path, "kind": a.kind, "takes_effect": a.takes_effect, "summary": a.summary,
             "step": step_of(a)}
            for a in artifacts],
        "most_disruptive": most_disruptive(artifacts or []),
    }


def capacity_json(spec: Spec, c: Capacity) -> dict:
    """The capacity analysis: budget, overcommit and every page size per node."""
    return {
        "memory": c.memory, "reserve": c.reserve, "pools": c.pool_bytes,
        "guest_overhead": c.guest_overhead, "guest_count": c.guest_count,
        "overhead_total": c.overhead_bytes,
        "ordinary": c.ordinary, "normal_demand": c.normal_demand,
        "locked_demand": c.locked_demand,
        "ratio": None if c.ratio is None else round(float(c.ratio), 4),
        "max_ratio": c.max_ratio, "reclaim": list(c.reclaim),
        "hugepages": [_size(spec, fit) for fit in c.sizes],
    }


def _size(spec: Spec, fit: SizeFit) -> dict:
    return {
        "size": fit.size,
        "fits": fit.fits,
        "nodes": [{"node": cell.node, "reserved": cell.reserved, "used": cell.used,
                   "left": cell.left,
                   "guests": [{"name": name, "pages": pages} for name, pages in cell.used_by]}
                  for cell in fit.cells],
        "demand": [{"guest": d.name, "pages": d.pages, "nodes": list(d.nodes)}
                   for d in fit.demands],
        "split": None if fit.split is None else [
            {"guest": spec.guests[index].name,
             "nodes": [{"node": node, "pages": pages} for node, pages in sorted(share.items())]}
            for index, share in sorted(fit.split.items())],
        "shortfalls": [{"nodes": list(s.nodes), "needed": s.needed, "reserved": s.reserved,
                        "short": s.short, "guests": [spec.guests[i].name for i in s.guests]}
                       for s in fit.shortfalls],
    }


def _guest(spec: Spec, guest) -> dict:
    return {
        "name": guest.name, "memory": guest.memory, "current_memory": guest.current_memory,
        "vcpus": guest.vcpus, "backing": guest.backing.type, "page_size": spec.page_size(guest),
        "nodes": None if guest.backing.nodes is None else list(guest.backing.nodes),
        "locked": guest.locked, "share_pages": guest.share_pages, "balloon": guest.balloon.model,
    }


def most_disruptive(artifacts: list) -> Optional[str]:
    """The latest point at which every artifact has taken effect (None: no artifacts)."""
    known = [a.takes_effect for a in artifacts if a.takes_effect in EFFECT_ORDER]
    return max(known, key=EFFECT_ORDER.index) if known else None
