"""Moodle GIFT question files (`*.gift`), read the way Moodle's own importer reads them.

The reference is Moodle's `question/format/gift/format.php` and its `examples.txt`: a question is a
block of lines ended by a blank line, `//` lines are comments, `$CATEGORY:` switches the category,
`::title::` names a question, `[html]`/`[moodle]`/`[plain]`/`[markdown]` set a text's format, and
the answer block `{...}` decides the type (essay if empty, numerical if it starts with `#`, multiple
choice if it holds a `~`, matching if it holds `=` and `->`, true/false for `T`/`TRUE`/`F`/`FALSE`,
else short answer). Coursebot asks multiple choice (one right answer), multiple answer and
true/false questions; docs/course-format.md has the table of how each GIFT form maps.

Nothing is lost silently. A question Coursebot cannot ask is an error on its line. Where Coursebot
reads a question differently from Moodle, or cannot keep part of it (partial credit for a wrong
option, a question not separated from the one before by a blank line, an image), the question is
imported in the closest form and a warning (`Problem.is_warning`) says so on its line.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from html.parser import HTMLParser

from pydantic import ValidationError

from bot.services.coursepack.model import QuestionSpec, QuestionType
from bot.services.coursepack.problems import KeyPath, Problem, problems_from_validation_error

_SUPPORTED = "Coursebot asks GIFT multiple choice, multiple answer (`~%50%`) and true/false questions"
_ESCAPABLE = ":~=#{}\\"
# Escaped characters are swapped for private-use placeholders before parsing, so `\{` can never
# open an answer block, and swapped back in the finished texts (as Moodle's escapedchar_pre/post do).
_PLACEHOLDERS = {char: chr(0xE000 + index) for index, char in enumerate(_ESCAPABLE + "n")}
_RESTORE = {placeholder: ("\n" if char == "n" else char) for char, placeholder in _PLACEHOLDERS.items()}
_FORMAT_TAG = re.compile(r"^\[(html|moodle|plain|markdown)\]", re.IGNORECASE)
_TITLE_LINE = re.compile(r"^::[^\n]*?::")
_WEIGHT = re.compile(r"^%(-?\d+(?:\.\d*)?)%")
_TRUE_FALSE = ("T", "TRUE", "F", "FALSE")
# Embedded answers (Cloze) are a different Moodle question type with its own syntax, not GIFT.
_CLOZE = re.compile(
    r"\{\s*(?:\d+\s*)?:\s*(?:MULTICHOICE|MULTIRESPONSE|NUMERICAL|SHORTANSWER|MC|MR|NM|SA|MW)[A-Z_]*\s*:", re.IGNORECASE
)
# Markup Moodle renders in its default ("moodle") format; text without any is left exactly as written.
_HTML_MARKUP = re.compile(
    r"</?(?:p|br|div|span|b|strong|i|em|u|s|sub|sup|code|pre|tt|kbd|ul|ol|li|a|img|table|tbody|thead|tr|td|th|"
    r"h[1-6]|blockquote|font|hr|center)\b[^<>]*>",
    re.IGNORECASE,
)
_MOODLE_CATEGORY_ROOTS = re.compile(r"^(?:\$[a-z0-9]*\$|top)$", re.IGNORECASE)


@dataclass(slots=True)
class _Block:
    """The lines of one question, with their line numbers, and the concept its `$CATEGORY:` names."""

    numbers: list[int]
    lines: list[str]
    concept: str | None
    depth: int = 0
    closed_at: int | None = None
    """Index in `lines` of the line where the first answer block closed."""
    blank_inside: int | None = None
    """Index in `lines` of the first line after a blank line kept inside an open answer block."""
    is_cloze: bool = False

    @property
    def line(self) -> int:
        return self.numbers[0]

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    def add(self, number: int, line: str) -> None:
        if self.depth > 0 and not line.strip():
            self.blank_inside = len(self.lines) + 1
        self.numbers.append(number)
        self.lines.append(line)
        self.is_cloze = self.is_cloze or bool(_CLOZE.search(line))
        for char in line:
            if char == "{":
                self.depth += 1
            elif char == "}" and self.depth > 0:
                self.depth -= 1
                if self.depth == 0 and self.closed_at is None:
                    self.closed_at = len(self.lines) - 1

    def split_off(self, index: int) -> _Block:
        """The lines from `index` on as a block of their own; this block keeps the lines before."""
        rest = _Block([], [], self.concept)
        for number, line in zip(self.numbers[index:], self.lines[index:], strict=True):
            rest.add(number, line)
        del self.numbers[index:], self.lines[index:]
        return rest


@dataclass(frozen=True, slots=True)
class _Choice:
    """One `=right`, `~wrong` or `~%50%weighted` answer of a choice question."""

    text: str
    feedback: str
    marked_right: bool
    fraction: float
    """The share of the marks Moodle gives for choosing it: 1 for `=`, the weight for `~%w%`, else 0."""


@dataclass(slots=True)
class _Reading:
    """What one GIFT file yields: questions, and problems (errors and warnings) with their lines."""

    file: str
    concepts: Collection[str]
    questions: list[QuestionSpec] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def warn(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message, is_warning=True))

    def reject(self, line: int, message: str) -> None:
        self.problems.append(Problem(self.file, line, message))


class _Rejected(Exception):
    """A question Coursebot cannot ask; the message says why, for the author."""


def parse_gift(text: str, file: str, concepts: Collection[str] = ()) -> tuple[list[QuestionSpec], list[Problem]]:
    """The questions of a GIFT file in order, and its problems in line order: an error for each
    question that could not be read (it is left out of the list), a warning (`is_warning`) for each
    question read differently from Moodle or with something it cannot keep.

    `concepts` are the course's concept slugs: a `$CATEGORY:` naming one of them (in any segment of
    its path, most specific first) gives the questions under it that concept.
    """
    reading = _Reading(file, concepts)
    for block in _split_questions(_protect_escapes(text), reading):
        if block.is_cloze:
            message = (
                "embedded-answers (Cloze) questions such as `{1:MC:...}` are a separate Moodle question type, "
                f"not GIFT, and are not supported; {_SUPPORTED}"
            )
            reading.reject(block.line, message)
            continue
        notes: list[tuple[int, str]] = []
        try:
            reading.questions.append(_parse_question(block, notes))
        except _Rejected as rejected:
            reading.reject(block.line, str(rejected))
        except ValidationError as error:
            reading.problems.extend(problems_from_validation_error(error, file, _always(block.line)))
        else:
            for line, message in notes:
                reading.warn(line, message)
    reading.problems.sort(key=lambda problem: problem.line or 0)
    return reading.questions, reading.problems


def _always(line: int) -> Callable[[KeyPath], int]:
    return lambda _path: line


def _protect_escapes(text: str) -> str:
    return re.sub(r"\\(.)", lambda match: _PLACEHOLDERS.get(match[1], match[0]), text)


def _restore(text: str) -> str:
    return "".join(_RESTORE.get(char, char) for char in text)


# --- splitting a file into questions ------------------------------------------------------------


def _split_questions(text: str, reading: _Reading) -> list[_Block]:
    """Moodle's blocks: questions end at a blank line, `//` lines are dropped, a `$CATEGORY:` line
    switches the category for the questions after it.

    Two leniencies, with a warning where Moodle would read the file differently: a question that
    starts after a finished one (or after a `$CATEGORY:` line) without a blank line between is read as
    a question of its own, and a blank line inside an open `{...}` does not end the question.
    """
    blocks: list[_Block] = []
    current: _Block | None = None
    concept: str | None = None
    # What Moodle's current block (everything since the last blank line) holds, and whether its
    # joining has been reported: one warning per blank line the author left out.
    moodle_block, warned = "", False
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    for number, line in enumerate(lines, start=1):
        stripped = line.strip()
        if stripped.startswith("//"):
            continue
        if not stripped:
            if current is not None and current.depth > 0:
                current.add(number, line)
                moodle_block, warned = "", False
                continue
            if current is not None:
                blocks.append(current)
            current, moodle_block, warned = None, "", False
            continue
        if stripped.startswith("$CATEGORY:") and (current is None or current.depth == 0):
            if current is not None:
                blocks.append(current)
                current = None
            if moodle_block == "question" and not warned:
                reading.warn(number, _JOINED_CATEGORY)
                warned = True
            concept = _concept_of_category(_restore(stripped.removeprefix("$CATEGORY:")).strip(), number, reading)
            moodle_block = moodle_block or "category"
            continue
        if current is not None:
            split_at = _start_of_next_question(current, stripped)
            if split_at is not None:
                was_open = current.depth > 0  # never closed: the blank line inside it ended it for Moodle too
                rest = current.split_off(split_at)
                blocks.append(current)
                current = rest if rest.lines else None
                if not (warned or was_open):
                    reading.warn(rest.line if rest.lines else number, _JOINED_QUESTION)
                    warned = True
        if current is None:
            current = _Block([], [], concept)
            if moodle_block and not warned:
                reading.warn(number, _JOINED_QUESTION if moodle_block == "question" else _QUESTION_IN_CATEGORY)
                warned = True
        current.add(number, line)
        moodle_block = moodle_block or "question"
    if current is not None:
        blocks.append(current)
    return blocks


_JOINED_QUESTION = (
    "no blank line between this question and the one above: Moodle would read this and everything up to the next "
    "blank line as part of the question above; Coursebot reads each question on its own"
)
_JOINED_CATEGORY = (
    "no blank line before this `$CATEGORY:` line: Moodle would read it and everything up to the next blank line as "
    "part of the question above; Coursebot starts the category here and reads each question on its own"
)
_QUESTION_IN_CATEGORY = (
    "no blank line between the `$CATEGORY:` line and this question: Moodle would read the question as part of the "
    "category's name; Coursebot reads it as a question"
)


def _start_of_next_question(block: _Block, stripped: str) -> int | None:
    """Where a new question begins inside `block`, now that `stripped` (the next line) is coming:
    a `::title::` line or a line with another `{` after the block's answer block closed, or a `{`
    while the block's own `{` is still open after a blank line. None if the line belongs to `block`."""
    if block.is_cloze:
        return None
    if block.depth > 0:
        if "{" in stripped and block.blank_inside is not None:
            return block.blank_inside  # the open `{` was never closed; the rest is the next question
        return None
    if block.closed_at is None:
        return None
    if _TITLE_LINE.match(stripped):
        return len(block.lines)
    if "{" in stripped:
        return block.closed_at + 1
    return None


