"""Config resolution in one place: a config file, the command line's overrides and the run
directory become the run config a command runs with.

Precedence: flags override the file, the file overrides the defaults. A writer that names
no adapter gets the newest promoted round's (`--adapter none` keeps the base model), and a
seed reaches every sampling step. The result is checked (models, adapters, servers) before
anything is opened or written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from paracycle.config import RunConfig, load_config
from paracycle.errors import InputError
from paracycle.models import check_run_config
from paracycle.registry import Policy, RoundRegistry
from paracycle.rundir import RunDir

# What `--adapter` takes to mean the base model; only the command line spells it.
BASE_WRITER = "none"


@dataclass(frozen=True, kw_only=True)
class Overrides:
    """The command line's flags; None means "not given". They name the writer's engine."""

    engine: str | None = None
    model: str | None = None
    adapter: str | None = None  # a directory, or BASE_WRITER
    base_url: str | None = None
    seed: int | None = None
    max_revisions: int | None = None

    @property
    def base_writer(self) -> bool:
        return self.adapter is not None and self.adapter.lower() == BASE_WRITER


def resolve_run_config(
    config_file: Path | None,
    overrides: Overrides = Overrides(),
    run_dir: RunDir | None = None,
    log: Callable[[str], None] = print,
) -> RunConfig:
    """`run_dir`: where promoted writers are looked up (None: never, e.g. for the analyst)."""
    return apply_overrides(load_config(config_file), overrides, run_dir, log)


def apply_overrides(
    run: RunConfig, overrides: Overrides, run_dir: RunDir | None, log: Callable[[str], None] = print
) -> RunConfig:
    """A loaded config with the command line's flags applied, checked and seeded."""
    run = run.model_copy(deep=True)
    writer = {"engine": overrides.engine, "model": overrides.model, "base_url": overrides.base_url}
    writer = {k: v for k, v in writer.items() if v is not None}
    if overrides.adapter is not None:
        writer["adapter"] = None if overrides.base_writer else overrides.adapter
    if writer:  # validated like the file's fields (an unknown --engine is an InputError)
        run.writer = run.writer.model_validate({**run.writer.model_dump(), **writer})
    if overrides.seed is not None:
        run.seed = overrides.seed
    if overrides.max_revisions is not None:
        run.cycle.max_revisions = overrides.max_revisions
    if run.writer.adapter is None and not overrides.base_writer and run_dir is not None:
        run = _promoted_writer(run, run_dir, log)
    check_run_config(run)
    run.cycle = run.cycle.with_seed(run.seed)
    return run


def _promoted_writer(run: RunConfig, run_dir: RunDir, log: Callable[[str], None]) -> RunConfig:
    if not run_dir.has_store():
        return run
    store = run_dir.open_store()
    try:
        policy = RoundRegistry(store).current(run.writer.model)
    finally:
        store.close()
    if policy.is_base:
        return run
    log(f"writer: promoted {policy.id} ({policy.adapter or policy.model}); --adapter none for the base model")
    return policy.writes(run)


def resolve_policy(name: str, base_model: str, run_dir: RunDir, where: str) -> Policy:
    """A writer named on the command line: "base", a round id (its trained weights, checked
    against their digest), an adapter directory, or a full checkpoint directory."""
    if name.lower() in ("base", BASE_WRITER):
        return Policy(id="base", base_model=base_model)
    path = Path(name)
    if path.is_dir():
        if (path / "adapter_config.json").is_file():
            return Policy(id=path.name, base_model=base_model, adapter=str(path.resolve()))
        if (path / "config.json").is_file():
            return Policy(id=path.name, base_model=base_model, model=str(path.resolve()))
        raise InputError(where, f"{name} holds neither a LoRA adapter (adapter_config.json) nor a model (config.json)")
    if re.fullmatch(r"round-\d+", name):
        rounds = []
        if run_dir.has_store():
            store = run_dir.open_store()
            try:
                registry = RoundRegistry(store)
                rounds = [r for r in registry.rounds() if r.round_id == name]
                weights = registry.verified_weights(rounds[0]) if rounds and (rounds[0].adapter or rounds[0].model) else None
            finally:
                store.close()
        if not rounds:
            raise InputError(where, f"no round {name} in {run_dir.root} (see `paracycle rounds list`)")
        if weights is None:
            raise InputError(where, f"{name} has no trained weights (it ended {rounds[0].status})")
        m = rounds[0]
        return Policy(id=name, base_model=m.base_model, adapter=str(weights) if m.adapter else None,
                      model=str(weights) if m.model else None)
    raise InputError(where, f"{name!r} is not 'base', a round id (round-0001) or an adapter or model directory")
