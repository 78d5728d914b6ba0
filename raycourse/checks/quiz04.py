"""The quiz of lesson 04 (LLM prompt enhancement)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "04",
    [
        Question(
            "In `Enhancer.__call__`, `season_for(row_id)` becomes `random.choice(SEASONS)`. Run twice: what do you "
            "see?",
            {
                "a": (
                    "The same seasons: Ray seeds every actor alike.",
                    "Ray seeds nothing for you: each actor differs.",
                ),
                "b": (
                    "Varied seasons, but a row may get another one next run.",
                    "Each actor's random state differs between actors and runs, and scheduling decides which rows "
                    "reach which actor; `season_for` seeds by the row, so a row keeps its season.",
                ),
                "c": (
                    "One season for all: actors share a random state.",
                    "Actors are separate processes, with separate random states.",
                ),
                "d": ("An error: no `random` in an actor.", "An actor runs ordinary Python, `random` included."),
            },
            right="b",
        ),
        Question(
            "Without `do_sample=False` in the Enhancer's `self.pipe(...)`, what changes between two runs?",
            {
                "a": ("Nothing: the pipeline is greedy by default.", "The model's own config asks for sampling."),
                "b": (
                    "Every reply runs to `max_new_tokens`.",
                    "`max_new_tokens` only caps the length, sampled or not.",
                ),
                "c": (
                    "The enhanced prompts may differ between runs.",
                    "The model's config asks for sampling, drawn from each actor's random state; greedy decoding "
                    "writes the same reply every run.",
                ),
                "d": (
                    "The chat template is no longer applied.",
                    "`do_sample` is about picking tokens, not formatting.",
                ),
            },
            right="c",
        ),
        Question(
            "The Enhancer's `map_batches(..., batch_size=4)` becomes 16; `self.pipe(chats, ..., batch_size=4)` stays. "
            "What happens in one `__call__`?",
            {
                "a": ("4 rows: the model's `batch_size` wins.", "Ray never sees your model call's arguments."),
                "b": ("4 rows: `prompts` has blocks of 4.", "Ray gathers whole blocks until a bundle holds 16 rows."),
                "c": ("16 rows, in one pass of 16.", "The model pipeline splits them by its own `batch_size=4`."),
                "d": (
                    "16 rows, in four passes of 4.",
                    "Ray's `batch_size` sets the rows per `__call__`; Hugging Face's sets how many conversations "
                    "go through the model together.",
                ),
            },
            right="d",
        ),
        Question(
            "On two GPUs, two Enhancers ask for `num_gpus=0.6` and two ImageGens for `0.4`. Where do the Enhancers go?",
            {
                "a": (
                    "On different GPUs: 0.6 + 0.6 is 1.2.",
                    "The shares on one GPU add up to at most 1, so each GPU gets one Enhancer and one 0.4 ImageGen.",
                ),
                "b": ("On one GPU, if both fit in its memory.", "Ray never looks at memory, only at the fractions."),
                "c": ("Anywhere: the fraction caps memory.", "Ray does not split GPU memory or compute."),
                "d": ("One waits: 0.6 needs a GPU to itself.", "The 0.4 left over is filled by an ImageGen."),
            },
            right="a",
        ),
        Question(
            "A pipeline reads CSV files, then runs two pools of two GPU actors (default `num_cpus`) on a node with "
            "4 vCPUs. What happens?",
            {
                "a": ("It runs: GPU actors hold no CPU.", "Ray Data gives every actor `num_cpus=1` unless told."),
                "b": ("An error at once: too few CPUs.", "A task with no free CPU waits, without an error."),
                "c": (
                    "The reads never get a CPU; the run waits forever.",
                    "The four actors hold all four CPUs; fewer actors, or a smaller `num_cpus=` per GPU actor, "
                    "leaves CPUs for the reads.",
                ),
                "d": ("Ray starts fewer actors.", "Ray keeps no CPU aside: sizing the pools is your job."),
            },
            right="c",
        ),
        Question(
            "Section 7's 4 MiB cap keeps the fast stage one block ahead of the slow one. Against no cap, both on "
            "workers already started, when does the run end?",
            {
                "a": (
                    "Much sooner: nothing piles up.",
                    "The slow stage sets the pace; the cap saves memory, not time.",
                ),
                "b": (
                    "At about the same time.",
                    "Backpressure holds back only the fast stage; the slow stage, which sets the pace, always has "
                    "a block to work on. (In the lesson's plot the run without a cap went first and paid for "
                    "starting Ray's workers.)",
                ),
                "c": ("Much later: the fast stage is paused.", "Its pauses cost nothing: the slow stage is busy."),
                "d": ("Never: 12 MiB cannot fit in 4 MiB.", "Memory stays bounded whatever the dataset's size."),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
