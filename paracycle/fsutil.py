"""Files that are either complete or absent, and digests that name what a directory holds.

Every output paracycle writes (trajectories, drafts, datasets, adapters, caches) goes through
here, so a killed process never leaves a file that looks finished.
"""

from __future__ import annotations

import hashlib
import os
import shutil
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


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def work_dir(final: Path) -> Path:
    """An empty directory beside `final` to build it in, named after this process.

    Directories that earlier processes left behind for the same `final` (killed mid-write:
    a model conversion leaves half a gigabyte) are removed first, once their process is gone.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{final.name}.partial-"
    for stale in final.parent.glob(prefix + "*"):
        pid = stale.name.removeprefix(prefix)
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp = final.parent / f"{prefix}{os.getpid()}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    return tmp


def publish_dir(tmp: Path, final: Path) -> None:
    """Rename a completely written directory into place. Its files reach the disk before its
    name does, so after a crash `final` is either absent, the old one, or whole."""
    tmp, final = Path(tmp), Path(final)
    for path in sorted(tmp.rglob("*"), reverse=True):  # files first, then their directories
        if path.is_symlink():
            continue
        _fsync_file(path) if path.is_file() else fsync_dir(path)
    fsync_dir(tmp)
    if final.exists():  # replaced: move the old one aside first (os.replace needs an empty target)
        old = final.parent / f".{final.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        os.replace(final, old)
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)
    fsync_dir(final.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
