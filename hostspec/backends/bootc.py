"""`boot bootc`: `usr/lib/bootc/kargs.d/50-hostspec.toml` for bootc images.

bootc (crates/lib/src/bootc_kargs.rs) reads every `*.toml` in
`/usr/lib/bootc/kargs.d`, each `kargs = [...]` with an optional
`match-architectures` (Rust names: `x86_64`, `aarch64`) and nothing else.
On `bootc upgrade`/`switch` it diffs the old image's kargs.d with the new
one's and removes exactly the arguments that left, so the file is the owner
of its arguments.  It is kept with `kargs = []` when none remain: without
any kargs.d directory bootc keeps the old arguments.

bootc combines arguments as a set: an argument equal to one already there is
not added again (HS0409), and an added one goes to the end of the line, so a
changed count of a pool that is not the last size would follow the wrong
`hugepagesz=` after an upgrade (HS0411).
"""
from __future__ import annotations

import json

from hostspec.diagnostics import Diagnostic
from hostspec.model import Spec
from hostspec.backends import Artifact, Context, header

PATH = "usr/lib/bootc/kargs.d/50-hostspec.toml"


def toml_text(words: list[str], arch: str) -> str:
    """The kargs.d file body: two keys, strings as TOML basic strings."""
    # Every word is a safe token (no quote, backslash or control character),
    # so a JSON string is also a TOML basic string.
    kargs = ", ".join(json.dumps(word) for word in words)
    return f"kargs = [{kargs}]\nmatch-architectures = [{json.dumps(arch)}]\n"


def place(spec: Spec, ctx: Context, words: list[str]) -> tuple[list[Artifact], list[Diagnostic]]:
    text = header(ctx) + toml_text(words, spec.host.arch)
    summary = ("kernel arguments for bootc images" if words else
               "no kernel arguments: removes those an older image's file added")
    return [Artifact(PATH, text.encode("ascii"), "bootc-kargs", "boot", summary=summary)], []
