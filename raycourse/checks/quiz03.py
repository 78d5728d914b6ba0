"""The quiz of lesson 03 (batch image generation)."""

from .quiz import Question, Quiz

QUIZ = Quiz("03", [
    Question(
        "1,000 prompts go through `map_batches(ImageGen, batch_size=8, num_gpus=1, "
        "compute=ray.data.ActorPoolStrategy(size=2))`. How many times is SDXL-Turbo loaded?",
        {
            "a": ("1, shared by both actors.",
                  "Actors are separate processes, each on its own GPU, so every actor loads its own copy in its "
                  "own `__init__`."),
            "b": ("125, once per batch.",
                  "That is what a plain function would cost, loading the model inside every call; a class keeps "
                  "its model in the actor between calls."),
            "c": ("2.",
                  "`__init__` runs once in each of the two actors, and each actor keeps its model for every batch "
                  "it is sent afterwards."),
            "d": ("1,000, once per prompt.",
                  "The model is loaded neither per prompt nor per batch: each `__call__` draws a whole batch with "
                  "the model that `__init__` already loaded."),
        },
        right="c",
    ),
    Question(
        "Why does `ImageGen` put `np.stack([np.asarray(image) for image in images])` in the batch instead of the "
        "PIL images the pipeline returns?",
        {
            "a": ("Because Ray Data raises an error on a column of PIL images.",
                  "PIL images would still run: Ray would store each one as a pickled Python object, opaque bytes "
                  "that `write_images` does not accept and other Parquet readers cannot use."),
            "b": ("So that Ray stores a tensor column: `uint8` pixels of a known shape, cheap to move between "
                  "processes and writable as they are.",
                  "Plain pixels are what Arrow, `write_parquet` and `write_images` handle directly; converting "
                  "at the source keeps every later stage simple."),
            "c": ("Because the NumPy arrays are much smaller than the images.",
                  "The pixels take the same bytes either way (512 x 512 x 3 uint8 per image); what changes is a "
                  "format Ray can store and move, not the size."),
        },
        right="b",
    ),
    Question(
        "The stage asks for a pool of two actors with `num_gpus=1` each, on a cluster that has a single GPU. What "
        "happens when the pipeline runs?",
        {
            "a": ("One actor starts and does all the work; the other waits for a GPU that never becomes free.",
                  "Ray starts an actor only where its resources are free, and by default the pool sends work as "
                  "soon as one actor is ready, so the pipeline still finishes, with no error about the actor that "
                  "waits. Sized from `ray.cluster_resources()`, the pool would have had one actor."),
            "b": ("Ray puts both actors on the one GPU, half of it each.",
                  "Ray never grants more than it has: `num_gpus=1` is a whole GPU per actor, and only fractions "
                  "such as 0.5 let two actors share one (module 04)."),
            "c": ("`map_batches` raises an error at once, before anything runs.",
                  "`map_batches` only plans and checks its arguments, such as the integer `batch_size`; "
                  "resources are looked at when the pipeline runs."),
        },
        right="a",
    ),
    Question(
        "The eight prompts are in a single block (`repartition(1)`) and go to `map_batches(ImageGenWithActor, "
        "batch_size=2, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=2))`. How is the work shared?",
        {
            "a": ("Each actor draws four images, in two batches of two.",
                  "That would need at least two bundles; Ray never cuts a block to make a bundle, so a single "
                  "block is a single bundle."),
            "b": ("One actor draws all eight, in four batches of two; the other loads its model and gets nothing.",
                  "A bundle is whole blocks gathered to at least `batch_size` rows and goes to one actor, which "
                  "then cuts it into batches of `batch_size` rows."),
            "c": ("Four actors start, one for each batch.",
                  "The pool's size is fixed at two; `batch_size` sets the rows per `__call__`, never the number "
                  "of actors."),
        },
        right="b",
    ),
    Question(
        "Why does `ImageGen` give every row its own `torch.Generator`, seeded with the row's `id`?",
        {
            "a": ("Because SDXL-Turbo cannot draw without a seed.",
                  "Without `generator` the pipeline draws fine, from fresh random noise each time, so the images "
                  "would change from run to run."),
            "b": ("So that the actors of the pool draw different images for the same prompt.",
                  "It does the opposite: with the seed fixed by the row, any actor would draw the same image "
                  "for that row."),
            "c": ("So that a prompt gets the same image on every run, whichever actor draws it.",
                  "The starting noise then depends only on the row, not on the actor, the batch or the order in "
                  "which Ray hands out the work."),
        },
        right="c",
    ),
    Question(
        "A stage of `num_gpus=1` actors must run unchanged on machines with 1, 2 or 4 GPUs. How do you size its "
        "pool?",
        {
            "a": ("`size=4`, the most any of them has: on a smaller machine the extra actors just stay idle.",
                  "They do not start at all: each waits for a GPU that never frees up, with no error, and the "
                  "dashboard lists them as pending. On one GPU, one actor does all the work."),
            "b": ("`size=1`: it fits every machine.",
                  "It fits, but on 2 or 4 GPUs all but one GPU stay idle."),
            "c": ("`size=GPUS`, with `GPUS = int(ray.cluster_resources().get(\"GPU\", 0))`.",
                  "One actor per GPU uses every GPU and asks for none that is not there; the cluster says how "
                  "many it has, all nodes together."),
        },
        right="c",
    ),
])

check = QUIZ.check
