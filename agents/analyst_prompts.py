"""Analyst prompts: plain templates, easy to read and diff.

The analyst reads a paper's title, abstract and introduction plus the evidence candidates
found deterministically in the rest of the paper, and fills in the argument structure the
paper was written from (instruction backtranslation: the paper's text is the target, the
structure is the instruction). Its output is constrained to a JSON schema while it
generates, so the prompt explains what each field means rather than the JSON syntax.

The field definitions come *before* the paper and the prompt ends on the paper's own
title: with the definitions last, SmolLM2-135M copied them into the fields ("problem":
"What is not solved.").
"""

SYSTEM = (
    "You are a careful reader of research papers. You extract the argument a paper makes: "
    "its problem, why it matters, what prior work misses, its central insight, its method, "
    "its claims and the evidence behind them. Use only what the paper says; never invent "
    "numbers, datasets or results. You answer in JSON only."
)

ANALYSE = """Read the paper below and write down the argument it makes, in its own words.
The fields, one or two sentences each:
- problem: the problem the paper says is not solved.
- motivation: why the paper says solving it matters.
- gap: what the paper says prior work misses.
- insight: the central realization the paper delivers.
- realization_type: "explanatory" if the insight explains how something works (so that is
  how it works), "enabling" if it makes something possible (so that is possible too).
- method: the main components; for each a short name, what it does (description) and
  why this design is necessary (rationale).
- claims: what the paper claims; for each, the ids of the evidence below that backs it
  (an empty list if none does).
- contributions: what the paper contributes, one item each.
- limitations: what the paper says it does not do (may be empty).

Paper title: {title}
Field: {field}

Abstract:
{abstract}

Introduction:
{introduction}

Evidence found in the rest of the paper (id [location] finding):
{evidence}

Now write the argument structure of "{title}", using the paper's own words."""

EVIDENCE_LINE = "{id} [{location}] {finding}"
NO_EVIDENCE = "(none found: give every claim an empty evidence list)"
NO_FIELD = "(not given)"
# Appended where the introduction was cut to fit the prompt.
TRUNCATED = " [...]"
