"""The quiz of lesson 06 (CLIP image embeddings, stored and searched)."""

from .quiz import Question, Quiz

QUIZ = Quiz("06", [
    Question(
        "`images.take(1)` returns one image. How much of the folder does Ray Data read to get it?",
        {
            "a": ("Every file: the reader cannot know which image comes first until it has read them all.",
                  "Ray Data pushes the limit into the plan and stops once it has a row, so most read tasks "
                  "never run."),
            "b": ("Exactly one file: the limit is passed down to the file system.",
                  "A read task is the unit of work and reads its whole group of files into a block; the limit "
                  "stops further tasks, it does not cut one short."),
            "c": ("The first read task or two, each reading its whole group of files into a block.",
                  "The limit is pushed into the plan, so reading stops early, but a task always reads its "
                  "whole block, several images, not one."),
        },
        right="c",
    ),
    Question(
        "The image store must see at most 2 reads at a time, and the embedding stage should run 2 actors. "
        "Where do the two settings go?",
        {
            "a": ("`concurrency=2` on `read_images`; `compute=ray.data.ActorPoolStrategy(size=2)` on `map_batches`.",
                  "Readers still take `concurrency=` (how many read tasks run at once); transforms take "
                  "`compute=`, and a callable class needs an actor pool."),
            "b": ("`concurrency=2` on both.",
                  "On `map` and `map_batches`, `concurrency=` is deprecated since Ray 2.51 and logs a warning; "
                  "a transform says how it runs with `compute=`."),
            "c": ("`override_num_blocks=2` on `read_images`; `compute=ray.data.ActorPoolStrategy(size=2)` on "
                  "`map_batches`.",
                  "`override_num_blocks` sets how many blocks the files are cut into, not how many are read at "
                  "once: the lesson read 4 blocks, 2 at a time."),
            "d": ("`compute=ray.data.TaskPoolStrategy(size=2)` on both.",
                  "A reader takes no `compute=`, and Ray refuses a task pool for a callable class such as "
                  "`EmbeddingGenerator`: a class runs in actors."),
        },
        right="a",
    ),
    Question(
        "The `class` column is added with `map`, while CLIP runs in `map_batches`. Why the difference?",
        {
            "a": ("`map` is always faster than `map_batches`, so it is used wherever it works.",
                  "For vectorised or model work batches usually win by far; `map` is chosen for clarity when "
                  "each row is small Python work on its own."),
            "b": ("Taking a folder's name gains nothing from a batch; a model's forward pass on 32 images costs far "
                  "less than 32 passes on one.",
                  "Per-row Python work reads most clearly with `map`; work that runs on a whole batch at once, "
                  "above all a model, belongs in `map_batches`."),
            "c": ("`map` cannot run a callable class, so a model stage has to use `map_batches`.",
                  "`map` takes a callable class and `compute=ray.data.ActorPoolStrategy(...)` too; the model is "
                  "in `map_batches` because it works on whole batches."),
        },
        right="b",
    ),
    Question(
        "Why does `EmbeddingGenerator` normalise every embedding to length 1?",
        {
            "a": ("Then the dot product of two embeddings is their cosine similarity, and a search over every "
                  "image is one matrix product.",
                  "Cosine similarity is the measure CLIP was trained with; with unit vectors it is a plain dot "
                  "product, so `vectors @ query` scores every image at once."),
            "b": ("So that image and text embeddings have the same number of values.",
                  "Both already have the model's `projection_dim` numbers (512); normalising changes each "
                  "vector's length, not how many numbers it holds."),
            "c": ("Normalised vectors take less space in the parquet files.",
                  "Every embedding keeps its 512 numbers whatever its length; normalising changes the scale of "
                  "the values, not the size of the files."),
        },
        right="a",
    ),
    Question(
        "Why does the pipeline call `drop_columns([\"image\"])` before `write_parquet`?",
        {
            "a": ("So that the embedding stage runs faster.",
                  "The drop comes after `map_batches`: the encoder still gets every image, and dropping the "
                  "column afterwards changes only what is stored."),
            "b": ("Search and zero-shot need only the embedding, the path and the class; the pixels would make "
                  "the stored table many times larger.",
                  "The table keeps where each image is (to show a hit) and its class (to score); the vectors "
                  "carry what the search needs from the pixels."),
            "c": ("Otherwise Ray Data would write one parquet file per image.",
                  "Ray writes one or more files per block, never one per row; the pixels would make those "
                  "files bigger, not more numerous."),
        },
        right="b",
    ),
    Question(
        "How does zero-shot classification label an image, and what are the labels from the paths for?",
        {
            "a": ("It fine-tunes CLIP for a few steps on the labels from the paths, then predicts.",
                  "No training happens: the weights are the same before and after, and the model sees no "
                  "labelled example at all."),
            "b": ("It clusters the image embeddings and names each cluster after its most common path label.",
                  "That would need the labels to name the clusters; zero-shot uses only the class names, "
                  "written as sentences."),
            "c": ("It embeds one sentence per class and gives each image the class whose sentence is closest; "
                  "the labels from the paths only measure how well that works.",
                  "It is a search the other way round: one text embedding per class, each image takes the "
                  "nearest, and the path labels score the result."),
        },
        right="c",
    ),
])

check = QUIZ.check
