"""Progress on stderr: a live line for the stage being generated, a log line when it ends.

stdout stays clean for results (`--json` prints only JSON there).
"""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn


class StageProgress:
    def __init__(self, console: Console):
        self.console = console
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]{task.description}"),
            TextColumn("{task.fields[tokens]} tokens · {task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self.task = None
        self.stage_name = ""
        self.started = 0.0
        self.tokens = 0
        self.total_tokens = 0

    def __enter__(self) -> StageProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self._end_stage()
        self.progress.__exit__(*exc)

    def stage(self, name: str) -> None:
        self._end_stage()
        self.stage_name, self.started, self.tokens = name, time.perf_counter(), 0
        self.task = self.progress.add_task(name, tokens=0, rate="")

    def on_tokens(self, n: int) -> None:
        self.tokens += n
        self.total_tokens += n
        if self.task is not None:
            elapsed = max(time.perf_counter() - self.started, 1e-6)
            self.progress.update(self.task, tokens=self.tokens, rate=f"{self.tokens / elapsed:.1f} tok/s")

    def _end_stage(self) -> None:
        if self.task is None:
            return
        elapsed = time.perf_counter() - self.started
        self.progress.remove_task(self.task)
        rate = f" ({self.tokens / elapsed:.1f} tok/s)" if self.tokens and elapsed > 0 else ""
        self.console.log(f"{self.stage_name}: {self.tokens} tokens in {elapsed:.1f}s{rate}")
        self.task = None


class CollectProgress:
    """One bar for a collection: cycles done, tokens/s and failures, updated from many threads."""

    def __init__(self, console: Console, total: int, done: int = 0):
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn("[bold]cycles"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]} · {task.fields[failures]} failures"),
            TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task("cycles", total=total, completed=done, rate="0.0 tok/s", failures=0)
        self.tokens = 0
        self.failures = 0
        self.started = time.perf_counter()

    def __enter__(self) -> CollectProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def on_tokens(self, n: int) -> None:
        self.tokens += n  # += on an int under the GIL: a lost update only skews the display
        rate = self.tokens / max(time.perf_counter() - self.started, 1e-6)
        self.progress.update(self.task, rate=f"{rate:.1f} tok/s")

    def cycle_done(self) -> None:
        self.progress.advance(self.task)

    def failure(self) -> None:
        self.failures += 1
        self.progress.update(self.task, failures=self.failures)


class DraftProgress:
    """One bar for an evaluation: drafts written by both writers."""

    def __init__(self, console: Console, total: int):
        self.progress = Progress(
            SpinnerColumn(), TextColumn("[bold]drafts"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            console=console,
        )
        self.task = self.progress.add_task("drafts", total=total)

    def __enter__(self) -> DraftProgress:
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def advance(self) -> None:
        self.progress.advance(self.task)
