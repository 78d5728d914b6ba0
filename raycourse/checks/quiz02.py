"""The quiz of lesson 02 (joins and prompts)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "02",
    [
        Question(
            '`animals.join(outfits, join_type="full_outer", num_partitions=3, on=("id",)).materialize()`: how '
            "many rows, how many blocks?",
            {
                "a": (
                    "19 rows in 3 blocks.",
                    "19 is the inner join; a full outer join also keeps the five animals without an outfit and "
                    "the two outfits without an animal.",
                ),
                "b": (
                    "26 rows in 26 blocks.",
                    "Ids do not get a block each: all the ids that hash to the same partition end up together, in"
                    " that partition's one block.",
                ),
                "c": (
                    "24 rows in 3 blocks.",
                    "24 is the left outer join, every animal; the full outer join keeps outfits 25 and 26 as "
                    "well, with a missing `animal`.",
                ),
                "d": (
                    "26 rows in 3 blocks.",
                    "Every row of both sides is kept (19 + 5 + 2 = 26), each goes to partition `hash(id) % 3`, "
                    "and each partition becomes one block of the result.",
                ),
            },
            right="d",
        ),
        Question(
            'Sides swapped: `outfits.join(animals, join_type="left_outer", num_partitions=2, on=("id",))`. What '
            "comes out?",
            {
                "a": (
                    "24 rows; five animals have no `outfit`.",
                    "That is the join with `animals` on the left. The left side is the dataset you call `join` "
                    "on, here `outfits`, and every row of it is kept, not every animal.",
                ),
                "b": (
                    "21 rows; outfits 25, 26 have no `animal`.",
                    "The left side is now `outfits`: all 21 of its rows stay, and the two outfits that belong to "
                    "no animal get a missing `animal`.",
                ),
                "c": (
                    "19 rows; rows without a partner dropped.",
                    "Dropping every unmatched row is what the inner join does; an outer join keeps the unmatched "
                    "rows of its outer side, here the outfits.",
                ),
                "d": (
                    "26 rows; the orphans of both sides kept.",
                    "Only a full outer join keeps both kinds of orphans; a left outer join keeps those of its "
                    "left side, here `outfits`.",
                ),
            },
            right="b",
        ),
        Question(
            '`joins["left_outer"].map_batches(expand_prompt).to_pandas()`, with section 6\'s `expand_prompt`: what'
            " happens?",
            {
                "a": (
                    "A `TypeError` from inside a Ray task.",
                    "Five rows have `outfit = None`, and a string plus None is an error in Python; Ray Data stops"
                    " and raises it in your cell. Decide first what those rows get.",
                ),
                "b": (
                    '24 prompts, five end in "wearing a None".',
                    "NumPy adds the strings element by element with Python's `+`, and a string plus None raises; "
                    '"None" appears only if you turn it into text with `str`, which you must avoid as well.',
                ),
                "c": (
                    "19 prompts: Ray Data skips failing rows.",
                    "Ray Data does not skip single rows: a batch function that raises stops the whole run, unless"
                    " you allow some failed blocks with `DataContext.max_errored_blocks`.",
                ),
                "d": (
                    '24 prompts, five end in "wearing a ".',
                    "Nothing turns None into an empty string for you: your function runs as written, and the "
                    "addition itself fails.",
                ),
            },
            right="a",
        ),
        Question(
            "All 24 animals need a sensible prompt from the left outer join. What do you do about the missing outfits?",
            {
                "a": (
                    'Cast to text: `batch["outfit"].astype(str)`.',
                    'The `+` then works, but five prompts end in "wearing a None", which the image model would '
                    "happily draw.",
                ),
                "b": (
                    'Drop them: `filter(expr=col("outfit").is_not_null())`.',
                    "That removes the error by removing the five animals: 19 prompts, not the 24 asked for.",
                ),
                "c": (
                    "Fill in: `np.where(pd.isna(...), DEFAULT_OUTFIT, ...)`.",
                    "`pd.isna` finds the None values, `np.where` puts the default outfit in their place, and the "
                    "`+` then works on 24 strings.",
                ),
            },
            right="c",
        ),
        Question(
            "Are the last two rows of `animals.union(new_animals).to_pandas()` the two new animals?",
            {
                "a": (
                    "Yes, ids 27 and 28: `union` puts them last.",
                    "In Ray 2.60 `union` passes on the blocks of its inputs as they become ready, interleaved: "
                    "the new rows may come first, last or in between.",
                ),
                "b": (
                    "Whichever rows came last; it may change.",
                    "`union` hands on blocks as they become ready, so the order is not fixed; sort by `id`, or "
                    "keep a column that says where each row came from.",
                ),
                "c": (
                    "No, ids 23 and 24: `union` sorts by `id`.",
                    "Nothing in Ray Data sorts for you; the lesson's table is in `id` order only because it calls"
                    ' `sort_values("id")`.',
                ),
            },
            right="b",
        ),
        Question(
            "`colours.csv` has an `id` and a `colour` for 20 of the 24 animals. What puts each animal's colour "
            "beside it?",
            {
                "a": (
                    "A left outer `join` on `id`.",
                    "A join matches rows by key, whatever their order; left outer keeps every animal, with a "
                    "missing `colour` for the four that have none.",
                ),
                "b": (
                    "A `union` of the two datasets.",
                    "`union` stacks rows of the same columns: it adds rows below the animals, and puts no colour "
                    "beside any of them.",
                ),
                "c": (
                    "A `zip` of the two datasets.",
                    "`zip` pairs rows by position, and Ray Data guarantees no row order; 20 colours cannot line "
                    "up with 24 animals anyway, and Ray 2.60 deprecates `zip`.",
                ),
                "d": (
                    "A `map_batches` adding a column.",
                    "A batch function gets only the rows of its own batch; bringing in the rows of another "
                    "dataset by key is what a join is for.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
