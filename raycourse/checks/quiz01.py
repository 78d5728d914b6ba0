"""The quiz of lesson 01 (ingest and transform)."""

from .quiz import Question, Quiz

QUIZ = Quiz("01", [
    Question(
        "`shouting = prompts.map_batches(slow_upper)` returns. What has Ray done so far?",
        {
            "a": ("Called `slow_upper` on every batch and kept the result in `shouting`.",
                  "`map_batches` is lazy: it returns a new Dataset with one more step in its plan, and nothing "
                  "runs until you ask for results (`take_batch`, `count`, `materialize`, `write_*`). That is "
                  "why the 'planned in' time was near zero."),
            "b": ("Added a step to the plan; no batch has been processed yet.",
                  "Transformations only plan; a call that needs results runs the plan, which lets Ray fuse "
                  "steps and stream data through them."),
            "c": ("Called `slow_upper` on one batch to check that it works.",
                  "Ray does not try your function while planning: a bug in it shows up only when the pipeline "
                  "runs, at the first `take_batch`, `count` or write."),
        },
        right="b",
    ),
    Question(
        "A 10 KB CSV file is read on a cluster with 8 logical CPUs. About how many blocks does the read make?",
        {
            "a": ("1: one file is one block.",
                  "One task reads the file, but Ray splits what it read so that every CPU can help: never fewer "
                  "than twice the cluster's CPUs."),
            "b": ("16.",
                  "Ray aims at 200 blocks, fewer when blocks would be under 1 MiB, and never fewer than twice "
                  "the CPUs: 2 x 8 = 16 tiny blocks."),
            "c": ("200.",
                  "200 is where Ray starts, but blocks of a few bytes are far under the 1 MiB it wants, so it "
                  "goes down, to its floor of twice the CPUs."),
        },
        right="b",
    ),
    Question(
        "Your batch transformation needs a model that takes 20 seconds to load. How do you give it to "
        "`map_batches`?",
        {
            "a": ("A function that loads the model and then applies it to the batch.",
                  "A function runs as tasks and keeps nothing between calls: it would load the model again for "
                  "every batch, 20 seconds each time."),
            "b": ("A class that loads the model in `__init__` and applies it in `__call__`, with "
                  "`compute=ray.data.ActorPoolStrategy(size=n)`.",
                  "Each of the n actors runs `__init__` once and then serves batch after batch with the model "
                  "it already holds."),
            "c": ("A function, with `batch_size=1` so that each call has less to do.",
                  "The load is paid per call, not per row: smaller batches mean more calls and more loads."),
        },
        right="b",
    ),
    Question(
        "Why do the examples call `sort_values(\"id\")` before comparing or showing rows?",
        {
            "a": ("Ray Data returns rows in the order its workers finish them, which can change from run to run.",
                  "Parallel workers finish in any order; sorting by a key makes results comparable (or set "
                  "`preserve_order`, at some cost in parallelism)."),
            "b": ("`to_pandas` needs sorted input.",
                  "`to_pandas` accepts rows in any order; the sort is about comparing results, not about pandas."),
            "c": ("`map` and `map_batches` sort the rows by their first column.",
                  "Neither sorts anything: they transform rows where they are, and the order you see is the "
                  "order in which the work finished."),
        },
        right="a",
    ),
    Question(
        "Why write `filter(expr=col(\"medium\") == \"painting\")` rather than "
        "`filter(lambda row: row[\"medium\"] == \"painting\")`?",
        {
            "a": ("The lambda version runs at once; the expression is lazy.",
                  "Both are lazy: `filter` only plans, whichever way the condition is written."),
            "b": ("Expressions work only on string columns.",
                  "Expressions work on numbers too (`col(\"n\") > 3`); strings have extra operations under `.str`."),
            "c": ("Ray Data evaluates an expression with Arrow's vectorised kernels instead of calling Python "
                  "once per row.",
                  "A Python function is called for every row; an expression is evaluated on whole columns at "
                  "once, which is much faster (and Ray warns when you pass a function)."),
        },
        right="c",
    ),
])

check = QUIZ.check
