"""The quiz of lesson 08 (Serving and resilient jobs)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "08",
    [
        Question(
            "The shop's web page asks for one enhanced prompt whenever a customer clicks, and waits for "
            "it. A colleague suggests running lesson 04's Ray Data pipeline for each click instead of a "
            "Serve deployment. What is the problem?",
            {
                "a": (
                    "Each click would pay for starting actors and loading the model; a deployment keeps"
                    " the model loaded.",
                    "Right: a batch job pays its start-up once per job, which is cheap over a million "
                    "rows and far too slow for one. The lesson's batch job spent seconds starting its "
                    "actors; the deployment answered one request in a fraction of a second.",
                ),
                "b": (
                    "Ray Data cannot run a model on a single row: a Dataset needs at least one block "
                    "for every CPU of the cluster.",
                    "It can: a Dataset of one row runs like any other. The cost is the start-up, not the row count.",
                ),
                "c": (
                    "Ray Data has no GPU support, so it would run on the CPU.",
                    "Ray Data stages ask for GPUs with `num_gpus=`, as every module since 03 does.",
                ),
            },
            right="a",
        ),
        Question(
            "A deployment has `@serve.batch(max_batch_size=8, batch_wait_timeout_s=0.05)` on its "
            "`enhance` method. Three callers each send one prompt within a few milliseconds. What "
            "happens?",
            {
                "a": (
                    "Each caller must send a list of 8 prompts, or Serve rejects the call: every call "
                    "must be max_batch_size long.",
                    "Callers send one item each; `max_batch_size` is the most Serve puts together, not "
                    "what a caller must send.",
                ),
                "b": (
                    "Serve waits at most 50 ms, calls `enhance` once with the 3 prompts, and each "
                    "caller gets its own answer.",
                    "Right: each caller sends one item and gets one result; the list is Serve's doing. "
                    "The lesson's answers carried how many requests shared their forward pass.",
                ),
                "c": (
                    "Serve waits until 8 prompts have arrived, however long that takes.",
                    "`batch_wait_timeout_s` caps the wait: after 50 ms Serve calls with whatever has arrived.",
                ),
            },
            right="b",
        ),
        Question(
            "A batch job writes parquet with `DataContext.get_current().checkpoint_config = "
            'CheckpointConfig(id_column="id", checkpoint_path=...)`. Its driver is killed after 20 of 60 '
            "rows were written, and the same job is run again. What does the second run do?",
            {
                "a": (
                    "It continues the killed job's tasks where they stopped, in the middle of their batches.",
                    "A killed driver's tasks are gone; the resumed run is a new job that skips finished"
                    " rows, not a continuation of running tasks.",
                ),
                "b": (
                    "It starts from row one, because a new driver is a new job.",
                    "That is what happens without a checkpoint. With one, the new job reads the checkpoint first.",
                ),
                "c": (
                    "It skips the 20 rows whose ids the checkpoint recorded and works on the other 40; "
                    "rows that were in flight, not yet written, are done again.",
                    "Right: the checkpoint records what the sink wrote, and the next run filters those "
                    "ids out at the read. The lesson counted the rows each run worked on.",
                ),
            },
            right="c",
        ),
        Question(
            'A validation stage keeps `good = ds.filter(expr=(col("stars") >= 1) & (col("stars") <= 5))` '
            'and quarantines `ds.filter(expr=(col("stars") < 1) | (col("stars") > 5))`. Some rows have no'
            " stars (null). Where do they go?",
            {
                "a": (
                    "Nowhere: a comparison with null is null, neither true nor false, so both filters "
                    "drop them, silently.",
                    "Right: that is why the lesson's rules name the missing case with `is_null()`, and "
                    "why its `validate` counts that every row is either good or quarantined.",
                ),
                "b": (
                    "Into `good`, because null counts as false in the quarantine rule.",
                    "`filter` keeps only rows where the expression is true; null is not true in either filter.",
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
