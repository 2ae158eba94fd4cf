"""Checks of the host's tuning blocks: swap, overcommit policy, KSM opt-outs."""
from __future__ import annotations

from hostspec.checks.context import Context, Diagnostics, by_statement, guest_names

SWAPPINESS_200_KERNEL = (5, 8)


def swappiness_kernel(ctx: Context) -> Diagnostics:
    """`swappiness` above 100 needs Linux 5.8 (the range was 0..100 before)."""
    host = ctx.spec.host
    swappiness = host.swap.swappiness
    if swappiness is not None and swappiness > 100 and host.kernel < SWAPPINESS_200_KERNEL:
        yield ctx.diag(
            "HS0309", f"`swappiness {swappiness}` needs kernel 5.8 or newer, "
                      f"but `kernel` is {host.kernel[0]}.{host.kernel[1]}",
            ctx.at(("host", "swap", "swappiness")),
            hint="use a value from 0 to 100, or raise `kernel` to 5.8",
            labels=[ctx.label(("host", "kernel"), "the oldest kernel is set here")])


def ratio_needs_policy_never(ctx: Context) -> Diagnostics:
    """`ratio` (vm.overcommit_ratio) is read only in strict mode."""
    overcommit = ctx.spec.host.overcommit
    if overcommit.ratio is not None and overcommit.policy != "never":
        policy = overcommit.policy or "heuristic"
        yield ctx.diag(
            "HS0320", f"`ratio {overcommit.ratio}` has no effect with `policy {policy}`",
            ctx.at(("host", "overcommit", "ratio")),
            hint="remove `ratio`, or set `policy never` to make the kernel enforce it",
            labels=[ctx.label(("host", "overcommit", "policy"), "the policy is set here")])


def share_pages_without_ksm(ctx: Context) -> Diagnostics:
    """`share-pages off` opts out of a merging that does not happen (a note:
    the opt-out is a harmless precaution, and `--strict` must not force it out).

    `ksm run off` and `unmerge` pin KSM stopped.  With no `run` the host
    decides (Debian's ksm.service and ksmtuned start KSM), so opting a guest
    out there is a sound precaution, not a mistake.
    """
    ksm = ctx.spec.host.ksm
    if ksm.run in (None, "on"):
        return
    state = f"`ksm run {ksm.run}`"
    opted_out = [(ctx.at(g.path + ("share-pages",)), g.name)
                 for g in ctx.spec.guests if not g.share_pages]
    for span, names in by_statement(opted_out):
        yield ctx.diag(
            "HS0317", f"`share-pages off` on {guest_names(names)} has no effect with {state}",
            span, hint="nothing to fix: the opt-out keeps the guest out of KSM should it be "
                       "turned on later; set `ksm run on` if merging is wanted for the other guests",
            labels=[ctx.label(("host", "ksm", "run"), "KSM is set here")])


CHECKS = (swappiness_kernel, ratio_needs_policy_never, share_pages_without_ksm)
