"""The claim ledger: a paper's abstract and introduction checked against what backs them.

`paracycle check` prints it on its own (no model); `paracycle review` runs the same check
before the reviewer model reads the paper, so both give the same verdicts. What the claims
are checked against is chosen here, once: the argument structure's evidence and claims when
there is one, else the result sentences of the paper's own later sections
(`Paper.evidence`).

It is part of `paracycle.eval` rather than the core because it builds on the structural
check (`paracycle.eval.structural`); like that check it loads no model and no ML library.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, get_args

from paracycle.eval.structural import check_draft, check_structure_draft
from paracycle.paper import Paper
from paracycle.schemas import ArgumentStructure, Claim, Draft, Evidence, StructuralCheck
from paracycle.settings import LengthTargets

# What `paracycle check --fail-on` can name, in the order they are reported.
Failure = Literal["unsupported", "partial", "dropped", "order", "length"]
FAILURES: tuple[Failure, ...] = get_args(Failure)


@dataclass(frozen=True)
class Ledger:
    """The draft as the check read it, what it was checked against, and the verdicts."""

    draft: Draft
    evidence: list[Evidence]
    claims: list[Claim]  # empty without a structure: a paper's sections name no claims
    check: StructuralCheck
    from_structure: bool


def check_paper(paper: Paper, structure: ArgumentStructure | None, lengths: LengthTargets | None = None) -> Ledger:
    """The structural check of the paper's abstract and introduction: against the structure,
    or, without one, against the paper's own evidence (its contributions are then unknown,
    so none can be reported dropped)."""
    draft = paper.to_draft()
    if structure is not None:
        check = check_structure_draft(structure, draft, lengths)
        return Ledger(draft, list(structure.evidence), list(structure.claims), check, from_structure=True)
    evidence = paper.evidence()
    check = check_draft(draft, evidence=evidence, claims=[], contributions=[], lengths=lengths)
    return Ledger(draft, evidence, [], check, from_structure=False)


def findings(check: StructuralCheck) -> dict[Failure, int]:
    """How many of each kind of failure the check found (length: 1 when outside target)."""
    return {
        "unsupported": sum(c.status == "unfulfilled" for c in check.commitments),
        "partial": sum(c.status == "partial" for c in check.commitments),
        "dropped": len(check.dropped_contributions),
        "order": len(check.role_order_violations),
        "length": int(not check.length.within_target),
    }


def failed_on(check: StructuralCheck, names: Iterable[Failure]) -> dict[Failure, int]:
    """The named failures the check found, with their counts, in FAILURES order."""
    wanted = set(names)
    return {name: n for name, n in findings(check).items() if name in wanted and n}
