"""Readable terminal summaries of a cycle and of a review.

Everything shown here that came from a paper, a structure or a model is untrusted text: it
is printed as a rich `Text` (never parsed for markup or emoji codes, so "[bold]" and ":100:"
show as written) after `terminal_text` has made its control characters visible (an escape
sequence in a paper must not retitle, recolour or rewrite the user's terminal).
"""

from __future__ import annotations

import re

from rich.console import Console
from rich.table import Table
from rich.text import Text

from paracycle.schemas import Draft, Review, Step, StructuralCheck, Trajectory

# C0 controls but newline and tab (ESC starts every terminal escape sequence), DEL, C1
# controls (a terminal may read 0x9b as ESC [), and the bidirectional overrides, which
# reorder what is shown without being visible themselves.
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def terminal_text(text: str) -> str:
    """`text` with every character that could act on a terminal written as an escape:
    "\\x1b]0;title\\x07" is shown as those characters, not obeyed."""
    return _UNSAFE.sub(_visible, text)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(text: object, style: str = "") -> Text:
    """Untrusted text for rich: no markup, no emoji codes, no control characters."""
    return Text(terminal_text(str(text)), style=style)


def print_cycle_summary(console: Console, t: Trajectory) -> None:
    console.rule(plain(t.structure.title, "bold"))
    console.print(
        plain(
            f"thread {t.thread_id} · structure {t.structure_hash} · status {t.status}"
            + (f" ({t.stop_reason})" if t.stop_reason else "")
        )
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
            console.print(Text.assemble(("reviewer output failed the schema: ", "red"), plain(last.review_error)))


def print_review(
    console: Console, title: str, draft: Draft, review: Review | None, error: str | None, check: StructuralCheck
) -> None:
    console.rule(plain(title, "bold"))
    roles = Table("paragraph", "role (marked or inferred)", "reviewer's role", "function", title="paragraph roles")
    assessed = {r.paragraph_id: r for r in (review.paragraph_roles if review else [])}
    for p in draft.introduction:
        a = assessed.get(p.id)
        roles.add_row(plain(p.id), plain(p.role), plain(a.role if a else "-"), plain(a.function if a else "-"))
    console.print(roles)
    _print_check(console, check)
    if review is not None:
        _print_review_body(console, review)
    else:
        console.print(Text.assemble(("reviewer output failed the schema: ", "red"), plain(error)))


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
        # Numbers only: no untrusted text in this table.
        table.add_row(
            str(s.revision), overall, detail,
            "-" if c.closure_rate is None else f"{c.closure_rate:.2f}",
            str(len(c.unsupported_claims)), str(len(c.dropped_contributions)), str(len(c.role_order_violations)),
            f"{c.length.abstract_words}/{c.length.introduction_words}", str(tokens.get(s.revision, 0)),
        )
    return table


def _print_draft(console: Console, draft: Draft) -> None:
    console.print(Text.assemble(("Abstract. ", "bold"), plain(draft.abstract), "\n"))
    for p in draft.introduction:
        console.print(plain(f"{p.id} · {p.role}", "dim"))
        console.print(Text.assemble(plain(p.text), "\n"))


def _print_check(console: Console, c: StructuralCheck | None) -> None:
    if c is None:
        return
    closure = "n/a (the draft makes no claims)" if c.closure_rate is None else f"{c.closure_rate:.2f}"
    made = len(c.commitments)
    fulfilled = sum(1 for x in c.commitments if x.status == "fulfilled")
    console.print(f"[bold]structural check[/]: closure {closure} ({fulfilled}/{made} claims fulfilled)")
    for u in c.unsupported_claims:
        console.print(Text.assemble(
            "  ", ("unsupported", "red"), " ", plain(f"[{u.paragraph_id}] {u.sentence}"), "  ", plain(f"({u.reason})", "dim")
        ))
    for d in c.dropped_contributions:
        console.print(Text.assemble("  ", ("dropped contribution", "yellow"), " ", plain(d)))
    for v in c.role_order_violations:
        console.print(Text.assemble(
            "  ", ("role order", "yellow"), " ", plain(f"{v.paragraph_id} ({v.role}) comes after {v.after_role}")
        ))
    if c.open_commitments:
        console.print(Text.assemble(
            "  ", ("open commitments in the structure", "yellow"), ": ", plain(", ".join(c.open_commitments))
        ))
    L = c.length
    console.print(
        f"  length: abstract {L.abstract_words}/{L.target_abstract_words} words, "
        f"introduction {L.introduction_words}/{L.target_introduction_words} words"
        + ("" if L.within_target else " [yellow](outside target)[/]")
    )


def _print_review_body(console: Console, r: Review) -> None:
    cr = r.central_realization
    console.print(Text.assemble(("central realization", "bold"), plain(f" ({cr.type}): {cr.text}")))
    for c in r.commitments:
        ids = ", ".join(c.evidence_ids) or "no evidence"
        console.print(Text.assemble(
            plain(f"  commitment [{c.source_paragraph}] {c.status}: {c.claim} "), plain(f"({ids})", "dim")
        ))
    for w in r.weaknesses:
        console.print(Text.assemble(
            "  ", ("weakness", "yellow"), " ", plain(f"[{w.paragraph_id}] {w.issue} → {w.suggestion}")
        ))
    for s in r.strengths:
        console.print(Text.assemble("  ", ("strength", "green"), " ", plain(s)))
    sc = r.scores
    console.print(
        f"[bold]scores[/]: overall {sc.overall} · closure {sc.closure} · flow {sc.flow} · "
        f"clarity {sc.clarity} · significance {sc.significance}"
    )
