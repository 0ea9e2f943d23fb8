"""A scripted engine for unit tests of the graph's logic (the real engines have their own tests)."""

from __future__ import annotations

import itertools
import json

from paracycle.engines.base import Engine, GenerationResult, parse_structured


def review_json(request, overall: int = 5, closure: int = 5, weakness_on: str | None = None) -> str:
    """A schema-valid review for whatever paragraphs the grounded schema names."""
    defs = request.schema.model_json_schema()["$defs"]
    ids = [name.removeprefix("RoleOf_") for name in defs if name.startswith("RoleOf_")]
    weaknesses = []
    if weakness_on:
        weaknesses.append({"paragraph_id": weakness_on, "issue": "Too vague.", "suggestion": "Be concrete."})
    return json.dumps({
        "central_realization": {"text": "x", "type": "enabling", "why_this_type": "y"},
        "paragraph_roles": [{"paragraph_id": i, "role": "scene_setting", "function": "f"} for i in ids],
        "commitments": [],
        "weaknesses": weaknesses,
        "strengths": ["clear"],
        "scores": {"closure": closure, "flow": 5, "clarity": 5, "significance": 5, "overall": overall},
    })


class ScriptedEngine(Engine):
    """Plain requests return their prefill plus a fixed sentence; schema requests return
    the next scripted review (a string, or a callable given the request)."""

    model_id = "scripted"

    def __init__(self, reviews=(), continuation: str = " This matters for the field.", fail_on_call: int | None = None):
        self.reviews = list(reviews)
        self.continuation = continuation
        self.fail_on_call = fail_on_call
        self.batches: list[int] = []

    def generate(self, requests, on_tokens=None):
        self.batches.append(len(requests))
        if self.fail_on_call is not None and len(self.batches) == self.fail_on_call:
            raise RuntimeError("simulated crash")
        results = []
        for r in requests:
            if r.schema is None:
                text = r.prefill + self.continuation
            else:
                item = self.reviews.pop(0) if self.reviews else review_json
                text = item(r) if callable(item) else item
            result = GenerationResult(text=text, prompt_tokens=10, completion_tokens=5, finish_reason="stop")
            if r.schema is not None:
                result.parsed, result.parse_status, result.parse_error = parse_structured(text, r.schema)
            results.append(result)
        if on_tokens:
            on_tokens(5 * len(requests))
        return results


class VariedEngine(ScriptedEngine):
    """Every draft text differs, and reviews cycle through scores: rewards differ."""

    def __init__(self):
        super().__init__()
        self.counter = itertools.count()
        self.scores = itertools.cycle([3, 8, 5, 9, 2, 6])

    def generate(self, requests, on_tokens=None):
        results = []
        for r in requests:
            if r.schema is None:
                self.continuation = f" Variant {next(self.counter)} explains why this matters."
            else:
                s = next(self.scores)
                self.reviews = [lambda req, s=s: review_json(req, overall=s, closure=s)]
            results += super().generate([r], on_tokens)
        return results
