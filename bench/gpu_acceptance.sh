#!/usr/bin/env bash
# GPU acceptance: run as is on a machine with one NVIDIA GPU, from the repository root.
#
#   bash bench/gpu_acceptance.sh [MODEL]     # MODEL: "embedded" (default) or a HF checkpoint dir
#
# 1. installs the CUDA builds (torch and vllm from PyPI) into .venv-gpu;
# 2. a cycle and a collection with in-process vLLM;
# 3. `vllm serve` with LoRA on 127.0.0.1, a collection against it, and a LoRA adapter
#    trained here served by it from another directory (--lora-modules);
# 4. one corpus round (examples/corpus/round.yaml on vLLM, with a GPU-sized collection);
# 5. prints the figures: tokens/s raw and in collection, utilization, GPU utilization and
#    memory, round minutes. Everything goes to runs/gpu-acceptance/ (log.txt has it all).
#
# It stops at the first failing step (set -e) and says which.
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL="${1:-embedded}"
OUT=runs/gpu-acceptance
VENV=.venv-gpu
PY="$VENV/bin/python"
PC="$VENV/bin/paracycle"
PORT="${PORT:-8765}"
mkdir -p "$OUT"
exec > >(tee -a "$OUT/log.txt") 2>&1
step() { echo; echo "=== $(date -u +%H:%M:%S) $*"; }
trap 'echo "FAILED at: $BASH_COMMAND (line $LINENO)"; [ -n "${SERVER:-}" ] && kill "$SERVER" 2>/dev/null || true' ERR

step "GPU"
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader

step "install (CUDA builds of torch and vllm)"
make install install-vllm VENV="$VENV" TORCH=torch VLLM=vllm
"$PY" -c "import torch, vllm; assert torch.cuda.is_available(), 'torch sees no GPU'; print('torch', torch.__version__, 'vllm', vllm.__version__, torch.cuda.get_device_name(0))"

# GPU utilization sampled once a second while the steps below run
nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader,nounits -l 1 > "$OUT/gpu.csv" &
SMI=$!
trap 'kill $SMI 2>/dev/null || true' EXIT

step "a cycle with in-process vLLM"
time "$PC" cycle examples/sparse-retrieval.yaml --engine vllm --model "$MODEL" --seed 0 \
    --runs-dir "$OUT/runs" --html "$OUT/cycle.html"

step "throughput: collect vs one raw batch, transformers and vLLM (bench/collect_throughput.py)"
"$PY" bench/collect_throughput.py | tee "$OUT/throughput.txt"

step "vllm serve with LoRA, and a collection against it"
CHECKPOINT=$("$PY" -c "from paracycle.models import resolve_model; print(resolve_model('$MODEL')[0])")
NAME=$("$PY" -c "from paracycle.models import portable_model_name; print(portable_model_name('$MODEL'))")
VLLM_ALLOW_RUNTIME_LORA_UPDATING=True "$VENV/bin/vllm" serve "$CHECKPOINT" --served-model-name "$NAME" \
    --port "$PORT" --enable-lora --max-lora-rank 16 \
    --structured-outputs-config '{"backend": "xgrammar", "disable_any_whitespace": true}' > "$OUT/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 1; done
time "$PC" collect examples/ --samples 8 --concurrency 32 --engine openai --base-url "http://127.0.0.1:$PORT/v1" \
    --model "$NAME" --seed 0 --runs-dir "$OUT/served" | tee "$OUT/served.txt"
kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=

step "one corpus round on vLLM"
sed -e 's/engine: transformers/engine: vllm/' -e 's/per_round: 6 /per_round: 24 /' -e 's/samples: 2  /samples: 4  /' \
    -e "s#model: embedded#model: $MODEL#" examples/corpus/round.yaml > examples/corpus/round-gpu.yaml
START=$(date +%s)
"$PC" round --config examples/corpus/round-gpu.yaml --runs-dir "$OUT/round" --json > "$OUT/round.json"
ROUND_MIN=$(( ($(date +%s) - START) / 60 ))
rm -f examples/corpus/round-gpu.yaml
ADAPTER=$("$PY" -c "import json; print(json.load(open('$OUT/round.json'))['adapter'] or '')")

step "the round's adapter served from another directory (--lora-modules)"
if [ -n "$ADAPTER" ]; then
    ELSEWHERE=$(mktemp -d); cp -r "$ADAPTER" "$ELSEWHERE/round-adapter"
    "$VENV/bin/vllm" serve "$CHECKPOINT" --served-model-name "$NAME" --port "$PORT" --enable-lora \
        --max-lora-rank 16 --lora-modules "round=$ELSEWHERE/round-adapter" > "$OUT/serve-lora.log" 2>&1 &
    SERVER=$!
    for _ in $(seq 600); do curl -sf "http://127.0.0.1:$PORT/v1/models" >/dev/null && break; sleep 1; done
    curl -sf "http://127.0.0.1:$PORT/v1/models" | "$PY" -c "import json,sys; ids=[m['id'] for m in json.load(sys.stdin)['data']]; print('served:', ids); assert 'round' in ids"
    kill "$SERVER"; wait "$SERVER" 2>/dev/null || true; SERVER=
else
    echo "the round trained no adapter (see $OUT/round.json)"
fi

step "figures"
kill $SMI 2>/dev/null || true
"$PY" - "$OUT" "$ROUND_MIN" <<'EOF'
import json, sys
from pathlib import Path
out, round_min = Path(sys.argv[1]), sys.argv[2]
gpu = [line.split(",") for line in (out / "gpu.csv").read_text().splitlines() if line.strip()]
util = [float(u) for u, _ in gpu]
mem = [float(m) for _, m in gpu]
round_ = json.loads((out / "round.json").read_text())
served = (out / "served.txt").read_text().splitlines()
print("throughput:", (out / "throughput.txt").read_text().strip().splitlines()[-1])
print("collection against vllm serve:", next((l for l in served if l.startswith("collected")), "?"))
print(f"GPU utilization: mean {sum(util) / len(util):.0f}%, max {max(util):.0f}%; memory max {max(mem):.0f} MiB")
print(f"round: {round_['decision']} in {round_min} minutes; timings {round_['timings']}")
EOF
