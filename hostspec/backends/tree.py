"""The one place that writes artifacts: manifest, atomic tree swap, `--check` diff.

A host's tree is built beside the old one (`DIR/.<host>.tmp-XXXXXX`, same
file system) and swapped in with a rename, so a reader sees the old tree or
the new one, never half of each.  Nothing outside `DIR/<host>/` is touched
except those short-lived sibling directories.  A `Staging` holds one call's
trees: workers stage into it, and the driver commits or abandons it whole.
"""
from __future__ import annotations

import ctypes
import errno
import functools
import hashlib
import json
import os
import pathlib
import re
import shutil
import stat
import tempfile
from typing import Callable, Iterable, Optional

from hostspec import records
from hostspec.backends import MODE_FILE, Artifact, Context, step_of

MANIFEST = "usr/share/hostspec/hostspec-manifest.json"
# Where earlier trees kept it: copied over `/`, it landed in `/`, which is
# read-only on ostree and bootc hosts.  `--check` names the move (for one release).
OLD_MANIFEST = "hostspec-manifest.json"
NAME_RULE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")
PATH_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]{0,254}")
_RENAME_EXCHANGE, _AT_FDCWD = 2, -100


class UnsafePathError(ValueError):
    """A host name or artifact path that would leave `DIR/<host>/`."""


@records.frozen
class File:
    data: bytes
    mode: int


@records.frozen
class HostTree:
    """Everything `DIR/<host>/` must hold: relative path -> file."""

    host: str
    source_name: str
    files: dict[str, File]


def manifest(host: str, artifacts: Iterable[Artifact], ctx: Context, boot: str = "grub") -> bytes:
    """The manifest (at MANIFEST): fixed key order, artifacts by path, trailing newline."""
    document = {
        "hostspec": ctx.version,
        "host": host,
        "source": {"file": ctx.source_name, "sha256": ctx.source_sha256},
        "boot": boot,
        "artifacts": [
            {"path": a.path, "kind": a.kind, "sha256": hashlib.sha256(a.data).hexdigest(),
             "takes_effect": a.takes_effect, "mode": f"{a.mode:04o}", "step": step_of(a)}
            for a in sorted(artifacts, key=lambda a: a.path)
        ],
    }
    return (json.dumps(document, indent=2, ensure_ascii=True) + "\n").encode("ascii")


def host_tree(host: str, artifacts: list[Artifact], ctx: Context, boot: str = "grub") -> HostTree:
    """The files of one host's tree: the artifacts and the manifest."""
    files = {a.path: File(a.data, a.mode) for a in artifacts}
    files[MANIFEST] = File(manifest(host, artifacts, ctx, boot), MODE_FILE)
    for path in files:
        safe_relative(path)
    return HostTree(host, ctx.source_name, dict(sorted(files.items())))


def host_dir(out: pathlib.Path, host: str) -> pathlib.Path:
    """`out/host`, refusing any name that is not one plain directory inside `out`."""
    if not NAME_RULE.fullmatch(host) or host in (".", ".."):
        raise UnsafePathError(f"refusing host name {host!r}")
    target = out / host
    if target.parent.resolve() != out.resolve() or target.name != host:
        raise UnsafePathError(f"refusing host directory {target}")
    return target


def safe_relative(path: str) -> pathlib.PurePosixPath:
    """An artifact path: relative, no `.`/`..`/empty parts, no odd characters."""
    parts = path.split("/")
    if (path.startswith("/") or any(part in ("", ".", "..") for part in parts)
            or not all(PATH_PART.fullmatch(part) for part in parts)):
        raise UnsafePathError(f"refusing artifact path {path!r}")
    return pathlib.PurePosixPath(path)


def _in_order(function: Callable, items: Iterable) -> list:
    return list(map(function, items))


@records.frozen
class Staging:
    """One call's staging area: trees are written beside their targets, as
    `out/.<host>.tmp-<run>-XXXXXX`, then swapped in or abandoned together."""

    out: pathlib.Path
    run: str  # names this call's staging directories
    created: tuple[pathlib.Path, ...] = ()  # directories made for `out`, deepest first
    lock: Optional[int] = None  # `out` opened and flock()ed until `release`, where supported


def begin_staging(out: pathlib.Path, on_wait: Callable[[], None] = lambda: None) -> Staging:
    """Make `out` (and its missing parents), lock it, and name this call's staging directories.

    The lock (flock(2) on `out` itself, so no file is added to it) makes
    compiles into one directory take turns: `on_wait` is called when another
    holds it.  Holding it, a compile knows that any staging directory it finds
    is left over from one that was killed, and removes those of its hosts.
    """
    created, path = [], out
    while not os.path.lexists(path):
        created.append(path)
        path = path.parent
    for directory in reversed(created):
        directory.mkdir()
    return Staging(out, os.urandom(4).hex(), tuple(created), _lock(out, on_wait))


