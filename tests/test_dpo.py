"""Real TRL DPO steps on a tiny random model: training moves the policy, the saved adapter
changes log-probabilities, and a second round continues from the first."""

from __future__ import annotations

import pytest

from conftest import scripted_dataset
from paracycle.training.dataset import load_rows
from paracycle.training.dpo import TrainJob, TrainSettings, train

FAST = dict(batch_size=4, max_length=256, learning_rate=5e-3)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return scripted_dataset(tmp_path_factory.mktemp("dpo-runs"))


def chosen_logprob(model_dir, adapter, row) -> float:
    """Sum of log-probabilities of the chosen completion given the prompt."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    prompt = tokenizer.apply_chat_template(row.prompt, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    ids = prompt_ids + tokenizer(row.chosen[0]["content"], add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logits = model(torch.tensor([ids])).logits[0, :-1]
    logprobs = torch.log_softmax(logits, dim=-1)
    targets = torch.tensor(ids[1:])
    return float(logprobs[torch.arange(len(targets)), targets][len(prompt_ids) - 1 :].sum())


def test_two_lora_rounds_move_the_policy(tiny_model, dataset, tmp_path):
    first = train(TrainJob(
        base_model=str(tiny_model), dataset=str(dataset), out=str(tmp_path / "r1-lora"),
        settings=TrainSettings(max_steps=8, **FAST),
    ), log=lambda *a: None)
    assert first.metrics["rewards/margins"] > 0, first.metrics  # on the training pairs
    assert first.metrics["steps"] == 8
    assert "base model" in first.reference
    adapter = tmp_path / "r1-lora"
    assert (adapter / "adapter_config.json").is_file()
    assert not (tmp_path / "r1-lora.partial").exists()

    row = load_rows(dataset)[0]
    base = chosen_logprob(tiny_model, None, row)
    tuned = chosen_logprob(tiny_model, adapter, row)
    assert abs(tuned - base) > 1e-3

    second = train(TrainJob(
        base_model=str(tiny_model), parent_adapter=str(adapter), dataset=str(dataset),
        out=str(tmp_path / "r2-lora"), settings=TrainSettings(max_steps=4, loss_type=["sigmoid", "sft"], **FAST),
    ), log=lambda *a: None)
    assert "parent adapter" in second.reference
    assert not (tmp_path / "r2-lora" / "ref").exists()  # only the trained adapter is saved
    assert abs(chosen_logprob(tiny_model, tmp_path / "r2-lora", row) - tuned) > 1e-3


def test_full_fine_tuning_writes_a_checkpoint(tiny_model, dataset, tmp_path):
    result = train(TrainJob(
        base_model=str(tiny_model), dataset=str(dataset), out=str(tmp_path / "full"),
        settings=TrainSettings(mode="full", max_steps=1, **FAST),
    ), log=lambda *a: None)
    assert (tmp_path / "full" / "config.json").is_file()
    assert "the base model, loaded again by TRL" in result.reference
    assert chosen_logprob(tmp_path / "full", None, load_rows(dataset)[0]) != chosen_logprob(tiny_model, None, load_rows(dataset)[0])


def test_bf16_on_cpu_is_refused(tiny_model, dataset, tmp_path):
    with pytest.raises(ValueError, match="bf16"):
        train(TrainJob(
            base_model=str(tiny_model), dataset=str(dataset), out=str(tmp_path / "x"),
            settings=TrainSettings(bf16=True, max_steps=1, **FAST),
        ), log=lambda *a: None)


def test_training_runs_under_accelerate_launch_on_two_processes(tiny_model, dataset, tmp_path):
    """The multi-GPU path on CPU: `accelerate launch` with a config file, two processes
    (torchrun; without GPUs accelerate joins them over gloo), one adapter saved by rank 0,
    and TRL's log history back in the result."""
    from paracycle.training.dpo import train_with_launcher

    config = tmp_path / "accelerate.yaml"
    config.write_text("compute_environment: LOCAL_MACHINE\ndistributed_type: MULTI_GPU\nnum_machines: 1\n"
                      "machine_rank: 0\nnum_processes: 2\nmixed_precision: 'no'\nmain_process_port: 0\n")
    job = TrainJob(
        base_model=str(tiny_model), dataset=str(dataset), out=str(tmp_path / "launched"),
        settings=TrainSettings(max_steps=1, launcher="accelerate", num_processes=2, accelerate_config=str(config),
                               **{**FAST, "batch_size": 2}),
    )
    result = train_with_launcher(job, tmp_path / "job.json", log=lambda *a: None)
    assert result.metrics["processes"] == 2
    assert result.metrics["steps"] == 1 and "rewards/margins" in result.metrics
    assert [h["step"] for h in result.history] == [1.0]
    assert (tmp_path / "launched" / "adapter_config.json").is_file()


def test_a_full_round_after_a_lora_round_precomputes_its_reference(tiny_model, tiny_adapter, dataset, tmp_path):
    """Base + merged adapter has no checkpoint TRL could load as the reference, so TRL
    computes the reference's log-probs once, before training."""
    result = train(TrainJob(
        base_model=str(tiny_model), parent_adapter=str(tiny_adapter), dataset=str(dataset), out=str(tmp_path / "full"),
        settings=TrainSettings(mode="full", max_steps=1, **FAST),
    ), log=lambda *a: None)
    assert "precomputed by TRL" in result.reference and (tmp_path / "full" / "config.json").is_file()
