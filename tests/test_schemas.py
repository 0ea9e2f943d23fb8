"""Schemas: what an argument structure must satisfy, and the schema a reviewer is held to."""

from __future__ import annotations

import json

import pytest
import yaml
from pydantic import ValidationError

from paracycle.engines.base import parse_structured
from paracycle.schemas import ArgumentStructure, Review, grounded_review_schema

from conftest import EXAMPLES


def example(name="sparse-retrieval.yaml") -> dict:
    return yaml.safe_load((EXAMPLES / name).read_text())


@pytest.mark.parametrize("name", ["sparse-retrieval.yaml", "coral-thermal.yaml", "cache-scheduling.yaml"])
def test_examples_are_valid(name):
    s = ArgumentStructure.model_validate(example(name))
    assert s.content_hash() == ArgumentStructure.model_validate(example(name)).content_hash()


def test_unknown_key_is_an_error():
    data = example()
    data["method"][0]["colour"] = "blue"
    with pytest.raises(ValidationError, match="colour"):
        ArgumentStructure.model_validate(data)


def test_duplicate_evidence_ids_are_an_error():
    data = example()
    data["evidence"][1]["id"] = data["evidence"][0]["id"]
    with pytest.raises(ValidationError, match="repeats id"):
        ArgumentStructure.model_validate(data)


def test_dangling_evidence_reference_is_an_error():
    data = example()
    data["claims"][0]["evidence"] = ["NOPE"]
    with pytest.raises(ValidationError, match="'NOPE', which does not exist"):
        ArgumentStructure.model_validate(data)


def test_realization_type_is_an_enum():
    data = example()
    data["realization_type"] = "surprising"
    with pytest.raises(ValidationError):
        ArgumentStructure.model_validate(data)


def test_hash_ignores_key_order():
    data = example()
    reordered = dict(reversed(list(data.items())))
    assert ArgumentStructure.model_validate(data).content_hash() == ArgumentStructure.model_validate(reordered).content_hash()


def _review(paragraph_ids, evidence_ids):
    return {
        "central_realization": {"text": "t", "type": "enabling", "why_this_type": "w"},
        "paragraph_roles": [{"paragraph_id": p, "role": "gap_analysis", "function": "f"} for p in paragraph_ids],
        "commitments": [{"claim": "c", "source_paragraph": "abstract", "status": "partial",
                         "evidence_ids": evidence_ids, "fulfilled_in": "Table 2"}],
        "weaknesses": [], "strengths": [],
        "scores": {"closure": 3, "flow": 4, "clarity": 5, "significance": 6, "overall": 7},
    }


def test_grounded_schema_accepts_only_real_ids():
    schema = grounded_review_schema(["intro_p1", "intro_p2"], ["E1"])
    ok = json.dumps(_review(["intro_p1", "intro_p2"], ["E1"]))
    parsed, status, error = parse_structured(ok, schema)
    assert status == "ok" and error is None
    assert Review.model_validate(parsed.model_dump()).scores.overall == 7
    for bad in (_review(["intro_p1", "intro_p9"], ["E1"]), _review(["intro_p1", "intro_p2"], ["E7"]),
                _review(["intro_p1"], ["E1"]),  # a paragraph left unassessed
                _review(["intro_p1", "intro_p1"], ["E1"]),  # one assessed twice
                _review(["intro_p2", "intro_p1"], ["E1"])):  # out of order
        assert parse_structured(json.dumps(bad), schema)[1] == "failed"


def test_grounded_schema_is_generated_from_review():
    schema = grounded_review_schema(["intro_p1"], ["E1"]).model_json_schema()
    assert list(schema["properties"]) == list(Review.model_json_schema()["properties"])
    # analysis before scores: the model reasons before it grades
    assert list(schema["properties"])[-1] == "scores"


def test_scores_are_bounded():
    data = _review(["intro_p1"], [])
    data["scores"]["overall"] = 11
    assert parse_structured(json.dumps(data), Review)[1] == "failed"


def _properties(schema: dict):
    """(model, field, property schema) for every field of every model in a JSON schema."""
    for name, model in {"ArgumentStructure": schema, **schema.get("$defs", {})}.items():
        for field, prop in model.get("properties", {}).items():
            yield name, field, prop


def test_every_input_field_is_bounded_and_its_description_says_so():
    from paracycle.schemas import MAX_ID, MAX_ITEMS, MAX_TEXT

    for model, field, prop in _properties(ArgumentStructure.model_json_schema()):
        where = f"{model}.{field}"
        variants = prop.get("anyOf", [prop])  # "field: str | None"
        for variant in variants:
            if variant.get("type") == "string" and "enum" not in variant:
                assert variant.get("maxLength") in (MAX_TEXT, MAX_ID), where
                assert "at most" in prop.get("description", ""), where
            if variant.get("type") == "array":
                assert variant.get("maxItems") == MAX_ITEMS, where
                assert f"at most {MAX_ITEMS} items" in prop["description"], where
                if variant["items"].get("type") == "string":
                    assert variant["items"].get("maxLength") in (MAX_TEXT, MAX_ID), where


def test_bounds_are_far_above_a_real_paper_and_exact():
    from paracycle.schemas import MAX_ITEMS, MAX_TEXT

    data = example()
    data["problem"] = "x" * MAX_TEXT
    data["limitations"] = ["a limitation"] * MAX_ITEMS
    ArgumentStructure.model_validate(data)
    data["problem"] += "x"
    with pytest.raises(ValidationError, match="problem"):
        ArgumentStructure.model_validate(data)
    data = example()
    data["contributions"] = ["c"] * (MAX_ITEMS + 1)
    with pytest.raises(ValidationError, match="contributions"):
        ArgumentStructure.model_validate(data)
