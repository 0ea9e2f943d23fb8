"""arXiv LaTeX sources -> PaperSections: safe extraction, main file, \\input, parsing.

Every archive is built here, in tmp_path, with tarfile/gzip: no network, no fixtures on disk.
"""

from __future__ import annotations

import gzip
import io
import tarfile
import time
from pathlib import Path

import pytest

from paracycle.errors import InputError
from paracycle.ingest.archive import NoLatex, UnsafeArchive, extract_archive
from paracycle.ingest.latex import parse_latex, parse_source
from paracycle.ingest.tex_source import find_main_tex, inline_inputs

# --------------------------------------------------------------------------------------
# A realistic multi-file paper
# --------------------------------------------------------------------------------------

MAIN_TEX = r"""\documentclass[11pt]{article}
\usepackage{amsmath,booktabs}
\newcommand{\method}{PruneKV\xspace}
\newcommand{\R}{\mathbb{R}}
\def\etal{et al.}
%\newcommand{\method}{CommentedOutName}
\title{\method: Pruning the KV Cache\thanks{Work done at Example Labs.}\\ Without Retraining}
\author{A. Author \and B. Author}
\begin{document}
\maketitle
\begin{abstract}
Large language models spend most decoding time reading the KV cache.
We present \method, which prunes $62\%$ of cache entries % an abstract comment
and runs $1.8\times$ faster.
\end{abstract}

\input{sections/intro}

\section{Method}
\label{sec:method}
Kwon \etal score each key; we prune the lowest scores (Section~\ref{sec:exp}).
\begin{equation}
  s_i = q^\top k_i, \quad k_i \in \R^d
\end{equation}
where $s_i$ is the score of key $i$.

\subsection{Budget}
We keep $\frac{n}{4}$ keys per head.
\include{experiments}

\section{Conclusion}
\method prunes the cache without retraining.
\iffalse
\section{Old results}
Draft text that must not appear.
\fi
\begin{comment}
Hidden reviewer notes.
\end{comment}

\section*{References}
\begin{thebibliography}{9}
\bibitem{kwon2023} W. Kwon. Efficient Memory Management for Serving. 2023.
\end{thebibliography}

\appendix
\section{Proofs}
\label{app:proofs}
The pruning error is bounded.
\end{document}
"""

INTRO_TEX = r"""\section{Introduction}
\label{sec:intro}
Serving large language models is memory bound~\cite{kwon2023}. % why it matters
The KV cache grows with context length \citep[see][]{pope2022}.

However, existing pruning methods need retraining.
As Table~\ref{tab:main} shows, \method avoids it (see \cref{fig:overview}).

\paragraph{Contributions} We make three contributions:
\begin{itemize}
  \item a scoring rule that needs no training;
  \item a kernel that is $3\times$ faster than the baseline
  \item an evaluation on \textbf{five} benchmarks.
\end{itemize}
\begin{figure}[t]
  \centering
  \includegraphics[width=\linewidth]{fig/overview.pdf}
  \caption{Overview of \method. Cached keys are scored --- and pruned.}
  \label{fig:overview}
\end{figure}
"""

EXPERIMENTS_TEX = r"""\section{Experiments}
\label{sec:exp}
We evaluate on five benchmarks.
\begin{table*}[t]
\centering
\begin{tabular}{lcc}
\toprule
Method & Speedup & Accuracy \\
\midrule
Full & 1.0 & 71.2 \\
\method & 1.8 & 70.9 \\
\bottomrule
\end{tabular}
\caption{Main results: \method keeps accuracy within $0.3$ points ($\pm$ 0.1).}
\label{tab:main}
\end{table*}
\method is $1.8\times$ faster than full attention and saves 62\% of memory
while matching accuracy (Table~\ref{tab:main}, Figure~\ref{fig:overview}).
"""


def _add(tar: tarfile.TarFile, name: str, data: bytes | str, **fields) -> None:
    data = data.encode() if isinstance(data, str) else data
    info = tarfile.TarInfo(name)
    info.size = len(data)
    for key, value in fields.items():
        setattr(info, key, value)
    tar.addfile(info, io.BytesIO(data))


