"""The quiz of lesson 02 (joins and prompts)."""

from .quiz import Question, Quiz

QUIZ = Quiz("02", [
    Question(
        "`animals.join(outfits, join_type=\"inner\", num_partitions=5, on=(\"id\",)).materialize()`: how many "
        "blocks does the result have?",
        {
            "a": ("1: a join gathers all rows on one worker.",
                  "One worker holding everything would not scale; the shuffle spreads the rows over "
                  "`num_partitions` partitions that are joined in parallel."),
            "b": ("16, as many as the read made (twice the 8 CPUs).",
                  "That is how many blocks a read makes; a join shuffles every row into `num_partitions` "
                  "partitions, so the read's split does not survive it."),
            "c": ("19, one per matched id.",
                  "Ids are not given a block each: all the ids that hash to the same partition end up together "
                  "in that partition's one block."),
            "d": ("5.",
                  "Every row goes to the partition `hash(id) % 5`, each partition is joined on its own, and each "
                  "becomes one block of the result."),
        },
        right="d",
    ),
    Question(
        "Why does a join move rows between workers (a *shuffle*), when `map_batches` does not?",
        {
            "a": ("Because the result has more columns than either input, so it needs new blocks.",
                  "`map_batches` adds columns too (the prompt) without moving any data; what forces the shuffle "
                  "is that matching keys must meet."),
            "b": ("To sort the result by the key.",
                  "A join's output comes in no particular order, which is why the lesson sorts by `id` before "
                  "showing or comparing it."),
            "c": ("Rows with the same key may sit in blocks on different workers, and must meet on one worker to "
                  "be paired.",
                  "Hashing the key sends animal 7 and outfit 7 to the same partition, wherever their blocks were; "
                  "`map_batches` needs only the rows of one block, so it works where the block lies."),
        },
        right="c",
    ),
    Question(
        "You must draw an image for **every** animal, including those without an outfit. Which join of `animals` "
        "(left) with `outfits` (right) do you start from?",
        {
            "a": ("`\"inner\"`",
                  "An inner join drops the five animals without an outfit, so they would never reach the image "
                  "model."),
            "b": ("`\"left_outer\"`",
                  "It keeps all 24 animals; the five without a partner get a missing `outfit`, which you then "
                  "drop, fill with a default or give another prompt."),
            "c": ("`\"right_outer\"`",
                  "It keeps every outfit, even 25 and 26 that belong to no animal, and drops the animals without "
                  "an outfit: the wrong side."),
            "d": ("`\"full_outer\"`",
                  "It keeps every animal, but also the two orphan outfits: rows with no animal to draw, which "
                  "you would have to remove again."),
        },
        right="b",
    ),
    Question(
        "Why not glue the outfits onto the animals with `zip`, row by row?",
        {
            "a": ("`zip` is slower than `join`, because it shuffles both datasets.",
                  "The lesson's objection is about wrong results, not speed: pairing by position gives animals "
                  "the outfits of other animals."),
            "b": ("`zip` pairs rows by position, and Ray Data guarantees no row order; one missing outfit also "
                  "shifts every later pair.",
                  "Position is not identity: from the hedgehog on, every animal got another animal's outfit, and "
                  "24 rows cannot be paired with 21. A join on `id` matches them correctly."),
            "c": ("`zip` only accepts datasets with the same columns.",
                  "Same columns is the rule of `union`, which stacks rows; `zip` puts different columns side by "
                  "side."),
        },
        right="b",
    ),
    Question(
        "After the left outer join, the animals without an outfit have `outfit = None` in a NumPy batch. What does "
        "`expand_prompt` (`batch[\"animal\"] + \" wearing a \" + batch[\"outfit\"]`) do with them?",
        {
            "a": ("It writes prompts such as \"... wearing a None\".",
                  "NumPy adds the strings element by element, and a string plus None is an error in Python; "
                  "\"wearing a None\" appears only with an explicit `str(None)`, which you must avoid as well."),
            "b": ("It raises a `TypeError` inside a Ray task, and the pipeline stops.",
                  "Adding None to a string fails, and Ray reports it when the dataset runs; decide before: drop "
                  "those rows, fill in a default, or build another prompt."),
            "c": ("Ray Data skips those rows and goes on with the others.",
                  "Ray Data does not skip single rows: it aborts the whole execution at the first failing task, "
                  "unless you allow some failed blocks with `DataContext.max_errored_blocks`."),
            "d": ("It leaves the prompt empty for those rows.",
                  "Nothing is filled in for you: your batch function runs as written, and here the addition "
                  "itself fails."),
        },
        right="b",
    ),
    Question(
        "`more_animals = animals.union(new_animals)`: what can you rely on?",
        {
            "a": ("It holds the rows of both datasets, with the same columns, in an order you must not rely on.",
                  "`union` stacks datasets of the same schema; sort by a column, or keep one that says where each "
                  "row came from, when order matters."),
            "b": ("All rows of `animals` come first, then the rows of `new_animals`.",
                  "In Ray 2.60 `union` passes on the blocks of its inputs as they become ready, interleaved; the "
                  "new rows may come first, last or in between."),
            "c": ("Rows with the same `id` are merged into one row.",
                  "`union` stacks rows without looking at any key; matching rows by `id` is what `join` does."),
        },
        right="a",
    ),
])

check = QUIZ.check
