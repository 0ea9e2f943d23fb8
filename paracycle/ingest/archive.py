r"""Extracting an arXiv source archive safely: the one place that writes its bytes to disk.

The archive is untrusted bytes from the network. The format is sniffed from magic
bytes, never from the file name. gzip is decompressed as a stream with a byte cap (the size
a gzip header claims is never trusted), so a gzip bomb stops after a few megabytes. Tar
members are checked one by one and written by this module (never `extractall`): absolute
names, `..` components, links, devices, FIFOs, oversized members, an oversized total and
too many members all refuse the *whole* archive with `UnsafeArchive`; `tarfile.data_filter`
is applied on top as a second opinion. Everything is written into a temporary directory
next to `dest`, renamed to `dest` only when every member passed, so a refused archive
leaves nothing behind.

This module reads no TeX and imports none of the TeX readers, so it can be reviewed alone.
"""

from __future__ import annotations

import gzip
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from paracycle.errors import InputError

MB = 1024 * 1024


class UnsafeArchive(InputError):
    """The archive has a member this module refuses to extract; nothing was extracted."""

    def __init__(self, archive: str | Path, member: str, reason: str):
        self.member = member
        super().__init__(str(archive), f"refusing the archive: member {member!r} {reason}")


class NoLatex(InputError):
    """The source has no usable LaTeX (a PDF, unreadable bytes, no \\documentclass)."""

    def __init__(self, source: str | Path, reason: str):
        super().__init__(str(source), f"no LaTeX source: {reason}")


@dataclass(frozen=True)
class _Limits:
    member_bytes: int
    total_bytes: int
    members: int

    @property
    def stream_bytes(self) -> int:
        """The most a gzip stream may decompress to: the files plus tar's per-member
        overhead (a header block, padding, and maybe a long-name header)."""
        return self.total_bytes + (self.members + 8) * 2048


def extract_archive(
    archive: Path,
    dest: Path,
    *,
    max_member_bytes: int = 20 * MB,
    max_total_bytes: int = 100 * MB,
    max_members: int = 2000,
) -> Path:
    """Extract an arXiv source archive into `dest` (created; must not exist or be empty).

    A tar (optionally gzipped) is extracted as is; a single (optionally gzipped) text file
    becomes `dest/main.tex`. Raises UnsafeArchive for anything unsafe and NoLatex for a PDF
    or bytes that are neither a tar nor text. On any error `dest` is not created.
    """
    archive, dest = Path(archive), Path(dest)
    if dest.is_symlink() or (dest.exists() and (not dest.is_dir() or any(dest.iterdir()))):
        raise FileExistsError(f"{dest} exists and is not an empty directory")
    limits = _Limits(max_member_bytes, max_total_bytes, max_members)
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.partial-", dir=dest.parent))
    try:
        tree = staging / "tree"
        tree.mkdir()
        _extract_into(archive, staging, tree, limits)
        tree.chmod(0o755)  # mkdtemp's 0700 is for the staging area only
        if dest.exists():
            dest.rmdir()  # empty, checked above
        tree.rename(dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _extract_into(archive: Path, staging: Path, tree: Path, limits: _Limits) -> None:
    kind = _sniff(archive)
    payload = archive
    if kind == "gzip":
        payload = staging / "payload"
        _gunzip(archive, payload, limits.stream_bytes)
        kind = _sniff(payload)
        if kind == "gzip":  # arXiv never double-compresses; refuse rather than recurse
            kind = "binary"
    if kind == "tar":
        _extract_tar(archive, payload, tree, limits)
    elif kind == "text":
        _copy_single_file(archive, payload, tree, limits)
    elif kind == "pdf":
        raise NoLatex(archive, "arXiv served a PDF, not LaTeX")
    else:
        raise NoLatex(archive, "neither a tar archive nor a text file")


def _sniff(path: Path) -> str:
    """'gzip', 'tar', 'pdf', 'text' or 'binary', from the first bytes."""
    try:
        with open(path, "rb") as f:
            head = f.read(8192)
    except OSError as err:
        raise InputError(str(path), f"cannot read the archive ({err.strerror})") from err
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"%PDF"):
        return "pdf"
    if _looks_like_tar(head):
        return "tar"
    if b"\x00" in head or head.startswith((b"%!PS", b"PK\x03\x04", b"BZh", b"\xfd7zXZ")):
        return "binary"
    return "text"


