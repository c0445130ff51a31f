from __future__ import annotations

import itertools
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.tutor import chunking
from bot.tutor.chunking import Chunk, approximate_token_count, chunk_markdown, chunk_pages

LESSON = """# Loops

A loop runs the same code several times. Python has two kinds: `for` and `while`.

## For loops

A `for` loop walks over the items of a sequence.

```python
for name in ["Ada", "Grace", "Linus"]:
    print(f"Hello, {name}!")

total = 0
for n in range(10):
    total += n
```

The loop variable keeps its last value after the loop.

## While loops

A `while` loop repeats as long as its condition is true.
"""


def words(text: str) -> list[str]:
    return text.split()


def test_headings_become_title_paths():
    chunks = chunk_markdown(LESSON, title="Loops", target_chars=200, overlap_chars=0)

    assert [chunk.title for chunk in chunks] == [
        "Loops",
        "Loops > For loops",
        "Loops > For loops",
        "Loops > While loops",
    ]
    assert [chunk.index for chunk in chunks] == list(range(len(chunks)))
    assert all(chunk.page is None for chunk in chunks)


def test_a_code_block_that_fits_is_never_split():
    chunks = chunk_markdown(LESSON, target_chars=120, overlap_chars=0)

    code = LESSON[LESSON.index("```python") : LESSON.index("```\n\nThe loop") + 3]
    assert len(code) > 120
    assert any(code in chunk.content for chunk in chunks)


def test_a_long_code_block_is_cut_between_lines_into_valid_blocks():
    code = "```python\n" + "\n".join(f"value_{n} = {n} * 2" for n in range(200)) + "\n```"

    chunks = chunk_markdown(code, target_chars=400, overlap_chars=0)

    assert len(chunks) > 1
    for chunk in chunks:
        lines = chunk.content.splitlines()
        assert lines[0] == "```python" and lines[-1] == "```"
        assert all(re.fullmatch(r"value_\d+ = \d+ \* 2", line) for line in lines[1:-1])
        assert len(chunk.content) <= 800
    body = [line for chunk in chunks for line in chunk.content.splitlines()[1:-1]]
    assert body == code.splitlines()[1:-1]
    sizes = [len(chunk.content) for chunk in chunks]
    assert min(sizes) > max(sizes) / 2  # similar sizes, no three-line leftover


def test_pages_are_kept_and_chunks_never_span_them():
    pages = [
        (1, "# Sorting\n\nBubble sort swaps neighbours."),
        (2, "It is slow: O(n^2) comparisons.\n\n## Merge sort\n\nMerge sort splits and merges."),
        (3, "Merge sort is O(n log n)."),
    ]

    chunks = chunk_pages(pages, title="Algorithms")

    assert [(chunk.page, chunk.title) for chunk in chunks] == [
        (1, "Algorithms > Sorting"),
        (2, "Algorithms > Sorting"),
        (2, "Algorithms > Sorting > Merge sort"),
        (3, "Algorithms > Sorting > Merge sort"),
    ]
    assert chunks[1].content == "It is slow: O(n^2) comparisons."


def test_a_paragraph_split_for_size_overlaps_the_previous_chunk():
    paragraph = " ".join(f"Sentence number {n} says something about loops." for n in range(40))

    chunks = chunk_markdown(paragraph, target_chars=300, overlap_chars=80)

    assert len(chunks) > 2
    for previous, chunk in itertools.pairwise(chunks):
        overlap = next(
            (chunk.content[:n] for n in range(80, 0, -1) if previous.content.endswith(chunk.content[:n])), ""
        )
        assert overlap.startswith("Sentence number")  # starts where a sentence starts
    assert all(len(chunk.content) <= 300 + 80 for chunk in chunks)


def test_token_count_counts_words_and_punctuation():
    assert approximate_token_count("Hello, world!") == 4
    [chunk] = chunk_markdown("Hello, world!")
    assert chunk == Chunk(index=0, content="Hello, world!", title=None, page=None, token_count=4)


def test_empty_text_has_no_chunks():
    assert chunk_markdown("  \n\n \n") == []
    assert chunk_pages([(1, ""), (2, "\n")]) == []


@pytest.mark.parametrize(("target", "overlap"), [(10, 0), (800, 400), (800, -1)])
def test_sizes_are_checked(target: int, overlap: int):
    with pytest.raises(ValueError):
        chunk_markdown("text", target_chars=target, overlap_chars=overlap)


_word = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
_paragraph = st.lists(_word, min_size=1, max_size=80).map(" ".join)
_word_line = st.lists(_word, min_size=1, max_size=4).map(" ".join)
_sentences = st.lists(_word.map(lambda w: w.capitalize() + "."), min_size=1, max_size=40).map(" ".join)
_heading = st.tuples(st.integers(1, 4), _word).map(lambda h: "#" * h[0] + " " + h[1])
_code = st.lists(_word_line, min_size=0, max_size=30).map(lambda lines: "```py\n" + "\n".join(lines) + "\n```")
_markdown = st.lists(st.one_of(_paragraph, _sentences, _heading, _code), min_size=1, max_size=20).map("\n\n".join)


@given(text=_markdown, target=st.integers(60, 500))
def test_without_overlap_the_chunks_hold_all_the_text_in_order(text: str, target: int):
    chunks = chunk_markdown(text, target_chars=target, overlap_chars=0)

    def prose_and_code(text: str) -> list[str]:
        # Long code blocks come back as several blocks: the fence lines are not the text to compare.
        return [word for word in words(text) if not word.startswith("```")]

    assert prose_and_code("\n".join(chunk.content for chunk in chunks)) == prose_and_code(text)
    for chunk in chunks:
        assert chunk.content.strip() and len(chunk.content) <= 2 * target
        assert len(re.findall(r"^```", chunk.content, re.MULTILINE)) % 2 == 0  # every code block closed


@given(text=_markdown, target=st.integers(60, 500), overlap=st.integers(1, 29))
def test_with_overlap_every_word_is_still_in_some_chunk(text: str, target: int, overlap: int):
    chunks = chunk_markdown(text, target_chars=target, overlap_chars=overlap)

    assert set(words(text)) <= {word for chunk in chunks for word in words(chunk.content)}
    assert all(len(chunk.content) <= 2 * target for chunk in chunks)


@given(st.text(alphabet="ab \n\r\u2028\x0b", max_size=400), st.integers(min_value=1, max_value=50))
def test_lines_read_a_window_at_a_time_are_the_lines_of_the_whole_text(text: str, window: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(chunking, "LINES_WINDOW", window)
        assert list(chunking._lines(text)) == text.splitlines()
