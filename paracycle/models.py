"""Which model serves the agents: the embedded default or a local HF checkpoint."""

from __future__ import annotations

from pathlib import Path

from paracycle.embedded import EMBEDDED_MODEL_ID, ensure_embedded_checkpoint
from paracycle.errors import InputError


def check_model_spec(spec: str) -> None:
    """Fail fast (before anything is opened or written) on a model that cannot load."""
    if spec != "embedded" and not (Path(spec).expanduser() / "config.json").is_file():
        raise InputError(spec, 'not a model directory (no config.json); use "embedded" or a HF checkpoint dir', field="--model")


def resolve_model(spec: str, log=print) -> tuple[Path, str]:
    """(checkpoint directory, model id) for "embedded" or a directory holding a HF checkpoint."""
    check_model_spec(spec)
    if spec == "embedded":
        return ensure_embedded_checkpoint(log=log), EMBEDDED_MODEL_ID
    path = Path(spec).expanduser()
    return path, path.resolve().name


def load_engine(spec: str, log=print):
    from paracycle.engines.transformers_engine import TransformersEngine

    path, model_id = resolve_model(spec, log=log)
    return TransformersEngine(path, model_id=model_id)
