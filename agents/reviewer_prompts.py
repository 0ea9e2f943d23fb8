"""Reviewer prompts: plain templates, easy to read and diff.

The reviewer's output is constrained to the Review JSON schema while it generates, so the
prompt explains what each field means rather than the JSON syntax.
"""

SYSTEM = (
    "You are a strict reviewer of research papers. You check commitment closure: every claim "
    "the abstract and introduction make must be backed by evidence the paper has. You also "
    "find narrative weaknesses. You answer in JSON only."
)

REVIEW = """Paper title: {title}

Evidence the paper has (id, kind, location: finding):
{evidence}

Claims the authors intend to make (id: text [evidence ids]):
{claims}

The draft to review:
[abstract] {abstract}

{paragraphs}

Fill in the review:
- central_realization: the one idea a reader should take away; type "explanatory" (so that
  is how it works) or "enabling" (so that is possible too), and why.
- paragraph_roles: for each paragraph id, its role and what it does.
- commitments: each claim the draft makes, the paragraph that makes it, whether the
  evidence fulfils it (fulfilled, partial, unfulfilled), the evidence ids, and where.
- weaknesses: a paragraph id (or "abstract"), the issue, and a concrete suggestion.
- strengths: what works.
- scores from 1 to 10: closure, flow, clarity, significance, overall."""

EVIDENCE_LINE = "{id} ({kind}, {location}): {finding}"
CLAIM_LINE = "{id}: {text} [{evidence}]"
PARAGRAPH_LINE = "[{id}] (role: {role}) {text}"
NO_CLAIMS = "(none given: judge the draft's claims against the evidence alone)"
NO_EVIDENCE = "(none)"

# Findings of the deterministic structural check, shown to the reviewer after the task.
CHECKER_NOTES = """

An automatic checker compared the draft with the evidence and found:
{notes}"""
UNSUPPORTED_NOTE = '- [{paragraph_id}] unsupported claim: "{sentence}" ({reason})'
DROPPED_NOTE = "- missing contribution: {contribution}"
ORDER_NOTE = "- [{paragraph_id}] role {role} comes after {after_role}: the order goes backwards"
NO_CHECKER_NOTES = "- no problems"

# -- second opinion: one entailment question per borderline commitment --------------------
# The deterministic verdict is not shown: the model's answer is meant to be a second,
# independent opinion, not an echo of the first.

ENTAILMENT_SYSTEM = (
    "You check one sentence of a research paper against the evidence behind it. You are "
    "strict: evidence entails a sentence only when it supports everything the sentence "
    "asserts. You answer in JSON only."
)

ENTAILMENT = """A sentence from the paper ({paragraph_id}):
"{sentence}"
{claim}
Evidence {source} (id, kind, location: finding):
{evidence}

Does this evidence entail everything the sentence asserts: every number, every system,
dataset and baseline it names, its scope (how many, how general), and any cause it claims?
- verdict: "yes" if the evidence supports all of it, "partial" if it supports some of it
  but the sentence claims more, "no" if it does not support the sentence.
- reason: one short sentence: what is supported, or what is missing."""

# Which evidence the model is shown: the items the sentence itself is matched to, or (when it
# names none) those of the authors' claim it restates, with that claim's text.
NAMED_SOURCE = "the sentence names"
CLAIM_SOURCE = "that claim names"
MATCHED_CLAIM = """
The sentence names no evidence itself; it restates the authors' claim {id}: {text}
"""