def _looks_like_tar(head: bytes) -> bool:
    if len(head) < 512:
        return False
    if head[257:262] == b"ustar":  # POSIX and GNU tar
        return True
    try:  # old V7 tar has no magic: a valid header checksum is the only sign
        tarfile.TarInfo.frombuf(head[:512], "utf-8", "surrogateescape")
    except (tarfile.HeaderError, ValueError):
        return False
    return True


def _gunzip(archive: Path, out_path: Path, cap: int) -> None:
    """Decompress in 1 MB steps, stopping as soon as the output passes `cap`."""
    written = 0
    try:
        with gzip.open(archive, "rb") as src, open(out_path, "wb") as out:
            while chunk := src.read(MB):
                written += len(chunk)
                if written > cap:
                    raise UnsafeArchive(archive, "(gzip stream)", f"decompresses to more than {cap} bytes (gzip bomb?)")
                out.write(chunk)
    except (gzip.BadGzipFile, EOFError, zlib.error) as err:
        raise NoLatex(archive, f"corrupt gzip data ({err})") from err


def _copy_single_file(archive: Path, payload: Path, tree: Path, limits: _Limits) -> None:
    if payload.stat().st_size > limits.member_bytes:
        raise UnsafeArchive(archive, archive.name, f"is larger than {limits.member_bytes} bytes")
    shutil.copyfile(payload, tree / "main.tex")
    (tree / "main.tex").chmod(0o644)


def _extract_tar(archive: Path, payload: Path, tree: Path, limits: _Limits) -> None:
    total = count = 0
    try:
        with tarfile.open(payload, mode="r:") as tf:
            while (member := tf.next()) is not None:
                count += 1
                if count > limits.members:
                    raise UnsafeArchive(archive, member.name, f"is past the limit of {limits.members} members")
                parts = _checked_parts(archive, member, tree)
                if member.isreg():
                    if member.size > limits.member_bytes:
                        raise UnsafeArchive(archive, member.name, f"is larger than {limits.member_bytes} bytes")
                    total += member.size
                    if total > limits.total_bytes:
                        raise UnsafeArchive(archive, member.name, f"brings the total past {limits.total_bytes} bytes")
                if parts:
                    _write_member(archive, tf, member, tree.joinpath(*parts), tree)
    except (tarfile.TarError, EOFError, zlib.error) as err:
        raise NoLatex(archive, f"unreadable tar archive ({err})") from err


def _checked_parts(archive: Path, member: tarfile.TarInfo, tree: Path) -> list[str]:
    """The member's path components, or UnsafeArchive if the member may not be extracted."""
    name = member.name
    if "\x00" in name:
        raise UnsafeArchive(archive, name, "has a NUL byte in its name")
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:", name):
        raise UnsafeArchive(archive, name, "has an absolute path")
    parts = [p for p in PurePosixPath(name).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchive(archive, name, "has a '..' component")
    if member.issym() or member.islnk():
        raise UnsafeArchive(archive, name, f"is a {'symbolic' if member.issym() else 'hard'} link")
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive(archive, name, "is a device or FIFO")
    if not (member.isreg() or member.isdir()):
        raise UnsafeArchive(archive, name, "is not a regular file or directory")
    try:  # a second opinion from the standard library (Python >= 3.11.4)
        tarfile.data_filter(member, str(tree))
    except tarfile.FilterError as err:
        raise UnsafeArchive(archive, name, f"is refused by tarfile's data filter ({err})") from err
    return parts


def _write_member(archive: Path, tf: tarfile.TarFile, member: tarfile.TarInfo, target: Path, tree: Path) -> None:
    # The checks above make escaping impossible; this one makes it impossible twice.
    if not target.resolve().is_relative_to(tree.resolve()):
        raise UnsafeArchive(archive, member.name, "resolves outside the destination")
    try:
        if member.isdir():
            target.mkdir(parents=True, exist_ok=True)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        source = tf.extractfile(member)
        # O_NOFOLLOW: even a symlink that somehow got there is never written through.
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as out:
            if source is not None:
                shutil.copyfileobj(source, out, MB)
    except OSError as err:  # e.g. a file member where an earlier member made a directory
        raise UnsafeArchive(archive, member.name, f"cannot be written ({err.strerror or err})") from err
