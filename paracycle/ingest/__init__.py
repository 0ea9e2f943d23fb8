"""Ingestion: arXiv papers become argument structures with the human text kept as an anchor.

    fetch    (arxiv_fetch.py)  metadata + LaTeX source archive, cached on disk, polite client
    parse    (latex.py)        safe extraction, main .tex, \\input inlining, sections
    analyse  (agents/analyst.py) sections -> ArgumentStructure, schema-constrained
"""
