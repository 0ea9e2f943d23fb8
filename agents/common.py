"""What the agents (and the judge) share: prompts as messages, engine results as trajectory records."""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel

from paracycle.engines.base import ChatRequest, Engine, GenerationResult, TokenCallback
from paracycle.schemas import Generation, SamplingParams


def record(
    engine: Engine, agent: str, purpose: str, request: ChatRequest, result: GenerationResult, attempt: int = 1
) -> Generation:
    prompt = list(request.messages)
    if request.prefill:
        prompt.append({"role": "assistant", "content": request.prefill})
    return Generation(
        agent=agent,
        purpose=purpose,
        model_id=engine.model_id,
        adapter_id=engine.adapter_id,
        sampling=request.sampling,
        prompt=prompt,
        output=result.text,
        parse_status=result.parse_status,
        parse_error=result.parse_error,
        prompt_tokens=result.prompt_tokens,
        completion_tokens=result.completion_tokens,
        attempt=attempt,
        seconds=round(result.seconds, 3),
    )


def model_name(engine: Engine) -> str:
    """The model as one string: its id, and its adapter when it has one (a Generation keeps
    the two in separate fields; a second opinion names its model in one)."""
    return f"{engine.model_id} + adapter {engine.adapter_id}" if engine.adapter_id else engine.model_id


def messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]


def schema_attempts(
    engine: Engine,
    agent: str,
    purpose: str,
    prompt: list[dict[str, str]],
    sampling: SamplingParams,
    schema: type[BaseModel],
    max_attempts: int,
    generations: list[Generation],
    on_tokens: TokenCallback | None = None,
) -> Iterator[tuple[int, GenerationResult]]:
    """Ask for schema-constrained output up to `max_attempts` times; the caller stops at the
    first result it accepts. Each retry bumps the seed (the same seed would give the same
    invalid output), and every call is recorded in `generations`, failed ones included."""
    for attempt in range(1, max_attempts + 1):
        seeded = sampling
        if sampling.seed is not None:
            seeded = sampling.model_copy(update={"seed": sampling.seed + attempt - 1})
        request = ChatRequest(prompt, seeded, schema=schema)
        result = engine.generate([request], on_tokens=on_tokens)[0]
        generations.append(record(engine, agent, purpose, request, result, attempt))
        yield attempt, result
