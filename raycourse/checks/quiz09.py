"""The quiz of lesson 09 (Audio and video)."""

from .quiz import Question, Quiz

QUIZ = Quiz("09", [
    Question(
        "TODO: question 1: a concept of this lesson, asked as a situation the learner meets.",
        {
            "a": ("TODO: the right answer.", "TODO: why this is right, in the lesson's own terms (1)."),
            "b": ("TODO: a common misconception.", "TODO: why this is wrong and what actually happens (1)."),
            "c": (
                "TODO: another misconception.",
                "TODO: why this one is wrong too, and where the lesson shows it (1).",
            ),
        },
        right="a",
    ),
    Question(
        "TODO: question 2: a concept of this lesson, asked as a situation the learner meets.",
        {
            "a": ("TODO: the right answer.", "TODO: why this is right, in the lesson's own terms (2)."),
            "b": ("TODO: a common misconception.", "TODO: why this is wrong and what actually happens (2)."),
            "c": (
                "TODO: another misconception.",
                "TODO: why this one is wrong too, and where the lesson shows it (2).",
            ),
        },
        right="a",
    ),
    Question(
        "TODO: question 3: a concept of this lesson, asked as a situation the learner meets.",
        {
            "a": ("TODO: the right answer.", "TODO: why this is right, in the lesson's own terms (3)."),
            "b": ("TODO: a common misconception.", "TODO: why this is wrong and what actually happens (3)."),
            "c": (
                "TODO: another misconception.",
                "TODO: why this one is wrong too, and where the lesson shows it (3).",
            ),
        },
        right="a",
    ),
    Question(
        "TODO: question 4: a concept of this lesson, asked as a situation the learner meets.",
        {
            "a": ("TODO: the right answer.", "TODO: why this is right, in the lesson's own terms (4)."),
            "b": ("TODO: a common misconception.", "TODO: why this is wrong and what actually happens (4)."),
            "c": (
                "TODO: another misconception.",
                "TODO: why this one is wrong too, and where the lesson shows it (4).",
            ),
        },
        right="a",
    ),
])

check = QUIZ.check
