"""Split lesson and material text into retrieval chunks.

The text is read as Markdown blocks: ATX headings (`#` to `######`), fenced code blocks (``` or ~~~)
and paragraphs (separated by blank lines). Blocks are packed into chunks of about `target_chars`:

- a heading starts a new chunk, and the heading path ("Lesson > Section > Subsection") becomes the
  chunk's `title`, so a chunk can be cited and embedded with its context;
- a chunk closed because it was full hands the next one a small overlap (the tail of its last
  paragraph, from a word boundary), so a sentence cut at the edge is still found whole;
- a fenced code block is kept whole when it fits in `2 * target_chars`; a longer one is cut between
  lines, each part closed and reopened with its fence so every chunk stays valid Markdown;
- a paragraph longer than `target_chars` is cut at a sentence end, else at a space;
- a chunk holding only headings or a line or two takes the next block whole rather than stay that
  small; no chunk is longer than `2 * target_chars`.

Chunks never span pages. Apart from the overlaps and repaired fences, the chunks' contents in
order hold all the text of the input; only whitespace between blocks and at line ends changes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Literal

TARGET_CHARS = 800
OVERLAP_CHARS = 100
TITLE_SEPARATOR = " > "
# Text is split into lines this many characters at a time (see `_lines`).
LINES_WINDOW = 1 << 16

_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_FENCE_OPEN = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s")
_TOKEN = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True, slots=True)
class Chunk:
    """One retrieval unit of a document."""

    index: int  # 0-based position among the document's chunks
    content: str  # Markdown, stripped of surrounding whitespace; never empty
    title: str | None  # heading path joined with " > ", led by the document title if given
    page: int | None  # the source page, for text that came as pages (PDF); None for Markdown
    token_count: int  # approximate, see `approximate_token_count`


def approximate_token_count(text: str) -> int:
    """The number of words plus punctuation marks in `text`.

    Roughly what BPE tokenizers give for English prose (code and other languages differ more): good
    enough for budgets and for sizing prompts, not a substitute for the model's tokenizer.
    """
    return len(_TOKEN.findall(text))


def chunk_markdown(
    text: str, *, title: str | None = None, target_chars: int = TARGET_CHARS, overlap_chars: int = OVERLAP_CHARS
) -> list[Chunk]:
    """The chunks of one Markdown document (a lesson, or a material's extracted text). `page` is None."""
    return chunk_pages([(None, text)], title=title, target_chars=target_chars, overlap_chars=overlap_chars)


def chunk_pages(
    pages: Iterable[tuple[int | None, str]],
    *,
    title: str | None = None,
    target_chars: int = TARGET_CHARS,
    overlap_chars: int = OVERLAP_CHARS,
) -> list[Chunk]:
    """The chunks of a document given as `(page_number, text)` pages, e.g. from a PDF.

    Each chunk lies on one page and keeps its number; a heading on one page still titles the chunks
    of the pages after it.
    """
    if target_chars < 40:
        raise ValueError("target_chars must be at least 40")
    if not 0 <= overlap_chars < target_chars // 2:
        raise ValueError("overlap_chars must be between 0 and half of target_chars")
    scanner = _BlockScanner()
    packer = _Packer(target_chars=target_chars, overlap_chars=overlap_chars)
    for page, page_text in pages:
        for block in scanner.blocks(page_text):
            for piece in _pieces_that_fit(block, target_chars=target_chars, max_chars=2 * target_chars):
                packer.add(piece, page=page)
        packer.end_page()
    return [
        Chunk(
            index=index,
            content=content,
            title=_title_for(title, path),
            page=page,
            token_count=approximate_token_count(content),
        )
        for index, (content, path, page) in enumerate(packer.chunks)
    ]


@dataclass(frozen=True, slots=True)
class _Block:
    kind: Literal["heading", "prose", "code", "overlap"]
    text: str
    path: tuple[str, ...]  # the headings this block sits under; a heading's own path includes itself


class _BlockScanner:
    """Reads Markdown into blocks, remembering the heading path from one call to the next."""

    def __init__(self) -> None:
        self._headings: list[tuple[int, str]] = []

    @property
    def _path(self) -> tuple[str, ...]:
        return tuple(text for _, text in self._headings)

    def blocks(self, text: str) -> Iterator[_Block]:
        """The blocks of `text` in order, handed out as they are read: a long text is never held as blocks all at
        once (hundreds of thousands of objects for every garbage collection to walk)."""
        blocks: list[_Block] = []
        paragraph: list[str] = []
        fence: list[str] = []
        fence_marker = ""

        def flush_paragraph() -> None:
            if paragraph:
                blocks.append(_Block("prose", "\n".join(paragraph), self._path))
                paragraph.clear()

        for line in _lines(text):
            if blocks:
                yield from blocks
                blocks.clear()
            line = line.rstrip()
            if fence:
                fence.append(line)
                if _closes_fence(line, fence_marker):
                    blocks.append(_Block("code", "\n".join(fence), self._path))
                    fence.clear()
                continue
            if opener := _FENCE_OPEN.match(line):
                flush_paragraph()
                fence_marker = opener.group(1)
                fence.append(line)
            elif heading := _HEADING.match(line):
                flush_paragraph()
                level = len(heading.group(1))
                while self._headings and self._headings[-1][0] >= level:
                    self._headings.pop()
                self._headings.append((level, (heading.group(2) or "").strip()))
                blocks.append(_Block("heading", line.strip(), self._path))
            elif line.strip():
                paragraph.append(line)
            else:
                flush_paragraph()
        flush_paragraph()
        if fence:  # unclosed: CommonMark runs it to the end of the document
            blocks.append(_Block("code", "\n".join(fence), self._path))
        yield from blocks


def _lines(text: str) -> Iterator[str]:
    """`text.splitlines()`, one window at a time: a single call over megabytes holds the GIL, and with it the event
    loop while chunking runs in a worker thread, for tens of milliseconds."""
    start = 0
    while start < len(text):
        end = text.find("\n", start + LINES_WINDOW)
        end = len(text) if end < 0 else end + 1  # cut after a "\n": no line (and no "\r\n") is split
        yield from text[start:end].splitlines()
        start = end


def _closes_fence(line: str, marker: str) -> bool:
    stripped = line.strip()
    return len(line) - len(line.lstrip(" ")) <= 3 and len(stripped) >= len(marker) and set(stripped) == {marker[0]}


def _pieces_that_fit(block: _Block, *, target_chars: int, max_chars: int) -> list[_Block]:
    if block.kind == "code":
        if len(block.text) <= max_chars:
            return [block]
        return [_Block("code", text, block.path) for text in _split_code(block.text, max_chars)]
    if len(block.text) > target_chars:  # a long paragraph, or an absurdly long heading
        pieces = _split_prose(block.text, target_chars)
        return [_Block(block.kind, pieces[0], block.path)] + [_Block("prose", text, block.path) for text in pieces[1:]]
    return [block]


def _split_prose(text: str, limit: int) -> list[str]:
    """Pieces of at most `limit` chars, cut after a sentence end if there is one in the second half."""
    pieces: list[str] = []
    rest = text.strip()
    while len(rest) > limit:
        window = rest[: limit + 1]
        cut = 0
        for match in _SENTENCE_END.finditer(window):
            if match.end() > limit // 2:
                cut = match.end()
        if not cut:
            cut = max(window.rfind(" "), window.rfind("\n")) + 1
        if cut <= 1:
            cut = limit
        pieces.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def _split_code(text: str, limit: int) -> list[str]:
    """A long fenced block as several fenced blocks of at most `limit` chars and similar sizes, cut between lines."""
    lines = text.split("\n")
    opener = lines[0]
    marker = _FENCE_OPEN.match(opener)
    closer = marker.group(1) if marker else "```"
    body = lines[1:-1] if len(lines) > 1 and _closes_fence(lines[-1], closer) else lines[1:]
    room = limit - len(opener) - len(closer) - 2
    if room < 20:  # an absurd info string: give up on repairing the fences
        return _split_prose(text, limit)
    body_size = sum(len(line) + 1 for line in body)
    parts = math.ceil(body_size / room)
    # Aim for equal parts (no 3-line remainder), leaving slack for lines that straddle a boundary.
    budget = min(room, math.ceil(body_size / parts) + max(len(line) + 1 for line in body))
    pieces: list[str] = []
    current: list[str] = []
    size = 0
    for line in body:
        while len(line) > room:  # one very long line: cut it where it must be cut
            if current:
                pieces.append("\n".join([opener, *current, closer]))
                current, size = [], 0
            pieces.append("\n".join([opener, line[:room], closer]))
            line = line[room:]
        if current and size + len(line) + 1 > budget:
            pieces.append("\n".join([opener, *current, closer]))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current or not pieces:
        pieces.append("\n".join([opener, *current, closer]))
    return pieces


class _Packer:
    """Packs blocks into chunk contents; see the module docstring for the rules."""

    def __init__(self, *, target_chars: int, overlap_chars: int) -> None:
        self._target = target_chars
        self._max = 2 * target_chars
        self._overlap = overlap_chars
        self._current: list[_Block] = []
        self._page: int | None = None
        self.chunks: list[tuple[str, tuple[str, ...], int | None]] = []

    def add(self, block: _Block, *, page: int | None) -> None:
        current = self._current
        size = sum(len(b.text) + 2 for b in current)
        if block.kind == "heading":
            # A heading opens a new chunk, except right after other headings: a chunk of headings alone
            # would match queries and say nothing.
            if not all(b.kind == "heading" for b in current) or size + len(block.text) > self._max:
                self._flush()
        elif current and size + len(block.text) > self._room_after(size):
            carried = self._tail(current[-1])
            self._flush()
            if carried and len(carried) + 2 + len(block.text) <= self._max:
                self._current.append(_Block("overlap", carried, block.path))
        self._current.append(block)
        self._page = page

    def _room_after(self, size: int) -> int:
        # A chunk holding only a heading or a line or two may grow to the hard maximum rather than be
        # left that small.
        return self._max if size < self._target // 4 else self._target

    def end_page(self) -> None:
        self._flush()

    def _flush(self) -> None:
        if any(b.kind != "overlap" for b in self._current):
            content = "\n\n".join(b.text for b in self._current).strip()
            self.chunks.append((content, self._current[-1].path, self._page))
        self._current = []

    def _tail(self, block: _Block) -> str:
        """The end of a prose block, at most `overlap_chars` long, from a sentence start or else a word start."""
        if block.kind != "prose" or self._overlap == 0:
            return ""
        if len(block.text) <= self._overlap:
            return block.text
        tail = block.text[-self._overlap :]
        boundary = _SENTENCE_END.search(tail) or re.search(r"\s", tail)
        return tail[boundary.end() :].lstrip() if boundary else ""


def _title_for(document_title: str | None, path: tuple[str, ...]) -> str | None:
    parts = [part for part in path if part]
    if document_title and (not parts or parts[0] != document_title):
        parts.insert(0, document_title)
    return TITLE_SEPARATOR.join(parts) or None