def _tar(path: Path, files: dict[str, str | bytes], mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as tar:
        for name, data in files.items():
            _add(tar, name, data)
    return path


def _paper_archive(tmp_path: Path) -> Path:
    return _tar(
        tmp_path / "2401.00001",  # arXiv serves sources without an extension
        {
            "main.tex": MAIN_TEX,
            "sections/intro.tex": INTRO_TEX,
            "experiments.tex": EXPERIMENTS_TEX,
            "fig/overview.pdf": b"%PDF-1.5 not really a figure",
            "neurips_2024.sty": "% a style file",
        },
    )


@pytest.fixture
def paper(tmp_path: Path):
    return parse_source(_paper_archive(tmp_path), tmp_path / "work")


def test_title_and_abstract(paper):
    assert paper.title == "PruneKV: Pruning the KV Cache Without Retraining"
    assert paper.abstract == (
        "Large language models spend most decoding time reading the KV cache. "
        "We present PruneKV, which prunes 62% of cache entries and runs 1.8x faster."
    )
    assert paper.main_file == "main.tex"
    assert paper.from_latex


def test_introduction_paragraphs(paper):
    assert paper.introduction == [
        "Serving large language models is memory bound. The KV cache grows with context length.",
        "However, existing pruning methods need retraining. As Table 1 shows, PruneKV avoids it (see Figure 1).",
        # list items are sentences of the paragraph holding the list; the figure inside
        # the paragraph leaves it whole
        "Contributions. We make three contributions: a scoring rule that needs no training; "
        "a kernel that is 3x faster than the baseline. an evaluation on five benchmarks.",
    ]


def test_sections_in_order_without_references(paper):
    assert [s.name for s in paper.sections] == ["Method", "Experiments", "Conclusion", "Appendix: Proofs"]
    method, experiments, conclusion, proofs = (s.text for s in paper.sections)
    assert method.split("\n\n") == [
        "Kwon et al. score each key; we prune the lowest scores (Section 3). [equation] where s_i is the score of key i.",
        "Budget",  # a subsection heading is a paragraph of its own
        "We keep n/4 keys per head.",
    ]
    assert experiments == (
        "We evaluate on five benchmarks. PruneKV is 1.8x faster than full attention and saves 62% of memory "
        "while matching accuracy (Table 1, Figure 1)."
    )
    assert conclusion == "PruneKV prunes the cache without retraining."
    assert proofs == "The pruning error is bounded."
    everything = " ".join([paper.abstract, *paper.introduction, *(s.text for s in paper.sections)])
    for gone in ("Efficient Memory Management", "Kwon. Efficient", "References", "Speedup", "71.2", "\\"):
        assert gone not in everything


def test_floats_and_labels(paper):
    figure, table = paper.floats
    assert (figure.kind, figure.number, figure.label, figure.section) == ("figure", 1, "fig:overview", "Introduction")
    assert figure.caption == "Overview of PruneKV. Cached keys are scored — and pruned."
    assert (table.kind, table.number, table.label, table.section) == ("table", 1, "tab:main", "Experiments")
    assert table.caption == "Main results: PruneKV keeps accuracy within 0.3 points (± 0.1)."
    assert paper.labels == ["sec:intro", "fig:overview", "sec:method", "sec:exp", "tab:main", "app:proofs"]


def test_comments_and_disabled_text_are_gone(paper):
    dumped = paper.model_dump_json()
    for hidden in ("why it matters", "abstract comment", "CommentedOutName", "Draft text", "Old results", "reviewer"):
        assert hidden not in dumped
    assert paper.notes == []


def test_extraction_keeps_the_tree(tmp_path: Path):
    root = extract_archive(_paper_archive(tmp_path), tmp_path / "out")
    assert sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()) == [
        "experiments.tex", "fig/overview.pdf", "main.tex", "neurips_2024.sty", "sections/intro.tex",
    ]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # staging removed


def test_parse_source_twice_replaces_the_previous_extraction(tmp_path: Path):
    archive = _paper_archive(tmp_path)
    first = parse_source(archive, tmp_path / "work")
    assert parse_source(archive, tmp_path / "work") == first


# --------------------------------------------------------------------------------------
# Other shapes of source
# --------------------------------------------------------------------------------------