def release(staging: Optional[Staging]) -> None:
    """Let the next compile into `staging.out` go ahead."""
    if staging is not None and staging.lock is not None:
        os.close(staging.lock)  # closing the last descriptor releases the flock


def _lock(out: pathlib.Path, on_wait: Callable[[], None]) -> Optional[int]:
    """`out` opened and exclusively flock()ed, or None where it cannot be locked."""
    import fcntl

    fd = os.open(out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            on_wait()
            fcntl.flock(fd, fcntl.LOCK_EX)
        return fd
    except OSError as error:
        os.close(fd)
        if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.EBADF):
            return None  # a file system without flock: compile unlocked, clean nothing
        raise
    except BaseException:
        os.close(fd)
        raise


def _leftovers(out: pathlib.Path, hosts: set[str], run: str) -> list[pathlib.Path]:
    """The staging and set-aside directories of `hosts` in `out` made by other, killed, compiles."""
    try:
        names = os.listdir(out)
    except OSError:
        return []
    found = []
    for name in sorted(names):
        match = _LEFTOVER.fullmatch(name)
        if match and match["host"] in hosts and match["run"] != run:
            found.append(out / name)
    return found


_LEFTOVER = re.compile(r"\.(?P<host>.+)\.(?:tmp-(?P<run>[0-9a-f]{8})-[a-z0-9_]{8}|old-[0-9a-f]{8})")


def stage_tree(staging: Staging, tree: HostTree
               ) -> tuple[Optional[pathlib.Path], Optional[Exception]]:
    """Stage one tree: (its directory, None), or (None, the error), so that a
    worker that fails still reports, and the caller abandons the whole call."""
    try:
        host_dir(staging.out, tree.host)
        return _stage(staging.out, tree, staging.run), None
    except (OSError, UnsafePathError) as error:
        return None, error


def abandon(staging: Staging) -> None:
    """Remove every tree this call staged, then the directories made for `out` while empty."""
    for path in staging.out.glob(f".*.tmp-{staging.run}-*"):
        _remove(path)
    for directory in staging.created:
        try:
            directory.rmdir()
        except OSError:
            break  # no longer empty: not ours alone


def commit(staging: Staging, staged: list[tuple[str, pathlib.Path]]) -> None:
    """Swap each staged (host, directory) in, once every staged byte is on disk."""
    targets = [host_dir(staging.out, host) for host, _ in staged]
    _sync_filesystem(staging.out)
    for (_, new), target in zip(staged, targets):
        _swap(new, target)
    if staging.lock is not None:  # no other compile is running: these are from killed ones
        for path in _leftovers(staging.out, {host for host, _ in staged}, staging.run):
            _remove(path)
    _fsync_dir(staging.out)


def write_trees(out: pathlib.Path, trees: list[HostTree]) -> None:
    """Stage every host's tree, then swap each in: a failure while staging changes nothing."""
    out.mkdir(parents=True, exist_ok=True)
    staging = begin_staging(out)
    try:
        staged = []
        for tree in trees:
            path, error = stage_tree(staging, tree)
            if error is not None:
                raise error
            staged.append((tree.host, path))
        commit(staging, staged)
    except BaseException:
        abandon(staging)
        raise
    finally:
        release(staging)


def _stage(out: pathlib.Path, tree: HostTree, run: str) -> pathlib.Path:
    """Write the tree into a fresh hidden sibling directory and return it."""
    root = pathlib.Path(tempfile.mkdtemp(prefix=f".{tree.host}.tmp-{run}-", dir=out))
    try:
        os.chmod(root, 0o755)  # mkdtemp makes 0700
        made: set[pathlib.PurePosixPath] = set()
        for path, file in tree.files.items():
            relative = safe_relative(path)
            for directory in reversed(relative.parents[:-1]):
                if directory not in made:  # a fresh tree: nothing is there but what we made
                    os.mkdir(root / directory)
                    os.chmod(root / directory, 0o755)  # not the umask's choice: the tree is an image
                    made.add(directory)
            _write_file(root, relative, file)
    except BaseException:
        _remove(root)
        raise
    return root


