"""Checks of the `kvm { }` block: vendor keys, EPT, keys the architecture lacks."""
from __future__ import annotations

from hostspec.checks.context import Context, Diagnostics

_VENDOR = {"ept": "intel", "vpid": "intel", "npt": "amd"}
_MODULE = {"intel": "kvm_intel", "amd": "kvm_amd"}
KVM = ("host", "kvm")


def vendor_keys(ctx: Context) -> Diagnostics:
    """`ept`/`vpid` with `cpu amd`, `npt` with `cpu intel` (x86 only)."""
    host = ctx.spec.host
    if host.arch != "x86_64":
        return
    for key, vendor in _VENDOR.items():
        if getattr(host.kvm, key) is not None and host.cpu != vendor:
            yield ctx.diag(
                "HS0302", f"`{key}` is a {_MODULE[vendor]} option, but the host has `cpu {host.cpu}`",
                ctx.at(KVM + (key,)),
                hint=f"remove `{key}`; {_MODULE[host.cpu]} has "
                     + ("`npt`" if host.cpu == "amd" else "`ept` and `vpid`"),
                labels=[ctx.label(("host", "cpu"), "the CPU vendor is set here")])


def ept_disabled(ctx: Context) -> Diagnostics:
    """`ept off` on an Intel host: every guest falls back to shadow paging."""
    host = ctx.spec.host
    if host.arch == "x86_64" and host.cpu == "intel" and host.kvm.ept is False:
        yield ctx.diag(
            "HS0303", "`ept off` makes every guest use shadow paging",
            ctx.at(KVM + ("ept",)),
            hint="use `ept on` unless a CPU erratum forces it off; shadow paging costs "
                 "a VM exit per guest page-table write")


def keys_missing_on_arch(ctx: Context) -> Diagnostics:
    """kvm keys that do not exist on aarch64.

    `ept`, `vpid` and `npt` are x86 module options.  arm64 KVM has no `nested`
    module option either: nested virtualisation is `kvm-arm.mode=nested` on the
    kernel command line, which hostspec does not emit, so only `nested off`
    (the arm64 default) is accepted there.
    """
    host = ctx.spec.host
    if host.arch != "aarch64":
        return
    for key in ("ept", "vpid", "npt"):
        if getattr(host.kvm, key) is not None:
            yield ctx.diag("HS0324", f"`{key}` does not exist on `arch aarch64`",
                           ctx.at(KVM + (key,)), hint=f"remove `{key}`: it is an x86 KVM option",
                           labels=[ctx.label(("host", "arch"), "the architecture is set here")])
    if host.kvm.nested:
        yield ctx.diag("HS0324", "`nested on` has no module option on `arch aarch64`",
                       ctx.at(KVM + ("nested",)),
                       hint="remove it and add `kvm-arm.mode=nested` to the kernel command line "
                            "yourself (needs hardware and kernel support)",
                       labels=[ctx.label(("host", "arch"), "the architecture is set here")])


CHECKS = (vendor_keys, ept_disabled, keys_missing_on_arch)
