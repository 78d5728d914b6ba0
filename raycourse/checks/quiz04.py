"""The quiz of lesson 04 (LLM prompt enhancement)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "04",
    [
        Question(
            "In `Enhancer.__call__`, a learner replaces `season_for(row_id)` with `random.choice(SEASONS)` and runs "
            "the pipeline twice. What do they see?",
            {
                "a": (
                    "The same seasons on both runs, since Ray seeds every actor alike.",
                    "Ray seeds nothing for you: every actor is its own process, with its own global random state, "
                    "seeded differently on every run.",
                ),
                "b": (
                    "Varied seasons, but a row may get another season on the next run.",
                    "The global random state differs between actors and runs, and scheduling decides which rows "
                    "reach which actor; `season_for` seeds by the row, so a row keeps its season.",
                ),
                "c": (
                    "One season for every row, since the actors share one random state.",
                    "Actors share no random state: each is a separate process. The seasons still vary; what is "
                    "lost is that a row gets the same one on every run.",
                ),
                "d": (
                    "An error: Python's `random` module cannot be used in a Ray actor.",
                    "An actor runs ordinary Python, `random` included; the trouble is not an error but results "
                    "that cannot be reproduced.",
                ),
            },
            right="b",
        ),
        Question(
            "A learner deletes `do_sample=False` from the Enhancer's `self.pipe(...)` call and runs the pipeline "
            "twice on the same 16 prompts. What changes?",
            {
                "a": (
                    "Nothing: `text-generation` decodes greedily unless told otherwise.",
                    "The model's own `generation_config.json` asks for sampling (`do_sample=True`, "
                    "`temperature=0.7`, ...); `do_sample=False` is what turns it off.",
                ),
                "b": (
                    "Every reply now runs on to the full `max_new_tokens` tokens.",
                    "`max_new_tokens` only caps the length, sampled or not; `do_sample` decides how each next token "
                    "is picked, not when the reply ends.",
                ),
                "c": (
                    "The enhanced prompts may differ between the two runs.",
                    "The model's config asks for sampling, drawn from each actor's random state; greedy decoding "
                    "writes the most likely token, the same reply every run.",
                ),
                "d": (
                    "The messages are no longer put through the chat template.",
                    "The pipeline applies the chat template to a list of messages either way; `do_sample` is "
                    "about picking tokens, not about formatting the conversation.",
                ),
            },
            right="c",
        ),
        Question(
            "In the pipeline cell, the Enhancer's `batch_size=4` becomes `batch_size=16`; `self.pipe(chats, ..., "
            "batch_size=4)` stays. What happens in one `__call__`?",
            {
                "a": (
                    "It gets 4 rows: the model pipeline's `batch_size=4` wins.",
                    "Ray never sees the arguments of your model call: the rows a `__call__` gets depend only on "
                    "the `batch_size` given to `map_batches`.",
                ),
                "b": (
                    "It gets 4 rows, since `prompts` is stored in blocks of 4.",
                    "Batch sizes do not depend on blocks: Ray gathers whole blocks into a bundle until it holds "
                    "the 16 rows the stage asked for.",
                ),
                "c": (
                    "It gets 16 rows, and the model runs one pass over all 16.",
                    "The Hugging Face pipeline splits the 16 conversations by its own `batch_size=4`: it would "
                    "take them all at once only with `batch_size=16` there.",
                ),
                "d": (
                    "It gets 16 rows, and the model runs four passes of 4.",
                    "Ray's `batch_size` sets the rows per `__call__`; Hugging Face's sets how many conversations "
                    "go through the model together, padded to one length.",
                ),
            },
            right="d",
        ),
        Question(
            "On the course's two logical GPUs, two Enhancers ask for `num_gpus=0.6` and two ImageGens for `0.4`. "
            "Where does Ray place the two Enhancers?",
            {
                "a": (
                    "On different GPUs: two 0.6 shares would add up to 1.2.",
                    "The fraction is a scheduling promise: the shares on one GPU add up to at most 1, so each "
                    "GPU gets one Enhancer and one 0.4 ImageGen beside it.",
                ),
                "b": (
                    "On the same GPU, if both models fit in its memory.",
                    "Ray never looks at memory: it only adds up the fractions, and 0.6 + 0.6 is more than one "
                    "GPU, whatever the models weigh.",
                ),
                "c": (
                    "Anywhere: the fraction only caps each model's memory.",
                    "Ray does not split GPU memory or compute; the models share the GPU freely, and must fit "
                    "together by themselves.",
                ),
                "d": (
                    "One of them waits: a 0.6 actor needs a GPU to itself.",
                    "A 0.6 actor leaves 0.4 of its GPU, which an ImageGen fills; only a third 0.6 actor on two "
                    "GPUs would wait.",
                ),
            },
            right="a",
        ),
        Question(
            "A pipeline reads CSV files, then runs two pools of two GPU actors, `num_cpus` left at its default, on a "
            "GPU node with 4 vCPUs. What happens?",
            {
                "a": (
                    "It runs as usual: GPU actors hold no CPU of their own.",
                    "Ray Data gives every actor `num_cpus=1` unless told otherwise, GPU actors included, and the "
                    "actor holds it for as long as it lives.",
                ),
                "b": (
                    "Ray stops at once with an error: not enough CPUs.",
                    "A task that finds no free CPU simply waits, without an error, which is why this mistake "
                    "looks like a hang.",
                ),
                "c": (
                    "The reads never get a CPU, and the run waits forever.",
                    "The four actors hold all four CPUs; fewer actors, or a smaller `num_cpus=` per GPU actor, "
                    "leaves CPUs for the tasks that read and prepare the data.",
                ),
                "d": (
                    "Ray starts fewer actors, so that the reads keep a CPU.",
                    "An `ActorPoolStrategy(size=2)` asks for two actors, and Ray keeps no CPU aside for other "
                    "tasks: that is your job when you size the pools.",
                ),
            },
            right="c",
        ),
        Question(
            "In section 7, capping the object store at 4 MiB keeps the fast `MakeImages` stage about one block "
            "ahead of the slow one. Compared with no cap, when does the run finish?",
            {
                "a": (
                    "Much sooner: no rows pile up in the object store.",
                    "Nothing spilled without the cap either, and the slow stage sets the pace: holding the fast "
                    "stage back saves memory, not time.",
                ),
                "b": (
                    "At about the same time: the slow stage sets the pace.",
                    "Backpressure only holds the fast stage back while its unused output fills its share of the "
                    "budget; the slow stage always has a block to work on.",
                ),
                "c": (
                    "Much later: the fast stage spends most of its time paused.",
                    "Its pauses cost nothing, because the slow stage always has a block waiting; a pipeline runs "
                    "at the pace of its slowest stage.",
                ),
                "d": (
                    "Never: 16 rows of 0.75 MiB cannot fit into 4 MiB.",
                    "Backpressure lets the fast stage make a block each time the slow one takes one, so memory "
                    "stays bounded whatever the size of the dataset.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
