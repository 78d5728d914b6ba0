"""The quiz of lesson 07 (a multimodal pipeline that feeds training and keeps the GPU busy)."""

from .quiz import Question, Quiz

QUIZ = Quiz("07", [
    Question(
        "Why does each row carry the photo's path, and not its decoded pixels, until the image stage?",
        {
            "a": ("Ray Data cannot keep images in a column.",
                  "Modules 05 and 06 kept images in an `image` column; a path is a choice that keeps moving "
                  "rows cheap, not a limit of Ray Data."),
            "b": ("A join or a repartition moves every column it is given: a path is a few bytes, a decoded photo "
                  "far more.",
                  "Keeping blobs as references until the stage that needs them keeps the shuffle and the object "
                  "store light; the image stage decodes each photo where it runs."),
            "c": ("PIL can only open files, not arrays, so the photo must stay a file until the end.",
                  "PIL builds images from arrays too (`Image.fromarray` in module 06); the image stage opens "
                  "paths only because that is what each row holds."),
        },
        right="b",
    ),
    Question(
        "Why does the `Tokenize` stage pad every review to `max_length=64` rather than to the longest review of "
        "each batch?",
        {
            "a": ("Every batch then has one fixed shape, `(n, 64)`, and the attention mask marks the padding.",
                  "With a fixed length, rows from any tokenizer batch fit together in the encoder's batches; "
                  "padding to the longest gives each batch its own width."),
            "b": ("Padding to 64 makes the model read each review faster.",
                  "Padding adds positions for the model to process, if anything more work; what it buys is one "
                  "shape for every batch."),
            "c": ("Without it, the tokenizer would drop reviews longer than a batch's longest.",
                  "A review is never dropped: `truncation=True` cuts one that is too long, and padding only "
                  "fills short ones up."),
        },
        right="a",
    ),
    Question(
        "The image stage keeps pixels as `uint8` and leaves `ToDtype` and `Normalize` to the GPU stage. Why?",
        {
            "a": ("The ViT takes `uint8` pixels as they are.",
                  "The encoder converts the pixels to `float32` and normalises them with the model's mean and "
                  "standard deviation before the ViT sees them."),
            "b": ("torchvision's `v2` transforms cannot make floats on a CPU.",
                  "`v2.ToDtype` and `v2.Normalize` run on CPU tensors as well; the split is about the bytes "
                  "moved between stages, not what a CPU can do."),
            "c": ("`uint8` takes a quarter of the bytes of `float32` to store and hand on, and the conversion is "
                  "cheap on the GPU.",
                  "Every batch passes through Ray's object store between stages; a quarter of the bytes is "
                  "cheaper to keep and move, and the GPU converts in no time."),
        },
        right="c",
    ),
    Question(
        "What does `local_shuffle_buffer_size=16` do in `iter_torch_batches`?",
        {
            "a": ("Shuffles the whole dataset across the cluster before every epoch.",
                  "That is a full shuffle, such as `random_shuffle()`; the local buffer only mixes rows within "
                  "a buffer, which costs far less."),
            "b": ("Prepares 16 batches ahead while the model trains on the current one.",
                  "Preparing batches ahead is `prefetch_batches=`; the shuffle buffer changes the order of the "
                  "rows, not how early they are ready."),
            "c": ("Mixes the rows within a buffer of at least 16 rows, so each epoch sees them in another order "
                  "without a full shuffle.",
                  "Batches are drawn at random from a buffer of rows as it fills; with a new seed each epoch, "
                  "the order changes at little cost."),
        },
        right="c",
    ),
    Question(
        "The training loop moves into `TorchTrainer`. What changes on the data side?",
        {
            "a": ("Only where the data comes from: `get_dataset_shard(\"train\")` instead of `train_ds`; the same "
                  "`iter_torch_batches(**BATCHES)` reads it.",
                  "Each worker gets its shard of the dataset passed in `datasets=`, and `train_epoch` runs on it "
                  "unchanged."),
            "b": ("The dataset must first become a PyTorch `DataLoader`.",
                  "`iter_torch_batches` already yields dicts of tensors, which is the work a `DataLoader` "
                  "would do; no `DataLoader` appears in the lesson."),
            "c": ("Every worker reads the whole `train_ds`, so each one sees every row.",
                  "`get_dataset_shard` gives each worker its own share of the rows; together the shards cover "
                  "the dataset once."),
        },
        right="a",
    ),
    Question(
        "The encoder's busy share is low, and the CPU stages in front of it stay as they are. Which change "
        "raises it?",
        {
            "a": ("More actors in the pool, fed by the same stages in front.",
                  "Two actors sharing the same trickle of input each wait about twice as much, so the pool's "
                  "busy share falls."),
            "b": ("A bigger batch size.",
                  "Every call has a fixed cost that a batch of 32 pays once and a batch of 2 sixteen times, and "
                  "the model does more per second on bigger batches."),
            "c": ("A smaller batch size, so that each batch is ready sooner.",
                  "Smaller batches pay the fixed cost of a call more often; the sweep showed the busy share "
                  "falling as batches shrink."),
        },
        right="b",
    ),
])

check = QUIZ.check
