"""The options the commands share, declared once: their types, choices, help and the
environment variables they read."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from paracycle import __version__
from paracycle.config import EngineKind, check_directory
from paracycle.resolve import BASE_WRITER
from paracycle.rundir import ENV as RUNS_ENV


def checked_runs_dir(ctx: typer.Context, param: typer.CallbackParam, value: Path) -> Path:
    """Refused before anything runs, naming where the bad path came from."""
    source = ctx.get_parameter_source(param.name)
    from_env = source is not None and source.name == "ENVIRONMENT"
    check_directory(value, RUNS_ENV if from_env else "--runs-dir")
    return value


def print_version(value: bool) -> None:
    if value:
        print(f"paracycle {__version__}")
        raise typer.Exit()


ModelOpt = Annotated[
    Optional[str],
    typer.Option("--model", help='"embedded" (SmolLM2-135M-Instruct), a HF checkpoint dir, or (openai) a served model'),
]
EngineOpt = Annotated[
    Optional[EngineKind],
    typer.Option("--engine", help="auto: openai with --base-url, else vllm when installed"),
]
AdapterOpt = Annotated[
    Optional[str],
    typer.Option("--adapter", help=f'LoRA adapter directory for the writer (default: the promoted round\'s; "{BASE_WRITER}": the base)'),
]
BaseUrlOpt = Annotated[Optional[str], typer.Option("--base-url", help="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1; several, comma-separated")]
ConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="YAML/JSON run config (see README)")]
RoundConfigOpt = Annotated[Optional[Path], typer.Option("--config", help="round config (YAML/JSON, `kind: round`)")]
SeedOpt = Annotated[Optional[int], typer.Option("--seed", help="sampling seed for reproducible runs")]
RevisionsOpt = Annotated[Optional[int], typer.Option(min=0, help="revisions after the first draft")]
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON on stdout instead of a summary")]
HtmlOpt = Annotated[Optional[Path], typer.Option("--html", metavar="FILE", help="also write a self-contained HTML view (ledger, diffs, highlighted claims) to FILE")]
RunsOpt = Annotated[
    Path,
    typer.Option("--runs-dir", envvar=RUNS_ENV, show_envvar=True, callback=checked_runs_dir, help="run directory"),
]