def _concept_of_category(path: str, line: int, reading: _Reading) -> str | None:
    """The concept the questions of category `path` get: its most specific segment that, as a slug,
    is one of the course's concepts; a warning on `line` if the course has concepts and none matches."""
    segments = [segment.strip() for segment in path.split("/") if segment.strip()]
    named = [segment for segment in segments if not _MOODLE_CATEGORY_ROOTS.match(segment)]
    concept = next((slug for slug in map(_slugify, reversed(named)) if slug in reading.concepts), None)
    if concept is None and reading.concepts and named:
        message = (
            f"the category `{path}` names no concept of concepts.toml (a concept slug such as "
            f"`{_slugify(named[-1])}` would match); its questions get no concept"
        )
        reading.warn(line, message)
    return concept


def _slugify(name: str) -> str:
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:64]


# --- reading one question -----------------------------------------------------------------------


def _parse_question(block: _Block, notes: list[tuple[int, str]]) -> QuestionSpec:
    """The question in `block`; `notes` collects (line, warning) for what is read unlike Moodle."""
    text = block.text.strip()
    if text.startswith("::"):
        title_end = text.find("::", 2)
        if title_end < 0:
            notes.append((block.line, "the `::title` is not closed with `::`; read as question text, as Moodle does"))
            text = text[2:].strip()
        else:
            text = text[title_end + 2 :].strip()
    for number, line in zip(block.numbers[1:], block.lines[1:], strict=True):
        title = _TITLE_LINE.match(line.strip())
        if title:
            notes.append((number, _misplaced_title_note(_restore(title[0]))))
    opening, closing = text.find("{"), text.find("}")
    if opening < 0 and closing < 0:
        raise _Rejected(f"text without an answer block `{{...}}` is a description, not a question; {_SUPPORTED}")
    if closing < 0 or (opening >= 0 and "{" in text[opening + 1 : closing]):
        raise _Rejected("the answer block `{` is never closed with `}`")
    if opening < 0 or closing < opening:
        raise _Rejected("a `}` closes an answer block that was never opened with `{`; write `\\}` for a literal `}`")
    if "{" in text[closing + 1 :]:
        raise _Rejected(
            "a question has one answer block `{...}`, but this one has more; if these are separate questions, "
            "put a blank line between them"
        )
    # Moodle's missing-word form: answers inside the sentence leave a blank; answers at the end leave none.
    blank = "" if text.endswith("}") else "_____"
    question_text, format_name, images = _render(text[:opening] + blank + text[closing + 1 :], "moodle")
    answers = text[opening + 1 : closing].strip()
    general_feedback = ""
    if "####" in answers:
        answers, general_feedback = (part.strip() for part in answers.rsplit("####", 1))
    general, _, general_images = _render(general_feedback, format_name)
    fields, answer_images = _answer_fields(answers, general, format_name, notes, block.line)
    if images or general_images or answer_images:
        message = "the question shows an image (`<img>`), which Coursebot cannot show; students see its alt text only"
        notes.append((block.line, message))
    return QuestionSpec.model_validate({"text": question_text, "concept": block.concept, **fields})


