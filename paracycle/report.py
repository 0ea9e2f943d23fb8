"""Readable terminal summaries of a cycle and of a review.

Everything shown here that came from a paper, a structure or a model is untrusted text: it
is printed as a rich `Text` (never parsed for markup or emoji codes, so "[bold]" and ":100:"
show as written) after `terminal_text` has made its control characters visible (an escape
sequence in a paper must not retitle, recolour or rewrite the user's terminal).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table
from rich.text import Text

from paracycle.metrics import GateMetrics
from paracycle.schemas import (
    CommitmentCheck,
    Draft,
    Review,
    SecondOpinion,
    SpecificCheck,
    Step,
    StructuralCheck,
    Trajectory,
)

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
    _print_closure(console, c)
    for u in c.unsupported_claims:
        console.print(Text.assemble(
            "  ", ("unsupported", "red"), " ", plain(f"[{u.paragraph_id}] {u.sentence}"), "  ", plain(f"({u.reason})", "dim")
        ))
    _print_draft_findings(console, c)


def _print_closure(console: Console, c: StructuralCheck) -> None:
    closure = "n/a (the draft makes no claims)" if c.closure_rate is None else f"{c.closure_rate:.2f}"
    made = len(c.commitments)
    fulfilled = sum(1 for x in c.commitments if x.status == "fulfilled")
    console.print(f"[bold]structural check[/]: closure {closure} ({fulfilled}/{made} claims fulfilled)")


def _print_draft_findings(console: Console, c: StructuralCheck) -> None:
    """What the check found beyond single claims: dropped contributions, role order, the
    structure's open commitments and length."""
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


# -- the claim ledger (`paracycle check`) ---------------------------------------------------

# The schema's statuses as a reader of the ledger says them.
VERDICTS = {"fulfilled": ("supported", "green"), "partial": ("partial", "yellow"), "unfulfilled": ("unsupported", "red")}
# Enough of a sentence to find it in the paper; the JSON has it whole.
SENTENCE_CHARS = 120
# What one of each `--fail-on` failure is called in the last line.
FAILURE_NOUNS = {
    "unsupported": "unsupported claim", "partial": "partial claim",
    "dropped": "dropped contribution", "order": "role-order violation",
}


def print_ledger(
    console: Console, title: str, against: str, check: StructuralCheck,
    fail_on: Sequence[str] = (), failed: Mapping[str, int] | None = None,
) -> None:
    """Every claim sentence with its verdict, then closure, dropped contributions, role order
    and length; with `fail_on`, a last line naming the failures found (`failed`: name ->
    count) or saying there were none."""
    console.rule(plain(title, "bold"))
    console.print(plain(f"checked against {against}", "dim"))
    if check.commitments:
        console.print(_ledger_table(check.commitments))
    _print_closure(console, check)
    _print_draft_findings(console, check)
    if fail_on:
        _print_verdict(console, fail_on, failed or {})


def _ledger_table(commitments: Sequence[CommitmentCheck]) -> Table:
    # The sentence and the reason wrap; the short columns never do.
    table = Table(title="claim ledger", expand=True)
    table.add_column("paragraph", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("claim sentence", ratio=3)
    table.add_column("backed by", max_width=24, overflow="fold")  # whole ids, one a line if need be
    table.add_column("why", ratio=2)
    for c in commitments:
        label, colour = VERDICTS[c.status]
        verdict = Text(label, style=colour)
        if c.confidence < 1.0:  # a borderline match: the one a second opinion would be asked about
            verdict.append(f" ({c.confidence:.2f})", style="dim")
        backing = ", ".join(c.evidence_ids)
        if c.matched_claim:
            backing = f"{c.matched_claim}: {backing}" if backing else c.matched_claim
        table.add_row(plain(c.paragraph_id), verdict, _sentence_cell(c), plain(backing or "-"), plain(c.reason, "dim"))
    return table


def _sentence_cell(c: CommitmentCheck) -> Text:
    """The sentence, shortened, with each specific nothing backs and any second opinion
    under it."""
    sentence = c.sentence if len(c.sentence) <= SENTENCE_CHARS else c.sentence[: SENTENCE_CHARS - 1].rstrip() + "…"
    lines = [plain(sentence)]
    for s in c.specifics:
        if not s.backed:
            lines.append(Text.assemble(("✗ ", "red"), plain(_specific(s))))
    if c.second_opinion is not None:
        lines.append(plain(_second_opinion(c.second_opinion), "dim"))
    return Text("\n").join(lines)


def _specific(s: SpecificCheck) -> str:
    """E.g. "number 57% — no evidence or other field states 57% (E2 says 37%)"."""
    return f"{s.kind} {s.text}" + (f" — {s.reason}" if s.reason else "")


def _second_opinion(o: SecondOpinion) -> str:
    who = f"second opinion ({o.model})" if o.model else "second opinion"
    said = o.verdict or f"no answer ({o.error})"
    return f"{who}: {said}" + (f" — {o.reason}" if o.reason else "")


def _print_verdict(console: Console, fail_on: Sequence[str], failed: Mapping[str, int]) -> None:
    """The last line, the one a CI log shows: what made the command exit 3, or that nothing did."""
    asked = f"(--fail-on {' '.join(fail_on)})"
    if not failed:
        console.print(Text.assemble(("pass", "bold green"), f": nothing to fail on {asked}"))
        return
    found = ", ".join(_counted(name, n) for name, n in failed.items())
    console.print(Text.assemble(("fail", "bold red"), f": {found} {asked}"))


def _counted(failure: str, n: int) -> str:
    if failure == "length":
        return "length outside target"
    noun = FAILURE_NOUNS.get(failure, failure)
    return f"{n} {noun}" + ("" if n == 1 else "s")


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


# -- a comparison of two writers (the gate, `paracycle eval`) ----------------------------------


def interval_text(low: float | None, high: float | None) -> str:
    return "—" if low is None else f"[{low:+.3f}, {high:+.3f}]"


def comparison_rows(m: GateMetrics) -> list[list[str]]:
    """metric, candidate, current, difference, 95% interval, items, items needed."""
    rows = [
        [c.metric, f"{c.candidate:.3f}", f"{c.current:.3f}", f"{c.diff.mean:+.3f}", interval_text(c.diff.low, c.diff.high),
         str(c.diff.n), str(c.needed or "—")]
        for c in m.comparisons
    ]
    d = m.length_drift_interval
    if d is not None:
        rows.append(["length drift", "", "", f"{d.mean:+.1%}",
                     "—" if d.low is None else f"[{d.low:+.1%}, {d.high:+.1%}]", str(d.n), "—"])
    if m.judge is not None:
        j = m.judge
        rows.append(["judge win rate", f"{j.wins}W {j.losses}L {j.ties}T", "", f"{j.rate:.2f}",
                     f"[{j.low:.2f}, {j.high:.2f}]", str(j.wins + j.losses + j.ties), "—"])
    return rows


COMPARISON_HEADER = ["metric", "candidate", "current", "difference", "95% interval", "items", "needed"]


def print_comparison(console: Console, candidate: str, current: str, m: GateMetrics, reasons: Sequence[str]) -> None:
    table = Table(*COMPARISON_HEADER, title=plain(f"{candidate} (candidate) vs {current} (current)"))
    for row in comparison_rows(m):
        table.add_row(*row)
    console.print(table)
    for line in reasons:
        console.print(plain(f"  {line}"))
    console.print(plain(f"decision: {m.decision}", "bold"))
