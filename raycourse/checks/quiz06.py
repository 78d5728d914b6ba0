"""The quiz of lesson 06 (CLIP image embeddings, stored and searched)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "06",
    [
        Question(
            "In `tiny` the full read ran 16 read tasks of about 10 images each. You run "
            "`images.limit(20).materialize()`. How many images does `ReadImage` read?",
            {
                "a": (
                    "All of them: the limit cuts the rows only once the read is done.",
                    "Ray Data stops starting read tasks once 20 rows are out, so the tasks that never started "
                    "read nothing.",
                ),
                "b": (
                    "Exactly 20: each read task stops reading at the row the limit needs.",
                    "A read task is the unit of work and reads its whole group of files into a block; the limit "
                    "stops further tasks, it does not cut one short.",
                ),
                "c": (
                    "Whole blocks of about 10, and no new read task once 20 rows are out.",
                    "Reading stops early, but not at row 20: every read task that started (several may run at "
                    "once) reads its whole block of about 10 images; `limit` then hands on exactly 20 rows.",
                ),
            },
            right="c",
        ),
        Question(
            "An older example embeds with `map_batches(EmbeddingGenerator, ..., num_gpus=1, concurrency=2)`. "
            "What does Ray 2.60 do with it?",
            {
                "a": (
                    "It fails: `map_batches` no longer takes a `concurrency=` argument.",
                    "The argument is deprecated, not removed: Ray still accepts it, turns it into a compute "
                    "strategy and logs a warning.",
                ),
                "b": (
                    "It runs a pool of 2 actors and logs that `concurrency` is deprecated.",
                    "For a callable class, `concurrency=2` becomes `ActorPoolStrategy(size=2)`; since Ray 2.51 a "
                    "transform says how it runs with `compute=`, hence the warning.",
                ),
                "c": (
                    "It runs 2 tasks at a time, each loading CLIP again for its batch.",
                    "A callable class always runs in actors, which load the model once in `__init__`; Ray "
                    "refuses a task pool for a class.",
                ),
                "d": (
                    "It limits the reader in front of it to 2 read tasks at a time.",
                    "A transform's settings apply to that transform only; the reader's own `concurrency=` is the "
                    "knob that limits how many read tasks run at once.",
                ),
            },
            right="b",
        ),
        Question(
            "By the lesson's rule, which of these steps is best written with `map` rather than `map_batches`?",
            {
                "a": (
                    "CLIP's forward pass over the images of a batch.",
                    "A model's forward pass on 32 images costs far less than 32 passes on one: model work "
                    "belongs in `map_batches`.",
                ),
                "b": (
                    "Normalising every embedding with one torch call.",
                    "One vectorised call over the whole batch is exactly what `map_batches` is for; row by row it "
                    "would be the same maths, called many times.",
                ),
                "c": (
                    "Scoring many embeddings against a query at once.",
                    "`vectors @ query` is one matrix product over a whole batch of vectors: vectorised NumPy "
                    "work, the kind `map_batches` is for.",
                ),
                "d": (
                    "Reading an image's class from its folder name.",
                    "Small per-row Python work with nothing to gain from a batch reads most clearly with `map`, "
                    "as `add_class` does.",
                ),
            },
            right="d",
        ),
        Question(
            "You run the lesson on a machine with 4 GPUs, unchanged. How many `EmbeddingGenerator` actors does the "
            "stage start, and how often does each load CLIP?",
            {
                "a": (
                    "4 actors, each loading CLIP once, in `__init__`.",
                    "`GPUS` is read from `ray.cluster_resources()`, so the pool has one actor per GPU, and an "
                    "actor loads its model once and keeps it for every batch.",
                ),
                "b": (
                    "2 actors, as in `tiny`, each loading CLIP once.",
                    "No notebook hard-codes 2: `size=GPUS` counts the cluster's GPUs, so the same code starts 4 "
                    "actors on 4 GPUs.",
                ),
                "c": (
                    "4 actors, each loading CLIP again for every batch.",
                    "The model is loaded in `__init__`, which runs once per actor; `__call__` only runs it on "
                    "each batch.",
                ),
                "d": (
                    "1 actor, which takes all 4 GPUs for itself.",
                    "`num_gpus=1` gives each actor one GPU; a pool of `size=GPUS` actors uses every GPU, one each.",
                ),
            },
            right="a",
        ),
        Question(
            "You delete the `normalize` call from `EmbeddingGenerator`, store the embeddings again and search as "
            "before. What changes?",
            {
                "a": (
                    "Nothing: CLIP's image features already have length 1.",
                    "`get_image_features` returns vectors of any length; the lesson normalises them, and the check "
                    '"all of length 1" would then print False.',
                ),
                "b": (
                    "`write_parquet` fails: the vectors no longer fit the column.",
                    "Normalising changes each vector's length, not how many numbers it holds: every embedding "
                    "still has `projection_dim` (512) numbers.",
                ),
                "c": (
                    "The scores mix each image's vector length into the cosine.",
                    "A dot product is length times length times cosine: unnormalised, images with longer vectors "
                    "score higher, so the ranking is no longer by cosine similarity.",
                ),
            },
            right="c",
        ),
        Question(
            "Zero-shot classification in `tiny` names the direction of the stripes right for almost every image, yet "
            "no labelled example of either class was ever shown to the stand-in. How can it?",
            {
                "a": (
                    "Its training saw these very images, with their folders as captions.",
                    "It never saw the lesson's images: it trained on others drawn by the same rules, each with "
                    "captions of what it shows. The labels from the paths only measure the result.",
                ),
                "b": (
                    "It learned to match images to sentences, and a class name is a sentence.",
                    'Right: contrastive training taught it which sentences go with which images, so "a photo of '
                    'stripes vertical" lies closest to images of vertical stripes, with no label needed.',
                ),
                "c": (
                    "Zero-shot gives each image the label of its nearest stored neighbour, as a k-NN does.",
                    "That is lab 06's k-nearest-neighbour classifier, which needs labelled neighbours; zero-shot "
                    "compares each image with one sentence per class.",
                ),
            },
            right="b",
        ),
    ],
)

check = QUIZ.check