def _misplaced_title_note(title: str) -> str:
    return (
        f"`{title}` is a question title in the middle of a question: Moodle (and Coursebot) read the lines before "
        "it as part of this question's text; put a blank line before it, or remove those lines"
    )


def _answer_fields(
    answers: str, general_feedback: str, format_name: str, notes: list[tuple[int, str]], line: int
) -> tuple[dict[str, object], bool]:
    """The type, options, answer and explanation that an answer block describes, decided in Moodle's
    order, and whether an answer or its feedback shows an image."""
    if not answers:
        raise _Rejected(f"essay questions (an empty `{{}}`) are not supported; {_SUPPORTED}")
    if answers.startswith("#"):
        raise _Rejected(f"numerical questions (`{{#...}}`) are not supported; {_SUPPORTED}")
    if "~" in answers:
        return _choice_fields(answers, general_feedback, format_name, notes, line)
    if "=" in answers and "->" in answers:
        raise _Rejected(f"matching questions (`=a -> b`) are not supported; {_SUPPORTED}")
    verdict, *feedbacks = answers.split("#", 2)
    if verdict.strip().upper() in _TRUE_FALSE:
        return _true_false_fields(verdict.strip(), feedbacks, general_feedback, format_name, notes, line)
    raise _Rejected(f"short-answer questions (only `=` answers, typed by the student) are not supported; {_SUPPORTED}")


