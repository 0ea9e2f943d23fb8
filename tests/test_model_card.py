"""The model card a round writes into its adapter, and the portable base name."""

from __future__ import annotations

import json

import yaml

from paracycle.models import portable_model_name
from paracycle.registry import Policy, RoundManifest
from paracycle.training.dpo import name_base
from paracycle.training.model_card import model_card


def test_the_card_says_what_the_adapter_is_and_how_to_serve_it():
    m = RoundManifest(
        round_id="round-0003", status="trained", parent=Policy(id="round-0002", base_model="embedded",
                                                                adapter="/runs/rounds/round-0002/round-0002-lora"),
        base_model="embedded", seed=7, config={"train": {"loss_type": ["sigmoid", "sft"], "beta": 0.3,
                                                          "learning_rate": 1e-4, "max_steps": 10}},
        reference="previous round's policy", dataset="/runs/pairs/20261206-abcd", threads_used=["a", "b"],
        pair_counts={"revision": 4, "human_anchor": 1}, train_metrics={"train_loss": 0.61, "rewards/margins": 0.2},
    )
    card = model_card(m, "HuggingFaceTB/SmolLM2-135M-Instruct")
    front = yaml.safe_load(card.split("---")[1])
    assert front["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and front["library_name"] == "peft"
    assert "round-0002-lora" in card and "20261206-abcd" in card and "revision 4, human_anchor 1" in card
    assert "--lora-modules round-0003=" in card and "beta 0.3" in card and "train_loss 0.61" in card
    assert "/runs/" not in card  # no machine-local path


def test_portable_names_are_never_local_paths(tmp_path):
    assert portable_model_name("embedded") == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert portable_model_name(str(tmp_path / "my-model")) == "my-model"
    (tmp_path / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": str(tmp_path), "r": 8}))
    name_base(tmp_path, "my-model")
    assert json.loads((tmp_path / "adapter_config.json").read_text()) == {"base_model_name_or_path": "my-model", "r": 8}
