"""The quiz of lesson 01 (ingest and transform)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "01",
    [
        Question(
            "You chain a second `.map_batches(slow_upper)` onto `shouting` (section 4). What happens to the two times?",
            {
                "a": (
                    "Both grow by 0.5 s per step.",
                    'Planning calls no function: `map_batches` only records the step, so "planned in" stays near '
                    "0 s however many steps you chain.",
                ),
                "b": (
                    '"planned in" grows; "ran in" stays the same.',
                    "The other way round: the sleep is inside `slow_upper`, which runs only when `take_batch` "
                    "asks for rows, never while the plan is built.",
                ),
                "c": (
                    '"planned in" stays near 0 s; "ran in" grows.',
                    "`map_batches` only adds a step to the plan; `take_batch(2)` runs the plan, and each batch it"
                    " needs now goes through `slow_upper` twice.",
                ),
                "d": (
                    "Neither: Ray fuses the steps, one sleep a batch.",
                    "Fusing runs both steps in the same task, without handing data over in between, but both "
                    "functions still run on every batch: it sleeps twice.",
                ),
            },
            right="c",
        ),
        Question(
            "`read_csv` reads the 24-prompt CSV (under 1 KB) on a Ray with 8 logical CPUs. How many blocks?",
            {
                "a": (
                    "1: one file, one task, one block.",
                    "One task reads the file, but Ray splits what it read so that every CPU can help: never fewer"
                    " blocks than twice the cluster's CPUs.",
                ),
                "b": (
                    "16: never fewer than twice the CPUs.",
                    "Ray aims at 200 blocks, fewer when blocks would be under 1 MiB, and never fewer than twice "
                    "the CPUs: 2 x 8 = 16 tiny blocks.",
                ),
                "c": (
                    "8: one block for each CPU.",
                    "Ray's floor is twice the CPUs, not once: 16 blocks here, as the cell in section 5 prints.",
                ),
                "d": (
                    "200: the number Ray aims at.",
                    "200 is where Ray starts, but blocks of a few dozen bytes are far under the 1 MiB it wants, "
                    "so it goes down, to its floor of twice the CPUs.",
                ),
            },
            right="b",
        ),
        Question(
            "`map_batches(Tagger, compute=ray.data.ActorPoolStrategy(size=2))` runs over 40 batches; "
            "`Tagger.__init__` loads a model. How many times is it loaded?",
            {
                "a": (
                    "Twice: once in each of the two actors.",
                    "Each actor runs `__init__` once, then serves batch after batch with the model it already "
                    "holds: two loads, one in each process, however many batches come.",
                ),
                "b": (
                    "40 times: once for every batch.",
                    "That is what a function that loads the model would cost: a task keeps nothing between calls."
                    " An actor keeps its state, so `__init__` runs once per actor.",
                ),
                "c": (
                    "Once: the two actors share the model.",
                    "Each actor is a separate process that builds its own state in its own `__init__`; nothing "
                    "one actor loaded is shared with the other.",
                ),
            },
            right="a",
        ),
        Question(
            'With `ActorPoolStrategy(size=1)` and no `sort_values("id")`, what can differ from `size=2`?',
            {
                "a": (
                    "The `medium` of some rows.",
                    "The pool decides who does the work, not the result: every actor runs the same `__call__`, so"
                    " a row gets the same medium whichever actor tags it.",
                ),
                "b": (
                    "The number of rows.",
                    "A pool of one actor processes every batch, only with less parallelism; no row is dropped, "
                    "and the count stays 24.",
                ),
                "c": (
                    "Nothing: one actor keeps the file's order.",
                    "Rows still come back in the order the work finishes, not in file order, whatever the pool: "
                    "that is why the lesson sorts by `id` before it shows them.",
                ),
                "d": (
                    "At most the order of the rows.",
                    "Ray Data hands rows back in the order its workers finish them; sort by a key whenever you "
                    "compare or show results (or set `preserve_order`, at some cost in parallelism).",
                ),
            },
            right="d",
        ),
        Question(
            'You write `filter(lambda row: row["medium"] == "painting")` instead of the expression. What happens?',
            {
                "a": (
                    "It fails: `filter` takes only an expression.",
                    '`filter` with a Python function still works and keeps the same rows; Ray only warns: "Use '
                    "'expr' instead of 'fn' when possible for performant filters.\"",
                ),
                "b": (
                    "Same rows; Python runs per row; Ray warns.",
                    "An expression is evaluated on whole columns with Arrow's vectorised kernels; a function is "
                    "called once per row, and Ray says so: \"Use 'expr' instead of 'fn' when possible\".",
                ),
                "c": (
                    "It runs at once; the expression is lazy.",
                    "Both are lazy: `filter` only adds a step to the plan, whichever way the condition is "
                    "written, and nothing runs until you ask for results.",
                ),
                "d": (
                    "Same rows, as fast: Ray converts the lambda.",
                    "Ray cannot look inside a Python function: it calls it on every row, which is far slower than"
                    " an expression evaluated on whole columns.",
                ),
            },
            right="b",
        ),
        Question(
            "`ds.stats()` shows an operator named `ReadCSV->SplitBlocks(...)`. What does the `->` tell you?",
            {
                "a": (
                    "They were fused: one task, no hand-over.",
                    "Operators joined with `->` ran in the same task, one after the other on its data, without "
                    "handing data over in between.",
                ),
                "b": (
                    "Rows went from one to the other through the object store.",
                    "That hand-over is exactly what fusing saves: operators joined with `->` ran in one task, "
                    "with nothing passed between them.",
                ),
                "c": (
                    "`SplitBlocks` is a step you added after the read.",
                    "You never asked for it: Ray split the read's output itself, so that there are enough blocks "
                    "for every CPU, and fused the split into the read's task.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