def _true_false_fields(
    verdict: str, feedbacks: list[str], general_feedback: str, format_name: str, notes: list[tuple[int, str]], line: int
) -> tuple[dict[str, object], bool]:
    if verdict not in _TRUE_FALSE:
        message = (
            f"Moodle reads `{{{verdict}}}` as a short-answer question (true/false is written `T`, `TRUE`, `F` or "
            "`FALSE`, in capitals); Coursebot reads it as true/false"
        )
        notes.append((line, message))
    is_true = verdict.upper().startswith("T")
    wrong_feedback, right_feedback = (_render(feedback, format_name)[0] for feedback in [*feedbacks, "", ""][:2])
    # The first feedback is shown to a student who answered wrongly, that is who chose the other value.
    other = "False" if is_true else "True"
    if not (right_feedback or general_feedback) and wrong_feedback:
        explanation = wrong_feedback
    else:
        explanation = _explanation([right_feedback, general_feedback], [(other, wrong_feedback)])
    return {"type": QuestionType.TRUE_FALSE, "answer": is_true, "explanation": explanation}, False


def _choice_fields(
    answers: str, general_feedback: str, format_name: str, notes: list[tuple[int, str]], line: int
) -> tuple[dict[str, object], bool]:
    """Moodle's multichoice: one answer allowed if any answer starts with `=`, else several, weighted."""
    choices, images = _parse_choices(answers, format_name)
    if len(choices) < 2:
        raise _Rejected("a multiple-choice question needs at least 2 answers")
    if any(choice.fraction > 1 for choice in choices):
        raise _Rejected("an answer weight is above 100%; weights run from -100% to 100%")
    is_single = any(choice.marked_right for choice in choices)
    if is_single:
        right = [index for index, choice in enumerate(choices) if choice.fraction == 1]
        if len(right) > 1:
            raise _Rejected(
                f"{len(right)} answers give full marks (`=` or `~%100%`), and Coursebot's multiple choice has one "
                "right answer: keep one `=`, or for several right answers drop the `=` and weight each with `~%50%`"
            )
        lost = [choice for choice in choices if choice.fraction not in (0, 1)]
        if lost:
            listed = ", ".join(f"“{choice.text}” ({_percent(choice.fraction)})" for choice in lost)
            message = (
                f"Moodle gives partial marks or penalties for {listed}; Coursebot's multiple choice has one right "
                "answer and counts these as wrong, without partial marks or penalties"
            )
            notes.append((line, message))
        question_type = QuestionType.MULTIPLE_CHOICE
    else:
        right = [index for index, choice in enumerate(choices) if choice.fraction > 0]
        if not right:
            message = "no answer is marked right: start the right answer with `=`, or weight right answers `~%50%`"
            raise _Rejected(message)
        total = round(sum(choices[index].fraction for index in right), 2)
        if total != 1:
            message = (
                f"the positive weights add up to {_percent(total)}, not 100% (Moodle warns about this too); Coursebot "
                "counts the question right when exactly the positively weighted answers are chosen"
            )
            notes.append((line, message))
        question_type = QuestionType.MULTI_SELECT
    # Multiple choice: the right answer's feedback reads as the explanation; every other feedback is
    # shown after the option it belongs to.
    bare = [choices[right[0]].feedback] if question_type == QuestionType.MULTIPLE_CHOICE else []
    per_option = [
        (choice.text, choice.feedback) for index, choice in enumerate(choices) if not (bare and index == right[0])
    ]
    fields = {
        "type": question_type,
        "options": [choice.text for choice in choices],
        "answer": right,
        "explanation": _explanation([*bare, general_feedback], per_option),
    }
    return fields, images


