"""Pairwise judge prompts: plain templates, easy to read and diff."""

SYSTEM = (
    "You are a careful reviewer of scientific writing. You compare two drafts of the same "
    "abstract and introduction and say which one is better."
)

COMPARE = """Paper title: {title}

Evidence the paper has:
{evidence}

Draft A:
{draft_a}

Draft B:
{draft_b}

Which draft is better? A better draft makes only claims the evidence supports, states every
contribution, goes from the problem to the gap, the insight, the method and the evidence in
that order, and reads clearly. Length alone does not make a draft better.
Give a short reason, then answer "A", "B" or "tie"."""
