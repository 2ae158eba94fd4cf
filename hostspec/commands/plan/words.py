"""What changed in one artifact, in words, derived from the two models.

`hostspec plan` compares artifacts byte for byte to decide *that* something
changed; this module says *what*, from the values each backend writes (so the
words agree with the artifacts), not from a diff of shell or XML.
"""
from __future__ import annotations

import pathlib
from typing import Callable, Optional

from hostspec.commands.audit.items import sysfs_name, sysfs_values
from hostspec.backends import Artifact, apply_domains
from hostspec.backends.cmdline import arguments
from hostspec.backends.modprobe import MODULE_KEYS
from hostspec.backends.sysctl import settings
from hostspec.commands.explain import backing_words
from hostspec.model import Guest, Spec
from hostspec.language.units import format_size

Words = Callable[[Spec, Spec, Optional[Artifact], Optional[Artifact]], list[str]]


def cmdline_terms(spec: Spec) -> list[str]:
    """The kernel arguments, each `hugepages=` kept with the `hugepagesz=` it follows."""
    terms: list[str] = []
    for word, _ in arguments(spec):
        if word.startswith("hugepages=") and terms and terms[-1].startswith("hugepagesz="):
            terms[-1] += " " + word
        else:
            terms.append(word)
    return terms


def value_changes(old: dict, new: dict, kept: str) -> list[str]:
    """`key old -> new` for every key whose value differs; `kept` says what a dropped key keeps."""
    words = []
    for key in dict.fromkeys([*old, *new]):
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if before is None:
            words.append(f"`{key}` set to {after}")
        elif after is None:
            words.append(f"`{key}` no longer set (was {before}; {kept})")
        else:
            words.append(f"`{key}` {before} -> {after}")
    return words


def _switch(value: bool) -> str:
    return "on" if value else "off"


def module_options(spec: Spec) -> dict[str, str]:
    """`kvm_intel ept` -> on/off for every kvm key the spec sets."""
    if spec.host.arch != "x86_64":
        return {}
    module, keys = MODULE_KEYS[spec.host.cpu]
    kvm = spec.host.kvm
    return {f"{module} {key}": _switch(getattr(kvm, key))
            for key in keys if getattr(kvm, key) is not None}


def _modprobe(old: Spec, new: Spec, *_) -> list[str]:
    return value_changes(module_options(old), module_options(new),
                         "the kernel default returns when the module is next loaded")


def _term_key(term: str) -> str:
    """What a term sets: `hugepagesz=1G` for a pool, else the parameter name."""
    first = term.split(" ")[0]
    return first if first.startswith("hugepagesz=") else first.split("=")[0]


def _cmdline(old: Spec, new: Spec, *_) -> list[str]:
    before = {_term_key(term): term for term in cmdline_terms(old)}
    after = {_term_key(term): term for term in cmdline_terms(new)}
    words = []
    for key in dict.fromkeys([*before, *after]):
        was, now = before.get(key), after.get(key)
        if was is None:
            words.append(f"adds `{now}`")
        elif now is None:
            words.append(f"removes `{was}`")
        elif was != now:
            words.append(f"`{was}` -> `{now}`")
    return words or ["the same arguments, in a new order"]


def _sysctl(old: Spec, new: Spec, *_) -> list[str]:
    return value_changes(dict(settings(old)), dict(settings(new)),
                         "the running host keeps it until reboot")


def _named_sysfs_values(spec: Spec) -> dict[str, str]:
    return {sysfs_name(path): value for path, value in sysfs_values(spec).items()}


def _apply_memory(old: Spec, new: Spec, *_) -> list[str]:
    return value_changes(_named_sysfs_values(old), _named_sysfs_values(new),
                         "the running host keeps it until reboot")


def _text_lines(artifact: Optional[Artifact]) -> list[str]:
    if artifact is None:
        return []
    lines = artifact.data.decode("utf-8", "replace").splitlines()
    return [line for line in lines if line and not line.startswith("#")]


def _unit(old: Spec, new: Spec, old_art: Optional[Artifact], new_art: Optional[Artifact]):
    before, after = _text_lines(old_art), _text_lines(new_art)
    words = [f"adds `{line}`" for line in after if line not in before]
    words += [f"removes `{line}`" for line in before if line not in after]
    return words


def guest_settings(spec: Spec, guest: Guest) -> dict[str, str]:
    """The guest's memory settings, as `explain` words them."""
    balloon = guest.balloon
    options = [f"{name} {_switch(value)}" for name, value in
               (("autodeflate", balloon.autodeflate),
                ("free-page-reporting", balloon.free_page_reporting)) if value is not None]
    if balloon.stats_period_s is not None:
        options.append(f"stats-period {balloon.stats_period_s}s")
    return {
        "memory": format_size(guest.memory), "current-memory": format_size(guest.current_memory),
        "vcpus": str(guest.vcpus), "backing": backing_words(spec, guest),
        "share-pages": _switch(guest.share_pages), "locked": _switch(guest.locked),
        "balloon": " ".join([balloon.model, *options]), "base": guest.base or "none",
    }


def _find_guest(spec: Spec, name: str) -> Optional[Guest]:
    return next((guest for guest in spec.guests if guest.name == name), None)


def _domain(old: Spec, new: Spec, old_art: Optional[Artifact], new_art: Optional[Artifact]):
    name = pathlib.PurePosixPath((new_art or old_art).path).stem
    before, after = _find_guest(old, name), _find_guest(new, name)
    if before is None or after is None:
        return [f"guest `{name}` {'added' if before is None else 'removed'}"]
    words = value_changes(guest_settings(old, before), guest_settings(new, after), "")
    return [f"guest `{name}`: " + ", ".join(words)] if words else [
        f"guest `{name}`: the domain XML changes (its base file, or a host setting it uses)"]


WORDS: dict[str, Words] = {
    "modprobe": _modprobe, "grub": _cmdline, "kernel-cmdline": _cmdline, "sysctl": _sysctl,
    "bootc-kargs": _cmdline, "apply-boot": _cmdline,
    "apply-script": _apply_memory, "systemd-unit": _unit, "systemd-preset": _unit,
    "libvirt-domain": _domain,
}


def _apply_domains(old: Spec, new: Spec, *_) -> list[str]:
    before = [guest.name for guest in old.guests]
    after = [guest.name for guest in new.guests]
    words = [f"manages guest `{name}`" for name in after if name not in before]
    words += [f"undefines guest `{name}` once shut off" for name in before if name not in after]
    return words


# Artifacts of a shared kind whose words differ.
PATH_WORDS: dict[str, Words] = {apply_domains.PATH: _apply_domains}


def change_words(old: Spec, new: Spec, old_art: Optional[Artifact],
                 new_art: Optional[Artifact]) -> list[str]:
    """What changed in one artifact (either side may be absent), in a few phrases."""
    kind, path = (new_art or old_art).kind, (new_art or old_art).path
    words = PATH_WORDS[path](old, new, old_art, new_art) if path in PATH_WORDS else \
        WORDS[kind](old, new, old_art, new_art) if kind in WORDS else []
    return words or ["the file's content changes"]
