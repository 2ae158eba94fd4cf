"""Capacity checks: huge page demand per node set, ordinary memory and overcommit."""
from __future__ import annotations

from fractions import Fraction

from hostspec.checks.demand import Shortfall, spread_pages
from hostspec.language.units import format_amount, format_nodes, format_ratio, format_size
from hostspec.checks.context import Context, Diagnostics, by_statement, guest_names

HOST = ("host",)
RECLAIM_WORDS = {"ksm": "KSM", "balloon": "virtio balloons", "swap": "swap"}
MAX_GUEST_LABELS = 8
MAX_RATIO = 1000  # the schema's limit on `max-ratio`


def reserve_below_memory(ctx: Context) -> Diagnostics:
    """`reserve` must leave something of `memory`."""
    host = ctx.spec.host
    if host.reserve >= host.memory:
        yield ctx.diag(
            "HS0326", f"`reserve {format_size(host.reserve)}` is not smaller than "
                      f"`memory {format_size(host.memory)}`",
            ctx.at(HOST + ("reserve",)), hint="lower `reserve`, or check `memory`",
            labels=[ctx.label(HOST + ("memory",), "installed memory")])


def hugepage_demand(ctx: Context) -> Diagnostics:
    """Every node set must hold what the guests confined to it need (exact, by max-flow)."""
    for fit in ctx.capacity.sizes:
        for shortfall in fit.shortfalls:
            yield _shortfall(ctx, shortfall)


def _shortfall(ctx: Context, short: Shortfall):
    guests = [ctx.spec.guests[i] for i in short.guests]
    size, nodes = format_size(short.size), format_nodes(short.nodes)
    if len(guests) == 1:
        message = (f"guest `{guests[0].name}` needs {_pages(short.needed)} of {size} on {nodes}, "
                   f"but the host reserves {short.reserved} there")
    else:
        message = (f"{guest_names([g.name for g in guests])} need {_pages(short.needed)} of {size} "
                   f"on {nodes}, but the host reserves {short.reserved} there "
                   f"({short.short} short)")
    spans = by_statement((ctx.at(g.backing.path), g) for g in guests)
    labels = [ctx.label(group[0].backing.path, "also draws on these pages")
              for _, group in spans[1:MAX_GUEST_LABELS]]
    labels += [ctx.label(pool.path, f"reserves {_pages(pages)} on {format_nodes(where)}")
               for pool, pages, where in _pools_on(ctx, short) if pages]
    return ctx.diag("HS0301", message, spans[0][0], hint=_shortfall_hint(ctx, short, guests),
                    labels=labels)


def _pages(count: int) -> str:
    return f"{count} page{'s' if count != 1 else ''}"


def _pools_on(ctx: Context, short: Shortfall):
    """Each pool of the short size: the pages it puts on the short node set, and where."""
    count = ctx.spec.host.numa_nodes
    for pool in ctx.spec.host.hugepages.pools:
        if pool.size != short.size:
            continue
        if pool.nodes is None:
            spread = spread_pages(pool.count, count)
            where = [n for n in short.nodes if spread[n]]
            yield pool, sum(spread[n] for n in where), where
        else:
            where = sorted(set(pool.nodes) & set(short.nodes))
            yield pool, pool.count * len(where), where


def _shortfall_hint(ctx: Context, short: Shortfall, guests) -> str:
    size, nodes = format_size(short.size), format_nodes(short.nodes)
    other = [s for s in ctx.spec.host.hugepages.sizes() if s != short.size]
    who = f"`{guests[0].name}`" if len(guests) == 1 else "some of them"
    instead = f", or back {who} with {format_size(other[0])} pages" if other else ""
    pages = "page" if short.short == 1 else "pages"
    within = "".join(f", at least {k} of them on {format_nodes(subset)}" for subset, k in short.within)
    return f"reserve at least {short.short} more {size} {pages} on {nodes}{within}{instead}"


def ordinary_memory(ctx: Context) -> Diagnostics:
    """Pools, reserve and guest overhead must leave ordinary memory for the guests."""
    capacity = ctx.capacity
    if not _budget_known(ctx):
        return
    normal = [g for g in ctx.spec.guests if not g.backing.hugepages]
    if capacity.ordinary > 0 or not (normal or (capacity.ordinary < 0 and ctx.spec.guests)):
        return
    why = (f"{len(normal)} `backing normal` guest{'s need' if len(normal) != 1 else ' needs'} it"
           if normal else "the guests' overhead does not fit")
    yield ctx.diag(
        "HS0323", f"no ordinary memory is left: {_budget_text(ctx)}, and {why}",
        ctx.at(HOST + ("memory",)),
        hint="lower the pools, `reserve` or `guest-overhead`, or back the guests with huge pages",
        labels=[ctx.label(HOST + ("reserve",), "kept for the host"),
                ctx.label(HOST + ("hugepages",), "the pools are declared here")])


def _budget_known(ctx: Context) -> bool:
    """False when HS0326 or HS0310 already explain why nothing is left."""
    host = ctx.spec.host
    room = host.memory - host.reserve
    return room > 0 and ctx.capacity.pool_bytes <= room


def _budget_text(ctx: Context) -> str:
    c = ctx.capacity
    return (f"{format_amount(c.memory)} - {format_amount(c.reserve)} (reserve) - "
            f"{format_amount(c.pool_bytes)} (pools) - {c.overhead_words()} "
            f"(guest overhead) = {format_amount(c.ordinary)}")


