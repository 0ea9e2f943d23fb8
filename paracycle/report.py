"""Readable terminal summaries of a cycle and of a review."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from paracycle.schemas import Draft, Review, Step, StructuralCheck, Trajectory


def print_cycle_summary(console: Console, t: Trajectory) -> None:
    console.rule(f"[bold]{t.structure.title}")
    console.print(
        f"thread {t.thread_id} · structure {t.structure_hash} · status {t.status}"
        + (f" ({t.stop_reason})" if t.stop_reason else "")
    )
    console.print(_steps_table(t.steps))
    reviews = [s for s in t.steps if s.kind == "review"]
    if t.final_draft is not None:
        console.rule("final draft")
        _print_draft(console, t.final_draft)
    if reviews:
        last = reviews[-1]
        console.rule(f"review of revision {last.revision}")
        _print_check(console, last.structural_check)
        if last.review is not None:
            _print_review_body(console, last.review)
        elif last.review_error:
            console.print(f"[red]reviewer output failed the schema:[/] {last.review_error}")


def print_review(
    console: Console, title: str, draft: Draft, review: Review | None, error: str | None, check: StructuralCheck
) -> None:
    console.rule(f"[bold]{title}")
    roles = Table("paragraph", "role (marked or inferred)", "reviewer's role", "function", title="paragraph roles")
    assessed = {r.paragraph_id: r for r in (review.paragraph_roles if review else [])}
    for p in draft.introduction:
        a = assessed.get(p.id)
        roles.add_row(p.id, p.role, a.role if a else "-", a.function if a else "-")
    console.print(roles)
    _print_check(console, check)
    if review is not None:
        _print_review_body(console, review)
    else:
        console.print(f"[red]reviewer output failed the schema:[/] {error}")


def _steps_table(steps: list[Step]) -> Table:
    table = Table(
        "rev", "overall", "clos/flow/clar/sig", "check closure", "unsupported",
        "dropped", "order", "words abs/intro", "tokens", title="scores per revision",
    )
    tokens: dict[int, int] = {}
    for s in steps:
        tokens[s.revision] = tokens.get(s.revision, 0) + sum(g.completion_tokens for g in s.generations)
    for s in steps:
        if s.kind != "review":
            continue
        c = s.structural_check
        if s.review is not None:
            sc = s.review.scores
            overall, detail = str(sc.overall), f"{sc.closure}/{sc.flow}/{sc.clarity}/{sc.significance}"
        else:
            overall, detail = "failed", "-"
        table.add_row(
            str(s.revision), overall, detail,
            "-" if c.closure_rate is None else f"{c.closure_rate:.2f}",
            str(len(c.unsupported_claims)), str(len(c.dropped_contributions)), str(len(c.role_order_violations)),
            f"{c.length.abstract_words}/{c.length.introduction_words}", str(tokens.get(s.revision, 0)),
        )
    return table


def _print_draft(console: Console, draft: Draft) -> None:
    console.print(f"[bold]Abstract.[/] {draft.abstract}\n", markup=True)
    for p in draft.introduction:
        console.print(f"[dim]{p.id} · {p.role}[/]")
        console.print(p.text + "\n", markup=False)


def _print_check(console: Console, c: StructuralCheck | None) -> None:
    if c is None:
        return
    closure = "n/a (the draft makes no claims)" if c.closure_rate is None else f"{c.closure_rate:.2f}"
    made = len(c.commitments)
    fulfilled = sum(1 for x in c.commitments if x.status == "fulfilled")
    console.print(f"[bold]structural check[/]: closure {closure} ({fulfilled}/{made} claims fulfilled)")
    for u in c.unsupported_claims:
        console.print(f"  [red]unsupported[/] [{u.paragraph_id}] {u.sentence}  [dim]({u.reason})[/]")
    for d in c.dropped_contributions:
        console.print(f"  [yellow]dropped contribution[/] {d}")
    for v in c.role_order_violations:
        console.print(f"  [yellow]role order[/] {v.paragraph_id} ({v.role}) comes after {v.after_role}")
    if c.open_commitments:
        console.print(f"  [yellow]open commitments in the structure[/]: {', '.join(c.open_commitments)}")
    L = c.length
    console.print(
        f"  length: abstract {L.abstract_words}/{L.target_abstract_words} words, "
        f"introduction {L.introduction_words}/{L.target_introduction_words} words"
        + ("" if L.within_target else " [yellow](outside target)[/]")
    )


def _print_review_body(console: Console, r: Review) -> None:
    console.print(
        f"[bold]central realization[/] ({r.central_realization.type}): {r.central_realization.text}", markup=True
    )
    for c in r.commitments:
        ids = ", ".join(c.evidence_ids) or "no evidence"
        console.print(f"  commitment [{c.source_paragraph}] {c.status}: {c.claim} [dim]({ids})[/]")
    for w in r.weaknesses:
        console.print(f"  [yellow]weakness[/] [{w.paragraph_id}] {w.issue} → {w.suggestion}")
    for s in r.strengths:
        console.print(f"  [green]strength[/] {s}")
    sc = r.scores
    console.print(
        f"[bold]scores[/]: overall {sc.overall} · closure {sc.closure} · flow {sc.flow} · "
        f"clarity {sc.clarity} · significance {sc.significance}"
    )
