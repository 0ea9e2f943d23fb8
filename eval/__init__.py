"""Evaluation of drafts: the deterministic structural check (`structural`) and the pairwise
judge that compares two writers' drafts with the reviewer model (`judge`).
"""
