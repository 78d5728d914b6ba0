"""The quiz of lesson 00 (environment check)."""

from .quiz import Question, Quiz

QUIZ = Quiz("00", [
    Question(
        "In the `tiny` profile, on a laptop without a GPU, `ray.cluster_resources()` lists 2 GPUs. What are they?",
        {
            "a": ("A mistake: Ray counted GPUs the machine does not have, so stages with `num_gpus=` will fail.",
                  "The course declared them on purpose (the original workshop's two GPUs) so that `num_gpus=` "
                  "stages schedule on a laptop as on a GPU cluster; without any GPUs such stages would wait "
                  "forever."),
            "b": ("GPUs that Ray emulates on the CPU, so that CUDA code runs unchanged.",
                  "Ray emulates nothing: no process can compute on a logical GPU, which is why the course's model "
                  "code asks `torch.cuda.is_available()` and falls back to the CPU."),
            "c": ("Logical GPUs: numbers Ray schedules `num_gpus=` stages with, while the models run on the CPU.",
                  "Ray's resources are numbers it plans with, not hardware it checks: it grants these GPUs to "
                  "actors exactly as real ones, and inside each actor `torch.cuda.is_available()` is False, so "
                  "the model code picks the CPU."),
        },
        right="c",
    ),
    Question(
        "In the `tiny` profile the image-generation check draws coloured noise instead of a fox. What does that "
        "tell you?",
        {
            "a": ("The image model is broken or only half downloaded: run `make prefetch`.",
                  "Nothing is downloaded in `tiny`: the stand-ins are built on your machine, and noise is what "
                  "their random weights draw. `make prefetch` fetches the `gpu` profile's real models."),
            "b": ("All is well: the stand-in has SDXL-Turbo's architecture but random weights, so only the shape "
                  "and the code path are real.",
                  "Stand-ins load through the same `from_pretrained` call and answer with the real shapes "
                  "(512x512 RGB here); meaningless content is expected, and the `gpu` profile draws the fox."),
            "c": ("The prompt was too short for the model to understand.",
                  "No prompt helps a network whose weights are random: in `tiny` every prompt gives noise, and "
                  "the real model draws short prompts like this one well."),
        },
        right="b",
    ),
    Question(
        "For a workshop, an instructor wants the `llm` role to be `Qwen/Qwen2.5-1.5B-Instruct` instead of the 0.5B "
        "model. What is the course's way to do it?",
        {
            "a": ("Set `RAYCOURSE_MODEL_LLM=Qwen/Qwen2.5-1.5B-Instruct` before starting, and edit no notebook.",
                  "`raycourse.model_id(role)` looks at `RAYCOURSE_MODEL_<ROLE>` first, so one environment "
                  "variable swaps the model in every notebook at once."),
            "b": ("Edit the `from_pretrained(...)` call in every notebook that loads the LLM.",
                  "Notebooks never name a model: every one asks `raycourse.model_id(\"llm\")`, so there is "
                  "nothing to edit in them, and edited copies would drift apart from the course."),
            "c": ("Set `RAYCOURSE_PROFILE=gpu`.",
                  "The profile chooses between all the tiny stand-ins and all the pinned real models; it never "
                  "chooses which real model one role uses."),
        },
        right="a",
    ),
    Question(
        "On a GPU machine you finish this notebook and open module 03 without deleting `pipe`, `chat`, `vit` and "
        "`clip` or restarting this kernel. What can happen?",
        {
            "a": ("Nothing: Ray frees this notebook's GPU memory when one of its actors needs it.",
                  "Ray cannot see or reclaim memory that a notebook's kernel holds: its books cover only the "
                  "resources that its own tasks and actors ask for."),
            "b": ("Module 03's actors may fail with \"CUDA out of memory\", because this kernel still holds GPU "
                  "memory for its models.",
                  "A kernel keeps its models until the variables are deleted (and the cache emptied) or the "
                  "kernel exits; Ray grants the same GPU to actors whose models then may not fit beside them."),
            "c": ("Module 03 reuses the models already loaded here, so its actors start faster.",
                  "Every Ray actor is a separate process that loads its own copy of the model; nothing a "
                  "notebook kernel loaded is shared with the actors."),
        },
        right="b",
    ),
    Question(
        "Under `make lab` you open two notebooks side by side, and each runs `raycourse.init()`. What happens?",
        {
            "a": ("Each notebook starts a Ray of its own, so there are twice as many GPUs.",
                  "A notebook starts its own Ray only when there is no `RAY_ADDRESS` and no running Ray to "
                  "join; and two Rays that each believed they owned the GPUs would not make more real ones."),
            "b": ("Both join the one Ray that `make lab` started, so they share its GPUs and its dashboard.",
                  "`make lab` sets `RAY_ADDRESS` and every notebook joins that Ray, so its accounting covers "
                  "both notebooks and no GPU is promised to two actors at once."),
            "c": ("The second `raycourse.init()` fails, because a Ray is already running.",
                  "Joining a running Ray is exactly what `init()` does, and calling it twice in one notebook "
                  "is harmless as well: the second call reuses the connection."),
        },
        right="b",
    ),
])

check = QUIZ.check
