r"""Reading LaTeX without a TeX engine, in linear time: where a group, an optional
argument or an environment closes, and what a mandatory argument holds.

The input is hostile, so every step is linear in its size. "Where does this group close?"
(braces, brackets, environments, \iffalse) is answered from a per-string index built in
one pass (`Nesting`), not by a scan to the end per opener, which made repeated unclosed
openers quadratic; regular expressions never give two quantifiers the same characters
(possessive where they could).
"""

from __future__ import annotations

import re
import threading
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from functools import lru_cache

# Marks where markup was removed. It is not whitespace, so a line that held only a
# \label or a figure does not turn into a blank line (a paragraph break); it is deleted
# when paragraphs are assembled.
GAP = "\x00"
CONTROL = re.compile(r"\\([a-zA-Z]+|[\s\S])")
# Possessive: a line of spaces followed by a blank line is given up in one step.
_SPACE = re.compile(r"[ \t]*+(?:\n[ \t]*+(?![\n \t]))?")
BLANK_LINE = re.compile(r"\n\s*\n")
# The next brace or ']' that is not escaped, with the text before it skipped in C. The
# alternatives never overlap and the loop is possessive, so a search never backtracks; the
# `\\?\Z` branch lets the tail without any brace match once instead of failing from every
# position.
_NEXT_BRACE = re.compile(r"(?:[^\\{}\]]++|\\[\s\S])*+(?:([{}\]])|\\?\Z)")
# How far the readers below scan before they ask the string's index instead.
_SHORT_SCAN = 32  # tokens
_SHORT_FIND = 2048  # characters
_SHORT_OPTIONAL = 256  # characters: [t], [width=0.5\linewidth], [see][p. 3]


class Nesting:
    """Openers (+1) and closers (-1) of one kind in one string, indexed in a single pass.

    A scan from an opener to its closer is linear, but hostile sources repeat an unclosed
    opener (`{`, `[`, `\\begin{figure}`, `\\iffalse`) thousands of times, and one scan to
    the end of the text per opener is quadratic: a 335-byte archive took 16 s. Here
    `closer(pos)` answers in O(log n) what a scan starting at `pos` with depth 1 would
    find: the first later token at which the running depth falls below the depth at `pos`.
    """

    def __init__(self, tokens: Iterable[tuple[int, int, int]]):
        self.starts, self.ends = array("q"), array("q")
        self.depths = array("q")  # the running depth before each token ("slot")
        self._falls = array("q")  # slot -> the first token that falls below it, or -1
        waiting_depths, waiting_slots = array("q"), array("q")  # non-decreasing depths
        depth = 0
        for index, (start, end, step) in enumerate(tokens):
            self.starts.append(start)
            self.ends.append(end)
            self.depths.append(depth)
            self._falls.append(-1)
            waiting_depths.append(depth)
            waiting_slots.append(index)
            depth += step
            while waiting_depths and waiting_depths[-1] > depth:
                waiting_depths.pop()
                self._falls[waiting_slots.pop()] = index
        self.depths.append(depth)  # the slot after the last token never closes
        self._falls.append(-1)

    def _slot(self, pos: int) -> int:
        return bisect_left(self.starts, pos)

    def depth_at(self, pos: int) -> int:
        """The running depth just before `pos`."""
        return self.depths[self._slot(pos)]

    def closer(self, pos: int) -> int | None:
        """The index of the token closing a group whose content starts at `pos`, or None."""
        token = self._falls[self._slot(pos)]
        return token if token >= 0 else None


