"""Parse an untrusted arXiv source in a child process that has hard limits.

The parser's algorithms are linear (see latex.py and tex_scan.py), but a source archive is hostile bytes
from the network, and this module is the backstop for whatever those algorithms miss:

* memory: the child sets RLIMIT_AS on itself before parsing, so a runaway allocation
  raises MemoryError in the child (reported) instead of swapping the machine;
* time: the parent waits at most `timeout_s` of wall clock, then SIGKILLs the child; the
  child also caps its own CPU time (RLIMIT_CPU), in case nobody is left to kill it;
* lifetime: the child holds the read end of a pipe whose only writer is the parent; a
  thread blocks on it and ends the child at EOF, so a parent that dies (even by SIGKILL)
  takes the child with it;
* result: JSON on the child's stdout, validated into `ParseResult` (a pydantic model).
  Nothing is unpickled from the process that read the hostile input.

Every way a parse can end comes back as a `ParseResult`; `parse_source_limited` raises only
for a workdir it cannot create.

    python -m paracycle.ingest.sandbox ARCHIVE WORKDIR MEMORY_MB CPU_S LIFELINE_FD   (the child)
"""

from __future__ import annotations

import math
import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError

import paracycle
from paracycle.ingest.archive import NoLatex, UnsafeArchive
from paracycle.ingest.latex import parse_source
from paracycle.ingest.sections import PaperSections
from paracycle.schemas import Strict

_MODULE = "paracycle.ingest.sandbox"  # what the child runs (`python -m`)
_CHILD_ERROR_CHARS = 300  # of the child's stderr, quoted when it dies without a result
_EXIT_ORPHANED = 70  # the child's exit status when its parent went away


class ParseLimits(Strict):
    """What one source may cost to extract and parse."""

    timeout_s: float = Field(default=60.0, gt=0, description="wall clock, including the child's start")
    memory_mb: int = Field(default=2048, ge=256, description="address space of the parsing process")


class ParseResult(Strict):
    """How parsing one source ended; the child prints this as JSON."""

    status: Literal["parsed", "refused", "no_latex", "failed"]
    sections: PaperSections | None = None
    reason: str | None = Field(default=None, description="why not parsed, in words")


# --------------------------------------------------------------------------------------
# Parent
# --------------------------------------------------------------------------------------


def parse_source_limited(archive: Path, workdir: Path, limits: ParseLimits | None = None) -> ParseResult:
    """`parse_source(archive, workdir)` in a child process under `limits`."""
    limits = limits or ParseLimits()
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    lifeline_read, lifeline_write = os.pipe()
    try:
        try:
            child = _spawn(Path(archive), workdir, limits, lifeline_read)
        finally:
            os.close(lifeline_read)  # only the child may hold it: EOF must mean "parent gone"
        result = _wait(child, limits)
    except OSError as err:  # the child could not be started (no memory, no processes left)
        result = _failed(f"could not start the parsing process ({err.strerror or err})")
    finally:
        os.close(lifeline_write)
    if result.status == "failed":
        _remove_partial_extractions(workdir)
    return result


def _spawn(archive: Path, workdir: Path, limits: ParseLimits, lifeline: int) -> subprocess.Popen:
    cpu_s = math.ceil(limits.timeout_s) + 1  # CPU time never exceeds wall time by much
    # -P: no current directory on sys.path; the child imports this very `paracycle`, found
    # through PYTHONPATH, whatever directory the parent runs in.
    command = [
        sys.executable, "-P", "-m", _MODULE,
        str(archive.resolve()), str(workdir.resolve()), str(limits.memory_mb), str(cpu_s), str(lifeline),
    ]
    root = Path(paracycle.__file__).resolve().parent.parent
    return subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        pass_fds=(lifeline,), env=_child_env(root), cwd=root,
    )


