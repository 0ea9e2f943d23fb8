"""What both agents share: turning engine results into trajectory records."""

from __future__ import annotations

from paracycle.engines.base import ChatRequest, Engine, GenerationResult
from paracycle.schemas import Generation


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


def messages(system: str, user: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": system}, {"role": "user", "content": user}]