SINGLE = r"""\documentclass{article}
\begin{document}
\title{One File}
\begin{abstract}Short abstract.\end{abstract}
\section{Introduction} Only paragraph.
\end{document}
"""


def test_gzipped_single_tex_file(tmp_path: Path):
    archive = tmp_path / "2401.00002"
    archive.write_bytes(gzip.compress(SINGLE.encode()))
    paper = parse_source(archive, tmp_path / "work")
    assert (paper.title, paper.abstract, paper.introduction) == ("One File", "Short abstract.", ["Only paragraph."])
    assert paper.main_file == "main.tex"


def test_plain_tex_file_named_like_a_tarball(tmp_path: Path):
    archive = tmp_path / "source.tar.gz"  # the name lies; the bytes decide
    archive.write_text(SINGLE)
    assert parse_source(archive, tmp_path / "work").introduction == ["Only paragraph."]


def test_main_file_is_the_one_with_documentclass(tmp_path: Path):
    archive = _tar(
        tmp_path / "src.tar",
        {
            "aaa_big_fragment.tex": "% \\documentclass{article} (commented out)\n" + "text " * 2000,
            "sub/paper_v2.tex": SINGLE,
        },
        mode="w",
    )
    paper = parse_source(archive, tmp_path / "work")
    assert paper.main_file == "sub/paper_v2.tex"
    assert paper.title == "One File"


def test_main_file_preference_order(tmp_path: Path):
    for name, text in {
        "huge.tex": "\\documentclass{article}\n" + "% padding\n" * 500,  # no \begin{document}
        "ms.tex": SINGLE,
        "zzz.tex": SINGLE + "\n% larger than ms.tex" * 20,
    }.items():
        (tmp_path / name).write_text(text)
    assert find_main_tex(tmp_path).name == "ms.tex"  # has \begin{document}, preferred name
    (tmp_path / "ms.tex").unlink()
    assert find_main_tex(tmp_path).name == "zzz.tex"  # has \begin{document}
    (tmp_path / "zzz.tex").unlink()
    assert find_main_tex(tmp_path).name == "huge.tex"


def test_pdf_and_junk_are_no_latex(tmp_path: Path):
    pdf = tmp_path / "2401.00003"
    pdf.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")
    junk = tmp_path / "junk"
    junk.write_bytes(bytes(range(256)) * 8)
    no_tex = _tar(tmp_path / "figures.tar.gz", {"fig.png": b"\x89PNG\r\n"})
    gzipped_pdf = tmp_path / "gzipped_pdf"
    gzipped_pdf.write_bytes(gzip.compress(b"%PDF-1.4 ..."))
    for archive in (pdf, junk, no_tex, gzipped_pdf):
        with pytest.raises(NoLatex) as raised:
            parse_source(archive, tmp_path / "work" / archive.name)
        assert isinstance(raised.value, InputError)
    with pytest.raises(NoLatex, match="PDF"):
        extract_archive(pdf, tmp_path / "pdf_out")
    assert not (tmp_path / "pdf_out").exists()


def test_truncated_gzip_is_no_latex(tmp_path: Path):
    archive = tmp_path / "truncated"
    archive.write_bytes(gzip.compress(SINGLE.encode() * 50)[:100])
    with pytest.raises(NoLatex, match="gzip"):
        extract_archive(archive, tmp_path / "out")
    assert list(tmp_path.iterdir()) == [archive]


# --------------------------------------------------------------------------------------
# Malicious archives: refused whole, nothing written anywhere
# --------------------------------------------------------------------------------------


def _evil_absolute(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, str(tmp_path / "planted.tex"), "pwned")


def _evil_parent(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "sub/../../planted.tex", "pwned")


def _evil_symlink(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "link", b"", type=tarfile.SYMTYPE, linkname=str(tmp_path))
    _add(tar, "link/planted.tex", "pwned")


def _evil_hardlink(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "hard.tex", b"", type=tarfile.LNKTYPE, linkname="main.tex")


def _evil_device(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "dev.tex", b"", type=tarfile.CHRTYPE, devmajor=1, devminor=3)


def _evil_fifo(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "pipe.tex", b"", type=tarfile.FIFOTYPE)


def _evil_oversize(tar: tarfile.TarFile, tmp_path: Path) -> None:
    _add(tar, "huge.tex", "x" * 2000)


