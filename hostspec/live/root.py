"""Files under a live root (`/` or a copy of a host's files), read once each."""
from __future__ import annotations

import errno
import os
import pathlib
import stat
from typing import Optional


def read_under(root: pathlib.Path, path: str, cache: dict) -> str | OSError:
    """The file's text, or why it cannot be read; each file is read once."""
    if path not in cache:
        try:
            cache[path] = (root / path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            cache[path] = exc
    return cache[path]


# -- reading an untrusted root (`hostspec import`) ----------------------------

MAX_FILE_BYTES = 1024 * 1024  # /proc and /sys files are far smaller; a larger one is refused
MAX_LINKS = 40                # as the kernel's path walk: ELOOP past it


class Unreadable(Exception):
    """A file under the root that is there but cannot be read: why, for people."""

    def __init__(self, path: str, why: str):
        super().__init__(f"{path}: {why}")
        self.path, self.why = path, why


class Root:
    """Files under a root, resolved as a process chrooted there would see them:
    an absolute symbolic link starts again at the root, and a link or `..` that
    climbs above the root is refused, never followed out of it."""

    def __init__(self, root: pathlib.Path):
        self.root = pathlib.Path(os.path.abspath(root))

    def resolve(self, path: str) -> pathlib.Path:
        """The real path of `path` (relative to the root); Unreadable when a link leaves it."""
        parts, done, links = [p for p in path.split("/") if p not in ("", ".")], [], 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if not done:
                    raise Unreadable(path, "a `..` climbs out of the root")
                done.pop()
                continue
            here = self.root.joinpath(*done, part)
            try:
                info = os.lstat(here)
            except FileNotFoundError:
                return self.root.joinpath(*done, part, *parts)
            except OSError as exc:
                raise Unreadable(path, exc.strerror or str(exc)) from None
            if not stat.S_ISLNK(info.st_mode):
                done.append(part)
                continue
            links += 1
            if links > MAX_LINKS:
                raise Unreadable(path, "too many levels of symbolic links")
            target = os.readlink(here)
            if target.startswith("/"):
                done = []
            else:
                depth = len(done)
                climbs = 0
                for word in target.split("/"):
                    if word == "..":
                        climbs += 1
                    elif word not in ("", "."):
                        break
                if climbs > depth:
                    raise Unreadable(path, f"`{self.root.joinpath(*done, part)}` is a symbolic "
                                           f"link to `{target}`, out of the root")
            parts = [p for p in target.split("/") if p not in ("", ".")] + parts
        return self.root.joinpath(*done)

    def read(self, path: str, limit: int = MAX_FILE_BYTES) -> Optional[str]:
        """The text of a regular file, None when it is not there; Unreadable otherwise."""
        real = self.resolve(path)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise Unreadable(path, "a symbolic link changed while it was read") from None
            raise Unreadable(path, exc.strerror or str(exc)) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise Unreadable(path, "not a regular file")
            chunks, size = [], 0
            while size <= limit:
                chunk = os.read(fd, min(65536, limit + 1 - size))
                if not chunk:
                    break
                chunks.append(chunk)
                size += len(chunk)
        except OSError as exc:
            raise Unreadable(path, exc.strerror or str(exc)) from None
        finally:
            os.close(fd)
        if size > limit:
            raise Unreadable(path, f"larger than {limit // 1024} KiB")
        return b"".join(chunks).decode("utf-8", errors="replace")

    def listdir(self, path: str) -> list[str]:
        """Names in a directory under the root, sorted; [] when it is not there."""
        real = self.resolve(path)
        try:
            return sorted(os.listdir(real))
        except (FileNotFoundError, NotADirectoryError):
            return []
        except OSError as exc:
            raise Unreadable(path, exc.strerror or str(exc)) from None

    def is_dir(self, path: str) -> bool:
        try:
            return self.resolve(path).is_dir()
        except (Unreadable, OSError):
            return False

    def exists(self, path: str) -> bool:
        try:
            return os.path.lexists(self.resolve(path))
        except (Unreadable, OSError):
            return False
