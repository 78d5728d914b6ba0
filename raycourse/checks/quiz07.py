"""The quiz of lesson 07 (a multimodal pipeline that feeds training and keeps the GPU busy)."""

from .quiz import Question, Quiz

QUIZ = Quiz("07", [
    Question(
        "`add_photo` is changed to store each photo's decoded pixels instead of its path, still before "
        "`repartition(4)`. What changes?",
        {
            "a": ("It fails: Ray Data cannot keep images in a column of a row.",
                  "Modules 05 and 06 kept images in an `image` column; a path is a choice that keeps moving "
                  "rows cheap, not a limit of Ray Data."),
            "b": ("Nothing: Ray Data moves only references to the rows' columns.",
                  "A repartition or a join moves every column it is given, into new blocks in the object store; "
                  "the pixels would travel with the rows."),
            "c": ("The repartition moves every photo's pixels, not a short path.",
                  "A shuffle moves every column it is given: a path is a few bytes, a decoded photo far more. "
                  "Keeping a reference until the image stage keeps the shuffle light."),
        },
        right="c",
    ),
    Question(
        "You change `Tokenize` to `padding=\"longest\"`. The tokenizer's batches hold 32 rows, the encoder's 16. "
        "What can go wrong, and why?",
        {
            "a": ("An encoder batch may mix rows of two tokenizer batches, of two widths.",
                  "Ray Data forms the next stage's batches from the blocks it has, so one encoder batch can span "
                  "tokenizer batches padded to different lengths, and those rows do not stack into one tensor; "
                  "one fixed length fits every batch."),
            "b": ("Nothing: every row is still padded to the longest of all 60 reviews.",
                  "`padding=\"longest\"` pads to the longest review of each call, that is of one tokenizer "
                  "batch; the checkpoint shows widths below 64 that vary."),
            "c": ("The attention mask stops marking padding, so the average counts it.",
                  "The tokenizer's mask marks padding with either strategy; what changes is the width, which "
                  "then varies from one tokenizer batch to the next."),
        },
        right="a",
    ),
    Question(
        "You want every epoch to see the training rows in another order, without a full shuffle of the dataset. "
        "Which setting does that?",
        {
            "a": ("`train_test_split(..., shuffle=True, seed=7)` before training.",
                  "That shuffles once, to choose which rows train; it does nothing to change the order from one "
                  "epoch to the next."),
            "b": ("`prefetch_batches=16` in the `iter_torch_batches` call.",
                  "Prefetching prepares the next batches while the model trains on the current one; it changes "
                  "when rows are ready, not their order."),
            "c": ("`random_shuffle()` on the dataset before every epoch.",
                  "That is the full shuffle the question rules out: every row moves across the cluster, which "
                  "costs far more than mixing rows in a buffer."),
            "d": ("`local_shuffle_buffer_size=16` and a new `local_shuffle_seed`.",
                  "Batches are drawn at random from a buffer of at least 16 rows as it fills; with a seed per "
                  "epoch, each epoch sees another order at little cost."),
        },
        right="d",
    ),
    Question(
        "`TorchTrainer` runs `train_func` with `{\"epochs\": 5}` on 2 workers. How many rows does "
        "`result.metrics_dataframe` have?",
        {
            "a": ("10: every worker reports once per epoch, 2 times 5.",
                  "Every worker does call `ray.train.report` each epoch, but Ray Train makes one row of each "
                  "round of reports, not one per worker."),
            "b": ("5: one per epoch, however many workers report it.",
                  "`train_func` reports once per epoch on every worker, and each round of reports makes one row "
                  "(with rank 0's checkpoint)."),
            "c": ("1: only the last epoch's metrics are kept there.",
                  "`result.metrics` holds the last report; `metrics_dataframe` keeps one row for every round of "
                  "reports."),
        },
        right="b",
    ),
    Question(
        "An encoder pool of 2 actors ran from the first batch's start at 0 s to the last batch's end at 10 s; "
        "each actor computed for 3 s in all. What does `busy_share` report?",
        {
            "a": ("60 %: the 6 s of computing over the 10 s on duty.",
                  "The pool's time on duty counts every actor: 10 s times 2 actors is 20 s, of which 6 s were "
                  "spent computing."),
            "b": ("15 %: 3 s out of 10 s, halved between the 2 actors.",
                  "Each actor computed 3 s, 6 s in all; dividing by the pool's 20 actor-seconds gives 30 %, not "
                  "half of one actor's share."),
            "c": ("30 %: 6 s of computing over 20 actor-seconds.",
                  "`busy_share` divides the summed computing time by the time on duty times the number of "
                  "actors: 6 / (10 × 2)."),
        },
        right="c",
    ),
    Question(
        "The encoder's busy share is low, and the CPU stages in front of it stay as they are. Which change "
        "raises it?",
        {
            "a": ("A second actor in the pool, fed by the same stages.",
                  "Two actors sharing the same trickle of input each wait about twice as much, so the pool's "
                  "busy share falls."),
            "b": ("A batch size of 2, so that each batch is ready sooner.",
                  "Small batches pay the fixed cost of a call more often; the sweep showed the busy share "
                  "falling as batches shrink."),
            "c": ("A batch size of 32 instead of the 2 or 8 tried.",
                  "Every call has a fixed cost that a batch of 32 pays once and a batch of 2 sixteen times, and "
                  "the model does more per second on bigger batches."),
        },
        right="c",
    ),
])

check = QUIZ.check