def _write_file(root: pathlib.Path, relative: pathlib.PurePosixPath, file: File) -> None:
    """One new file (its directory made already): the whole of `file.data`, then its mode."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(root / relative, flags, 0o600)
    try:
        view = memoryview(file.data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, file.mode)
    finally:
        os.close(fd)


def _swap(new: pathlib.Path, target: pathlib.Path) -> None:
    """Put `new` at `target`; the old tree (file, link or directory) is removed."""
    if os.path.lexists(target) and _exchange(new, target):
        _remove(new)  # now holds the old tree
        return
    if os.path.lexists(target):
        aside = target.with_name(f".{target.name}.old-{os.urandom(4).hex()}")
        os.rename(target, aside)
        os.rename(new, target)
        _remove(aside)
    else:
        os.rename(new, target)


def _exchange(a: pathlib.Path, b: pathlib.Path) -> bool:
    """Atomically swap two paths with renameat2(RENAME_EXCHANGE), where supported."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # file system without exchange: fall back to two renames
    raise OSError(code, os.strerror(code), str(b))


def _remove(path: pathlib.Path) -> None:
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


def _sync_filesystem(path: pathlib.Path) -> None:
    """Flush everything written on `path`'s file system to disk.

    One syncfs(2) after staging costs about what one fsync(2) does, where an
    fsync per staged file made writing a fleet's trees several times slower.
    """
    syncfs = getattr(ctypes.CDLL(None, use_errno=True), "syncfs", None)
    if syncfs is None:
        os.sync()  # no syncfs (not Linux): every file system, which includes this one
        return
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        if syncfs(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code), str(path))
    finally:
        os.close(fd)


def _fsync_dir(path: pathlib.Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_tree(root: pathlib.Path) -> dict[str, Optional[File]]:
    """What `root` holds: path -> File, or None for anything not a regular file."""
    found: dict[str, Optional[File]] = {}
    if root.is_symlink() or not root.is_dir():
        return found
    for directory, dirnames, filenames in os.walk(root, followlinks=False):
        base = pathlib.Path(directory)
        links = [name for name in dirnames if (base / name).is_symlink()]
        for name in filenames + links:
            path = base / name
            relative = path.relative_to(root).as_posix()
            info = path.lstat()
            found[relative] = (File(path.read_bytes(), stat.S_IMODE(info.st_mode))
                               if stat.S_ISREG(info.st_mode) else None)
    return found


def old_manifests(out: pathlib.Path, trees: list[HostTree]) -> list[pathlib.Path]:
    """The manifests in `out` still at the top of a host's tree, where earlier compiles wrote them."""
    found = []
    for tree in trees:
        path = host_dir(out, tree.host) / OLD_MANIFEST
        if OLD_MANIFEST not in tree.files and path.is_file() and not path.is_symlink():
            found.append(path)
    return found


def diff_trees(out: pathlib.Path, trees: list[HostTree], map_trees: Callable = _in_order) -> str:
    """A unified diff from what `out` holds to what would be written; empty when equal."""
    return "".join(map_trees(functools.partial(_diff_host, out), trees))


def _diff_host(out: pathlib.Path, tree: HostTree) -> str:
    root = host_dir(out, tree.host)
    on_disk = read_tree(root)
    chunks = []
    if os.path.lexists(root) and (root.is_symlink() or not root.is_dir()):
        chunks.append(f"# {root} is not a directory\n")
    for path in sorted(set(on_disk) | set(tree.files)):
        label = f"{root}/{path}"
        chunks.append(_diff_file(label, tree.source_name, on_disk.get(path, _ABSENT),
                                 tree.files.get(path)))
    return "".join(chunks)


_ABSENT = File(b"", -1)  # marks "no such path", unlike None ("not a regular file")


def _diff_file(label: str, source: str, old: Optional[File], new: Optional[File]) -> str:
    """The diff of one path: `old` on disk (_ABSENT, None: not a file), `new` compiled."""
    if old is not None and old is not _ABSENT and new is not None and old == new:
        return ""
    old_label, old_data = _side(label, "on disk", old)
    new_label, new_data = (f"{label}\t(compiled from {source}, mode {new.mode:04o})", new.data) \
        if new is not None else ("/dev/null", b"")
    import difflib  # only `--check` needs it

    hunks = list(difflib.unified_diff(_lines(old_data), _lines(new_data), n=3, lineterm="\n"))[2:]
    if not hunks and old_data != new_data:
        hunks = ["Binary files differ\n"]
    return f"--- {old_label}\n+++ {new_label}\n" + "".join(hunks)


def _side(label: str, where: str, file: Optional[File]) -> tuple[str, bytes]:
    if file is _ABSENT:
        return "/dev/null", b""
    if file is None:
        return f"{label}\t({where}: not a regular file)", b""
    return f"{label}\t({where}, mode {file.mode:04o})", file.data


def _lines(data: bytes) -> list[str]:
    """Lines for difflib, marking a last line without a newline the way diff(1) does."""
    lines = data.decode("utf-8", errors="replace").splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n\\ No newline at end of file\n"
    return lines
