"""What parsing a paper's source yields: the file format shared by the parser and the analyst.

Text fields are plain text (LaTeX markup removed); paragraphs are separated by blank lines.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from paracycle.schemas import Strict


class Section(Strict):
    """A section after the introduction (method, experiments, conclusion, ...), in file order."""

    name: str
    text: str


class Float(Strict):
    """A table or figure: its caption is a strong evidence candidate for the analyst."""

    kind: Literal["table", "figure"]
    number: int = Field(ge=1, description="1-based position among floats of this kind")
    label: str | None = None
    caption: str
    section: str = Field(description="the section the float appears in ('' before the first)")


class PaperSections(Strict):
    title: str | None = None
    abstract: str
    introduction: list[str] = Field(default_factory=list)
    sections: list[Section] = Field(default_factory=list)
    floats: list[Float] = Field(default_factory=list)
    labels: list[str] = Field(default_factory=list, description="every \\label in the source")
    main_file: str | None = Field(default=None, description="the main .tex, relative to the archive root")
    # False when the source had no usable LaTeX and only the arXiv abstract is known.
    from_latex: bool = True
    notes: list[str] = Field(default_factory=list, description="what the parser could not do, in words")