def _evil_total(tar: tarfile.TarFile, tmp_path: Path) -> None:
    for n in range(4):
        _add(tar, f"part{n}.tex", "y" * 900)


def _evil_many(tar: tarfile.TarFile, tmp_path: Path) -> None:
    for n in range(10):
        _add(tar, f"f{n}.tex", "z")


EVIL = {
    "absolute path": (_evil_absolute, "absolute"),
    "parent component": (_evil_parent, "'..'"),
    "symlink": (_evil_symlink, "symbolic link"),
    "hardlink": (_evil_hardlink, "hard link"),
    "device": (_evil_device, "device"),
    "fifo": (_evil_fifo, "FIFO"),
    "oversize member": (_evil_oversize, "larger than 1000 bytes"),
    "total too large": (_evil_total, "total past 3000"),
    "too many members": (_evil_many, "limit of 5 members"),
}


@pytest.mark.parametrize("case", list(EVIL))
@pytest.mark.parametrize("compressed", [False, True], ids=["tar", "tar.gz"])
def test_malicious_archive_is_refused_and_leaves_nothing(tmp_path: Path, case: str, compressed: bool):
    build, reason = EVIL[case]
    archive = tmp_path / "evil"
    with tarfile.open(archive, "w:gz" if compressed else "w") as tar:
        _add(tar, "main.tex", SINGLE)  # a good member first: it must not survive either
        build(tar, tmp_path)
    before = sorted(tmp_path.rglob("*"))
    dest = tmp_path / "out" / "src"
    with pytest.raises(UnsafeArchive, match=reason) as raised:
        extract_archive(archive, dest, max_member_bytes=1000, max_total_bytes=3000, max_members=5)
    assert str(archive) in str(raised.value)  # names the archive ...
    assert raised.value.member != "main.tex"  # ... and the offending member
    assert not dest.exists()
    assert list((tmp_path / "out").iterdir()) == []  # no staging directory left
    assert sorted(tmp_path.rglob("*")) == before + [tmp_path / "out"]
    assert not (tmp_path / "planted.tex").exists()


def test_malicious_archive_names_are_really_in_the_archive(tmp_path: Path):
    """The refusals above are about what the archive holds, not about tarfile mangling it."""
    archive = tmp_path / "evil.tar"
    with tarfile.open(archive, "w") as tar:
        _evil_absolute(tar, tmp_path)
        _evil_parent(tar, tmp_path)
        _evil_symlink(tar, tmp_path)
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
    assert members[0].name == str(tmp_path / "planted.tex")
    assert members[1].name == "sub/../../planted.tex"
    assert members[2].issym()


def test_gzip_bomb_stops_at_the_cap(tmp_path: Path):
    # 200 MB of zeros as 200 concatenated gzip members (valid gzip, built in milliseconds);
    # the single-member case is the tar bomb below.
    bomb = tmp_path / "bomb"
    bomb.write_bytes(gzip.compress(bytes(1024 * 1024), compresslevel=9) * 200)
    assert bomb.stat().st_size < 2 * 1024 * 1024
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchive, match="gzip bomb"):
        extract_archive(bomb, dest, max_total_bytes=1024 * 1024, max_members=10)
    assert not dest.exists()
    assert list(tmp_path.iterdir()) == [bomb]


def test_tar_bomb_inside_gzip_stops_at_the_cap(tmp_path: Path):
    """A tar whose header claims a 200 MB member: stopped by the stream cap, not the header."""
    bomb = tmp_path / "tarbomb"

    class Zeros:  # a file of zeros that never exists on disk or in memory
        left = 200 * 1024 * 1024

        def read(self, size: int) -> bytes:
            size = min(size, self.left)
            self.left -= size
            return bytes(size)

    with gzip.open(bomb, "wb", compresslevel=1) as gz, tarfile.open(fileobj=gz, mode="w|") as tar:
        info = tarfile.TarInfo("zeros.tex")
        info.size = Zeros.left
        tar.addfile(info, Zeros())
    with pytest.raises(UnsafeArchive, match="gzip bomb"):
        extract_archive(bomb, tmp_path / "out", max_total_bytes=1024 * 1024, max_members=10)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tarbomb"]


