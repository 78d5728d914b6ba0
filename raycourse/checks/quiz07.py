"""The quiz of lesson 07 (a multimodal pipeline that feeds training and keeps the GPU busy)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "07",
    [
        Question(
            "`add_photo` is changed to store each photo's decoded pixels instead of its path, still before "
            "`repartition(3)`. What changes?",
            {
                "a": (
                    "It fails: Ray Data cannot keep images in a column of a row.",
                    "Modules 05 and 06 kept images in an `image` column; a path is a choice that keeps moving "
                    "rows cheap, not a limit of Ray Data.",
                ),
                "b": (
                    "Nothing: Ray Data moves only references to the rows' columns.",
                    "A repartition or a join moves every column it is given, into new blocks in the object store; "
                    "the pixels would travel with the rows.",
                ),
                "c": (
                    "The repartition moves every photo's pixels, not a short path.",
                    "A shuffle moves every column it is given: a path is a few bytes, a decoded photo far more. "
                    "Keeping a reference until the image stage keeps the shuffle light.",
                ),
            },
            right="c",
        ),
        Question(
            "You change `Tokenize` to `padding=\"longest\"`. The tokenizer's batches hold 32 rows, the encoder's 16. "
            "What can go wrong, and why?",
            {
                "a": (
                    "An encoder batch may mix rows of two tokenizer batches, of two widths.",
                    "Ray Data forms the next stage's batches from the blocks it has, so one encoder batch can span "
                    "tokenizer batches padded to different lengths, and those rows do not stack into one tensor; "
                    "one fixed length fits every batch.",
                ),
                "b": (
                    "Nothing: every row is still padded to the longest of all 60 reviews.",
                    '`padding="longest"` pads to the longest review of each call, that is of one tokenizer '
                    "batch; the checkpoint shows widths below 64 that vary.",
                ),
                "c": (
                    "The attention mask stops marking padding, so the average counts it.",
                    "The tokenizer's mask marks padding with either strategy; what changes is the width, which "
                    "then varies from one tokenizer batch to the next.",
                ),
            },
            right="a",
        ),
        Question(
            "You want every epoch to see the training rows in another order, without a full shuffle of the dataset. "
            "Which setting does that?",
            {
                "a": (
                    "`train_test_split(..., shuffle=True, seed=7)` before training.",
                    "That shuffles once, to choose which rows train; it does nothing to change the order from one "
                    "epoch to the next.",
                ),
                "b": (
                    "`prefetch_batches=16` in the `iter_torch_batches` call.",
                    "Prefetching prepares the next batches while the model trains on the current one; it changes "
                    "when rows are ready, not their order.",
                ),
                "c": (
                    "`random_shuffle()` on the dataset before every epoch.",
                    "That is the full shuffle the question rules out: every row moves across the cluster, which "
                    "costs far more than mixing rows in a buffer.",
                ),
                "d": (
                    "`local_shuffle_buffer_size=16` and a new `local_shuffle_seed`.",
                    "Batches are drawn at random from a buffer of at least 16 rows as it fills; with a seed per "
                    "epoch, each epoch sees another order at little cost.",
                ),
            },
            right="d",
        ),
        Question(
            '`TorchTrainer` runs `train_func` with `{"epochs": 5}` on 2 workers. How many rows does '
            "`result.metrics_dataframe` have?",
            {
                "a": (
                    "10: every worker reports once per epoch, 2 times 5.",
                    "Every worker does call `ray.train.report` each epoch, but Ray Train makes one row of each "
                    "round of reports, not one per worker.",
                ),
                "b": (
                    "5: one per epoch, however many workers report it.",
                    "`train_func` reports once per epoch on every worker, and each round of reports makes one row "
                    "(with rank 0's checkpoint).",
                ),
                "c": (
                    "1: only the last epoch's metrics are kept there.",
                    "`result.metrics` holds the last report; `metrics_dataframe` keeps one row for every round of "
                    "reports.",
                ),
            },
            right="b",
        ),
        Question(
            "An encoder pool of **one** actor runs on a cluster of 2 GPUs. From its first batch's start to its last "
            "batch's end took 10 s, and it computed for 8 s of them. What does `busy_share(run, GPUS)` report?",
            {
                "a": (
                    "80 %: the actor computed 8 of its 10 seconds.",
                    "That is the pool's own view. The cluster's second GPU was held for those 10 s too, idle, and "
                    "the busy share counts every GPU the job holds: 8 / (10 × 2).",
                ),
                "b": (
                    "40 %: 8 s over 10 s times the 2 GPUs held.",
                    "`busy_share` divides the computing time by the run's time times every GPU the job holds, the "
                    "idle one too: 8 / 20, as a bill counts GPU-hours held.",
                ),
                "c": (
                    "100 %: one actor can only ever use one GPU.",
                    "A pool of one uses one GPU; the other is held and idle. Counting only the pool's actors hides "
                    "it, and the bill counts both.",
                ),
            },
            right="b",
        ),
        Question(
            "The busiest day's reviews arrive one block per review. The tokenizer and the photo loader run with "
            "`batch_size=1`, the encoder with 32, one actor per GPU. Rows per second stay low and the GPUs wait. What "
            "holds them up?",
            {
                "a": (
                    "Every review is a Ray task of its own in each CPU stage.",
                    "Ray gives a task as many blocks as one batch needs. With a block per review and batch_size=1, "
                    "each review pays for a task's scheduling and hand-over in each CPU stage: a trickle.",
                ),
                "b": (
                    "The encoder's batch of 32 waits until the day has ended.",
                    "A batch waits until it holds 32 rows, not until the day ends: 120 rows fill 4 batches as they "
                    "arrive. What makes them arrive slowly is in front of the encoder.",
                ),
                "c": (
                    "Two encoder actors share the input, so each waits twice.",
                    "A second actor halves each one's share of a trickle, but the trickle is the problem: one actor "
                    "would wait as much in all. The CPU stages set the pace.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
