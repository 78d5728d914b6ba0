"""The quiz of lesson 01 (ingest and transform)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "01",
    [
        Question(
            "In section 4 you chain a second `.map_batches(slow_upper)` onto `shouting` and run the cell again. "
            "What happens to the two times it prints?",
            {
                "a": (
                    "Both grow: each step adds 0.5 s to the planning and to the run.",
                    'Planning calls no function: `map_batches` only records the step, so "planned in" stays near '
                    "0 s however many steps you chain.",
                ),
                "b": (
                    '"planned in" grows by 0.5 s, while "ran in" stays about the same.',
                    "The other way round: the sleep is inside `slow_upper`, which runs only when `take_batch` asks "
                    "for rows, never while the plan is built.",
                ),
                "c": (
                    '"planned in" stays near 0 s; "ran in" grows, as batches sleep twice.',
                    "`map_batches` only adds a step to the plan; `take_batch(2)` runs the plan, and each batch it "
                    "needs now goes through `slow_upper` twice.",
                ),
                "d": (
                    "Neither changes: Ray fuses the two steps, so each batch sleeps once.",
                    "Fusing runs both steps in the same task, without handing data over in between, but both "
                    "functions still run on every batch: it sleeps twice.",
                ),
            },
            right="c",
        ),
        Question(
            "`ray.data.read_csv` reads the lesson's small CSV file (24 prompts, under 1 KB) "
            "on a Ray with 8 logical CPUs. "
            "How many blocks does the read make?",
            {
                "a": (
                    "1: one file, read by one task, makes one block.",
                    "One task reads the file, but Ray splits what it read so that every CPU can help: never fewer "
                    "blocks than twice the cluster's CPUs.",
                ),
                "b": (
                    "16: never fewer than twice the cluster's CPUs.",
                    "Ray aims at 200 blocks, fewer when blocks would be under 1 MiB, and never fewer than twice "
                    "the CPUs: 2 x 8 = 16 tiny blocks.",
                ),
                "c": (
                    "8: one block for each CPU, so that each has one.",
                    "Ray's floor is twice the CPUs, not once: 16 blocks here, as the cell in section 5 prints.",
                ),
                "d": (
                    "200: the number of blocks that Ray aims at.",
                    "200 is where Ray starts, but blocks of a few dozen bytes are far under the 1 MiB it wants, "
                    "so it goes down, to its floor of twice the CPUs.",
                ),
            },
            right="b",
        ),
        Question(
            "`map_batches(Tagger, compute=ray.data.ActorPoolStrategy(size=2))` runs over 40 batches, and "
            "`Tagger.__init__` loads a model in 20 s. How many times is the model loaded?",
            {
                "a": (
                    "Twice: `__init__` runs once in each of the two actors.",
                    "Each actor runs `__init__` once, then serves batch after batch with the model it already "
                    "holds: two loads, one in each process, however many batches come.",
                ),
                "b": (
                    "40 times: the class is set up again for every batch.",
                    "That is what a function that loads the model would cost: a task keeps nothing between calls. "
                    "An actor keeps its state, so `__init__` runs once per actor.",
                ),
                "c": (
                    "Once: the two actors share the model that loads first.",
                    "Each actor is a separate process that builds its own state in its own `__init__`; nothing "
                    "one actor loaded is shared with the other.",
                ),
            },
            right="a",
        ),
        Question(
            "You change the tagger's pool to `ActorPoolStrategy(size=1)` and show `tagged.to_pandas()` without "
            '`sort_values("id")`. Compared with `size=2`, what can differ?',
            {
                "a": (
                    "The `medium` of some rows, as one actor sees other batches.",
                    "The pool decides who does the work, not the result: every actor runs the same `__call__`, so "
                    "a row gets the same medium whichever actor tags it.",
                ),
                "b": (
                    "The number of rows: one actor gets through half of the data.",
                    "A pool of one actor processes every batch, only with less parallelism; no row is dropped, "
                    "and the count stays 24.",
                ),
                "c": (
                    "Nothing at all: with one actor the rows keep the file's order.",
                    "Rows still come back in the order the work finishes, not in file order, whatever the pool: "
                    "that is why the lesson sorts by `id` before it shows them.",
                ),
                "d": (
                    "At most the order of the rows, which follows when work finishes.",
                    "Ray Data hands rows back in the order its workers finish them; sort by a key whenever you "
                    "compare or show results (or set `preserve_order`, at some cost in parallelism).",
                ),
            },
            right="d",
        ),
        Question(
            'You write `tagged.filter(lambda row: row["medium"] == "painting")` instead of the lesson\'s '
            '`filter(expr=col("medium") == "painting")`. What happens?',
            {
                "a": (
                    "It fails: in Ray 2.60 `filter` takes only an expression.",
                    '`filter` with a Python function still works and keeps the same rows; Ray only warns: "Use '
                    "'expr' instead of 'fn' when possible for performant filters.\"",
                ),
                "b": (
                    "Same rows, but Python is called per row, and Ray warns.",
                    "An expression is evaluated on whole columns with Arrow's vectorised kernels; a function is "
                    "called once per row, and Ray says so: \"Use 'expr' instead of 'fn' when possible\".",
                ),
                "c": (
                    "It runs at once, while the expression form is lazy.",
                    "Both are lazy: `filter` only adds a step to the plan, whichever way the condition is "
                    "written, and nothing runs until you ask for results.",
                ),
                "d": (
                    "Same rows, as fast: Ray turns the lambda into an expression.",
                    "Ray cannot look inside a Python function: it calls it on every row, which is far slower than "
                    "an expression evaluated on whole columns.",
                ),
            },
            right="b",
        ),
        Question(
            "`ds.stats()` of a dataset read from the CSV shows an operator named `ReadCSV->SplitBlocks(...)`. "
            "What does the `->` tell you?",
            {
                "a": (
                    "Ray fused the two: they ran in the same task, with no hand-over.",
                    "Operators joined with `->` ran in the same task, one after the other on its data, without "
                    "handing data over in between.",
                ),
                "b": (
                    "ReadCSV handed its rows to SplitBlocks through the object store.",
                    "That hand-over is exactly what fusing saves: operators joined with `->` ran in one task, "
                    "with nothing passed between them.",
                ),
                "c": (
                    "SplitBlocks is a step you added, which Ray ran after the read.",
                    "You never asked for it: Ray split the read's output itself, so that there are enough blocks "
                    "for every CPU, and fused the split into the read's task.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