class _TextIndex:
    """What the readers below ask of one string, answered without rescanning it: braces
    (`{`/`}`, escapes skipped) and unescaped `]` by brace depth, environments, paragraph
    ends, last occurrences. Each part is built on first use, in one pass."""

    def __init__(self, s: str):
        self.s = s
        # Built whole, then assigned: two threads parsing the same string only repeat work.
        self._braces: tuple[Nesting, dict[int, array]] | None = None
        self._environments: dict[str, Nesting] = {}
        self._blank = (0, -1)  # (searched from, found at)
        self._last: dict[str, int] = {}

    @property
    def braces(self) -> Nesting:
        return self._brace_index()[0]

    def _brace_index(self) -> tuple[Nesting, dict[int, array]]:
        if self._braces is None:
            brackets: dict[int, array] = {}  # brace depth -> positions of ']' at that depth
            self._braces = (Nesting(_brace_tokens(self.s, brackets)), brackets)
        return self._braces

    def environment(self, env: str) -> Nesting:
        nesting = self._environments.get(env)
        if nesting is None:
            tokens = _env_pattern(env).finditer(self.s)
            nesting = Nesting((m.start(), m.end(), 1 if m.group(1) == "begin" else -1) for m in tokens)
            self._environments[env] = nesting
        return nesting

    def bracket_closer(self, pos: int) -> int | None:
        """The first `]` from `pos` on at the brace depth of `pos`, before a `}` closes a
        group opened before `pos`; None if there is none."""
        braces, brackets = self._brace_index()
        candidates = brackets.get(braces.depth_at(pos))
        k = bisect_left(candidates, pos) if candidates else 0
        if not candidates or k == len(candidates):
            return None
        fall = braces.closer(pos)
        limit = braces.starts[fall] if fall is not None else len(self.s)
        return candidates[k] if candidates[k] < limit else None

    def find(self, sub: str, pos: int) -> int:
        """s.find(sub, pos); past the last occurrence the answer is known without a scan
        (each of many unmatched `\\[` would otherwise search to the end)."""
        last = self._last.get(sub)
        if last is None:
            last = self._last[sub] = self.s.rfind(sub)
        return self.s.find(sub, pos) if pos <= last else -1

    def paragraph_end(self, pos: int) -> int:
        """Where the first blank line at or after `pos` starts (len(s) if none).

        The last search is remembered: a search from any position up to the blank line it
        found finds the same one, so many unclosed groups in one paragraph cost one scan.
        """
        searched_from, found_at = self._blank
        if not searched_from <= pos <= found_at:
            blank = BLANK_LINE.search(self.s, pos)
            searched_from, found_at = pos, blank.start() if blank else len(self.s)
            self._blank = (searched_from, found_at)  # one tuple: replaced atomically
        return found_at


def _brace_tokens(s: str, brackets: dict[int, array]) -> Iterator[tuple[int, int, int]]:
    depth = 0
    for match in _NEXT_BRACE.finditer(s):
        token, at = match.group(1), match.start(1)
        if token == "{":
            depth += 1
            yield at, at + 1, 1
        elif token == "}":
            depth -= 1
            yield at, at + 1, -1
        elif token == "]":
            brackets.setdefault(depth, array("q")).append(at)


class _Reading(threading.local):
    """The strings the converter is reading, innermost last, each with its index. An index
    kept only in the LRU below would be evicted by a deep or wide subtree and rebuilt after
    each one: quadratic. A string being read keeps its index until it is done."""

    def __init__(self):
        self.stack: list[list] = []  # [string, _TextIndex or None]


_READING = _Reading()


def text_index(s: str) -> _TextIndex:
    stack = _READING.stack
    if stack and stack[-1][0] is s:
        if stack[-1][1] is None:
            stack[-1][1] = _TextIndex(s)
        return stack[-1][1]
    return _cached_text_index(s)


# Strings are hashed once (CPython caches a str's hash) and compared by identity first, so
# a lookup is cheap even for the whole paper. parse_latex clears the cache when it ends.
@lru_cache(maxsize=32)
def _cached_text_index(s: str) -> _TextIndex:
    return _TextIndex(s)


@contextmanager
def reading(s: str) -> Iterator[None]:
    _READING.stack.append([s, None])
    try:
        yield
    finally:
        _READING.stack.pop()


def clear_indexes() -> None:
    _cached_text_index.cache_clear()


def window_end(s: str, start: int, size: int = _SHORT_FIND) -> int:
    """Where a short scan from `start` stops: a scan to the end of the text once per
    unclosed opener is what made them quadratic."""
    return min(len(s), start + size)


def skip_space(s: str, i: int) -> int:
    """Past spaces and at most one line end: TeX looks that far for an argument."""
    return _SPACE.match(s, i).end()


