"""Files that are either complete or absent, and digests that name what a directory holds.

Every output paracycle writes (trajectories, drafts, datasets, adapters, caches) goes through
here, so a killed process never leaves a file that looks finished.
"""

from __future__ import annotations

import hashlib
import os
from contextlib import contextmanager
from pathlib import Path


def _partial(path: Path) -> Path:
    return path.with_name(path.name + ".partial")


def fsync_dir(path: Path) -> None:
    """Make a rename inside `path` durable (the directory entry is data too)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path):
    """A binary file written at path.partial and renamed into place only when complete: an
    interrupted write never leaves a file that looks finished."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _partial(path)
    try:
        with open(partial, "wb") as out:
            yield out
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
        fsync_dir(path.parent)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise


def write_atomic(path: Path, data: bytes | str) -> None:
    with atomic_file(path) as out:
        out.write(data.encode("utf-8") if isinstance(data, str) else data)


def tree_digest(directory: str | Path) -> str:
    """sha256 over every regular file's relative path and bytes: two directories with the same
    digest hold the same weights, whatever they are called or wherever they live."""
    root = Path(directory)
    h = hashlib.sha256()
    for file in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        h.update(file.relative_to(root).as_posix().encode("utf-8") + b"\0")
        with open(file, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        h.update(b"\0")
    return h.hexdigest()
