"""Every lesson's quiz: right answers pass, every wrong one is explained, an empty quiz says so.

The quizzes are data (raycourse/checks/quizNN.py); these tests go through every choice of every
question, so a quiz cannot ship a wrong choice without its explanation, or a right answer that
the check rejects. The lesson's quiz cells must be the ones generated from the module
(``python -m raycourse.authoring quizzes``); ``make test`` runs each lesson and its root
conftest.py asserts that the unanswered quiz says "not answered yet".
"""

from __future__ import annotations

import pytest

from raycourse.authoring import notebooks, quizzes

NUMBERS = sorted(quizzes.quiz_modules())


def run(capsys, number, answers) -> list[str]:
    quizzes.quiz_of(number).check(answers)
    return capsys.readouterr().out.splitlines()


def test_there_are_quizzes():
    assert NUMBERS


@pytest.mark.parametrize("number", NUMBERS)
def test_a_quiz_has_four_to_six_questions_each_with_every_choice_explained(number):
    quiz = quizzes.quiz_of(number)
    assert 4 <= len(quiz.questions) <= 6
    for question in quiz.questions:
        texts = [text for text, _ in question.choices.values()]
        whys = [why for _, why in question.choices.values()]
        assert all(t.strip() for t in texts) and len(set(texts)) == len(texts), question.text
        assert all(len(w.split()) >= 6 for w in whys) and len(set(whys)) == len(whys), question.text


@pytest.mark.parametrize("number", NUMBERS)
def test_the_right_answers_pass(capsys, number):
    quiz = quizzes.quiz_of(number)
    answers = {n: q.right for n, q in enumerate(quiz.questions, 1)}
    lines = run(capsys, number, answers)
    for n, q in enumerate(quiz.questions, 1):
        assert f"✅ Question {n} right: {q.choices[q.right][1]}" in lines
    assert lines[-1] == f"Quiz {number}: {len(quiz.questions)} of {len(quiz.questions)} right"


@pytest.mark.parametrize("number", NUMBERS)
def test_every_wrong_choice_is_explained(capsys, number):
    quiz = quizzes.quiz_of(number)
    for n, question in enumerate(quiz.questions, 1):
        for letter, (_, why) in question.choices.items():
            if letter == question.right:
                continue
            lines = run(capsys, number, {n: letter})
            assert f"❌ Question {n} not right: ({letter}) {why}" in lines
            assert lines[-1] == f"Quiz {number}: 0 of {len(quiz.questions)} right"


@pytest.mark.parametrize("number", NUMBERS)
def test_an_unanswered_quiz_says_not_answered_yet(capsys, number):
    quiz = quizzes.quiz_of(number)
    lines = run(capsys, number, {n: ... for n in range(1, len(quiz.questions) + 1)})
    assert len(lines) == len(quiz.questions) + 1
    assert all(line.startswith(f"⏳ Question {n} not answered yet") for n, line in enumerate(lines[:-1], 1))


@pytest.mark.parametrize("given", ["z", 3, None])
def test_an_answer_that_is_no_choice_is_not_counted_and_says_why(capsys, given):
    lines = run(capsys, NUMBERS[0], {1: given})
    assert lines[0].startswith("⏳ Question 1 not answered yet")


def test_answers_that_are_not_a_dict_are_explained(capsys):
    lines = run(capsys, NUMBERS[0], ["b", "a"])
    assert "`answers` should be a dict" in lines[0]


def test_a_letter_may_come_in_any_case_or_in_parentheses(capsys):
    quiz = quizzes.quiz_of(NUMBERS[0])
    right = quiz.questions[0].right
    assert run(capsys, NUMBERS[0], {"1": f"({right.upper()})"})[0].startswith("✅ Question 1 right")


@pytest.mark.parametrize("number", NUMBERS)
def test_the_lesson_shows_the_generated_quiz_before_key_concepts(number):
    nb = notebooks.read(quizzes.lesson_of(number))
    assert not quizzes.place(nb, number), "run `python -m raycourse.authoring quizzes`"
    sources = [c.source for c in nb.cells]
    text, answer = (i for i, c in enumerate(nb.cells) if {"quiz-text", "quiz"} & set(notebooks.tags(c)))
    key = next(i for i, s in enumerate(sources) if s.startswith(quizzes.KEY_CONCEPTS))
    assert text + 1 == answer and answer + 1 == key


def _longest_right(quiz) -> list[int]:
    """The questions (1-based) whose right answer is the longest choice, alone."""
    found = []
    for number, question in enumerate(quiz.questions, 1):
        lengths = {letter: len(text) for letter, (text, _) in question.choices.items()}
        longest = max(lengths.values())
        if lengths[question.right] == longest and list(lengths.values()).count(longest) == 1:
            found.append(number)
    return found


@pytest.mark.parametrize("number", NUMBERS)
def test_picking_the_longest_choice_does_not_pass_a_quiz(number):
    """A learner who always picks the longest choice must not get most of a quiz right."""
    quiz = quizzes.quiz_of(number)
    found = _longest_right(quiz)
    assert len(found) <= len(quiz.questions) // 2, (
        f"quiz {number}: the right answer is the longest choice in questions {found} of {len(quiz.questions)}: "
        "shorten it or lengthen the others"
    )


def test_the_longest_choice_rule_finds_a_quiz_that_gives_itself_away():
    from raycourse.checks.quiz import Question, Quiz

    def question(right):
        choices = {
            letter: ("a much longer and more careful answer" if letter == right else "short", "why") for letter in "abc"
        }
        return Question("q?", choices, right=right)

    assert _longest_right(Quiz("99", [question("a"), question("b"), question("c"), question("a")])) == [1, 2, 3, 4]
