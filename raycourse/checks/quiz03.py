"""The quiz of lesson 03 (batch image generation)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "03",
    [
        Question(
            "2,000 prompts go through `map_batches(ImageGen, batch_size=8, num_gpus=1, "
            "compute=ray.data.ActorPoolStrategy(size=GPUS))` on one node with 4 GPUs. How often does the model load?",
            {
                "a": ("Once, shared by the actors.", "Actors are separate processes: each loads its own copy."),
                "b": ("250 times, once per batch.", "That is what a function would cost; a class keeps its model."),
                "c": (
                    "4 times, once per actor.",
                    "The pool has four actors; `__init__` runs once in each, and each keeps its model for every "
                    "batch it is sent.",
                ),
                "d": ("2,000 times, once per prompt.", "Each `__call__` draws a whole batch with the loaded model."),
            },
            right="c",
        ),
        Question(
            "`prompts.map_batches(ImageGen, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=GPUS))`, with no "
            "`batch_size`: what happens?",
            {
                "a": ("It fails once the pipeline runs.", "`map_batches` checks its arguments at once, on this line."),
                "b": ("It runs with Ray's default batch size.", "With `num_gpus`, Ray takes no default batch size."),
                "c": ("It runs, one whole block per `__call__`.", "With `num_gpus`, Ray asks for an integer."),
                "d": (
                    "A `ValueError` at once, from `map_batches`.",
                    "With `num_gpus`, `map_batches` wants an integer `batch_size` and says so when it is called, "
                    "before any actor starts.",
                ),
            },
            right="d",
        ),
        Question(
            "One GPU; the stage asks for `num_gpus=1` and `ActorPoolStrategy(size=2)`. What happens?",
            {
                "a": ("The two actors share the GPU.", "`num_gpus=1` reserves a whole GPU for each actor."),
                "b": (
                    "One actor does all the work; one stays pending.",
                    "Ray starts an actor only where a GPU is free, and the pool sends work as soon as one actor is "
                    "ready: the run finishes, with no error.",
                ),
                "c": ("An error: too few GPUs.", "Nothing fails: the second actor just waits (`PENDING_CREATION`)."),
                "d": ("The run waits for ever.", "Work starts as soon as the first actor has loaded its model."),
            },
            right="b",
        ),
        Question(
            "Two nodes with 4 GPUs each, no GPU budget set: how many actors does "
            '`GPUS = min(int(ray.cluster_resources().get("GPU", 0)), raycourse.gpu_budget())` ask for?',
            {
                "a": (
                    "8, one per GPU of the cluster.",
                    "`ray.cluster_resources()` adds up the GPUs of all nodes, and with no budget set the budget is "
                    "all of them: one actor per GPU, wherever it is.",
                ),
                "b": (
                    "4, the notebook's node's GPUs.",
                    "`ray.cluster_resources()` counts the resources of every node.",
                ),
                "c": ("2, one per node.", "A pool is sized in actors, one per GPU here, not per node."),
                "d": ("16, two per GPU.", "`num_gpus=1` gives each actor a whole GPU."),
            },
            right="a",
        ),
        Question(
            "`prompts.repartition(1)` goes to `map_batches(ImageGenWithActor, batch_size=2, num_gpus=1, ...)` "
            "on two GPUs. How is the work done?",
            {
                "a": ("Two actors, two batches each.", "One block is one bundle, and a bundle goes to one actor."),
                "b": (
                    "One actor, with one batch of all eight.",
                    "`__call__` gets `batch_size` rows at a time: four batches.",
                ),
                "c": (
                    "One actor, four batches of two.",
                    "A single block makes a single bundle, which goes to one actor and is cut into batches of "
                    "`batch_size` rows; the other actor gets nothing.",
                ),
                "d": ("Four actors, one per batch.", "The pool has two actors; `batch_size` never sets actors."),
            },
            right="c",
        ),
        Question(
            '`ImageGen.__call__` ends with `batch["image"] = images`, the PIL images, not `np.stack(...)`. '
            "What happens?",
            {
                "a": (
                    "It runs; Ray stores each as a pickled object.",
                    "Ray keeps each image as pickled Python bytes: `write_images` fails on them with a TypeError "
                    "(Pillow's `Image.fromarray`, which it calls on each value, wants an array), and Parquet readers "
                    "outside Python cannot unpickle them.",
                ),
                "b": ("Ray stops: a column cannot hold PIL images at all.", "It still runs, as Python objects."),
                "c": ("Ray makes a `uint8` tensor column.", "Only your own `np.asarray` gives the tensor column."),
            },
            right="a",
        ),
    ],
)

check = QUIZ.check
