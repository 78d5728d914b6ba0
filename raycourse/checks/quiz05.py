"""The quiz of lesson 05 (fine-tuning a ViT with Ray Data and Ray Train)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "05",
    [
        Question(
            "A label file (first class, then second) is paired row by row with `read_class(a).union(read_class(b))`."
            " About half the labels are wrong, a different number each run. Why?",
            {
                "a": (
                    "`union` drops the images found in both reads, so the rows shift.",
                    "`union` keeps every row of both inputs; it is the rows' order that is off, not their number.",
                ),
                "b": (
                    "`limit(200)` keeps a different 200 images of each folder on each run.",
                    "Whichever images `limit` keeps come from their class's folder: the order of rows mixes labels.",
                ),
                "c": (
                    "`union` hands on blocks as each read makes them.",
                    "The union yields blocks as they are ready, mixing the classes; a label from the path cannot "
                    "drift like that.",
                ),
                "d": (
                    "`preserve_order=True` was not set.",
                    "With `preserve_order` the union takes one block from each read in turn: the same order each "
                    "run, but the classes still alternate; only the path's label is right.",
                ),
            },
            right="c",
        ),
        Question(
            '`groupby("ndim").count()` gives one row, `ndim` 3, yet some images are `(1, H, W)`. Why?',
            {
                "a": (
                    "A 2-D grayscale image in a block with colour ones gets a channel first.",
                    "Ray Data stores it as `(1, H, W)` beside `(H, W, 3)` images, so only `shape[-1] == 3` finds it.",
                ),
                "b": (
                    "`read_images` puts every image's channels first unless given `mode=`.",
                    "Colour images come out `(H, W, 3)`, channels last, with or without `mode=`.",
                ),
                "c": (
                    "The grayscale files carry an alpha channel, which Ray Data puts in front.",
                    "The grayscale images have one channel and no alpha: the leading 1 is that channel.",
                ),
            },
            right="a",
        ),
        Question(
            "What happens in `features.train_test_split(test_size=0.2, shuffle=True, seed=42)`?",
            {
                "a": (
                    "Nothing runs yet: the split is one more lazy step in the plan.",
                    "To know which rows are the last 20 % it must count and shuffle them, so it runs the pipeline.",
                ),
                "b": (
                    "Only a fifth of the files are read, for validation.",
                    "The split is over rows after featurizing, so every file is read and shuffled first.",
                ),
                "c": (
                    "Each worker later draws its own random 80 %.",
                    "The split happens once, now, with a fixed seed; workers get shards of the training part.",
                ),
                "d": (
                    "The whole pipeline runs, and both parts are held in memory.",
                    "It returns two `MaterializedDataset`s in the object store; for large data, split by files.",
                ),
            },
            right="d",
        ),
        Question(
            '`TorchTrainer` runs `train_func` on two workers, each fed by `get_dataset_shard("train")`. What does '
            "each worker train?",
            {
                "a": (
                    "Its own model on all rows; the better one is kept.",
                    "Each worker gets only its share of the rows, and the workers train one model together.",
                ),
                "b": (
                    "A copy of the model on its shard, gradients averaged each step.",
                    "This is data-parallel training: the copies stay equal because they apply the same averaged "
                    "gradients.",
                ),
                "c": (
                    "Half of the model's layers; each batch passes through both workers.",
                    "That would be model parallelism; here each worker holds a whole copy of the ViT.",
                ),
                "d": (
                    "A copy of the model on its shard; the copies are averaged at the end.",
                    "The copies never drift apart: their gradients are averaged after every step.",
                ),
            },
            right="b",
        ),
        Question(
            "On a two-GPU cluster, `ScalingConfig(num_workers=4, use_gpu=True)`. What happens at `trainer.fit()`?",
            {
                "a": (
                    "Four workers start, two per GPU.",
                    "Each worker with `use_gpu=True` asks for a whole GPU; Ray never puts two on one GPU.",
                ),
                "b": (
                    "Ray Train starts only two workers and splits the data between them.",
                    "Ray Train does not shrink its request to the cluster: it waits for four GPU workers.",
                ),
                "c": (
                    "It fails at once with an error.",
                    "Nothing fails: Ray Train waits for the GPUs, which is why the lesson sizes `num_workers`.",
                ),
                "d": (
                    "It waits for two more GPUs, retrying without end.",
                    "Ray Train retries without end; `num_workers=GPUS` never asks for more than the cluster has.",
                ),
            },
            right="d",
        ),
        Question(
            "`ImageClassifier`'s `batch_size=16` becomes `batch_size=4`. What changes?",
            {
                "a": (
                    "The accuracy, since each image is classified beside fewer others.",
                    "An image's prediction does not depend on the other images in its batch.",
                ),
                "b": (
                    "The number of actors.",
                    "The pool's size is fixed, `ActorPoolStrategy(size=GPUS)`, whatever the batch size.",
                ),
                "c": (
                    "Four times as many forward passes; the same predictions.",
                    "Batching changes how fast the answers come, not what they are.",
                ),
            },
            right="c",
        ),
    ],
)

check = QUIZ.check
