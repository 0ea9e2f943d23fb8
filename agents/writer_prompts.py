"""Writer prompts: plain templates, easy to read and diff.

The writer drafts one introduction paragraph per role, plus the abstract, each from only the
facts that role needs. Small models stay on topic when a prompt is short and the facts are
close; each paragraph also opens with words taken from the argument structure (the
"opening"), which the model continues.
"""

SYSTEM = (
    "You are a scientific writer. You write one part of a research paper at a time, in plain "
    "academic prose: no headings, no lists, no markdown. Use only the facts you are given; "
    "never invent numbers, datasets or results."
)

# What each paragraph role does, in the canonical order of an introduction.
ROLE_PURPOSE = {
    "scene_setting": "sets the scene: why this area matters",
    "problem_statement": "states the problem that is not solved",
    "gap_analysis": "explains what prior work misses",
    "insight_delivery": "delivers the paper's central insight",
    "method_preview": "previews the method and why each part is needed",
    "evidence_preview": "previews the evidence: what the experiments and analyses show",
    "contribution_summary": "summarises the contributions",
}

PARAGRAPH = """Paper title: {title}
Field: {field}

Write the introduction paragraph that {purpose}.
Facts for this paragraph:
{facts}

Write 3 or 4 sentences."""

ABSTRACT = """Paper title: {title}
Field: {field}

Write the abstract of this paper in 4 to 6 sentences: the problem, the gap, the insight,
the method, the main results, and the contribution.
Facts:
{facts}"""

REVISE_PARAGRAPH = """Paper title: {title}

Here is a paragraph of the introduction. Its job: it {purpose}.
Paragraph:
{text}

A reviewer found these problems:
{problems}

Facts you may use:
{facts}

Rewrite the paragraph so that it fixes the problems. Keep every claim backed by the facts.
Write 3 or 4 sentences."""

REVISE_ABSTRACT = """Paper title: {title}

Here is the abstract:
{text}

A reviewer found these problems:
{problems}

Facts you may use:
{facts}

Rewrite the abstract in 4 to 6 sentences so that it fixes the problems. Keep every claim
backed by the facts."""

# Openings the model continues. Each starts from the structure's own words for that role.
OPENINGS = {
    "scene_setting": "{motivation}",
    "problem_statement": "{problem}",
    "gap_analysis": "However, {gap_lc}",
    "insight_delivery": "Our key insight is that {insight_lc}",
    "method_preview": "Our method has {n_components} parts. {first_component}",
    "evidence_preview": "We test this in {first_evidence_location}: {first_finding}",
    "contribution_summary": "In summary, this paper makes the following contributions: {contributions}.",
    "abstract": "{problem}",
}
