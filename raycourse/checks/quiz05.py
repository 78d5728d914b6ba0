"""The quiz of lesson 05 (fine-tuning a ViT with Ray Data and Ray Train)."""

from .quiz import Question, Quiz

QUIZ = Quiz(
    "05",
    [
        Question(
            "A label file holds every label of the first class, then every label of the second. Paired row by row "
            "with `read_class(a).union(read_class(b))`, about half the images get the wrong label, a different "
            "number on each run. Why?",
            {
                "a": (
                    "`union` drops images found in both reads, so rows no longer line up.",
                    "`union` is not a set union: it keeps every row of both inputs, and the count matched the "
                    "file. It is the order of the rows that is off, not their number.",
                ),
                "b": (
                    "`limit(200)` keeps a different 200 images of each folder on each run.",
                    "Whichever images `limit` keeps, they come from their class's folder, as many of each as the "
                    "file has labels: the wrong labels come from the order in which the rows arrive.",
                ),
                "c": (
                    "`union` hands on blocks as each read makes them, mixing the classes.",
                    "The union's order is the order in which blocks are ready, not first read then second; a "
                    "label taken from each image's own path cannot drift like that.",
                ),
                "d": (
                    "`preserve_order=True` was not set; with it the classes stay apart.",
                    "`preserve_order` does not make a union yield the first read's rows before the second's; "
                    "the fix is the label from the path, which needs no order at all.",
                ),
            },
            right="c",
        ),
        Question(
            '`described.groupby("ndim").count()` gives a single row: `ndim` 3, every image. Yet the layout count '
            "finds some `(1, H, W)` images. Where does that shape come from?",
            {
                "a": (
                    "A 2-D grayscale image, in a block with colour ones, gets a channel first.",
                    "Ray Data stores it as `(1, H, W)` beside `(H, W, 3)` images: three dimensions, one channel, "
                    "so only a look at the shape, `shape[-1] == 3`, finds it.",
                ),
                "b": (
                    "`read_images` puts every image's channels first unless given `mode=`.",
                    "Colour images come out `(H, W, 3)`, channels last, with or without `mode=`; only a 2-D "
                    "grayscale image that shares a block with them gets its one channel first.",
                ),
                "c": (
                    "Those grayscale files carry an alpha channel, which Ray Data puts in front.",
                    "The lesson's grayscale images have a single channel and no alpha: the leading 1 is that one "
                    "channel, put first when the image shares a block with colour ones.",
                ),
            },
            right="a",
        ),
        Question(
            "`features` is still a plan when the next cell calls `features.train_test_split(test_size=0.2, "
            "shuffle=True, seed=42)`. What happens in that call?",
            {
                "a": (
                    "Nothing runs yet: the split is one more lazy step in the plan.",
                    "To know which rows are the last 20 % the split has to count and shuffle them, so it runs "
                    "the pipeline then and there; it is not lazy.",
                ),
                "b": (
                    "Only a fifth of the files are read, to make the validation part.",
                    "The split is over rows, after featurizing: every file is read and shuffled first. Splitting "
                    "by files is the other way, for large data sets.",
                ),
                "c": (
                    "Each training worker will later draw its own random 80 % of rows.",
                    "The split happens once, now, with a fixed seed; the workers later get shards of the "
                    "finished training part, not samples of their own.",
                ),
                "d": (
                    "Read, convert and featurize run, and both parts are held in memory.",
                    "It returns two `MaterializedDataset`s kept in Ray's object store; for a large data set, "
                    "split by files instead, so that both parts still stream.",
                ),
            },
            right="d",
        ),
        Question(
            "`TorchTrainer` runs `train_func` on two workers in `tiny` (`ScalingConfig(num_workers=GPUS, ...)`), "
            'each feeding its `Trainer` from `get_dataset_shard("train")`. What does each worker train?',
            {
                "a": (
                    "Its own model on all the rows; Ray Train keeps the better one.",
                    "`get_dataset_shard` gives each worker only its share of the rows, and the workers "
                    "cooperate on one model instead of competing.",
                ),
                "b": (
                    "A copy of the model on its shard, the gradients averaged each step.",
                    "This is data-parallel training: each step sees every worker's batch, and the copies stay the "
                    "same because they apply the same averaged gradients.",
                ),
                "c": (
                    "Half of the model's layers; each batch passes through both workers.",
                    "That would be model parallelism; here each worker holds a whole copy of the ViT, and it is "
                    "the data that is divided.",
                ),
                "d": (
                    "A copy of the model on its shard; the copies are averaged at the end.",
                    "The copies never drift apart: their gradients are averaged after every step, so each step "
                    "already learns from every worker's batch.",
                ),
            },
            right="b",
        ),
        Question(
            "On a cluster with two GPUs, a learner writes `ScalingConfig(num_workers=4, use_gpu=True)`. What "
            "happens at `trainer.fit()`?",
            {
                "a": (
                    "Four workers start, two of them sharing each of the GPUs.",
                    "Each worker with `use_gpu=True` asks for a whole GPU; Ray never puts two of them on one GPU "
                    "to make the count fit.",
                ),
                "b": (
                    "Ray Train starts only two workers and shares the data between them.",
                    "Ray Train does not shrink the request to what the cluster has: it asked for four GPU "
                    "workers, and it waits for four.",
                ),
                "c": (
                    "It fails at once with an error: the cluster lacks two GPUs.",
                    "Nothing fails: Ray Train waits for the GPUs it asked for, which is why the "
                    "lesson sizes `num_workers` from `ray.cluster_resources()`.",
                ),
                "d": (
                    "It waits for two more GPUs, retrying without end, with no error.",
                    "Ray Train retries starting its workers without end; one worker per GPU of the cluster, "
                    "`num_workers=GPUS`, never asks for more than it has.",
                ),
            },
            right="d",
        ),
        Question(
            "In the inference cell, `ImageClassifier`'s `batch_size=16` becomes `batch_size=4`. What changes?",
            {
                "a": (
                    "The accuracy, since each image is classified beside fewer others.",
                    "An image's prediction does not depend on the other images in its batch: the accuracy and "
                    "every prediction stay the same.",
                ),
                "b": (
                    "The number of actors: the pool starts one per batch in flight.",
                    "The pool's size is fixed, `ActorPoolStrategy(size=GPUS)`, and each actor serves batch after "
                    "batch; a smaller batch does not start more of them.",
                ),
                "c": (
                    "Four times as many forward passes; the predictions stay the same.",
                    "Batching changes how fast the answers come, not what they are; on a GPU, smaller batches "
                    "give up the parallel work it is good at.",
                ),
            },
            right="c",
        ),
    ],
)

check = QUIZ.check
