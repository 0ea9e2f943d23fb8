"""The state a cycle carries from node to node (and that the checkpointer saves).

Steps are stored as plain JSON dicts, appended by the reducer: the checkpoint then holds
exactly what the trajectory store will, and it round-trips through any serializer.
"""

from __future__ import annotations

import operator
from typing import Annotated, TypedDict


class CycleState(TypedDict, total=False):
    structure: dict  # ArgumentStructure, as JSON
    steps: Annotated[list[dict], operator.add]  # Step dicts: draft_0, review_0, draft_1, ...
    status: str  # "running" | "completed"
    stop_reason: str  # "passed" | "max_revisions"
