"""The quiz of lesson 03 (batch image generation)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "03",
    [
        Question(
            "2,000 prompts go through `map_batches(ImageGen, batch_size=8, num_gpus=1, "
            "compute=ray.data.ActorPoolStrategy(size=GPUS))` on a one-node cluster with 4 GPUs. "
            "How many times is SDXL-Turbo "
            "loaded?",
            {
                "a": (
                    "Once, and the four actors share it.",
                    "Actors are separate processes, each on its own GPU: every actor loads its own copy in its "
                    "own `__init__`.",
                ),
                "b": (
                    "250 times, once for every batch.",
                    "That is what a function that loads the model would cost; a class keeps its model in the "
                    "actor from one batch to the next.",
                ),
                "c": (
                    "4 times, once in each actor.",
                    "`GPUS` is 4, so the pool has four actors; `__init__` runs once in each, and each keeps its "
                    "model for every batch it is sent.",
                ),
                "d": (
                    "2,000 times, once for every prompt.",
                    "The model is loaded neither per prompt nor per batch: each `__call__` draws a whole batch "
                    "with the model that `__init__` already loaded.",
                ),
            },
            right="c",
        ),
        Question(
            "A learner leaves out `batch_size`: `prompts.map_batches(ImageGen, num_gpus=1, "
            "compute=ray.data.ActorPoolStrategy(size=GPUS))`. What happens?",
            {
                "a": (
                    "Nothing yet: it fails once the pipeline runs.",
                    "`map_batches` runs nothing, but it checks its arguments when it is called: the `ValueError` "
                    "comes from this very line.",
                ),
                "b": (
                    "It runs, with Ray's default batch size.",
                    "With `num_gpus` Ray takes no default: how many images fit at once depends on the model, the "
                    "data and the GPU's memory, so it makes you choose.",
                ),
                "c": (
                    "It runs, with one whole block per `__call__`.",
                    "Whole blocks is what `batch_size=None` means for a function; with `num_gpus`, Ray refuses it "
                    "and asks for an integer.",
                ),
                "d": (
                    "A `ValueError` at once, from `map_batches`.",
                    "With `num_gpus`, `map_batches` wants an integer `batch_size` and says so when it is called, "
                    "before any actor starts or any model loads.",
                ),
            },
            right="d",
        ),
        Question(
            "On a machine with one GPU, the stage asks for `num_gpus=1` and "
            "`compute=ray.data.ActorPoolStrategy(size=2)`. What happens when it runs?",
            {
                "a": (
                    "The two actors share the GPU, half each.",
                    "`num_gpus=1` reserves a whole GPU for each actor; only fractions such as 0.5 let two actors "
                    "share one (module 04).",
                ),
                "b": (
                    "One actor does all the work; one stays pending.",
                    "Ray starts an actor only where a GPU is free, and the pool sends work as soon as one actor is "
                    "ready: the run finishes, with no error about the other actor.",
                ),
                "c": (
                    "Ray raises an error: it has too few GPUs.",
                    "Nothing fails: the second actor just waits for a GPU that never frees up "
                    "(`PENDING_CREATION` in the dashboard), which is why the mistake goes unnoticed.",
                ),
                "d": (
                    "The run waits for ever for the second actor.",
                    "The pool does not wait for all of its actors: work starts as soon as the first one has "
                    "loaded its model.",
                ),
            },
            right="b",
        ),
        Question(
            "The lesson's notebook runs on a cluster of two nodes with 4 GPUs each, with no GPU budget set. With "
            '`GPUS = min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget())`, how many actors '
            "does the pool ask for?",
            {
                "a": (
                    "8, one for each GPU of the cluster.",
                    "`ray.cluster_resources()` adds up the GPUs of all nodes, and the budget is all of them when "
                    "the instructor set none, so the pool gets one actor per GPU, wherever that GPU is.",
                ),
                "b": (
                    "4, the GPUs of the notebook's node.",
                    "`ray.cluster_resources()` counts the resources of every node of the cluster, not only of the "
                    "one the notebook runs on.",
                ),
                "c": (
                    "2, one actor for each of the nodes.",
                    "A pool is sized in actors, not nodes; `size=GPUS` asks for as many actors as the cluster has "
                    "GPUs.",
                ),
                "d": (
                    "16, two actors for each GPU.",
                    "Two is how many tasks an actor takes at a time (one running, one waiting), not actors per GPU: "
                    "`num_gpus=1` gives each actor a whole GPU.",
                ),
            },
            right="a",
        ),
        Question(
            "`prompts.repartition(1)` goes to `map_batches(ImageGenWithActor, batch_size=2, num_gpus=1, "
            "compute=ray.data.ActorPoolStrategy(size=GPUS))` on two GPUs. How is the work done?",
            {
                "a": (
                    "Two actors, each with two batches of two.",
                    "That would take at least two bundles; Ray never cuts a block to make a bundle, so a single "
                    "block is a single bundle, for a single actor.",
                ),
                "b": (
                    "One actor, with one batch of all eight.",
                    "The bundle goes whole to one actor, but `__call__` gets `batch_size` rows at a time: the "
                    "bundle is cut into four batches of two.",
                ),
                "c": (
                    "One actor, with four batches of two.",
                    "A single block makes a single bundle, which goes to one actor and is cut into batches of "
                    "`batch_size` rows; the other actor loads its model and gets nothing.",
                ),
                "d": (
                    "Four actors, one for each batch of two.",
                    "The pool has `GPUS` actors, two here; `batch_size` sets the rows per `__call__`, never the "
                    "number of actors.",
                ),
            },
            right="c",
        ),
        Question(
            '`ImageGen.__call__` ends with `batch["image"] = images`, the PIL images as the pipeline returns them, '
            "instead of `np.stack(...)`. What happens?",
            {
                "a": (
                    "It runs; Ray stores each as a pickled object.",
                    "Ray keeps each image as opaque Python bytes: `write_images` does not accept them, and "
                    "Parquet readers outside Python cannot use them.",
                ),
                "b": (
                    "Ray stops: a column cannot hold PIL images.",
                    "A column of PIL images still works, as Python objects; the trouble is what you can do with "
                    "them afterwards, not an error.",
                ),
                "c": (
                    "Ray turns them into the `uint8` tensor column.",
                    "Ray converts NumPy arrays and tensors for you, not PIL images: the `uint8` tensor column "
                    "comes only from your own `np.asarray`.",
                ),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