def test_dest_must_be_new_or_empty(tmp_path: Path):
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "keep.txt").write_text("mine")
    archive = tmp_path / "a.tex"
    archive.write_text(SINGLE)
    with pytest.raises(FileExistsError):
        extract_archive(archive, tmp_path / "full")
    assert (tmp_path / "full" / "keep.txt").read_text() == "mine"
    (tmp_path / "empty").mkdir()
    assert (extract_archive(archive, tmp_path / "empty") / "main.tex").read_text() == SINGLE


# --------------------------------------------------------------------------------------
# \input
# --------------------------------------------------------------------------------------


def test_input_outside_the_tree_is_not_inlined(tmp_path: Path):
    (tmp_path / "secret.tex").write_text("TOPSECRET")
    archive = _tar(
        tmp_path / "src.tar.gz",
        {
            "main.tex": SINGLE.replace(
                "Only paragraph.",
                "Only paragraph. \\input{../../secret}\\input{/etc/hostname}\\input{"
                + str(tmp_path / "secret")
                + "} \\input{missing}",
            )
        },
    )
    notes: list[str] = []
    root = extract_archive(archive, tmp_path / "work" / "source")
    text = inline_inputs(root / "main.tex", root, notes=notes)
    assert "TOPSECRET" not in text
    assert "\\input" not in text
    assert notes == [
        "skipped \\input{../../secret}: it points outside the source tree",
        "skipped \\input{/etc/hostname}: it points outside the source tree",
        f"skipped \\input{{{tmp_path / 'secret'}}}: it points outside the source tree",
        "skipped \\input{missing}: the file is missing",
    ]


def test_input_cycle_terminates(tmp_path: Path):
    (tmp_path / "main.tex").write_text("\\documentclass{article}\\begin{document}\\input{a}\\end{document}")
    (tmp_path / "a.tex").write_text("Alpha text. \\input{b}")
    (tmp_path / "b.tex").write_text("Beta text. \\input{a.tex}")
    notes: list[str] = []
    text = inline_inputs(tmp_path / "main.tex", tmp_path, notes=notes)
    assert text.count("Alpha text.") == 1 and text.count("Beta text.") == 1
    assert notes == ["skipped \\input{a.tex}: it would input itself (a cycle)"]


def test_input_forms_and_subfile_body(tmp_path: Path):
    (tmp_path / "sec").mkdir()
    (tmp_path / "main.tex").write_text(
        "\\documentclass{article}\\begin{document}\n\\input sec/one\n\\include{sec/two}\n\\subfile{sec/three}\n"
        "% \\input{sec/never}\n\\end{document}"
    )
    (tmp_path / "sec" / "one.tex").write_text("One.")
    (tmp_path / "sec" / "two.tex").write_text("Two.")
    (tmp_path / "sec" / "three.tex").write_text(
        "\\documentclass[../main]{subfiles}\\begin{document}Three.\\end{document}"
    )
    (tmp_path / "sec" / "never.tex").write_text("NEVER")
    notes: list[str] = []
    text = inline_inputs(tmp_path / "main.tex", tmp_path, notes=notes)
    assert "One." in text and "Two." in text and "Three." in text
    assert "NEVER" not in text and "subfiles" not in text
    assert notes == []


# --------------------------------------------------------------------------------------
# The converter and odd LaTeX
# --------------------------------------------------------------------------------------


def _doc(body: str, preamble: str = "") -> str:
    return f"\\documentclass{{article}}\n{preamble}\n\\begin{{document}}\n{body}\n\\end{{document}}\n"


def test_inline_math_and_text_symbols():
    paper = parse_latex(
        _doc(
            "\\section{Results}\n"
            "We reach $62\\%$ and 3$\\times$ at $1.8\\times$ cost, $\\pm$ noise, $\\alpha \\leq 0.5$. "
            "Tom \\& Jerry~said ``yes'' -- twice --- loudly; 10\\% of \\emph{all} \\texttt{runs}\\footnote{Not all.}."
        )
    )
    assert paper.sections[0].text == (
        'We reach 62% and 3x at 1.8x cost, ± noise, α ≤ 0.5. Tom & Jerry said "yes" – twice — loudly; 10% of all runs.'
    )


