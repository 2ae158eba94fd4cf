"""The systemd unit that runs apply-memory at every boot, before libvirt and Proxmox guests."""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context, oneshot_unit
from hostspec.backends.apply_script import INSTALLED_PATH, needs_apply_script, sets_ksm

PATH = "etc/systemd/system/hostspec-memory.service"


def _ordering(spec: Spec) -> list[str]:
    """[Unit] lines: what runs before this unit, and what it keeps away."""
    after = ["systemd-sysctl.service"]  # vm.nr_hugepages from sysctl.d lands first
    if sets_ksm(spec):
        # Debian's ksm.service and ksmtuned write KSM values too: go last.
        after += ["ksm.service", "ksmtuned.service"]
    lines = [f"After={' '.join(after)}",
             # libvirtd on Debian; virtqemud where libvirt runs modular daemons;
             # pve-guests on Proxmox VE, which starts guests without libvirt.
             "Before=libvirtd.service virtqemud.service pve-guests.service"]
    if pins_ksmtuned_values(spec):
        # ksmtuned rewrites these on its own and would undo the spec.  Conflicts=
        # alone does not order; with After= above the stop job of ksmtuned
        # completes before this unit starts.
        lines.append("Conflicts=ksmtuned.service")
    return lines


def pins_ksmtuned_values(spec: Spec) -> bool:
    """The spec sets a KSM value ksmtuned's loop writes: `run`, `pages_to_scan`
    or `sleep_millisecs` (reference/DOMAIN.md §3)."""
    ksm = spec.host.ksm
    return any(value is not None for value in (ksm.run, ksm.pages_to_scan, ksm.sleep_ms))


def unit_text(spec: Spec, ctx: Context) -> str:
    """The unit file's text."""
    return oneshot_unit(ctx, "Apply hostspec memory settings (KSM, THP, runtime huge pages)",
                        _ordering(spec), INSTALLED_PATH)


def memory_unit(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The unit, whenever apply-memory is written."""
    if not needs_apply_script(spec):
        return [], []
    summary = "runs apply-memory at every boot, before libvirtd"
    if pins_ksmtuned_values(spec):
        summary += "; stops ksmtuned"
    # A changed unit needs no reboot: `systemctl daemon-reload` picks it up, and
    # what it runs (apply-memory) applies at runtime.
    return [Artifact(PATH, unit_text(spec, ctx).encode("ascii"), "systemd-unit", "runtime",
                     summary=summary)], []
