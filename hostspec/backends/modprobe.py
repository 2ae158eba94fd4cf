"""modprobe.d: the kvm_intel / kvm_amd module options of the `kvm { }` block."""
from __future__ import annotations

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context, header

PATH = "etc/modprobe.d/hostspec-kvm.conf"

# Per vendor: the module and the keys it takes, in the order they are written.
MODULE_KEYS = {
    "intel": ("kvm_intel", ("ept", "vpid", "nested")),
    "amd": ("kvm_amd", ("npt", "nested")),
}


def options_line(spec: Spec) -> str | None:
    """`options MODULE key=1 ...` for the keys the spec sets, or None when it sets none."""
    module, keys = MODULE_KEYS[spec.host.cpu]
    kvm = spec.host.kvm
    # Always 1/0: kvm_amd's `nested` is an int parameter that rejects Y/N.
    words = [f"{key}={int(getattr(kvm, key))}" for key in keys if getattr(kvm, key) is not None]
    return f"options {module} {' '.join(words)}" if words else None


def modprobe_options(spec: Spec, ctx: Context) -> tuple[list[Artifact], list[Diagnostic]]:
    """The modprobe.d file, when the spec sets any kvm key the module has."""
    if spec.host.arch != "x86_64":
        return [], []  # kvm keys off x86 are HS0324 (checks.targets)
    line = options_line(spec)
    if line is None:
        return [], []
    module = MODULE_KEYS[spec.host.cpu][0]
    data = (header(ctx) + line + "\n").encode("ascii")
    return [Artifact(PATH, data, "modprobe", "module-reload",
                     summary=f"sets {module} options; takes effect when the module is next loaded "
                             "(every guest stopped) or at boot")], []
