"""The quiz of lesson 05 (fine-tuning a ViT with Ray Data and Ray Train)."""

from .quiz import Question, Quiz

QUIZ = Quiz("05", [
    Question(
        "The workshop pairs a label file (every label of the first class, then every label of the second) row by "
        "row with `read_class(a).union(read_class(b))`. Why do some images get the wrong label?",
        {
            "a": ("`union` runs both reads at once and hands on blocks as they are ready, so the two classes' "
                  "rows come out interleaved.",
                  "The union's order is the order in which blocks arrive, not first read then second; a label "
                  "taken from each image's own path cannot drift like that."),
            "b": ("`union` removes images that appear in both reads, so the rows no longer line up with the file.",
                  "`union` is not a set union: it keeps every row of both inputs, and the count matched the "
                  "file. It is the order of the rows that is off, not their number."),
            "c": ("Only because of chance in scheduling: with `preserve_order=True` the union would give the "
                  "first read's rows before the second's.",
                  "With `preserve_order` the union still alternates, one block from each read in turn: the "
                  "classes still interleave, only the same way on every run."),
        },
        right="a",
    ),
    Question(
        "Counting the images by `ndim` says that every image has 3 dimensions. Why does that not show that they "
        "are all colour images?",
        {
            "a": ("`read_images` already turned every image into RGB, so the count is right: they are all colour.",
                  "Without `mode=` the reader keeps each file's own mode; converting everything to three "
                  "channels is what `mode=\"RGB\"` asks for, and the lesson found 2-D grayscale images."),
            "b": ("A grayscale image that shares a block with colour images is stored as `(1, H, W)`: three "
                  "dimensions, but one channel.",
                  "The number of channels is in the shape, not in `ndim`: testing `shape[-1] == 3` finds the "
                  "`(1, H, W)` images that counting dimensions hides."),
            "c": ("Grayscale files carry an alpha channel, which gives them a third dimension.",
                  "The lesson's grayscale images have a single channel and no alpha: `(1, H, W)`, their third "
                  "dimension is that one channel, put first."),
        },
        right="b",
    ),
    Question(
        "Some training images are grayscale. Why does the lesson read them with `mode=\"RGB\"` instead of "
        "dropping them with a `filter`?",
        {
            "a": ("A `filter` cannot look at an image's shape, so dropping them is not possible.",
                  "The lesson dropped them in one line, `filter(expr=col(\"layout\") == ...)` on a computed "
                  "column; choosing to convert is about what the model learns."),
            "b": ("Converting makes those images smaller, so training is faster.",
                  "Turning one channel into three makes an image larger, not smaller; the reason to convert is "
                  "to keep good examples, not speed."),
            "c": ("A grayscale photo of a dog is still a good example, and at prediction time grayscale images "
                  "must be classified too.",
                  "Dropping throws away valid examples and leaves the model untrained on images it must still "
                  "answer for later; dropping is for broken images."),
        },
        right="c",
    ),
    Question(
        "What happens when you call `features.train_test_split(test_size=0.2, shuffle=True, seed=42)`?",
        {
            "a": ("Nothing yet: like `map_batches`, it only adds a step to the plan.",
                  "To know which rows are the last 20 % the split has to count and shuffle them, so it runs "
                  "the pipeline then and there; it is not lazy."),
            "b": ("The pipeline above it runs (read, convert, featurize), every row is shuffled, and both parts "
                  "are kept in Ray's object store.",
                  "It returns two `MaterializedDataset`s held in memory; for a large data set, split by files "
                  "instead, so that both parts still stream."),
            "c": ("Each training worker later picks its own random 80 % of the rows.",
                  "The split happens once, when you call it, with a fixed seed; the workers later get shards of "
                  "the finished training part, not their own samples."),
        },
        right="b",
    ),
    Question(
        "`TorchTrainer` runs `train_func` on one worker per GPU (`ScalingConfig(num_workers=GPUS)`, two in `tiny`). "
        "What does each worker do?",
        {
            "a": ("It trains on the whole dataset on its own, and Ray Train keeps the best of the models.",
                  "`get_dataset_shard` gives each worker only its share of the rows, and the workers "
                  "cooperate on one model instead of competing."),
            "b": ("It holds a part of the model's layers, and every batch passes from one worker to the next.",
                  "That would be model parallelism; here each worker holds a whole copy of the ViT, and it is "
                  "the data that is divided."),
            "c": ("It trains its own copy of the model on its shard of the data, and the copies average their "
                  "gradients after every step.",
                  "This is data-parallel training: each step sees every worker's batch, and the copies stay "
                  "the same because they apply the same averaged gradients."),
        },
        right="c",
    ),
    Question(
        "Why does `ImageClassifier` run the image processor and the model once on the whole batch, rather than "
        "in a loop over the batch's images as the workshop did?",
        {
            "a": ("One forward pass over 16 images costs about as much on a GPU as over one, and every call has "
                  "a fixed cost.",
                  "The GPU works on all the batch's images in parallel, and the fixed cost of a call (moving "
                  "data, starting kernels) is paid once per batch instead of once per image."),
            "b": ("A loop inside `__call__` would make Ray start a new actor for every image.",
                  "The pool's actors start once (`ActorPoolStrategy(size=2)`) and each serves batch after "
                  "batch; a loop runs inside the same actor, it only wastes the GPU."),
            "c": ("A loop would give different predictions from the batched forward pass.",
                  "An image's prediction does not depend on the other images in its batch; batching changes "
                  "how fast the answers come, not what they are."),
        },
        right="a",
    ),
])

check = QUIZ.check
