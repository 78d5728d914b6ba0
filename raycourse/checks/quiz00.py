"""The quiz of lesson 00 (environment check)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "00",
    [
        Question(
            "On a 2-core laptop with no GPU, in `tiny`, section 1 shows `{'CPU': 8.0, 'GPU': 2.0}`. What are these?",
            {
                "a": (
                    "What Ray found: 8 cores (with threads) and 2 GPUs.",
                    "Ray's resources are logical: numbers it plans with, not hardware it checks. `os.cpu_count()`"
                    " says 2 here, and the laptop has no GPU at all.",
                ),
                "b": (
                    "Logical resources that the course declared.",
                    "The course gives a Ray it starts at least 8 CPUs (every actor holds one) and, in `tiny`, the"
                    " workshop's 2 GPUs, so `num_gpus=` stages schedule as on a cluster while the models run on "
                    "the CPU.",
                ),
                "c": (
                    "GPUs that Ray emulates, so CUDA code runs.",
                    "Ray emulates nothing: no process can compute on a logical GPU, which is why the course's "
                    "model code asks `torch.cuda.is_available()` and falls back to the CPU.",
                ),
                "d": (
                    "A set-up mistake: `num_gpus=1` stages will fail.",
                    "The 2 GPUs are there on purpose: Ray grants them to actors exactly as real ones, so "
                    "`num_gpus=1` stages run on this laptop; without them such stages would wait forever.",
                ),
            },
            right="b",
        ),
        Question(
            "On a laptop with no GPU, `raycourse.init()` stops: \"The 'gpu' profile needs a GPU, but Ray sees "
            'none". What fixes it?',
            {
                "a": (
                    "Run `make prefetch` to cache the real models.",
                    "`make prefetch` downloads the `gpu` profile's models, but the message is about GPUs: the "
                    "laptop has none afterwards either, and the check fails the same way.",
                ),
                "b": (
                    "Run `raycourse.init()` once more.",
                    "The second call reuses Ray but checks again: the profile still asks for a GPU that Ray does "
                    "not have, so it stops with the same message.",
                ),
                "c": (
                    "`RAYCOURSE_PROFILE=tiny`, then restart the kernel.",
                    "The `gpu` profile runs the real models and needs a GPU; `tiny` runs the stand-ins on any "
                    "laptop, and unset, the profile is `tiny` on a machine without an NVIDIA GPU.",
                ),
                "d": (
                    "Give Ray room: `raycourse.init(num_cpus=16)`.",
                    "CPUs never stand in for a GPU: the check counts the GPUs that Ray sees, and more logical "
                    "CPUs leave that number at 0.",
                ),
            },
            right="c",
        ),
        Question(
            "`chat(messages, max_new_tokens=16)`, run twice, gives two different answers. Why?",
            {
                "a": (
                    "The stand-in gets new random weights at each run.",
                    "The stand-in is built once and loaded from the same folder every time, and the real model's "
                    "answer changes as well: the weights are not what varies.",
                ),
                "b": (
                    "`max_new_tokens=16` cuts at a random length.",
                    "It is a ceiling, not a dice roll: generation stops after at most 16 new tokens, or earlier "
                    "at the end of the answer; and the words themselves differ too.",
                ),
                "c": (
                    "Each answer is added to `messages`.",
                    "The cell sets `messages` afresh each time it runs, so the model sees the same two messages "
                    "at every run.",
                ),
                "d": (
                    "The model's generation settings ask for sampling.",
                    "Sampling draws other tokens at each run; add `do_sample=False` to the `chat(...)` call and "
                    "both answers are the same (module 04 decodes this way).",
                ),
            },
            right="d",
        ),
        Question(
            'With `num_labels=5`, what does `results["vit"]` show for the one image?',
            {
                "a": (
                    "`logits (1, 5)`",
                    "One image, one score per label: `num_labels` sizes the fresh classification head, which "
                    "stays random until module 05 trains it.",
                ),
                "b": (
                    "`logits (5, 1)`",
                    "The first dimension counts the images (one here), the second the labels: one row of five scores.",
                ),
                "c": (
                    "`logits (1, 2)`",
                    "`from_pretrained` adds a fresh head with as many outputs as `num_labels` asks for, now 5; "
                    "nothing keeps the 2 of the first run.",
                ),
                "d": (
                    "`logits (1, 512)`",
                    "512 numbers is CLIP's image embedding; a classifier's logits have one score per label.",
                ),
            },
            right="a",
        ),
        Question(
            "On a GPU machine you skip the cell that deletes the models and go on to module 03, this kernel still"
            " open. What can happen?",
            {
                "a": (
                    'Its GPU actors fail with "CUDA out of memory".',
                    "This kernel keeps its models in GPU memory until the variables are deleted or it exits; Ray "
                    "cannot see that memory and grants the same GPU to actors whose models may then not fit.",
                ),
                "b": (
                    "Ray reclaims this kernel's GPU memory.",
                    "Ray cannot see or reclaim memory that a notebook's kernel holds: its books cover only the "
                    "resources that its own tasks and actors ask for.",
                ),
                "c": (
                    "Its actors reuse the models loaded here.",
                    "Every Ray actor is a separate process that loads its own copy of the model; nothing a "
                    "notebook kernel loaded is shared with the actors.",
                ),
                "d": (
                    "Its GPU actors wait for this kernel to exit.",
                    "Ray does not know that this kernel holds GPU memory, so it waits for nothing: it starts the "
                    "actors as soon as its books show a GPU free.",
                ),
            },
            right="a",
        ),
        Question(
            "Under `make lab` (a Ray with 2 GPUs), two notebooks each run `raycourse.init()`. How many GPUs does "
            "`ray.cluster_resources()` list in the second?",
            {
                "a": (
                    "4: each notebook started its own Ray.",
                    "A notebook starts its own Ray only when there is no `RAY_ADDRESS` and no running Ray to "
                    "join, and `make lab` sets `RAY_ADDRESS`; two Rays would not make more real GPUs anyway.",
                ),
                "b": (
                    "0: the first notebook holds both GPUs.",
                    "Joining Ray reserves nothing (only tasks and actors hold resources), and "
                    "`cluster_resources()` lists the cluster's totals, not what is free.",
                ),
                "c": (
                    "2: both joined the one Ray of `make lab`.",
                    "Every notebook joins that Ray, so they share its GPUs and its dashboard, and its books make "
                    "sure that no GPU is promised to two actors at once.",
                ),
                "d": (
                    "None: the second `init()` fails.",
                    "Joining a running Ray is exactly what `init()` does, and calling it twice in one notebook is"
                    " harmless as well: the second call reuses the connection.",
                ),
            },
            right="c",
        ),
    ],
)

check = QUIZ.check
