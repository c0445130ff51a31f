"""The quiz guard: while a quiz is being taken, its answer key, explanations and passages stay out of prompts."""

from __future__ import annotations

from bot.tutor.quiz_guard import NO_QUIZ, WITHHELD_ANSWER, WITHHELD_STUDENT_MESSAGE, guard_for
from bot.tutor.retrieval import Passage
from db.models import Question

QUIZ = 40
LESSON = 41

QUESTIONS = [
    Question(
        item_id=QUIZ,
        text="Which keyword starts a loop over the items of a list?",
        options=["while", "for each item", "repeat until"],
        answer=[1],
        explanation="A for loop visits every item of the list once, in order.",
    ),
    Question(item_id=QUIZ, text="Is 7 prime?", options=["True", "False"], answer=[0], explanation=""),
]


def passage(content: str, *, item: int | None = LESSON, title: str = "Loops") -> Passage:
    return Passage(chunk_id=1, material_id=1, content_item_id=item, title=title, page=None, content=content, score=1.0)


def test_without_an_open_quiz_nothing_is_kept_out() -> None:
    guard = guard_for(set(), QUESTIONS)
    assert guard is NO_QUIZ and not guard.active
    assert guard.allows(QUESTIONS[0].explanation) and guard.allows_passage(passage("", item=QUIZ))


def test_the_questions_right_options_and_explanations_stay_out() -> None:
    guard = guard_for({QUIZ}, QUESTIONS)
    assert guard.active
    assert not guard.allows("Earlier: which keyword starts a loop over the items of a list? Think about it.")
    assert not guard.allows("The answer is  FOR EACH ITEM.")  # spacing and case do not hide it
    assert not guard.allows_passage(passage("Remember: a for loop visits every item of the list once, in order."))
    assert not guard.allows_passage(passage("Loops", title="Which keyword starts a loop over the items of a list?"))


def test_what_gives_nothing_away_stays_in() -> None:
    guard = guard_for({QUIZ}, QUESTIONS)
    assert guard.allows("A while loop repeats while its condition holds.")
    assert guard.allows("repeat until")  # a wrong option is no giveaway
    assert guard.allows("Is 7 prime? True")  # too short to look for: "7" and "True" are everywhere


def test_every_passage_of_the_quiz_itself_stays_out() -> None:
    guard = guard_for({QUIZ}, QUESTIONS)
    assert not guard.allows_passage(passage("Quiz instructions: answer all questions.", item=QUIZ))
    assert guard.allows_passage(passage("Quiz instructions: answer all questions.", item=LESSON))
    assert guard.allows_passage(passage("An uploaded handout.", item=None))


def test_an_earlier_message_quoting_the_quiz_gives_way_to_a_placeholder_so_turns_stay_in_order() -> None:
    guard = guard_for({QUIZ}, QUESTIONS)
    history = [
        ("Which keyword starts a loop over the items of a list?", True),
        ("A for loop visits every item of the list once, in order.", False),
        ("Thanks! What is a variable?", True),
    ]
    shown = [guard.shown(text, by_student=by_student) for text, by_student in history]
    assert shown == [WITHHELD_STUDENT_MESSAGE, WITHHELD_ANSWER, "Thanks! What is a variable?"]
    assert all(guard.allows(text) for text in shown)
    assert NO_QUIZ.shown(history[1][0], by_student=False) == history[1][0]