def overcommit(ctx: Context) -> Diagnostics:
    """Overcommitted ordinary memory needs a reclaim path; every ratio stays within `max-ratio`.

    A `max-ratio` below 1.0 is a headroom the spec asks for, and is enforced too.
    """
    capacity = ctx.capacity
    if not _budget_known(ctx) or capacity.ratio is None:
        return
    if capacity.ratio <= 1 and capacity.ratio <= capacity.max_fraction:
        return
    locked = [g for g in ctx.spec.guests if g.locked and not g.backing.hugepages]
    if capacity.locked_demand > capacity.ordinary:
        yield ctx.diag(
            "HS0318", f"locked {guest_names([g.name for g in locked])} "
                      f"need{'s' if len(locked) == 1 else ''} "
                      f"{format_amount(capacity.locked_demand)}, more than the "
                      f"{format_amount(capacity.ordinary)} of ordinary memory ({_budget_text(ctx)})",
            ctx.at(HOST + ("memory",)),
            hint="locked memory is never reclaimed: unlock guests, lower their memory, or "
                 "shrink pools or `reserve`",
            labels=[ctx.label(g.path + ("locked",), "locked here") for g in locked[:MAX_GUEST_LABELS]])
        return
    yield from _overcommit_ratio(ctx)


def _overcommit_ratio(ctx: Context) -> Diagnostics:
    capacity, limit = ctx.capacity, ctx.capacity.max_fraction
    ratio = capacity.ratio
    shown = format_ratio(ratio, Fraction(1), limit)
    verb = "overcommitted" if ratio > 1 else "committed"
    state = (f"ordinary memory is {verb} {shown}x "
             f"({format_amount(capacity.normal_demand)} of guest memory on "
             f"{format_amount(capacity.ordinary)})")
    limit_text = f"`max-ratio {capacity.max_ratio!r}`"
    if ratio > 1 and not capacity.reclaim:
        yield ctx.diag("HS0318", f"{state} with no reclaim path", ctx.at(HOST + ("memory",)),
                       hint="set `ksm run on`, give the guests a virtio balloon, count swap "
                            "with `swap { size ... }`, or lower guest memory")
    if ratio > limit:  # a reclaim path does not lift the limit: both can be wrong at once
        yield ctx.diag("HS0319", f"{state}, above {limit_text}", _limit_span(ctx),
                       hint=(f"raise `max-ratio` to {_at_least(ratio)} if this is intended, "
                             "or lower guest memory") if ratio <= MAX_RATIO else
                            f"lower guest memory: no `max-ratio` above {MAX_RATIO} is accepted",
                       labels=[ctx.label(HOST + ("memory",), "installed memory")])
    elif capacity.reclaim or ratio <= 1:
        paths = ", ".join(RECLAIM_WORDS[p] for p in capacity.reclaim)
        yield ctx.diag("HS0322", f"{state}, within {limit_text}; reclaim paths: {paths}",
                       _limit_span(ctx), hint="this is a decision the spec records; "
                                              "review it with the reclaim paths in mind")


def _at_least(ratio: Fraction) -> str:
    """The ratio rounded up to two decimals: a `max-ratio` that lets it pass."""
    hundredths = -(-ratio.numerator * 100 // ratio.denominator)
    return f"{hundredths // 100}.{hundredths % 100:02d}"


def _limit_span(ctx: Context):
    path = HOST + ("overcommit", "max-ratio")
    return ctx.at(path) if ctx.written(path) else ctx.at(HOST + ("memory",))


KERNEL_OVERCOMMIT_RATIO = 50  # vm.overcommit_ratio when the spec leaves it (mm/util.c)


def commit_limit(ctx: Context) -> Diagnostics:
    """With `policy never` (mode 2) every guest's RAM is committed up front, and
    MAP_NORESERVE is ignored: the `backing normal` guests and their overhead must
    fit CommitLimit = (RAM - huge pages) x ratio% + swap, or some will not start.
    Huge page backed guests draw on the pools, which are not committed memory."""
    host = ctx.spec.host
    if host.overcommit.policy != "never" or not _budget_known(ctx):
        return
    c = ctx.capacity
    ratio = host.overcommit.ratio if host.overcommit.ratio is not None else KERNEL_OVERCOMMIT_RATIO
    limit = (c.memory - c.pool_bytes) * ratio // 100 + host.swap.size
    demand = c.normal_demand + c.overhead_bytes
    if demand <= limit:
        return
    ram = (f"({format_amount(c.memory)} - {format_amount(c.pool_bytes)} pools)" if c.pool_bytes
           else format_amount(c.memory))
    formula = f"{ram} x {ratio}%" + (f" + {format_amount(host.swap.size)} swap" if host.swap.size else "")
    labels = [ctx.label(HOST + ("overcommit", "ratio"), f"{ratio}% of memory")] \
        if host.overcommit.ratio is not None else []
    yield ctx.diag(
        "HS0327", f"with `policy never` the guests commit {format_amount(demand)}, more than the "
                  f"kernel's commit limit of {format_amount(limit)} ({formula})",
        ctx.at(HOST + ("overcommit", "policy")),
        hint=f"raise `ratio`{' (the kernel default is 50)' if host.overcommit.ratio is None else ''}, "
             "add swap (`swap { size ... }`), or use `policy heuristic`: a guest that does not fit "
             "fails to start",
        labels=labels)


CHECKS = (reserve_below_memory, hugepage_demand, ordinary_memory, overcommit, commit_limit)
