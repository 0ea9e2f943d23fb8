"""One DPO round on the writer with TRL's `DPOTrainer`.

LoRA by default. The reference policy is always the *previous* round's writer:
- no parent adapter: a fresh LoRA on the base; TRL's reference is the base with the adapter
  disabled, which is the previous writer;
- a parent adapter: training continues that adapter (so one adapter always describes the whole
  lineage and engines load a single LoRA), and TRL freezes a copy of it as the reference;
- full fine-tuning: the parent checkpoint (base, base + merged parent adapter, or a previous full
  round) is trained, and TRL makes the reference: it loads the checkpoint again (sharded like
  the policy under DeepSpeed ZeRO-3 or FSDP), or, for a merged adapter that has no checkpoint,
  precomputes the reference's log-probs before training.
- on a GPU with bf16, a LoRA round loads the frozen base in bf16.

TRL's per-step log history comes back with the result (`TrainResult.history`).

The result is written to `<out>.partial` and renamed to `<out>` only when training and saving
have finished: a round killed mid-training leaves no adapter that looks complete.

Also an entry point, so a round's training can run on several GPUs:

    accelerate launch -m paracycle.training.dpo --job job.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Literal

from pydantic import Field

from paracycle import lifeline
from paracycle.fsutil import publish_dir
from paracycle.models import portable_model_name
from paracycle.schemas import Strict

LossType = Literal["sigmoid", "hinge", "ipo", "robust", "sft", "sigmoid_norm", "apo_zero", "apo_down"]


class TrainSettings(Strict):
    mode: Literal["lora", "full"] = "lora"
    loss_type: list[LossType] = Field(
        default_factory=lambda: ["sigmoid"], description='add "sft" for an NLL term on the chosen text'
    )
    loss_weights: list[float] | None = None
    beta: float = Field(default=0.1, gt=0)
    learning_rate: float = Field(default=1e-4, gt=0)
    max_steps: int = Field(default=60, ge=1)
    batch_size: int = Field(default=4, ge=1)
    gradient_accumulation_steps: int = Field(default=1, ge=1)
    max_length: int = Field(default=768, ge=32, description="prompt + completion tokens")
    max_pairs: int | None = Field(default=None, ge=1, description="train on a seeded sample of at most this many rows")
    lora_r: int = Field(default=8, ge=1, le=16, description="vLLM serves ranks up to 16 here (max_lora_rank)")
    lora_alpha: int = Field(default=16, ge=1)
    lora_dropout: float = Field(default=0.0, ge=0, lt=1)
    target_modules: list[str] = Field(default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"])
    bf16: bool | None = Field(default=None, description="None: on only on a GPU that supports it (never on CPU)")
    gradient_checkpointing: bool = False
    base_model_name: str | None = Field(
        default=None,
        description="the base model's name written into a LoRA adapter (the served model name or hub id); "
                    "default: the embedded model's hub id, or the checkpoint directory's name",
    )
    launcher: Literal["inprocess", "accelerate"] = "inprocess"
    num_processes: int = Field(default=1, ge=1, description="accelerate launcher: processes (GPUs)")
    accelerate_config: str | None = Field(
        default=None,
        description="accelerate launcher: an accelerate config file (DeepSpeed ZeRO-2/3, FSDP), relative to the round config",
    )
    precompute_ref_log_probs: bool | None = Field(
        default=None,
        description="full mode: the reference's log-probs computed once before training (TRL); None: only when "
                    "the reference is not a checkpoint TRL can load (a full round after a LoRA round)",
    )


class TrainJob(Strict):
    base_model: str  # checkpoint directory
    base_model_name: str | None = None  # what the adapter names as its base: portable, not a local path
    parent_adapter: str | None = None
    parent_model: str | None = None  # a previous full fine-tuning round
    dataset: str  # dataset version directory (holds hf/)
    out: str  # adapter (lora) or checkpoint (full) directory to create
    settings: TrainSettings
    seed: int = 0


class TrainResult(Strict):
    out: str
    reference: str
    metrics: dict[str, float]
    # TRL's log history, one entry per logged step (loss, rewards/margins, rewards/accuracies,
    # ...): the training curve the round's report draws.
    history: list[dict[str, float]] = Field(default_factory=list)


def reference_description(job: TrainJob) -> str:
    s = job.settings
    if s.mode == "lora":
        if job.parent_adapter:
            return f"previous round's policy: a frozen copy of the parent adapter {job.parent_adapter} on the base"
        return "previous round's policy: the base model (the new LoRA adapter disabled)"
    if precompute_reference(job):
        return "previous round's policy (base + merged parent adapter): its log-probs, precomputed by TRL"
    return f"previous round's policy: {job.parent_model or 'the base model'}, loaded again by TRL as the reference"


def precompute_reference(job: TrainJob) -> bool:
    """Full fine-tuning leaves the reference to TRL, which loads it again from the policy's
    checkpoint (and shards it like the policy under DeepSpeed or FSDP). A policy made by
    merging an adapter has no checkpoint to load, so its log-probs are computed up front."""
    s = job.settings
    if s.mode != "full":
        return False
    return s.precompute_ref_log_probs if s.precompute_ref_log_probs is not None else job.parent_adapter is not None


def train(job: TrainJob, log=print) -> TrainResult:
    # torch, datasets, transformers, trl: off the start-up path
    import torch
    from datasets import load_from_disk
    from transformers import AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    s = job.settings
    started = time.perf_counter()
    on_gpu = torch.cuda.is_available()
    bf16 = s.bf16 if s.bf16 is not None else (on_gpu and torch.cuda.is_bf16_supported())
    if bf16 and not on_gpu:
        raise ValueError("bf16 training needs a GPU; set train.bf16: false on CPU")

    dataset = load_from_disk(str(Path(job.dataset) / "hf")).select_columns(["prompt", "chosen", "rejected"])
    if s.max_pairs is not None and len(dataset) > s.max_pairs:
        dataset = dataset.shuffle(seed=job.seed).select(range(s.max_pairs))
    tokenizer = AutoTokenizer.from_pretrained(job.base_model)
    model, peft_config = _policy(job, bf16)

    out = Path(job.out)
    partial = out.with_name(out.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    args = DPOConfig(
        output_dir=str(partial.with_name(partial.name + "-trainer")),
        use_cpu=not on_gpu,
        bf16=bf16,
        beta=s.beta,
        loss_type=list(s.loss_type),
        loss_weights=s.loss_weights,
        learning_rate=s.learning_rate,
        max_steps=s.max_steps,
        per_device_train_batch_size=s.batch_size,
        per_device_eval_batch_size=s.batch_size,
        gradient_accumulation_steps=s.gradient_accumulation_steps,
        max_length=s.max_length,
        gradient_checkpointing=s.gradient_checkpointing,
        precompute_ref_log_probs=precompute_reference(job),
        logging_steps=1,
        save_strategy="no",
        report_to="none",
        seed=job.seed,
        data_seed=job.seed,
    )
    trainer = DPOTrainer(
        model=model, ref_model=None, args=args, train_dataset=dataset,
        processing_class=tokenizer, peft_config=peft_config,
        # The pairs the margin is measured on after training (at most 32 keep it cheap on CPU),
        # given now: with precomputed reference log-probs the reference exists only before training.
        eval_dataset=dataset.shuffle(seed=job.seed).select(range(min(len(dataset), 32))),
    )
    log(f"DPO ({s.mode}, loss {'+'.join(s.loss_type)}, beta {s.beta}) on {len(dataset)} pairs, {s.max_steps} steps")
    # The trainer prints its log lines on stdout; stdout belongs to results (`--json`).
    with contextlib.redirect_stdout(sys.stderr):
        train_output = trainer.train()
        # The implicit reward margin on the training pairs, measured after training: positive
        # means the policy now prefers chosen over rejected more than the reference does.
        evaluation = trainer.evaluate()

    if trainer.accelerator.is_main_process:
        partial.mkdir(parents=True)
        policy = trainer.accelerator.unwrap_model(trainer.model)
        if s.mode == "lora":
            policy.save_pretrained(str(partial), selected_adapters=["default"])
            name_base(partial, job.base_model_name or portable_model_name(job.base_model))
        else:
            policy.save_pretrained(str(partial))
            tokenizer.save_pretrained(str(partial))
        publish_dir(partial, out)
        shutil.rmtree(args.output_dir, ignore_errors=True)
    metrics = {
        "train_loss": float(train_output.training_loss),
        "steps": float(train_output.global_step),
        "pairs": float(len(dataset)),
        "processes": float(trainer.accelerator.num_processes),
        "seconds": round(time.perf_counter() - started, 1),
    }
    for key, value in evaluation.items():
        name = key.removeprefix("eval_")
        if "/" in name and isinstance(value, (int, float)):  # rewards/margins, logps/chosen, ...
            metrics[name] = float(value)
    if "rewards/chosen" in metrics:
        metrics["logp_shift"] = abs(metrics["rewards/chosen"]) / s.beta
    return TrainResult(out=str(out), reference=reference_description(job), metrics=metrics,
                       history=training_history(trainer.state.log_history))


def name_base(adapter_dir: Path, name: str) -> None:
    """PEFT writes the base model's local path into adapter_config.json; another machine, and
    vLLM's LoRA resolver, need the name the base is served or published under."""
    config_file = Path(adapter_dir) / "adapter_config.json"
    config = json.loads(config_file.read_text())
    config["base_model_name_or_path"] = name
    config_file.write_text(json.dumps(config, indent=2, sort_keys=True))