def _parse_choices(answers: str, format_name: str) -> tuple[list[_Choice], bool]:
    """The answers of a choice block, as Moodle splits them: at every `~` and before every `=`."""
    choices: list[_Choice] = []
    images = False
    for raw in answers.replace("=", "~=").split("~"):
        answer = raw.strip()
        if not answer:
            continue  # `~=right` and a leading `~` leave empty pieces, which Moodle skips
        marked_right = answer.startswith("=")
        fraction = 1.0 if marked_right else 0.0
        answer = answer.removeprefix("=").strip()
        weight = _WEIGHT.match(answer)
        if weight and marked_right:
            message = f"`={weight[0]}`: in a choice question `=` means 100%; write a partial weight as `~{weight[0]}`"
            raise _Rejected(message)
        if weight:
            fraction = float(weight[1]) / 100
            answer = answer[weight.end() :]
        option, _, feedback = answer.partition("#")
        option_text, _, option_images = _render(option, format_name)
        if not option_text:
            raise _Rejected(f"answer {len(choices) + 1} has no text")
        feedback_text, _, feedback_images = _render(feedback, format_name)
        images = images or option_images or feedback_images
        choices.append(_Choice(option_text, feedback_text, marked_right, fraction))
    return choices, images


def _percent(fraction: float) -> str:
    return f"{fraction * 100:g}%"


def _explanation(bare: list[str], per_option: list[tuple[str, str]]) -> str:
    """Feedback as one explanation: the right answer's feedback and the general feedback as written,
    then each other option's feedback after the option it belongs to."""
    paragraphs: list[str] = []
    for text in bare:
        if text and text not in paragraphs:
            paragraphs.append(text)
    option_lines = [f"“{option}”: {feedback}" for option, feedback in per_option if feedback]
    if option_lines:
        paragraphs.append("\n".join(option_lines))
    return "\n\n".join(paragraphs)


