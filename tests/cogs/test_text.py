"""The Discord text helpers: mentions made inert, texts split into messages Discord takes, edits paced."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from cogs._text import ZERO_WIDTH_SPACE, StreamThrottle, _plan_split, split_for_discord, strip_mentions

PINGABLE = re.compile(r"@(everyone|here)|<(@[!&]?|#)\d+>", re.IGNORECASE)


# -- mentions ----------------------------------------------------------------------------------


def test_mentions_are_made_inert():
    text = "Hi @everyone and @here, ask <@123>, <@!456>, <@&789> in <#42>."

    cleaned = strip_mentions(text)

    assert PINGABLE.search(cleaned) is None
    assert cleaned.replace(ZERO_WIDTH_SPACE, "") == text
    assert strip_mentions("email me at ada@example.com") == "email me at ada@example.com"


_mentionish = st.sampled_from(
    ["@everyone", "@here", "@EVERYONE", "<@1>", "<@!22>", "<@&333>", "<#4444>", "@", "<", ">"]
)


@given(st.lists(st.one_of(_mentionish, st.text(max_size=5)), max_size=20).map("".join))
def test_no_mention_survives_and_nothing_else_changes(text: str):
    assume(ZERO_WIDTH_SPACE not in text)

    cleaned = strip_mentions(text)

    assert PINGABLE.search(cleaned) is None
    assert cleaned.replace(ZERO_WIDTH_SPACE, "") == text
    assert strip_mentions(cleaned) == cleaned


# -- splitting for Discord ---------------------------------------------------------------------


def test_short_text_is_one_message():
    assert split_for_discord("Hello!") == ["Hello!"]
    assert split_for_discord("   \n") == []


def test_splits_prefer_paragraph_boundaries():
    paragraphs = [f"Paragraph {n}. " + "word " * 30 for n in range(10)]
    text = "\n\n".join(p.strip() for p in paragraphs)

    pieces = split_for_discord(text, limit=400)

    assert all(len(piece) <= 400 for piece in pieces)
    assert all(piece.rstrip().endswith("word") for piece in pieces)  # never mid-paragraph
    assert all(piece.startswith("Paragraph") for piece in pieces)


def test_a_code_block_is_kept_whole_when_it_fits():
    code = "```python\n" + "x = 1\n" * 30 + "```"
    text = "Intro. " * 40 + "\n\n" + code + "\n\nDone."

    pieces = split_for_discord(text, limit=400)

    assert len(pieces) == 2 and pieces[1].startswith(code)


def test_a_code_block_cut_in_two_is_closed_and_reopened_with_its_language():
    code = "```python\n" + "".join(f"print({n})\n" for n in range(100)) + "```"

    pieces = split_for_discord(code, limit=300)

    assert len(pieces) > 2
    for piece in pieces:
        assert len(piece) <= 300
        assert piece.startswith("```python\n") and piece.endswith("```")
        assert all(re.fullmatch(r"print\(\d+\)", line) for line in piece.splitlines()[1:-1])


_word = st.text(alphabet="abcdefg.,!?", min_size=1, max_size=12)
_line = st.lists(_word, min_size=1, max_size=12).map(" ".join)
_paragraph = st.lists(_line, min_size=1, max_size=6).map("\n".join)
_code = st.tuples(st.sampled_from(["", "py", "python"]), st.lists(_line, max_size=15)).map(
    lambda c: f"```{c[0]}\n" + "".join(line + "\n" for line in c[1]) + "```"
)
_answer = st.lists(st.one_of(_paragraph, _code), min_size=1, max_size=12).map("\n\n".join)


def open_fence_after(text: str) -> bool:
    """Whether a well-formed Markdown text (as generated here) leaves a code block open."""
    return len(re.findall(r"^```", text, re.MULTILINE)) % 2 == 1


@given(text=_answer, limit=st.integers(40, 400))
def test_pieces_fit_keep_code_valid_and_rejoin_to_the_answer(text: str, limit: int):
    plan = _plan_split(text, limit)
    pieces = split_for_discord(text, limit)

    assert pieces == [piece.reopen + piece.body + piece.close for piece in plan]
    assert all(0 < len(piece) <= limit and piece.strip() for piece in pieces)
    assert "".join(piece.body for piece in plan) == text  # modulo the fence repair, exactly the answer
    assert not any(open_fence_after(piece) for piece in pieces)
    for piece in plan:
        assert re.fullmatch(r"(```\w*\n)?", piece.reopen) and re.fullmatch(r"(\n?```)?", piece.close)


@given(text=st.text(), limit=st.integers(20, 120))
def test_any_text_splits_into_pieces_that_fit_and_lose_only_whitespace(text: str, limit: int):
    plan = _plan_split(text, limit)

    assert all(0 < len(piece.render()) <= limit and piece.body.strip() for piece in plan)
    restored = "".join(piece.body for piece in plan)
    assert restored.split() == text.split()
    if not re.search(rf"\s{{{limit // 2},}}", text):
        assert text.startswith(restored) and restored.rstrip() == text.rstrip()


def test_limit_must_leave_room_for_text():
    with pytest.raises(ValueError):
        split_for_discord("text", limit=5)


# -- edit throttle -----------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_first_edit_is_immediate_then_one_per_interval():
    clock = FakeClock()
    throttle = StreamThrottle(interval=1.0, clock=clock)

    assert throttle.claim_edit()
    clock.now += 0.4
    assert not throttle.claim_edit()
    assert throttle.seconds_until_next_edit() == pytest.approx(0.6)
    clock.now += 0.6
    assert throttle.may_edit_now()
    assert throttle.claim_edit()
    assert not throttle.may_edit_now()


def test_a_recorded_edit_restarts_the_interval():
    clock = FakeClock()
    throttle = StreamThrottle(interval=1.5, clock=clock)

    throttle.record_edit()
    clock.now += 1.0
    throttle.record_edit()
    clock.now += 1.0

    assert not throttle.may_edit_now()
    assert throttle.seconds_until_next_edit() == pytest.approx(0.5)