def _child_env(root: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return env


def _wait(child: subprocess.Popen, limits: ParseLimits) -> ParseResult:
    try:
        out, err = child.communicate(timeout=limits.timeout_s)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()  # reap it and close the pipes
        return _failed(f"parsing took longer than {limits.timeout_s:g} s and was stopped")
    except BaseException:  # Ctrl-C, or anything else: the child never outlives the call
        child.kill()
        child.wait()
        raise
    try:
        return ParseResult.model_validate_json(out)
    except (ValidationError, ValueError):
        return _failed(_death(child.returncode, limits, err))


def _death(returncode: int, limits: ParseLimits, stderr: bytes) -> str:
    """Why a child that printed no result ended, in words."""
    if returncode < 0:
        name = signal.Signals(-returncode).name if -returncode in signal.valid_signals() else str(-returncode)
        if -returncode == getattr(signal, "SIGXCPU", None):
            return f"the parsing process used more than its CPU time ({math.ceil(limits.timeout_s) + 1} s)"
        how = f"was killed by {name}"
    else:
        how = f"exited with status {returncode}"
    last = stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
    detail = f": {last[0][-_CHILD_ERROR_CHARS:]}" if last[0] else ""
    return f"the parsing process {how} without a result{detail}"


def _failed(reason: str) -> ParseResult:
    return ParseResult(status="failed", reason=reason)


def _remove_partial_extractions(workdir: Path) -> None:
    """A child killed while extracting leaves its staging folder (see extract_archive)."""
    for leftover in workdir.glob(".source.partial-*"):
        shutil.rmtree(leftover, ignore_errors=True)


# --------------------------------------------------------------------------------------
# Child
# --------------------------------------------------------------------------------------


def _child_main(argv: list[str]) -> int:
    archive, workdir, memory_mb, cpu_s, lifeline = argv
    _exit_when_orphaned(int(lifeline))
    _limit_self(int(memory_mb) * 1024 * 1024, int(cpu_s))
    result = _parse(Path(archive), Path(workdir), int(memory_mb))
    try:
        payload = result.model_dump_json().encode("utf-8")
    except (MemoryError, ValueError) as err:  # too big to print, or text JSON cannot hold
        payload = _failed(f"the parsed paper could not be returned ({type(err).__name__})").model_dump_json().encode()
    sys.stdout.buffer.write(payload)
    sys.stdout.buffer.flush()
    return 0


def _exit_when_orphaned(lifeline: int) -> None:
    def watch() -> None:
        while os.read(lifeline, 1):  # the parent never writes; this returns b"" at EOF
            pass
        os._exit(_EXIT_ORPHANED)

    threading.Thread(target=watch, name="lifeline", daemon=True).start()


def _limit_self(memory_bytes: int, cpu_s: int) -> None:
    try:
        import resource
    except ImportError:  # not a POSIX system: only the parent's timeout applies
        return
    for kind, soft, hard in ((resource.RLIMIT_AS, memory_bytes, memory_bytes), (resource.RLIMIT_CPU, cpu_s, cpu_s + 1)):
        _, allowed = resource.getrlimit(kind)
        if allowed != resource.RLIM_INFINITY:  # a lower limit set from outside stays
            soft, hard = min(soft, allowed), min(hard, allowed)
        resource.setrlimit(kind, (soft, hard))


def _parse(archive: Path, workdir: Path, memory_mb: int) -> ParseResult:
    # The reason is built after the except block: by then the failed parse's memory is free.
    try:
        return ParseResult(status="parsed", sections=parse_source(archive, workdir))
    except UnsafeArchive as err:
        return ParseResult(status="refused", reason=err.message)
    except NoLatex as err:
        return ParseResult(status="no_latex", reason=err.message)
    except MemoryError:
        reason = f"parsing needed more than {memory_mb} MB of memory"
    except Exception as err:  # a parser bug on odd input: this paper fails, the batch goes on
        reason = f"the parser failed: {type(err).__name__}: {err}"[:1000]
    return _failed(valid_text(reason))


def valid_text(text: str) -> str:
    """`text` that UTF-8 and JSON can hold: an error message may quote a file name whose
    undecodable bytes Python keeps as lone surrogates."""
    return text.encode("utf-8", "replace").decode("utf-8")


if __name__ == "__main__":
    sys.exit(_child_main(sys.argv[1:]))