# --- text formats -------------------------------------------------------------------------------


def _render(raw: str, default_format: str) -> tuple[str, str, bool]:
    """A GIFT text as Coursebot shows it (Markdown), its format, and whether it held an image.

    Like Moodle, a text may start with its own `[format]`, else it has `default_format`. HTML
    (`[html]`, and `[moodle]` text that holds HTML markup) becomes Markdown; `[plain]` and
    `[markdown]` are kept as written.
    """
    text = raw.strip()
    tag = _FORMAT_TAG.match(text)
    format_name = tag[1].lower() if tag else default_format
    if tag:
        text = text[tag.end() :]
    text = _restore(text).strip()
    if format_name == "html" or (format_name == "moodle" and _HTML_MARKUP.search(text)):
        converter = _HtmlToMarkdown()
        converter.feed(text)
        converter.close()
        return converter.markdown(), format_name, converter.images > 0
    if format_name == "moodle":
        # Moodle shows line breaks but not the indentation of continued lines, which is only layout.
        text = "\n".join(line.strip() for line in text.split("\n"))
    return text, format_name, False


class _HtmlToMarkdown(HTMLParser):
    """HTML as the Markdown Discord shows: paragraphs and line breaks, lists, bold, italics, code,
    links; scripts and styles dropped, entities decoded. Never executes or fetches anything."""

    _PARAGRAPH_TAGS = frozenset(
        {"p", "div", "table", "ul", "ol", "blockquote", "center", "h1", "h2", "h3", "h4", "h5", "h6", "hr"}
    )
    _LINE_TAGS = frozenset({"br", "tr"})
    _MARKERS = {"b": "**", "strong": "**", "i": "*", "em": "*", "code": "`", "tt": "`", "kbd": "`"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.links: list[tuple[int, str]] = []
        self.hidden = 0
        self.preformatted = 0
        self.images = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag in self._PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag in self._LINE_TAGS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag == "pre":
            self.parts.append("\n```\n")
            self.preformatted += 1
        elif tag in self._MARKERS and not self.preformatted:
            self.parts.append(self._MARKERS[tag])
        elif tag in ("td", "th"):
            self.parts.append(" ")
        elif tag == "a":
            self.links.append((len(self.parts), attributes.get("href") or ""))
        elif tag == "img":
            self.images += 1
            alt = (attributes.get("alt") or "").strip()
            self.parts.append(f"[image: {alt}]" if alt else "[image]")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self.hidden = max(0, self.hidden - 1)
        elif tag in self._PARAGRAPH_TAGS:
            self.parts.append("\n\n")
        elif tag == "pre":
            if self.parts:
                self.parts[-1] = self.parts[-1].rstrip("\n")
            self.parts.append("\n```\n")
            self.preformatted = max(0, self.preformatted - 1)
        elif tag in self._MARKERS and not self.preformatted:
            self.parts.append(self._MARKERS[tag])
        elif tag == "a" and self.links:
            start, href = self.links.pop()
            label = "".join(self.parts[start:]).strip()
            if re.match(r"^https?://", href):
                del self.parts[start:]
                self.parts.append(href if label in ("", href) else f"[{label}]({href})")

    def handle_data(self, data: str) -> None:
        if self.hidden:
            return
        if self.preformatted and self.parts and self.parts[-1].endswith("```\n"):
            data = data.removeprefix("\n")  # HTML ignores a line break straight after <pre>
        self.parts.append(data if self.preformatted else re.sub(r"\s+", " ", data))

    def markdown(self) -> str:
        lines: list[str] = []
        in_code = False
        for line in "".join(self.parts).replace("****", "").split("\n"):  # `****`: an empty <b></b>
            in_code = in_code != (line.strip() == "```")
            lines.append(line.rstrip() if in_code else line.strip())  # code keeps its indentation
        text = re.sub(r"^-\n+", "- ", "\n".join(lines), flags=re.MULTILINE)  # <li><p>text</p></li>
        return re.sub(r"\n{3,}", "\n\n", text).strip()
