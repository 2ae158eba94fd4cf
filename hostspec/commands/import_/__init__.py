"""`hostspec import`: draft a host's `.mem` from the running host and its libvirt domains.

Reads the host's facts under `--root` (`live.host`) and its domains from
`ROOT/etc/libvirt/qemu`, `--domains DIR` or `--connect URI` (`live.domain`),
writes a canonical `.mem` (stdout, or `-o FILE`) and each domain's XML as the
guest's base under `--bases` (default `imported/` beside the output).

Exit status: 0 the draft was written and nothing was left out; 1 written, but
something was not expressible or the draft fails `check`; 2 an input could
not be read or is malformed, or an output could not be written: nothing written.
"""
from __future__ import annotations

import os
import pathlib
import re
import sys
import tempfile
from typing import Optional

from hostspec.commands.import_.draft import NAME, Note, draft
from hostspec.diagnostics.source import SourceFile
from hostspec.language.fmt import format_source
from hostspec.live.domain import GuestFacts, Malformed, read_connection, read_directory
from hostspec.live.host import read_host
from hostspec.live.root import Root, Unreadable

EXIT_OK, EXIT_LEFT_OUT, EXIT_UNREADABLE = 0, 1, 2
DOMAIN_DIR = "etc/libvirt/qemu"


def add_arguments(parser) -> None:
    parser.add_argument("--root", default="/", metavar="DIR",
                        help="where the host's /proc, /sys and /etc are (default: /)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--domains", metavar="DIR",
                        help=f"a directory of libvirt domain XML (default: ROOT/{DOMAIN_DIR})")
    source.add_argument("--connect", metavar="URI",
                        help="read the domains from a live libvirt (`virsh dumpxml --inactive`)")
    parser.add_argument("--name", metavar="NAME", help="the host's name (default: its hostname)")
    parser.add_argument("-o", "--output", metavar="FILE", help="write the draft here (default: stdout)")
    parser.add_argument("--bases", metavar="DIR",
                        help="where each guest's base XML goes (default: imported/ beside the output)")
    parser.add_argument("--all", action="store_true",
                        help="write every key read, also those at their default")


def _say(text: str) -> None:
    print(f"hostspec import: {text}", file=sys.stderr)


def run(args) -> int:
    root_dir = pathlib.Path(args.root)
    try:
        os.listdir(root_dir)
    except OSError as exc:
        _say(f"cannot read `{root_dir}`: {exc.strerror}; nothing written")
        return EXIT_UNREADABLE
    root = Root(root_dir)
    host, errors = read_host(root)
    guests: list[GuestFacts] = []
    try:
        if args.connect:
            guests = read_connection(args.connect)
        elif args.domains:
            try:
                os.listdir(args.domains)
                guests = read_directory(Root(pathlib.Path(args.domains)), ".")
            except OSError as exc:
                errors.append(Unreadable(args.domains, exc.strerror or str(exc)))
        else:
            guests = read_directory(root, DOMAIN_DIR)
    except (Unreadable, Malformed) as exc:
        errors.append(exc)
    if errors:
        for error in errors:
            where = error.path if error.path.startswith(("/", ".")) or ":" in error.path \
                else str(root.root / error.path)
            _say(f"cannot read {where}: {error.why}")
        _say("nothing written")
        return EXIT_UNREADABLE
    name = args.name or _host_name(root)
    if not NAME.fullmatch(name):
        _say(f"`{name}` is not a host name hostspec accepts "
             "(letters, digits, `_`, `.`, `-`, at most 63)")
        return EXIT_UNREADABLE
    guests, skipped = _usable(guests)
    out = pathlib.Path(args.output) if args.output else None
    mem_dir = (out.parent if out else pathlib.Path.cwd()).resolve()
    bases_dir = pathlib.Path(args.bases).resolve() if args.bases else mem_dir / "imported"
    bases = {g.name: os.path.relpath(bases_dir / f"{g.name}.xml", mem_dir) for g in guests}
    result = draft(host, guests, name, bases, all_keys=args.all)
    notes = skipped + result.notes
    lines = result.lines + [f"# not expressible: {note.text}" for note in skipped]
    text, problems = format_source(SourceFile.from_text("<import>", "\n".join(lines) + "\n"))
    if text is None:  # the draft itself does not parse: a bug, said plainly
        raise RuntimeError(f"the draft does not parse: {problems[0].message}")
    try:
        for guest in guests:
            _write_atomic(bases_dir / f"{guest.name}.xml", guest.xml)
        if out is not None:
            _write_atomic(out, text.encode())
        else:
            sys.stdout.write(text)
            sys.stdout.flush()
    except OSError as exc:
        _say(f"cannot write {exc.filename}: {exc.strerror}")
        return EXIT_UNREADABLE
    for note in notes:
        _say(f"warning: not expressible: {note.text} ({_source(root, note.source)})")
    status = _check(args, text, out, mem_dir)
    return EXIT_LEFT_OUT if notes or status else EXIT_OK


def _source(root: Root, source: str) -> str:
    return source if source.startswith("/") or ":" in source else str(root.root / source)


def _usable(guests: list[GuestFacts]) -> tuple[list[GuestFacts], list[Note]]:
    """Guests whose name the language accepts, each name once."""
    kept, seen, skipped = [], set(), []
    for guest in guests:
        if not NAME.fullmatch(guest.name):
            skipped.append(Note(guest.source, f"domain `{_printable(guest.name)}`: its name is "
                                              "not a hostspec guest name"))
        elif guest.name in seen:
            skipped.append(Note(guest.source, f"domain `{guest.name}` a second time"))
        else:
            seen.add(guest.name)
            kept.append(guest)
    return kept, skipped


def _printable(text: str) -> str:
    return "".join(ch if ch.isprintable() and ch != "`" else "?" for ch in text)[:64]


def _host_name(root: Root) -> str:
    try:
        found = (root.read("proc/sys/kernel/hostname") or root.read("etc/hostname") or "").strip()
    except Unreadable:
        found = ""
    found = re.sub(r"[^A-Za-z0-9_.-]", "-", found.split(".")[0])[:63].lstrip("_.-")
    return found or "host"


def _write_atomic(path: pathlib.Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, then rename over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        os.unlink(temp)
        raise


def _check(args, text: str, out: Optional[pathlib.Path], mem_dir: pathlib.Path) -> int:
    """Check the draft as `hostspec check` would; its diagnostics go to stderr."""
    import argparse

    from hostspec import api
    from hostspec.commands.cli import report

    if out is not None:
        result = api.check(str(out))
    else:
        cwd = os.getcwd()
        os.chdir(mem_dir)
        try:
            result = api.check("-", stdin=text.encode())
        finally:
            os.chdir(cwd)
    return report(argparse.Namespace(**dict(vars(args), format="text")), [result], stream=sys.stderr)
