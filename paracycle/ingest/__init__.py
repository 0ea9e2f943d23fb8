"""Ingestion: arXiv papers become argument structures with the human text kept as an anchor.

    fetch    (arxiv_fetch.py)  metadata + LaTeX source archive, cached on disk, polite client
    parse    (latex.py)        sections and floats; archive.py: safe extraction (review it
                               alone); tex_source.py: main .tex, \\input inlining, comments;
                               tex_macros.py, tex_text.py, tex_units.py: macros, LaTeX to
                               text, siunitx; tex_scan.py: linear-time brace matching
    analyse  (agents/analyst.py) sections -> ArgumentStructure, schema-constrained
"""
