"""Imports run one way: each layer imports only the layers before it, and no module takes
part in an import cycle. Read from the source with `ast`, function-local imports included."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOP_LEVEL = {"agents": "paracycle.agents", "graphs": "paracycle.graphs", "training": "paracycle.training",
             "eval": "paracycle.eval", "paracycle": "paracycle"}
# Everything else under paracycle/ is the core (layer 0).
LAYERS = [
    ("paracycle.agents",),
    ("paracycle.eval",),
    ("paracycle.graphs",),
    ("paracycle.collect", "paracycle.ingest.pipeline"),
    ("paracycle.training",),
    ("paracycle.jobs",),
    ("paracycle.cli",),
]


def layer(module: str) -> int:
    for rank, prefixes in enumerate(LAYERS, start=1):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    return 0


def modules() -> dict[str, Path]:
    found = {}
    for folder, package in TOP_LEVEL.items():
        for path in (ROOT / folder).rglob("*.py"):
            parts = [*package.split("."), *path.relative_to(ROOT / folder).with_suffix("").parts]
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(path: Path, known: dict[str, Path]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("paracycle"):
            out.add(node.module)
            out |= {f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in known}
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("paracycle")}
    # a package's own __init__ is not a dependency on the layer
    return {m for m in out if m in known and known[m].name != "__init__.py"}


def test_each_layer_imports_only_the_layers_before_it():
    known = modules()
    assert len(known) > 40
    backwards = [
        f"{name} (layer {layer(name)}) imports {dep} (layer {layer(dep)})"
        for name, path in known.items()
        for dep in imports(path, known)
        if layer(dep) > layer(name)
    ]
    assert backwards == []


def test_no_module_is_part_of_an_import_cycle():
    known = modules()
    graph = {name: imports(path, known) - {name} for name, path in known.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(name: str, path: list[str]) -> list[str] | None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                return [*path, name, dep]
            if dep not in state and (cycle := visit(dep, [*path, name])):
                return cycle
        state[name] = 2
        return None

    for name in sorted(graph):
        if name not in state:
            assert visit(name, []) is None


def test_loading_a_config_imports_no_heavy_library():
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import paracycle.config"],
                          capture_output=True, text=True, check=True)
    loaded = {line.split("|")[-1].strip().split(".")[0] for line in done.stderr.splitlines() if "|" in line}
    assert "paracycle" in loaded  # the parse works
    assert loaded.isdisjoint({"torch", "transformers", "vllm", "trl", "langgraph", "datasets", "peft"})
