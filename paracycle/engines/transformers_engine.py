"""In-process engine on transformers `generate()`, JSON-constrained with xgrammar.

Requests are grouped by sampling parameters and by whether they are constrained, so that
each group runs as one padded batch: one `generate()` call per group and chunk, never one
call per sequence. Constrained rows in one batch may use different schemas: xgrammar's
processor takes one grammar per row.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import torch
from pydantic import BaseModel
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    StoppingCriteria,
    StoppingCriteriaList,
)

from paracycle.engines.base import (
    ChatRequest,
    Engine,
    GenerationResult,
    TokenCallback,
    adapter_name,
    check_fits,
    json_schema_of,
    parse_structured,
    render_chat,
)

# A weak model pads JSON with whitespace until it runs out of tokens: allow none between
# JSON tokens (the grammar still allows spaces inside strings).
_JSON_WHITESPACE = False


class _CountTokens(StoppingCriteria):
    """Never stops generation; reports how many sequences produced a token this step."""

    def __init__(self, callback: TokenCallback, eos_ids: set[int]):
        self.callback = callback
        self.eos_ids = torch.tensor(sorted(eos_ids))
        self.done: torch.Tensor | None = None

    def __call__(self, input_ids: torch.LongTensor, scores, **kwargs) -> torch.BoolTensor:
        last = input_ids[:, -1]
        if self.done is None:
            self.done = torch.zeros_like(last, dtype=torch.bool)
        self.callback(int((~self.done).sum()))
        self.done |= torch.isin(last, self.eos_ids.to(last.device))
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


class TransformersEngine(Engine):
    def __init__(
        self,
        model_path: str | Path,
        model_id: str | None = None,
        device: str | None = None,
        max_batch_size: int = 8,
        trust_remote_code: bool = False,
        adapter: str | Path | None = None,
    ):
        self.model_path = str(model_path)
        self.model_id = model_id or Path(self.model_path).name
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device.startswith("cuda") else torch.float32
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path, trust_remote_code=trust_remote_code)
        self.model = AutoModelForCausalLM.from_pretrained(
            self.model_path, dtype=dtype, trust_remote_code=trust_remote_code
        ).to(self.device)
        if adapter is not None:
            # A round's LoRA adapter on top of the base: PEFT applies it in every forward.
            from peft import PeftModel

            self.model = PeftModel.from_pretrained(self.model, str(adapter))
            self.adapter_id = adapter_name(adapter)
        self.model.eval()
        self.context = self.model.config.max_position_embeddings
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.max_batch_size = max_batch_size
        self._eos_ids = self._stop_token_ids()
        self._grammar_compiler = None
        self._grammars: dict[str, object] = {}

    # -- public ---------------------------------------------------------------------------

    def check(self, requests: Sequence[ChatRequest]) -> None:
        for r in requests:
            prompt = self.tokenizer(render_chat(self.tokenizer, r), add_special_tokens=False)["input_ids"]
            check_fits(len(prompt), r, self.context, self.model_id)

    def generate(
        self, requests: Sequence[ChatRequest], on_tokens: TokenCallback | None = None
    ) -> list[GenerationResult]:
        self.check(requests)
        results: list[GenerationResult | None] = [None] * len(requests)
        for indices in self._batches(requests):
            batch = [requests[i] for i in indices]
            for i, result in zip(indices, self._generate_batch(batch, on_tokens)):
                results[i] = result
        return results  # type: ignore[return-value]

    # -- batching -------------------------------------------------------------------------

    def _batches(self, requests: Sequence[ChatRequest]) -> list[list[int]]:
        groups: dict[tuple, list[int]] = {}
        for i, req in enumerate(requests):
            # Prefills and schemas may differ within a batch: a prefill is part of the prompt,
            # and each constrained row gets its own grammar. Seeds do not split batches either
            # (concurrent cycles each carry their own): a batch is seeded with its first row's.
            key = (req.schema is not None, req.sampling.model_dump_json(exclude={"seed"}))
            groups.setdefault(key, []).append(i)
        batches = []
        for indices in groups.values():
            for start in range(0, len(indices), self.max_batch_size):
                batches.append(indices[start : start + self.max_batch_size])
        return batches

    def _generate_batch(
        self, batch: list[ChatRequest], on_tokens: TokenCallback | None
    ) -> list[GenerationResult]:
        started = time.perf_counter()
        sampling = batch[0].sampling
        texts = [render_chat(self.tokenizer, r) for r in batch]
        inputs = self.tokenizer(
            texts, return_tensors="pt", padding=True, padding_side="left", add_special_tokens=False
        ).to(self.device)
        prompt_width = inputs["input_ids"].shape[1]

        kwargs: dict = dict(
            max_new_tokens=sampling.max_new_tokens,
            repetition_penalty=sampling.repetition_penalty,
            pad_token_id=self.tokenizer.pad_token_id,
            eos_token_id=sorted(self._eos_ids),
        )
        if sampling.temperature > 0:
            kwargs.update(do_sample=True, temperature=sampling.temperature, top_p=sampling.top_p)
        else:
            kwargs.update(do_sample=False)
        if batch[0].schema is not None:
            kwargs["logits_processor"] = [self._json_processor([r.schema for r in batch])]
        if on_tokens is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList([_CountTokens(on_tokens, self._eos_ids)])
        if sampling.seed is not None:
            torch.manual_seed(sampling.seed)

        with torch.inference_mode():
            output = self.model.generate(**inputs, **kwargs)
        seconds = (time.perf_counter() - started) / len(batch)

        results = []
        for row, request in enumerate(batch):
            new_tokens = output[row, prompt_width:].tolist()
            used, finished = self._trim_at_stop(new_tokens)
            text = (request.prefill + self.tokenizer.decode(used, skip_special_tokens=True)).strip()
            result = GenerationResult(
                text=text,
                prompt_tokens=int(inputs["attention_mask"][row].sum()),
                completion_tokens=len(used) + (1 if finished else 0),
                finish_reason="stop" if finished else "length",
                seconds=seconds,
            )
            if request.schema is not None:
                result.parsed, result.parse_status, result.parse_error = parse_structured(
                    text, request.schema
                )
            results.append(result)
        return results

    # -- helpers --------------------------------------------------------------------------

    def _stop_token_ids(self) -> set[int]:
        ids = set()
        eos = self.model.generation_config.eos_token_id
        if isinstance(eos, int):
            ids.add(eos)
        elif eos:
            ids.update(eos)
        if self.tokenizer.eos_token_id is not None:
            ids.add(self.tokenizer.eos_token_id)
        im_end = self.tokenizer.convert_tokens_to_ids("<|im_end|>")
        if isinstance(im_end, int) and im_end != self.tokenizer.unk_token_id:
            ids.add(im_end)
        return ids

    def _trim_at_stop(self, tokens: list[int]) -> tuple[list[int], bool]:
        for i, tok in enumerate(tokens):
            if tok in self._eos_ids:
                return tokens[:i], True
        return tokens, False

    def _json_processor(self, schemas: list[type[BaseModel]]):
        # xgrammar's processor keeps per-sequence matcher state: a new one per generate().
        from xgrammar.contrib.hf import LogitsProcessor

        return LogitsProcessor([self._grammar(schema) for schema in schemas])

    def _grammar(self, schema: type[BaseModel]):
        import xgrammar as xgr

        key = json_schema_of(schema)
        if key not in self._grammars:
            if self._grammar_compiler is None:
                info = xgr.TokenizerInfo.from_huggingface(self.tokenizer, vocab_size=self.model.config.vocab_size)
                self._grammar_compiler = xgr.GrammarCompiler(info)
            self._grammars[key] = self._grammar_compiler.compile_json_schema(key, any_whitespace=_JSON_WHITESPACE)
        return self._grammars[key]
