"""The end-of-lesson quizzes: multiple choice, checked in the notebook, every choice explained.

Each lesson ends (before "Key concepts and APIs") with a quiz of 4-6 questions on what it
taught. The questions live in ``raycourse/checks/quizNN.py`` as data; the lesson shows them
in a markdown cell generated from that data (``python -m raycourse.authoring quizzes``, and
a test keeps the two the same), and the learner answers in the code cell below it::

    from raycourse.checks import quiz02 as quiz

    answers = {1: "b", 2: ..., 3: ..., 4: ...}
    quiz.check(answers)

``check`` prints one line per question: ✅ with why the choice is right, ❌ with why the
chosen answer is wrong (never just "wrong"), or ⏳ "not answered yet" while ``...`` is
still there; then a total. It never raises on a learner's input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MARK_RIGHT, MARK_WRONG, MARK_OPEN = "✅", "❌", "⏳"


@dataclass(frozen=True)
class Question:
    """One question: its text, lettered choices (text, why it is right or wrong) and the right letter."""

    text: str
    choices: dict[str, tuple[str, str]]
    right: str

    def __post_init__(self):
        if self.right not in self.choices:
            raise ValueError(f"the right answer {self.right!r} is not a choice of {self.text!r}")
        if len(self.choices) < 3:
            raise ValueError(f"{self.text!r} needs at least three choices")

    @property
    def letters(self) -> list[str]:
        return list(self.choices)


@dataclass(frozen=True)
class Answer:
    question: int
    status: str  # "right", "wrong", "not answered"
    message: str

    @property
    def right(self) -> bool:
        return self.status == "right"

    def __str__(self) -> str:
        if self.status == "right":
            return f"{MARK_RIGHT} Question {self.question} right: {self.message}"
        if self.status == "wrong":
            return f"{MARK_WRONG} Question {self.question} not right: {self.message}"
        return f"{MARK_OPEN} Question {self.question} not answered yet: {self.message}"


@dataclass(frozen=True)
class Quiz:
    module: str  # "02"
    questions: list[Question] = field(default_factory=list)

    def markdown(self) -> str:
        """The lesson's quiz cell: the questions and their lettered choices (no answers), three lines each.

        A question's stem ends in a hard line break (a backslash) and its choices share the next line,
        so six questions fit a markdown cell of 20 lines.
        """
        lines = [
            "## Quiz",
            'Answer with one letter per question in the cell below (`answers = {1: "b", ...}`) and run it: '
            "every answer comes back with why.",
        ]
        for number, question in enumerate(self.questions, 1):
            choices = " · ".join(f"**{letter}**: {text}" for letter, (text, _) in question.choices.items())
            lines += ["", f"**{number}.** {question.text}\\", choices]
        return "\n".join(lines)

    def answer_cell(self) -> str:
        """The code cell a lesson ships: every answer still ``...``."""
        blanks = ", ".join(f"{n}: ..." for n in range(1, len(self.questions) + 1))
        return (
            f"from raycourse.checks import quiz{self.module} as quiz\n\n"
            f'answers = {{{blanks}}}  # your letters, for example 1: "b"\n'
            "quiz.check(answers)"
        )

    def results(self, answers) -> list[Answer]:
        if not isinstance(answers, dict):
            return [
                Answer(n, "not answered", '`answers` should be a dict such as {1: "b", 2: "a"}.')
                for n in range(1, len(self.questions) + 1)
            ]
        found = []
        for number, question in enumerate(self.questions, 1):
            given = answers.get(number, answers.get(str(number), ...))
            letters = ", ".join(question.letters)
            if given is Ellipsis or given is None:
                found.append(Answer(number, "not answered", f"replace `...` with one letter ({letters})."))
                continue
            letter = str(given).strip().lower().strip("()")
            if letter not in question.choices:
                found.append(Answer(number, "not answered", f"{given!r} is not a choice; answer one of {letters}."))
            elif letter == question.right:
                found.append(Answer(number, "right", question.choices[letter][1]))
            else:
                found.append(Answer(number, "wrong", f"({letter}) {question.choices[letter][1]}"))
        extra = sorted(str(k) for k in answers if str(k) not in {str(n) for n in range(1, len(self.questions) + 1)})
        if extra:
            found.append(Answer(0, "not answered", f"there is no question {', '.join(extra)}."))
        return found

    def summary(self, results: list[Answer]) -> str:
        right = sum(r.right for r in results)
        return f"Quiz {self.module}: {right} of {len(self.questions)} right"

    def check(self, answers) -> None:
        """What the quiz cell runs: a line per question, then the total."""
        results = self.results(answers)
        for result in results:
            print(result)
        print(self.summary(results))
