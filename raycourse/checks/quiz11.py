"""The quiz of lesson 11 (Data that changes)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "11",
    [
        Question(
            "The daily job runs twice on the same inbox. What does the second run add to the Iceberg table?",
            {
                "a": (
                    "Nothing: it reads the table's days first and finds no new one.",
                    "The job compares the inbox's days with the table's partitions and reads only the others; "
                    "with none left it writes nothing, and the table keeps its snapshots.",
                ),
                "b": (
                    "A copy of every day in the inbox: an append always adds the rows it is given.",
                    "That is what a job without the check of the table's days does, and why it checks: an append "
                    "adds whatever it is given, twice if given twice.",
                ),
                "c": (
                    "An empty snapshot: every run commits once.",
                    "A run that finds nothing new never calls `write_iceberg`, so it commits nothing.",
                ),
            },
            right="a",
        ),
        Question(
            "A write task fails after two of four tasks wrote their Parquet files. What do readers of the table see?",
            {
                "a": (
                    "Half the day: the rows of the two files that were written before the failure.",
                    "The files are in the folder, but no snapshot lists them: Ray commits once, in the driver, "
                    "after every task has written.",
                ),
                "b": (
                    "The table as before the write: no snapshot lists the files.",
                    "A snapshot is added in one atomic step, only after every file is written; the orphan files "
                    "are deleted later by the table's maintenance.",
                ),
                "c": (
                    "An error: the table is corrupt until repaired.",
                    "The table's metadata never pointed at the failed write's files, so every reader still works "
                    "on the last snapshot.",
                ),
            },
            right="b",
        ),
        Question(
            "Why does the lesson compute counts and sums with one `groupby` before the tests, not collect the rows?",
            {
                "a": (
                    "SciPy cannot read a Ray Dataset.",
                    "It could read the rows once collected, and that is the problem: a table of millions of rows "
                    "does not fit in the driver.",
                ),
                "b": (
                    "A groupby is faster than any other Ray Data operation.",
                    "It shuffles rows between workers, which costs; the point is what comes out, not its speed.",
                ),
                "c": (
                    "The tests need only counts, means and spreads, which stay small however big the table.",
                    "A chi-square test needs a table of counts, Welch's t-test a count, mean and standard "
                    "deviation per side: a few numbers per day, whatever the size of the day.",
                ),
            },
            right="c",
        ),
        Question(
            "A day's stars and lengths look like the reference, but its embedding test's p-value is 0.001. What then?",
            {
                "a": (
                    "Ignore it: two of three tests say the day is ordinary.",
                    "Each test looks at something else; the embeddings see what the words say, which stars and "
                    "lengths cannot. One flag is enough to look.",
                ),
                "b": (
                    "Look at what the day's reviews talk about: new words, a new product, a new complaint.",
                    "A shift in meaning with the same stars is how a new product line or a new fault first "
                    "shows; a person or a stricter route should see that day before the model is trusted.",
                ),
                "c": (
                    "Lower the threshold until the flag goes away.",
                    "A threshold chosen after seeing the answer tests nothing: choose it before, from how often "
                    "you can afford a false alarm.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
