"""stdout is the product, stderr is the log.

While a command runs, file descriptor 1 and `sys.stdout` point at stderr, so whatever the
libraries underneath print (vLLM's logger, TRL's metric dicts, tqdm.write, C extensions,
spawned worker processes that inherit fd 1) lands in the log. Only `results()`, a stream on
a private duplicate of the real stdout, reaches the terminal or the pipe. Redirecting at the
file-descriptor level is the one place that catches every writer; quieting each library at
its source would have to be redone for every new library and version.
"""

from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from typing import TextIO

import typer
import typer.core

_results: TextIO | None = None


def results() -> TextIO:
    """Where a command's result goes: the real stdout (inside `results_only`, its duplicate)."""
    return _results or sys.stdout


@contextmanager
def results_only():
    """Route everything but `results()` to stderr for the duration of a command."""
    global _results
    if _results is not None:  # nested: already routed
        yield _results
        return
    sys.stdout.flush()
    stream = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="replace")
    saved_fd, saved_stdout = os.dup(1), sys.stdout
    os.dup2(2, 1)
    sys.stdout, _results = sys.stderr, stream
    try:
        yield stream
    finally:
        try:
            stream.flush()
        except OSError:  # a closed pipe (`| head`): the reader has what it wanted
            pass
        sys.stderr.flush()
        os.dup2(saved_fd, 1)
        os.close(saved_fd)
        sys.stdout, _results = saved_stdout, None
        try:
            stream.close()
        except OSError:
            pass


def print_json(text: str) -> None:
    """One JSON document, alone on stdout."""
    out = results()
    out.write(text.rstrip("\n") + "\n")
    out.flush()


class _ResultsStream:
    """A file-like object that always writes to `results()`: give it to a rich Console
    created before any command runs."""

    encoding = "utf-8"

    def write(self, text: str) -> int:
        return results().write(text)

    def flush(self) -> None:
        results().flush()

    def isatty(self) -> bool:
        return results().isatty()

    def fileno(self) -> int:
        return results().fileno()


RESULTS = _ResultsStream()


class ResultCommand(typer.core.TyperCommand):
    """Parsing and --help print to the real stdout; once the command runs, stdout holds its
    result alone and everything the libraries print goes to stderr."""

    def invoke(self, ctx):
        with results_only():
            return super().invoke(ctx)


class ResultTyper(typer.Typer):
    """A Typer whose commands are `ResultCommand`s."""

    def command(self, *args, cls=None, **kwargs):
        return super().command(*args, cls=cls or ResultCommand, **kwargs)


def quiet_libraries() -> None:
    """Library chatter (weight-loading bars, advisory warnings) would drown the progress."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    # vLLM logs to stdout by default; stdout carries results.
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")
    warnings.filterwarnings("ignore")
    try:
        from transformers.utils import logging as hf_logging  # transformers: imported only to quiet it
    except ImportError:
        return
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