def _intro(body: str) -> str:
    """The introduction of a paper whose introduction is `body`, as one string."""
    return " ".join(parse_latex(_doc(f"\\section{{Introduction}}\n{body}")).introduction)


# siunitx as it prints: the claim check compares these numbers with a draft's.
SIUNITX = [
    # quantities and units
    ("\\SI{61.2}{\\percent}", "61.2%"),
    ("\\SI{3}{\\milli\\second}", "3 ms"),
    ("\\SI{3}{\\micro\\second}", "3 µs"),
    ("\\SI{5}{\\kilo\\gram}", "5 kg"),
    ("\\SI{5}{\\gram}", "5 g"),
    ("\\SI{2}{\\metre} \\SI{2}{\\meter} \\SI{4}{\\kilo\\metre}", "2 m 2 m 4 km"),
    ("\\SI{1}{\\hour} \\SI{2}{\\minute} \\SI{9}{\\second}", "1 h 2 min 9 s"),
    ("\\SI{16}{\\giga\\byte} \\SI{16}{\\mega\\byte}", "16 GB 16 MB"),
    ("\\SI{50}{\\hertz} \\SI{2.4}{\\giga\\hertz}", "50 Hz 2.4 GHz"),
    ("\\SI{2.5}{\\times} \\SI{90}{\\degree} \\SI{20}{\\celsius}", "2.5x 90° 20 °C"),
    ("\\SI{30}{\\kilo\\metre\\per\\hour} \\SI{9.8}{\\metre\\per\\second\\squared}", "30 km/h 9.8 m/s²"),
    ("\\SI{2}{\\square\\metre} \\SI{2}{\\metre\\tothe{3}}", "2 m² 2 m³"),
    ("\\SI{3}{\\flop} \\SI{3}{ms} \\SI{3}{\\ms}", "3 flop 3 ms 3 ms"),  # unknown, literal, abbreviation
    ("\\SI[round-precision=1]{10}[\\$]{}", "$10"),  # options dropped, pre-unit kept
    ("\\qty{3}{\\milli\\second} \\qty{61.2}{\\percent}", "3 ms 61.2%"),
    ("\\unit{\\kilo\\metre\\per\\hour} \\si{\\percent} \\unit{\\giga\\byte}", "km/h % GB"),
    ("\\ang{30} \\ang{1;2;3}", "30° 1°2′3″"),
    ("10\\percent alone", "10% alone"),
    ("in math $\\SI{3}{\\milli\\second}$ too", "in math 3 ms too"),
    # numbers
    ("\\num{12345}", "12345"),
    ("\\num{12 345}", "12345"),
    ("\\num{1.5e3}", "1500"),  # exponents multiplied out, so the claim check sees 1500
    ("\\num{2e-3}", "0.002"),
    ("\\num{6.02e23}", "6.02e23"),  # too long to write out: kept as written
    ("\\num{-3} \\num{0.5}", "-3 0.5"),
    ("\\num{1.2+-0.1} \\num{1.2 \\pm 0.1}", "1.2 ± 0.1 1.2 ± 0.1"),
    ("\\SI{1.5e3}{\\milli\\second}", "1500 ms"),
    # ranges and lists
    ("\\SIrange{2}{3}{\\times}", "2-3x"),  # was "23x"
    ("\\qtyrange{2}{3}{\\times}", "2-3x"),
    ("\\SIrange{10}{20}{\\milli\\second} \\qtyrange{5}{7}{\\percent}", "10-20 ms 5-7%"),
    ("\\numrange{2}{3}", "2-3"),
    ("\\numrange{-5}{5}", "-5 to 5"),  # a hyphen before a sign would read as a minus
    ("\\SIlist{1;2;3}{\\milli\\second}", "1 ms, 2 ms, 3 ms"),
    ("\\qtylist{1;2.5}{\\percent}", "1%, 2.5%"),
    ("\\numlist{1;2;3}", "1, 2, 3"),
]


@pytest.mark.parametrize(("tex", "text"), SIUNITX)
def test_siunitx_reads_as_it_prints(tex: str, text: str):
    assert _intro(tex) == text


