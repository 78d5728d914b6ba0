"""The quiz of lesson 10 (Observe and size a pipeline)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "10",
    [
        Question(
            "The dashboard's Ray Data view shows 0 rows for every operator of a pipeline that ran. Why, most likely?",
            {
                "a": (
                    "No Prometheus runs, or the dashboard does not know where it is.",
                    "The view reads every column from the Prometheus at `RAY_PROMETHEUS_HOST`; without one each "
                    "column reads 0, however many rows went through.",
                ),
                "b": (
                    "The pipeline was lazy and never ran.",
                    "A lazy Dataset would not be listed at all: the view lists datasets that executed. It shows the "
                    "operators, so they ran, and only their numbers are missing.",
                ),
                "c": (
                    "Ray Data counts rows only on GPU stages.",
                    "Every operator reports its rows, on CPUs or GPUs: the lesson's table has the reads and "
                    "`Validate`, which use no GPU.",
                ),
            },
            right="a",
        ),
        Question(
            "You run the day's job twice in one Ray. What does `sum by (reason) (ray_quarantined_rows_total)` say?",
            {
                "a": (
                    "The last run's counts: a counter starts again with each job.",
                    "A counter only goes up while its Ray runs; a new actor's series add to the same metric, and "
                    "the sum keeps both runs.",
                ),
                "b": (
                    "Twice each count: a counter adds up across runs.",
                    "Each run's actors add their counts; for one window use `increase(metric[1h])`, or restart "
                    "Ray for a clean count.",
                ),
                "c": (
                    "An error: two series have the same labels.",
                    "Each worker's series differs in its `WorkerId` label; `sum by (reason)` adds them, which is "
                    "why the lesson sums.",
                ),
            },
            right="b",
        ),
        Question(
            "Why does the lesson time the model with a `Histogram` rather than print each batch's seconds?",
            {
                "a": (
                    "A print from an actor is lost.",
                    "Ray forwards a worker's prints to the driver. The point is what can be asked "
                    "later, across actors and runs, not whether a print arrives.",
                ),
                "b": (
                    "A histogram is exact; a print rounds.",
                    "It is the other way round: a histogram keeps counts per bucket, and `histogram_quantile` "
                    "interpolates inside one. It trades precision for a fixed size.",
                ),
                "c": (
                    "Prometheus can then give percentiles over any window and all actors.",
                    "Buckets from every actor add up, so `histogram_quantile(0.95, sum by (le) (...))` answers "
                    "for the whole stage, over the last hour or the last day.",
                ),
            },
            right="c",
        ),
        Question(
            "A stage does 200 rows per busy second per GPU. How many GPUs for 3.6 million rows in 2 h at 50 % "
            "utilisation?",
            {
                "a": (
                    "3: 3.6 million / (200 x 7,200) = 2.5, rounded up.",
                    "That is the count at 100 % utilisation: every GPU busy every second, with no room for "
                    "start-up or a bad day. Divide by 0.5 as well.",
                ),
                "b": (
                    "5: 3.6 million / (200 x 7,200 x 0.5) = 5.",
                    "Rows over rows per second, seconds and utilisation, rounded up: 5 GPUs, each busy half the time.",
                ),
                "c": (
                    "2: 3.6 million / (200 x 7,200) = 2.5, rounded down.",
                    "Rounded down, the job misses its deadline: a part of a GPU's work still needs a GPU.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
