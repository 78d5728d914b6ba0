"""The quiz of lesson 06 (CLIP image embeddings, stored and searched)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "06",
    [
        Question(
            "The full read ran 16 tasks of ~10 images. How many images does `images.limit(20).materialize()` read?",
            {
                "a": (
                    "All: the limit cuts rows after the read.",
                    "Ray Data stops starting read tasks once 20 rows are out, so the tasks that never started "
                    "read nothing.",
                ),
                "b": (
                    "Exactly 20: a task stops at the row needed.",
                    "A read task is the unit of work and reads its whole group of files into a block; the limit "
                    "stops further tasks, it does not cut one short.",
                ),
                "c": (
                    "Whole blocks of ~10; no new task after 20 rows.",
                    "Reading stops early, but not at row 20: every read task that started (several may run at "
                    "once) reads its whole block of about 10 images; `limit` then hands on exactly 20 rows.",
                ),
            },
            right="c",
        ),
        Question(
            "Ray 2.60 meets `map_batches(EmbeddingGenerator, ..., num_gpus=1, concurrency=2)`. What does it do?",
            {
                "a": (
                    "It fails: `map_batches` has no `concurrency=`.",
                    "The argument is deprecated, not removed: Ray still accepts it, turns it into a compute "
                    "strategy and logs a warning.",
                ),
                "b": (
                    "A pool of 2 actors, and a deprecation warning.",
                    "For a callable class, `concurrency=2` becomes `ActorPoolStrategy(size=2)`; since Ray 2.51 a "
                    "transform says how it runs with `compute=`, hence the warning.",
                ),
                "c": (
                    "2 tasks at a time, each loading CLIP per batch.",
                    "A callable class always runs in actors, which load the model once in `__init__`; Ray refuses"
                    " a task pool for a class.",
                ),
                "d": (
                    "It limits the reader to 2 read tasks at a time.",
                    "A transform's settings apply to that transform only; the reader's own `concurrency=` is the "
                    "knob that limits how many read tasks run at once.",
                ),
            },
            right="b",
        ),
        Question(
            "Which step is best written with `map` rather than `map_batches`?",
            {
                "a": (
                    "CLIP's forward pass over a batch of images.",
                    "A model's forward pass on 32 images costs far less than 32 passes on one: model work belongs"
                    " in `map_batches`.",
                ),
                "b": (
                    "Normalising every embedding in one torch call.",
                    "One vectorised call over the whole batch is exactly what `map_batches` is for; row by row it"
                    " would be the same maths, called many times.",
                ),
                "c": (
                    "Scoring many embeddings against a query.",
                    "`vectors @ query` is one matrix product over a whole batch of vectors: vectorised NumPy "
                    "work, the kind `map_batches` is for.",
                ),
                "d": (
                    "An image's class from its folder name.",
                    "Small per-row Python work with nothing to gain from a batch reads most clearly with `map`, "
                    "as `add_class` does.",
                ),
            },
            right="d",
        ),
        Question(
            "Unchanged, on 4 GPUs: how many `EmbeddingGenerator` actors, each loading CLIP how often?",
            {
                "a": (
                    "4 actors, each loading CLIP once.",
                    "`GPUS` is read from `ray.cluster_resources()`, so the pool has one actor per GPU, and an "
                    "actor loads its model once and keeps it for every batch.",
                ),
                "b": (
                    "2 actors, as in `tiny`, loading once.",
                    "No notebook hard-codes 2: `size=GPUS` counts the cluster's GPUs, so the same code starts 4 "
                    "actors on 4 GPUs.",
                ),
                "c": (
                    "4 actors, loading CLIP for every batch.",
                    "The model is loaded in `__init__`, which runs once per actor; `__call__` only runs it on "
                    "each batch.",
                ),
                "d": (
                    "1 actor, holding all 4 GPUs.",
                    "`num_gpus=1` gives each actor one GPU; a pool of `size=GPUS` actors uses every GPU, one each.",
                ),
            },
            right="a",
        ),
        Question(
            "You delete the `normalize` call, store the embeddings again and search. What changes?",
            {
                "a": (
                    "Nothing: CLIP's features have length 1.",
                    "`get_image_features` returns vectors of any length; the lesson normalises them, and the "
                    'check "all of length 1" would then print False.',
                ),
                "b": (
                    "`write_parquet` fails on the new vectors.",
                    "Normalising changes each vector's length, not how many numbers it holds: every embedding "
                    "still has `projection_dim` (512) numbers.",
                ),
                "c": (
                    "The scores mix vector length into the cosine.",
                    "A dot product is length times length times cosine: unnormalised, images with longer vectors "
                    "score higher, so the ranking is no longer by cosine similarity.",
                ),
            },
            right="c",
        ),
        Question(
            "In `tiny`, zero-shot names the stripes' direction though no example was ever labelled. How?",
            {
                "a": (
                    "It trained on these images, folders as captions.",
                    "It never saw the lesson's images: it trained on others drawn by the same rules, each with "
                    "captions of what it shows. The labels from the paths only measure the result.",
                ),
                "b": (
                    "It matches images to sentences; a class name is one.",
                    'Right: contrastive training taught it which sentences go with which images, so "a photo of '
                    'stripes vertical" lies closest to images of vertical stripes, with no label needed.',
                ),
                "c": (
                    "It takes its nearest stored neighbour's label.",
                    "That is lab 06's k-nearest-neighbour classifier, which needs labelled neighbours; zero-shot "
                    "compares each image with one sentence per class.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