def test_hostile_siunitx_is_read_in_linear_time():
    hostile = [
        "\\SI{1}{" * 20_000,  # unclosed unit groups
        "\\unit{\\metre" + "\\squared" * 50_000 + "}",  # a power added 50,000 times
        "\\unit{" + "\\per" * 50_000 + "\\kilo" * 50_000 + "}",
        "\\num{1e" + "9" * 50_000 + "}",  # an exponent far too large to write out
        "\\SIlist{" + ";" * 50_000 + "}{\\tothe{",
    ]
    for body in hostile:
        start = time.monotonic()
        _intro(body)
        assert time.monotonic() - start < 5.0, body[:20]


def test_macros_with_arguments_and_defaults():
    paper = parse_latex(
        _doc(
            "\\section{Introduction}\n\\pair{a}{b} and \\opt{x} and \\opt[y]{z} and \\ours{} wins.",
            preamble="\\newcommand{\\pair}[2]{#2-#1}\\newcommand\\opt[2][d]{(#1,#2)}\\newcommand*{\\ours}{Ours}",
        )
    )
    assert paper.introduction == ["b-a and (d,x) and (y,z) and Ours wins."]


def test_recursive_macro_terminates_with_a_note():
    paper = parse_latex(_doc("\\section{Introduction}\nText \\loop{} end.", preamble="\\newcommand{\\loop}{\\loop\\loop}"))
    assert paper.introduction == ["Text end."]
    assert any("macro expansion stopped" in note for note in paper.notes)


def test_enumerate_items_description_and_section_refs():
    paper = parse_latex(
        _doc(
            "\\section{Introduction}\\label{sec:i}\nLead in:\n\\begin{enumerate}\n\\item[(i)] first\n"
            "\\item second, with a nested list\n\\begin{itemize}\\item inner one\\item inner two\\end{itemize}\n"
            "\\end{enumerate}\n\nSee \\Cref{sec:x} and \\ref{sec:x.y} and \\eqref{eq:1}.\n"
            "\\section{Setup}\\label{sec:x}\n\\subsection{Data}\\label{sec:x.y}\n"
            "\\begin{description}\\item[Speed] fast\\item[Memory:] small\\end{description}"
        )
    )
    assert paper.introduction == [
        "Lead in: (i) first. second, with a nested list inner one. inner two.",
        "See Section 2 and 2.1 and.",
    ]
    assert paper.sections[0].text == "Data\n\nSpeed: fast. Memory: small."


def test_missing_abstract_and_introduction_are_notes_not_errors():
    paper = parse_latex(_doc("\\section{Method}\nWe do things."))
    assert paper.abstract == "" and paper.introduction == []
    assert paper.sections[0].text == "We do things."
    assert "no abstract in the LaTeX (use the arXiv abstract)" in paper.notes
    assert "no Introduction section: introduction left empty" in paper.notes


def test_introduction_name_variants_and_short_titles():
    for heading in ("\\section{1 Introduction}", "\\section[Intro]{Introduction and Motivation}", "\\section*{INTRODUCTION}"):
        paper = parse_latex(_doc(f"{heading}\nFirst.\n\n\\paragraph{{Why.}} Second.\n\\section{{Next}}\nRest."))
        assert paper.introduction == ["First.", "Why. Second."], heading
        assert [s.name for s in paper.sections] == ["Next"]


def test_abstract_command_and_no_sections():
    paper = parse_latex(_doc("\\abstract{Command abstract.}\nJust prose, no sections."))
    assert paper.abstract == "Command abstract."
    assert paper.sections == [paper.sections[0]] and paper.sections[0].name == ""
    assert paper.sections[0].text == "Just prose, no sections."


def test_comment_lines_do_not_split_paragraphs_and_escaped_percent_stays():
    paper = parse_latex(_doc("\\section{Introduction}\nOne line\n% a whole comment line\nsame paragraph, 5\\% more.%\n\nNext."))
    assert paper.introduction == ["One line same paragraph, 5% more.", "Next."]


