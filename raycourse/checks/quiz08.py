"""The quiz of lesson 08 (Serving and resilient jobs)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "08",
    [
        Question(
            "A web page waits for one enhanced prompt per click. Why not run lesson 04's Ray Data pipeline per click?",
            {
                "a": (
                    "Each click would pay for starting actors and loading the model.",
                    "Right: a batch job pays its start-up once per job, cheap over a million rows and far too slow "
                    "for one.",
                ),
                "b": (
                    "A Dataset needs a block for every CPU core, so one row cannot run.",
                    "It can: a one-row Dataset runs like any other; the cost is the start-up.",
                ),
                "c": (
                    "Ray Data cannot use GPUs.",
                    "Ray Data stages ask for GPUs with `num_gpus=`, as every module since 03 does.",
                ),
            },
            right="a",
        ),
        Question(
            "`enhance` has `@serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)`. Three callers send one "
            "prompt each, a few milliseconds apart. What happens?",
            {
                "a": (
                    "Serve rejects them: each caller must send 8 prompts.",
                    "Callers send one item each; `max_batch_size` is the most Serve puts together.",
                ),
                "b": (
                    "One call of `enhance` with the 3 prompts; each caller gets its answer.",
                    "Right: each caller sends one item and gets one result; the list is Serve's doing.",
                ),
                "c": (
                    "Serve waits for 8 prompts, however long that takes.",
                    "`batch_wait_timeout_s` caps the wait: after 50 ms Serve calls with what has arrived.",
                ),
            },
            right="b",
        ),
        Question(
            "A job with a `CheckpointConfig` is killed after writing 20 of its 60 rows, and run again. What does "
            "the second run do?",
            {
                "a": (
                    "It continues the killed tasks in the middle of their batches.",
                    "A killed driver's tasks are gone; the second run is a new job that skips written rows.",
                ),
                "b": (
                    "It starts from row one: a new driver is a new job.",
                    "That is what happens without a checkpoint.",
                ),
                "c": (
                    "It skips the 20 written rows and works on the other 40.",
                    "Right: the checkpoint records the ids the sink wrote, and the next run skips them; rows in flight "
                    "are done again.",
                ),
            },
            right="c",
        ),
        Question(
            'A stage keeps the rows where `col("stars") >= 1` and quarantines those where `col("stars") < 1`. '
            "Where do rows with no stars (null) go?",
            {
                "a": (
                    "Nowhere: a comparison with null is null, so both filters drop them.",
                    "Right: that is why the lesson's rules name the missing case with `is_null()`.",
                ),
                "b": (
                    "Into the good rows, because null counts as false in the quarantine rule.",
                    "`filter` keeps only rows where the expression is true; null is not true in either.",
                ),
                "c": (
                    "Ray Data raises an error on the first null.",
                    "It does not: comparisons propagate nulls, and filters drop them without a word.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