def training_history(log_history: list[dict]) -> list[dict[str, float]]:
    """The per-step training entries (those with a loss and a step), numbers only; the
    summary entry TRL appends at the end and the evaluation entry are left out."""
    out = []
    for entry in log_history:
        if "loss" not in entry or "step" not in entry:
            continue
        out.append({k: float(v) for k, v in entry.items() if isinstance(v, (int, float)) and not isinstance(v, bool)})
    return out


def _policy(job: TrainJob, bf16: bool):
    """(policy, peft_config or None). The reference is never built here: with LoRA it is the
    policy with its adapter disabled, in full mode TRL makes it (see `precompute_reference`)."""
    # torch, peft, transformers: off the start-up path
    import torch
    from peft import LoraConfig, PeftModel
    from transformers import AutoModelForCausalLM

    s = job.settings
    source = job.parent_model or job.base_model
    # A LoRA round trains only the adapter: the frozen base can sit in bf16 on a GPU. Full
    # fine-tuning keeps fp32 master weights (bf16 is then autocast, not storage).
    dtype = torch.bfloat16 if bf16 and s.mode == "lora" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    if s.mode == "lora":
        if job.parent_model:
            raise ValueError("a LoRA round cannot follow a full fine-tuning round; keep train.mode: full")
        if job.parent_adapter:
            return PeftModel.from_pretrained(model, job.parent_adapter, is_trainable=True), None
        config = LoraConfig(
            r=s.lora_r, lora_alpha=s.lora_alpha, lora_dropout=s.lora_dropout,
            target_modules=list(s.target_modules), task_type="CAUSAL_LM",
        )
        return model, config
    if job.parent_adapter:
        # PEFT froze the base weights when it wrapped them; merged, they are the policy to train.
        model = PeftModel.from_pretrained(model, job.parent_adapter).merge_and_unload().requires_grad_(True)
    return model, None


