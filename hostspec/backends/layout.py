"""`compile --layout`: the host's tree packed for an image builder.

- `tree` (default): the root file system tree, as it is.
- `mkosi`: `mkosi.extra/` holds the tree (mkosi copies it into the image) and
  `mkosi.conf.d/50-hostspec.conf` appends the kernel arguments to the
  project's own `KernelCommandLine=`; a project takes both directories as
  they are.
- `ignition`: `config.ign`, one Ignition config (spec 3.3.0): every file under
  `storage.files` with its mode and bytes, every unit under `systemd.units`,
  enabled, and the kernel arguments as `kernelArguments.shouldExist`.

On CoreOS only /etc and /var can be written while Ignition runs: /usr is the
read-only OS image.  So in the Ignition config a file under `usr/` is placed
under `usr/local/` (a link to /var/usrlocal there, and read by systemd for
presets), and a unit whose `ExecStart=` names a moved script gets a drop-in
that points it at the new place.  The unit's own text is the tree's.
"""
from __future__ import annotations

import base64
import json

from hostspec.diagnostics.codes import diag
from hostspec.diagnostics import Diagnostic
from hostspec.backends.tree import File, HostTree
from hostspec.model import Spec
from hostspec.backends import MODE_FILE, Context, header
from hostspec.backends.cmdline import arguments

LAYOUTS = ("tree", "mkosi", "ignition")
MKOSI_EXTRA = "mkosi.extra"
MKOSI_DROPIN = "mkosi.conf.d/50-hostspec.conf"
IGNITION_CONFIG = "config.ign"
IGNITION_VERSION = "3.3.0"
UNIT_DIR = "etc/systemd/system/"
DROPIN_NAME = "50-hostspec-ignition.conf"
_TOOLS = {"mkosi": "mkosi's `KernelCommandLine=`", "ignition": "Ignition's `kernelArguments`"}


def pack(layout: str, tree: HostTree, spec: Spec, ctx: Context) -> tuple[HostTree, list[Diagnostic]]:
    """The tree in `layout`, and an error for what the layout cannot carry."""
    if layout == "tree":
        return tree, []
    words, problems = kernel_arguments(spec, ctx, layout)
    if problems:
        return tree, problems
    files = mkosi_files(tree, words, ctx) if layout == "mkosi" else {
        IGNITION_CONFIG: File(ignition_config(tree, words), MODE_FILE)}
    return HostTree(tree.host, tree.source_name, dict(sorted(files.items()))), []


def kernel_arguments(spec: Spec, ctx: Context, layout: str) -> tuple[list[str], list[Diagnostic]]:
    """The arguments in order; HS0409 for a repeat, which both tools keep only once.

    mkosi 14 removes duplicates from list settings, and Ignition refuses a
    duplicate entry: `hugepagesz=1G hugepages=4 hugepagesz=2M hugepages=4`
    would lose the 2M pool's count.
    """
    words: list[str] = []
    first: dict[str, tuple] = {}
    problems = []
    for word, path in arguments(spec):
        if word in first:
            problems.append(diag(
                "HS0409", f"{_TOOLS[layout]} keeps one `{word}`: the second is lost",
                ctx.index.at(path), labels=[(ctx.index.at(first[word]), "first here")],
                hint="give the pools different counts, or compile with `--layout tree` "
                     "and hand etc/hostspec/kernel-cmdline to the image yourself"))
        first.setdefault(word, path)
        words.append(word)
    return words, problems


def mkosi_files(tree: HostTree, words: list[str], ctx: Context) -> dict[str, File]:
    """`mkosi.extra/<tree>` and the `mkosi.conf.d` drop-in."""
    files = {f"{MKOSI_EXTRA}/{path}": file for path, file in tree.files.items()}
    text = header(ctx) + ("# mkosi reads mkosi.conf.d/*.conf after mkosi.conf, in name order, and\n"
                          "# appends each KernelCommandLine= to the project's own.\n")
    if words:
        text += "[Content]\nKernelCommandLine=" + " ".join(words) + "\n"
    files[MKOSI_DROPIN] = File(text.encode("ascii"), MODE_FILE)
    return files


def ignition_path(path: str) -> str:
    """Where a tree file goes in the Ignition config: `usr/...` moves to `usr/local/...`."""
    return "usr/local/" + path[len("usr/"):] if path.startswith("usr/") else path


def ignition_config(tree: HostTree, words: list[str]) -> bytes:
    """The Ignition config: files, enabled units, kernel arguments; fixed key order."""
    files, units = [], []
    for path, file in tree.files.items():
        if path.startswith(UNIT_DIR) and path.count("/") == UNIT_DIR.count("/"):
            units.append(_unit(path[len(UNIT_DIR):], file.data, tree))
        else:
            files.append({"path": "/" + ignition_path(path), "mode": file.mode, "overwrite": True,
                          "contents": {"source": "data:;base64,"
                                                 + base64.b64encode(file.data).decode("ascii")}})
    config: dict = {"ignition": {"version": IGNITION_VERSION}}
    if words:
        config["kernelArguments"] = {"shouldExist": words}
    config["storage"] = {"files": files}
    config["systemd"] = {"units": units}
    return (json.dumps(config, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def _unit(name: str, data: bytes, tree: HostTree) -> dict:
    """A unit, enabled, with a drop-in for every `ExecStart=` of a moved script."""
    text = data.decode("ascii")
    unit: dict = {"name": name, "enabled": True, "contents": text}
    moved = [line[len("ExecStart=/"):] for line in text.splitlines()
             if line.startswith("ExecStart=/") and line[len("ExecStart=/"):] in tree.files
             and ignition_path(line[len("ExecStart=/"):]) != line[len("ExecStart=/"):]]
    if moved:
        lines = ["[Service]", "ExecStart="] + [f"ExecStart=/{ignition_path(path)}" for path in moved]
        unit["dropins"] = [{"name": DROPIN_NAME, "contents": "\n".join(lines) + "\n"}]
    return unit
