"""The quiz of lesson 04 (LLM prompt enhancement)."""

from .quiz import Question, Quiz

QUIZ = Quiz("04", [
    Question(
        "Why does `season_for` seed a `random.Random` with the seed and the row's `id`, instead of calling "
        "`random.choice(SEASONS)`?",
        {
            "a": ("`random.choice` cannot be called inside a Ray actor.",
                  "It can, and it runs fine there; its results just depend on the process and the run, so they "
                  "cannot be reproduced."),
            "b": ("Each actor has its own global random state, seeded differently on every run, and scheduling "
                  "decides which rows reach which actor.",
                  "A choice seeded by the row gives that row the same season in any actor and on every run, so "
                  "a result can be reproduced."),
            "c": ("`random.choice` would give every row the same season.",
                  "It would give varied seasons, only different ones in each actor and on each run: variety was "
                  "never the problem, repeatability is."),
        },
        right="b",
    ),
    Question(
        "The Enhancer calls the LLM with `do_sample=False`. What does that change?",
        {
            "a": ("The pipeline stops applying the model's chat template.",
                  "The chat template turns the messages into the model's input either way; `do_sample` is about "
                  "picking tokens, not about formatting the conversation."),
            "b": ("Generation gets faster, because fewer tokens are written.",
                  "`max_new_tokens` caps the length; `do_sample` only decides how each next token is picked: the "
                  "most likely one, or a random draw."),
            "c": ("The model decodes greedily: the same conversation gets the same reply on every run.",
                  "The model's own generation config asks for sampling, drawn from the actor's random state; "
                  "greedy decoding always writes the most likely next token instead."),
        },
        right="c",
    ),
    Question(
        "The Ray stage is `map_batches(Enhancer, batch_size=16, ...)`, and inside `__call__` the model runs "
        "`self.pipe(chats, ..., batch_size=4)`. What happens in one `__call__`?",
        {
            "a": ("It gets 16 rows, and the model processes them as four groups of 4 conversations, each padded to "
                  "one length.",
                  "Ray's `batch_size` sets the rows per `__call__`; Hugging Face's sets how many conversations "
                  "go through the model together."),
            "b": ("It gets 4 rows: the pipeline's `batch_size` overrides Ray's.",
                  "Ray never sees the arguments of your model call: what a `__call__` receives depends only on "
                  "the `batch_size` given to `map_batches`."),
            "c": ("It gets 16 rows, and the model processes all 16 conversations together in one group.",
                  "The Hugging Face pipeline splits the 16 conversations by its own `batch_size=4`; only with "
                  "`batch_size=16` there would it take them all at once."),
        },
        right="a",
    ),
    Question(
        "What does `num_gpus=0.6` give each Enhancer actor?",
        {
            "a": ("60% of the GPU's memory, reserved and enforced by Ray.",
                  "Ray does not split GPU memory: the fraction is bookkeeping, and the models must fit in the "
                  "GPU's memory together by themselves."),
            "b": ("60% of the GPU's compute time, in time slices.",
                  "Nothing slices the GPU's time: each actor computes whenever it has work, and the fraction only "
                  "decides which actors Ray may place together."),
            "c": ("A scheduling promise: Ray places actors so that the shares on each GPU add up to at most 1.",
                  "That is why two 0.6 Enhancers went to different GPUs and each 0.4 ImageGen filled the rest of "
                  "one; the models themselves share the GPU freely."),
        },
        right="c",
    ),
    Question(
        "A pipeline reads its data and then runs two pools of two GPU actors, with default settings, on a GPU "
        "node with 4 vCPUs. What goes wrong?",
        {
            "a": ("Nothing: GPU actors need no CPU.",
                  "Ray Data gives every actor `num_cpus=1` unless told otherwise, GPU actors included, and the "
                  "actor holds it as long as it lives."),
            "b": ("The four actors hold all four CPUs, so the tasks that read and prepare the data never get one "
                  "and the pipeline waits forever.",
                  "Count the CPUs of GPU actors against the node's: fewer actors or a smaller `num_cpus=` per "
                  "actor leaves CPUs for the other tasks."),
            "c": ("Ray stops the pipeline at once with an out-of-CPUs error.",
                  "A task that finds no free CPU simply waits, without an error, which is why this mistake looks "
                  "like a hang."),
        },
        right="b",
    ),
    Question(
        "A fast stage makes image-sized rows much faster than the next stage can use them. What does Ray Data's "
        "backpressure do?",
        {
            "a": ("It gives the slow stage more actors.",
                  "Backpressure only holds the fast stage back; giving the slow stage more actors or GPU share is "
                  "your decision, guided by `ds.stats()`."),
            "b": ("It makes the whole pipeline finish sooner.",
                  "A pipeline never goes faster than its slowest stage: with the object store capped, the run "
                  "finished no later, and no sooner either."),
            "c": ("It drops the rows that do not fit into the budget.",
                  "Backpressure never loses data: every row is made and used, the fast stage only makes some of "
                  "them later."),
            "d": ("It starts no new tasks of the fast stage while its unused output fills its share of the "
                  "object-store budget.",
                  "The fast stage then runs only a little ahead of the slow one, and memory stays bounded "
                  "whatever the size of the dataset."),
        },
        right="d",
    ),
])

check = QUIZ.check