def test_float_numbering_multiple_captions_and_uncaptioned():
    paper = parse_latex(
        _doc(
            "\\section{Introduction}\nText.\n"
            "\\begin{figure}\\includegraphics{a}\\end{figure}\n"  # no caption: skipped, no number
            "\\begin{figure*}\\begin{subfigure}{0.5\\linewidth}\\caption{sub}\\label{fig:sub}\\end{subfigure}"
            "\\caption{Two panels.}\\label{fig:two}\\end{figure*}\n"
            "\\begin{figure}\\begin{minipage}{.5\\linewidth}\\caption{Left}\\label{fig:l}\\end{minipage}"
            "\\begin{minipage}{.5\\linewidth}\\captionof{table}{Right table}\\label{tab:r}\\end{minipage}\\end{figure}\n"
            "\\appendix\\section{More}\n\\begin{table}\\label{tab:late}\\caption[short]{Long caption.}\\end{table}"
        )
    )
    assert [(f.kind, f.number, f.label, f.caption, f.section) for f in paper.floats] == [
        ("figure", 1, "fig:two", "Two panels.", "Introduction"),
        ("figure", 2, "fig:l", "Left", "Introduction"),
        ("table", 1, "tab:r", "Right table", "Introduction"),
        ("table", 2, "tab:late", "Long caption.", "Appendix: More"),
    ]
    assert paper.introduction == ["Text."]


@pytest.mark.parametrize(
    "tex",
    [
        "",
        "\\",
        "{{{{",
        "}}}}",
        "$",
        "$$ x",
        "\\begin{itemize}\\item",
        "\\section",
        "\\section{",
        "\\textbf{unclosed\n\nnext paragraph",
        "\\iffalse never closed",
        "\\newcommand{\\a}{\\a}\\a",
        "\\def\\b#1#2{#2#1}\\b",
        "\\begin{document}\\section{Introduction}\\begin{figure}\\caption{x",
        "\\title{",
        "\\input{../../etc/passwd}",
        "\\" + "textbf{" * 500 + "deep" + "}" * 500,
        "\\verb",
        "\\'",
        "\\caption{\\label{x}}",
        "\\begin{abstract}never closed",
    ],
)
def test_odd_latex_never_raises(tex: str):
    paper = parse_latex(tex)
    assert isinstance(paper.abstract, str)


def test_unbalanced_braces_are_best_effort_with_a_note():
    paper = parse_latex(_doc("\\section{Introduction}\n\\textbf{Bold never closed. Still words.\n\nNext paragraph."))
    assert paper.introduction == ["Bold never closed. Still words.", "Next paragraph."]
    assert any("unbalanced braces" in note for note in paper.notes)


def test_iffalse_else_branch_appendices_env_and_label_inside_title():
    paper = parse_latex(
        _doc(
            "\\section{Introduction}\nSee \\cref{sec:m} and \\cref{app:x} (e.g., \\cite{x}).\n"
            "\\iffalse Hidden \\ifx\\a\\b nested\\fi still hidden \\else Shown. \\fi\n"
            "\\section{Method\\label{sec:m}}\nBody.\n"
            "\\begin{appendices}\\section{Extra}\\label{app:x}\nMore.\\end{appendices}"
        )
    )
    assert paper.introduction == ["See Section 2 and Appendix A (e.g.). Shown."]
    assert [(s.name, s.text) for s in paper.sections] == [("Method", "Body."), ("Appendix: Extra", "More.")]


def test_random_token_soup_never_raises():
    """A seeded fuzz over the constructs the parser treats specially."""
    import random

    tokens = (
        "\\section \\section* { } [ ] $ $$ \\item \\caption \\captionof \\label{a} \\ref{a} \\newcommand \\def "
        "\\m #1 \\iffalse \\fi \\else % \\% \\textbf \\frac \\' \\verb | \\\\ \\[ \\] \\( \\) \\appendix "
        "\\begin{document} \\begin{itemize} \\end{itemize} \\begin{figure} \\end{figure} \\begin{abstract} "
        "\\end{abstract} \\begin{comment} \\end{comment} \\paragraph \\subsection -- ~ & word \\begin \\end"
    ).split() + ["\n", "\n\n", " "]
    rng = random.Random(1234)
    for _ in range(300):
        tex = "".join(rng.choice(tokens) for _ in range(rng.randint(1, 50)))
        paper = parse_latex(tex)
        assert all(s.name is not None for s in paper.sections)
        assert all(f.number >= 1 and f.caption for f in paper.floats)
