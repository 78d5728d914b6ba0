"""The quiz of lesson 07 (a multimodal pipeline that feeds training and keeps the GPU busy)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "07",
    [
        Question(
            "`add_photo` stores each photo's decoded pixels instead of its path, before `repartition(3)`. What "
            "changes?",
            {
                "a": (
                    "It fails: a row cannot hold an image.",
                    "Modules 05 and 06 kept images in an `image` column; a path is a choice, not a limit.",
                ),
                "b": (
                    "Nothing: Ray Data moves only references.",
                    "A repartition moves every column it is given into new blocks, pixels included.",
                ),
                "c": (
                    "The repartition moves every photo's pixels.",
                    "A shuffle moves every column: a path is a few bytes, a decoded photo far more.",
                ),
            },
            right="c",
        ),
        Question(
            '`Tokenize` pads with `padding="longest"`; its batches hold 32 rows, the encoder\'s 16. What goes wrong?',
            {
                "a": (
                    "An encoder batch may mix rows of two widths.",
                    "One encoder batch can span tokenizer batches padded to different lengths, and those rows do "
                    "not stack into one tensor.",
                ),
                "b": (
                    "Nothing: rows are padded to the longest of all reviews.",
                    '`padding="longest"` pads to the longest review of one tokenizer batch, so widths vary.',
                ),
                "c": (
                    "The attention mask stops marking padding.",
                    "The mask marks padding with either strategy; what changes is the width of each batch.",
                ),
            },
            right="a",
        ),
        Question(
            "Which setting gives every epoch another order of the training rows, without a full shuffle?",
            {
                "a": (
                    "`train_test_split(..., shuffle=True, seed=7)`.",
                    "That shuffles once, to choose the training rows, not from one epoch to the next.",
                ),
                "b": (
                    "`prefetch_batches=16`.",
                    "Prefetching changes when batches are ready, not the order of their rows.",
                ),
                "c": (
                    "`random_shuffle()` before every epoch.",
                    "That is the full shuffle ruled out: every row moves across the cluster.",
                ),
                "d": (
                    "`local_shuffle_buffer_size=16` and a new `local_shuffle_seed`.",
                    "Batches are drawn at random from a buffer of rows; a seed per epoch gives each epoch its order.",
                ),
            },
            right="d",
        ),
        Question(
            '`train_func` runs with `{"epochs": 5}` on 2 workers. How many rows has `result.metrics_dataframe`?',
            {
                "a": (
                    "10: 2 workers times 5 epochs.",
                    "Every worker reports each epoch, but Ray Train makes one row per round of reports.",
                ),
                "b": (
                    "5: one per epoch.",
                    "Each epoch's round of reports, one per worker, makes one row (with rank 0's checkpoint).",
                ),
                "c": (
                    "1: the last epoch's.",
                    "`result.metrics` holds the last report; `metrics_dataframe` keeps a row per round.",
                ),
            },
            right="b",
        ),
        Question(
            "A pool of **one** encoder actor on a 2-GPU cluster computed 8 s of a 10 s run. What does "
            "`busy_share(run, GPUS)` report?",
            {
                "a": (
                    "80 %.",
                    "That is the pool's own view; the second GPU was held and idle too: 8 / (10 × 2).",
                ),
                "b": (
                    "40 %.",
                    "Computing time over the run's time times every GPU held, the idle one too: 8 / 20.",
                ),
                "c": (
                    "100 %.",
                    "One actor uses one GPU, but the other is held and idle, and the bill counts both.",
                ),
            },
            right="b",
        ),
        Question(
            "Reviews arrive one block each; the CPU stages run with `batch_size=1`, the encoder with 32. The GPUs "
            "wait. Why?",
            {
                "a": (
                    "Every review is a Ray task of its own in each CPU stage.",
                    "With a block per review and `batch_size=1`, each review pays a task's overhead: a trickle.",
                ),
                "b": (
                    "The encoder's batch waits for the day to end.",
                    "A batch waits until it holds 32 rows, not for the day's end; the trickle comes from in front.",
                ),
                "c": (
                    "Two encoder actors share the input.",
                    "A second actor halves each one's share of a trickle; the CPU stages set the pace.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
