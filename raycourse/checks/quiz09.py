"""The quiz of lesson 09 (Audio and video)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "09",
    [
        Question(
            "A clip is 10 s long at 30 frames a second. How many rows does `read_videos(clip, fps=4)` give?",
            {
                "a": (
                    "Exactly 40: four frames for every second.",
                    "The reader keeps every n-th frame with n = round(30 / 4) = 8, not an exact rate: 300 frames "
                    "give 38 rows, a rate of 3.75 a second.",
                ),
                "b": (
                    "38: every 8th frame, round(30 / 4) = 8.",
                    "The stride is round(source fps / fps); frames 0, 8, ..., 296 are kept: 38 rows. The rate "
                    "kept can differ a little from the one asked for, as the lesson says.",
                ),
                "c": (
                    "300: `fps=` only relabels the timestamps.",
                    "`fps=` decides which decoded frames become rows (the reader decodes every frame); the "
                    "timestamps stay each frame's own, from the file.",
                ),
            },
            right="b",
        ),
        Question(
            "Frames are read with `resize=(224, 224)`. About how much memory does a batch of 16 frames take?",
            {
                "a": (
                    "A few kB, compressed like the file on disk.",
                    "H.264 compresses across frames; a decoded frame is raw pixels, 224 x 224 x 3 bytes. The "
                    "lesson measured about 150 kB a frame for clips of a few kB on disk.",
                ),
                "b": (
                    "About 2.4 MB: 150 kB a frame, decoded.",
                    "224 x 224 x 3 = 150,528 bytes a frame, times 16: the figure the lesson printed for its run.",
                ),
                "c": (
                    "16 whole clips: a batch holds whole videos.",
                    "A row is one frame, so a batch is 16 frames, whichever videos they come from.",
                ),
            },
            right="b",
        ),
        Question(
            'Why does the lesson use `groupby("path").map_groups(...)` to get one row per video?',
            {
                "a": (
                    "`map_batches` cannot return fewer rows than it gets.",
                    "It can: a batch function may return any number of rows. The problem is which rows a batch "
                    "holds, not how many come out.",
                ),
                "b": (
                    "A batch may hold part of a video or several.",
                    "Batches follow blocks, not videos; `groupby` shuffles the frames so that all of a video's "
                    "frames, and only they, meet in one group.",
                ),
                "c": (
                    "`groupby` runs the function on the GPU actors.",
                    "`map_groups` runs the function in plain Ray tasks (CPU); the GPU stage ran before it.",
                ),
            },
            right="b",
        ),
        Question(
            "The frame embedder's GPUs are busy 30 % of the run. What is most likely to make it faster?",
            {
                "a": (
                    "More actors than GPUs in the pool.",
                    "An actor asking for `num_gpus=1` waits for a free GPU: extra actors only wait, with no error "
                    "(module 03).",
                ),
                "b": (
                    "A larger `batch_size` for the embedder.",
                    "The GPUs are idle most of the time already, waiting for frames; larger batches make them "
                    "wait longer for each.",
                ),
                "c": (
                    "More CPUs for decoding.",
                    "A low busy share says the GPUs wait for their input: decoding in the CPU read tasks sets the "
                    "pace. A lower `fps=` would barely help: the reader decodes every frame and drops the rest.",
                ),
            },
            right="c",
        ),
        Question(
            "On a Mac with Apple silicon, a learner runs `pip install decord`, as Ray's error message says. Then?",
            {
                "a": (
                    "It installs, and `read_videos` works.",
                    "`decord` 0.6.0 has wheels for Linux x86_64 and Windows only and no source package, so pip says "
                    '"No matching distribution found for decord" on macOS arm64.',
                ),
                "b": (
                    "Ray falls back to another decoder.",
                    "Ray 2.60's video reader imports the `decord` module and nothing else; without it, "
                    "`read_videos` raises an ImportError.",
                ),
                "c": (
                    "It fails; `decord2` provides the module.",
                    "The original has no macOS arm64 wheel; its maintained fork `decord2`, which the course "
                    "installs there (the original on Linux x86_64), provides the same `decord` module.",
                ),
            },
            right="c",
        ),
    ],
)

check = QUIZ.check