def train_with_launcher(job: TrainJob, job_file: Path, log=print) -> TrainResult:
    """In this process, or under `accelerate launch` (multi-GPU) in a child process."""
    if job.settings.launcher == "inprocess":
        return train(job, log=log)
    lifeline.ensure()  # the launched trainers die with this process, even on SIGKILL
    job_file.write_text(job.model_dump_json(indent=2))
    result_file = job_file.with_suffix(".result.json")
    result_file.unlink(missing_ok=True)
    config = ["--config_file", job.settings.accelerate_config] if job.settings.accelerate_config else []
    command = [
        sys.executable, "-m", "accelerate.commands.launch", *config, "--num_processes", str(job.settings.num_processes),
        "-m", "paracycle.training.dpo", "--job", str(job_file), "--result", str(result_file),
    ]
    log("running: " + " ".join(command))
    subprocess.run(command, check=True)
    return TrainResult.model_validate_json(result_file.read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description="One DPO round (a TrainJob JSON file); runs under accelerate launch")
    parser.add_argument("--job", required=True, type=Path)
    parser.add_argument("--result", type=Path, help="where the main process writes the TrainResult JSON")
    args = parser.parse_args()
    job = TrainJob.model_validate_json(args.job.read_text())
    result = train(job)
    if args.result and int(os.environ.get("RANK", "0")) == 0:
        args.result.write_text(json.dumps(result.model_dump(), indent=2))


if __name__ == "__main__":
    main()
