"""The one exception type the course raises for problems a learner can fix."""


class CourseError(RuntimeError):
    """A problem with the course setup, with a message that says what to do.

    Every message has two parts: what is wrong, and what to do about it.
    """

    def __init__(self, problem: str, fix: str):
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}\n  What to do: {fix}")