def match_brace(s: str, i: int) -> int:
    """Index of the `}` closing the `{` at s[i], or -1.

    A short scan finds almost every closer; a group still open after it is looked up in
    the string's index, so no opener costs a scan to the end of the text.
    """
    depth, end = 0, window_end(s, i)
    for seen, match in enumerate(_NEXT_BRACE.finditer(s, i, end)):
        token = match.group(1)
        if token is None:  # no brace left (in the window)
            if end == len(s):
                return -1
            break
        if token != "]":
            depth += 1 if token == "{" else -1
            if depth == 0:
                return match.start(1)
        if seen == _SHORT_SCAN:
            break
    braces = text_index(s).braces
    token = braces.closer(i + 1)
    return braces.starts[token] if token is not None else -1


def group(s: str, i: int) -> tuple[str, int, bool]:
    """A mandatory argument after s[i]: a braced group or a single token.

    Returns (content, end, balanced). An unclosed group runs to the end of its paragraph,
    which is where TeX would complain too.
    """
    j = skip_space(s, i)
    if j >= len(s) or s[j] == "}":
        return "", j, True
    if s[j] == "{":
        close = match_brace(s, j)
        if close < 0:
            end = text_index(s).paragraph_end(j)
            return s[j + 1 : end], end, False
        return s[j + 1 : close], close + 1, True
    if s[j] == "\\":
        token = CONTROL.match(s, j)
        return (token.group(), token.end(), True) if token else ("", j + 1, True)
    return s[j], j + 1, True


def group_end(s: str, i: int) -> int:
    """Where the argument `group` would read ends, without copying it."""
    j = skip_space(s, i)
    if j < len(s) and s[j] == "{":
        close = match_brace(s, j)
        return close + 1 if close >= 0 else text_index(s).paragraph_end(j)
    return group(s, i)[1]


def optional(s: str, i: int) -> tuple[str | None, int, bool]:
    """An optional [argument] after s[i]: (content or None, end, balanced)."""
    j = skip_space(s, i)
    if not s.startswith("[", j):
        return None, i, True
    close = _short_bracket_scan(s, j + 1)
    if close == -2:  # undecided: look it up
        close = text_index(s).bracket_closer(j + 1)
    if close is None or close < 0:
        return None, i, False  # an unclosed "[" is just text
    return s[j + 1 : close], close + 1, True


def _short_bracket_scan(s: str, start: int) -> int | None:
    """The `]` at brace depth 0 from `start`, None if a `}` or the end comes first, -2 if
    the short scan could not tell."""
    depth, end = 0, window_end(s, start, _SHORT_OPTIONAL)
    for seen, match in enumerate(_NEXT_BRACE.finditer(s, start, end)):
        token = match.group(1)
        if token is None:  # no brace or ']' left (in the window)
            return None if end == len(s) else -2
        if token == "]" and depth == 0:
            return match.start(1)
        if token != "]":
            depth += 1 if token == "{" else -1
            if depth < 0:
                return None
        if seen == _SHORT_SCAN:
            return -2
    return None


def env_span(s: str, env: str, start: int) -> tuple[int, int] | None:
    """(start of \\end{env}, end of \\end{env}) for an environment whose body starts at
    `start`, counting nested environments of the same name; None if never closed."""
    depth, end = 1, window_end(s, start)
    for seen, match in enumerate(_env_pattern(env).finditer(s, start, end)):
        depth += 1 if match.group(1) == "begin" else -1
        if depth == 0:
            return match.start(), match.end()
        if seen == _SHORT_SCAN:
            break
    else:
        if end == len(s):
            return None
    nesting = text_index(s).environment(env)
    token = nesting.closer(start)
    return (nesting.starts[token], nesting.ends[token]) if token is not None else None


@lru_cache(maxsize=256)
def _env_pattern(env: str) -> re.Pattern[str]:
    return re.compile(r"\\(begin|end)\s*\{" + re.escape(env) + r"\}")


def drop_envs(s: str, begin: re.Pattern[str]) -> str:
    out: list[str] = []
    pos = 0
    while match := begin.search(s, pos):
        span = env_span(s, match.group(1), match.end())
        if span is None:
            break
        out += [s[pos : match.start()], GAP]
        pos = span[1]
    out.append(s[pos:])
    return "".join(out)
