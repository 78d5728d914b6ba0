"""Lab 03 checks: pass any correct answer, reject placeholders and plausible mistakes.

No model runs here: the "generated" images are seeded random pixels of the real shape
(as float32 values from 0.0 to 1.0 where the lab's FloatImageGen returns the pipeline's float
output, from a stand-in class of the same name), so the tests are fast and exercise only what
the checks look at: the Dataset's rows, types and stages, files on disk.
"""

import io
import sys

import numpy as np
import pytest
from PIL import Image

import raycourse
from raycourse.checks import lab03

# Ray's workers cannot import this test module: send its functions by value.
import ray  # noqa: E402
import ray.cloudpickle  # noqa: E402

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

N = 6
SHAPE = lab03.IMAGE_SHAPE


def _noise(ids, shape=SHAPE, dtype=np.uint8):
    """One seeded random image per id, like ImageGen's per-row seeds."""
    return np.stack([np.random.default_rng(int(i)).integers(0, 256, shape).astype(dtype) for i in ids])


@pytest.fixture(scope="module")
def prompts(ray_session):
    import ray

    return ray.data.read_csv(raycourse.data_path("animals")).rename_columns({"animal": "prompt"}).limit(N).materialize()


@pytest.fixture(scope="module")
def images(prompts):
    return prompts.map_batches(lambda b: {**b, "image": _noise(b["id"])}, batch_size=3).materialize()


@pytest.fixture
def out_dir(tmp_path):
    """An output folder as raycourse.output_dir makes it: empty but for the marker file."""
    (tmp_path / ".raycourse-output").write_text("marker\n")
    return tmp_path


def _png_bytes(array):
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def _wrong(verdict, message):
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict.message
    assert verdict.hint
    assert str(verdict.hint) not in ("", "None")


def _pil_images(batch):
    batch["image"] = [Image.fromarray(a) for a in _noise(batch["id"])]
    return batch


class FloatImageGen:  # the lab's stage without a model: seeded noise as the pipeline's float output
    def __call__(self, batch):
        batch["image"] = _noise(batch["id"]).astype(np.float32) / 255  # (rows, 512, 512, 3), 0.0 to 1.0
        return batch


def _float_images(prompts, batch_size=3, **kwargs):
    return prompts.map_batches(
        FloatImageGen,
        batch_size=batch_size,
        compute=kwargs.pop("compute", ray.data.ActorPoolStrategy(size=1)),
        **kwargs,
    )


@pytest.fixture(scope="module")
def pictures(prompts):
    """What the lab's FloatImageGen gives: the prompts with float32 images from 0.0 to 1.0."""
    return _float_images(prompts).materialize()


def _to_pixels(batch):  # the solution's conversion
    batch["image"] = (batch["image"] * 255).round().astype(np.uint8)
    return batch


def _to_pixels_truncated(batch):  # another correct one: truncates instead of rounding (off by one at most)
    batch["image"] = np.clip(batch["image"] * 255, 0, 255).astype(np.uint8)
    return batch


def _to_pyarrow_tensor(batch):  # a pyarrow Table with pyarrow's own fixed-shape tensor type
    import pyarrow as pa

    pixels = np.stack([np.asarray(image) for image in batch["image"]])
    if pixels.dtype != np.uint8:
        pixels = (pixels * 255).round().astype(np.uint8)
    return pa.table(
        {"id": batch["id"], "prompt": batch["prompt"], "image": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels)}
    )


def _zeros(batch):
    batch["image"] = np.zeros((len(batch["id"]), *SHAPE), dtype=np.uint8)
    return batch


def _edited_generator():
    class FloatImageGen:  # the learner's own edit of the lab's class: it converts its output itself
        def __call__(self, batch):
            batch["image"] = (_noise(batch["id"]).astype(np.float32) / 255 * 255).round().astype(np.uint8)
            return batch

    return FloatImageGen


class ImageGen:  # the lesson's class pasted in: right pixels, but not from the lab's FloatImageGen
    def __call__(self, batch):
        batch["image"] = _noise(batch["id"])
        return batch


# Exercise 1 ---------------------------------------------------------------------------------


def test_ex1_placeholder_is_not_solved(prompts):
    v = lab03.exercise_1.result(..., prompts)
    assert v.status == "not solved" and "`images` is still `...`" in v.message


@pytest.mark.parametrize(
    "answer",
    [
        lambda pics, p: pics.map_batches(_to_pixels),  # the solution, lazy
        lambda pics, p: pics.map_batches(_to_pixels, batch_size=2).materialize(),
        lambda pics, p: _float_images(p).map_batches(_to_pixels_truncated),  # one lazy pipeline, truncated values
        lambda pics, p: pics.map_batches(  # a list of arrays, one per row
            lambda b: {**b, "image": [(i * 255).round().astype(np.uint8) for i in b["image"]]}
        ),
        lambda pics, p: pics.map_batches(_to_pyarrow_tensor),  # pyarrow's fixed-shape tensor column
        lambda pics, p: pics.map_batches(  # pandas, one array per row: Ray makes them a tensor column again
            lambda df: df.assign(image=df["image"].map(lambda i: (np.asarray(i) * 255).round().astype(np.uint8))),
            batch_format="pandas",
        ),
        lambda pics, p: p.map_batches(_edited_generator(), compute=ray.data.ActorPoolStrategy(size=1)),
    ],
)
def test_ex1_accepts_pixel_arrays(prompts, pictures, answer):
    v = lab03.exercise_1.result(answer(pictures, prompts), prompts)
    assert v.passed, v
    assert "tensor column" in v.message


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda pics: pics, "has pixels of type float32, not uint8"),
        (
            lambda pics: pics.map_batches(lambda b: {**b, "image": b["image"].astype(np.float64)}),
            "has pixels of type float64, not uint8",
        ),
        # the classic mistakes: a cast of 0.0 .. 1.0 keeps 0 and 1; a cast before the scaling keeps 0 and 255
        (
            lambda pics: pics.map_batches(lambda b: {**b, "image": b["image"].astype(np.uint8)}),
            "is blank: all its pixels lie between 0 and 1",
        ),
        (
            lambda pics: pics.map_batches(lambda b: {**b, "image": b["image"].astype(np.uint8) * 255}),
            "holds only the pixel values 0, 255",
        ),
        (
            lambda pics: pics.map_batches(_pil_images),
            "holds PIL images, which Ray can only keep as pickled Python objects",
        ),
        (lambda pics: pics.map_batches(_to_pixels).map_batches(_zeros), "is blank: all its pixels lie between 0 and 0"),
        (
            lambda pics: pics.map_batches(_to_pixels).map_batches(
                lambda b: {**b, "image": np.transpose(b["image"], (0, 3, 1, 2))}
            ),
            "colour channels first",
        ),
        (lambda pics: pics.map_batches(_to_pixels).rename_columns({"image": "pixels"}), "has no `image` column"),
        (lambda pics: pics.map_batches(_to_pixels).limit(2), "has 2 rows, but there are 6 prompts"),
        (lambda pics: pics.map_batches(_to_pixels).take_batch(6), "not a Ray Dataset"),
    ],
)
def test_ex1_rejects_mistakes(prompts, pictures, mistake, message):
    _wrong(lab03.exercise_1.result(mistake(pictures), prompts), message)


def test_ex1_rejects_images_not_drawn_by_the_labs_class(prompts):
    pasted = prompts.map_batches(ImageGen, batch_size=3, compute=ray.data.ActorPoolStrategy(size=1))
    _wrong(
        lab03.exercise_1.result(pasted, prompts),
        "not drawn by the lab's FloatImageGen (the class stages that made it: ImageGen)",
    )
    _wrong(lab03.exercise_1.result(pasted.materialize(), prompts), "not drawn by the lab's FloatImageGen")
    by_function = prompts.map_batches(lambda b: {**b, "image": _noise(b["id"])})
    _wrong(lab03.exercise_1.result(by_function, prompts), "(the class stages that made it: none)")


def _gpu_pool(prompts, size):
    """The lab's stage and the conversion after it: a pool of `size` actors with a GPU each."""
    return _float_images(prompts, batch_size=2, num_gpus=1, compute=ray.data.ActorPoolStrategy(size=size)).map_batches(
        _to_pixels
    )


@pytest.mark.parametrize("size", ["one actor", "one per GPU"])
def test_ex1_accepts_a_gpu_pool_of_one_actor_up_to_the_clusters_gpus(ray_session, prompts, size):
    actors = 1 if size == "one actor" else int(ray.cluster_resources()["GPU"])
    assert lab03.exercise_1.result(_gpu_pool(prompts, actors), prompts).passed  # lazy: the check reads the plan
    ran = _gpu_pool(prompts, actors).materialize()  # as the lab asks: the plan is gone, Ray's actor table says
    assert lab03.exercise_1.result(ran, prompts).passed


def test_ex1_rejects_a_gpu_pool_larger_than_the_cluster(ray_session, prompts):
    gpus = int(ray.cluster_resources()["GPU"])
    too_large = f"has {gpus + 1} GPU actors, more than the cluster's {gpus} GPU(s) can hold"
    verdict = lab03.exercise_1.result(_gpu_pool(prompts, gpus + 1), prompts)
    _wrong(verdict, too_large)
    assert "ray.cluster_resources()" in verdict.hint
    ran = _gpu_pool(prompts, gpus + 1).materialize()  # runs: one actor waits for a GPU until the pool ends
    verdict = lab03.exercise_1.result(ran, prompts)  # one actor or more (those of a pool still ending) waited
    _wrong(verdict, "actor(s) of the pool of MapBatches(FloatImageGen)")
    assert "never started" in verdict.message


def test_ex1_holds_the_pool_to_the_learners_gpu_budget(ray_session, prompts, monkeypatch):
    gpus = int(ray.cluster_resources()["GPU"])
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))  # a room that shares the cluster
    assert lab03._check_planned_pools(_gpu_pool(prompts, gpus - 1))  # within the budget: the plan passes
    verdict = lab03.exercise_1.result(_gpu_pool(prompts, gpus), prompts)  # every GPU of the cluster: over it
    budget = f"your budget of {gpus - 1} GPU(s) (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's {gpus}"
    _wrong(verdict, f"has {gpus} GPU actors, more than {budget} can hold")
    assert "the room's other learners need" in verdict.message and "raycourse.gpu_budget()" in verdict.hint


# Exercise 2 ---------------------------------------------------------------------------------


def test_ex2_nothing_written_is_not_solved(out_dir, prompts):
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    assert v.status == "not solved" and "images_parquet" in v.message
    assert lab03.exercise_2.result(out_dir / "images_parquet", ...).status == "not solved"
    assert lab03.exercise_2.result(out_dir / "missing" / "images_parquet", N).status == "not solved"


def test_ex2_accepts_one_ray_parquet_file(out_dir, prompts, images):
    images.repartition(1).write_parquet(str(out_dir / "images_parquet"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    assert v.passed, v
    assert "6 rows" in v.message and "in one parquet file" in v.message
    images.write_parquet(str(out_dir / "b" / "images_parquet"), min_rows_per_file=N)
    assert lab03.exercise_2.result(out_dir / "b" / "images_parquet", prompts).passed


def test_ex2_rejects_a_file_per_block(out_dir, prompts, images):
    assert images.num_blocks() > 1
    images.write_parquet(str(out_dir / "images_parquet"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    _wrong(v, "the 6 images are spread over ")
    assert "one file per block" in v.hint


def test_ex2_accepts_png_bytes_written_with_pyarrow(out_dir, images):
    """A different correct answer: pyarrow, the images encoded as PNG bytes in a column of another name."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    batch = images.take_batch(N)
    table = pa.table({"prompt": batch["prompt"].tolist(), "png": [_png_bytes(a) for a in batch["image"]]})
    (out_dir / "images_parquet").mkdir()
    pq.write_table(table, out_dir / "images_parquet" / "all.parquet")
    v = lab03.exercise_2.result(str(out_dir / "images_parquet"), N)
    assert v.passed, v
    assert "`png`" in v.message


def test_ex2_accepts_a_pyarrow_fixed_shape_tensor_column(out_dir, prompts, images):
    images.map_batches(_to_pyarrow_tensor).repartition(1).write_parquet(str(out_dir / "images_parquet"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    assert v.passed, v

    import pyarrow as pa
    import pyarrow.parquet as pq

    batch = images.take_batch(N)  # the same, written by pyarrow alone
    table = pa.table(
        {"prompt": batch["prompt"].tolist(), "image": pa.FixedShapeTensorArray.from_numpy_ndarray(batch["image"])}
    )
    (out_dir / "b" / "images_parquet").mkdir(parents=True)
    pq.write_table(table, out_dir / "b" / "images_parquet" / "all.parquet")
    v = lab03.exercise_2.result(out_dir / "b" / "images_parquet", prompts)
    assert v.passed, v


def test_ex2_accepts_a_list_of_prompts_and_extra_columns(out_dir, prompts, images):
    images.map_batches(lambda b: {**b, "seconds": np.ones(len(b["id"]))}).repartition(1).write_parquet(
        str(out_dir / "images_parquet")
    )
    expected = [r["prompt"] for r in prompts.take_all()]
    assert lab03.exercise_2.result(out_dir / "images_parquet", expected).passed


def test_ex2_rejects_the_wrong_folder(out_dir, prompts, images):
    images.write_parquet(str(out_dir / "images"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    _wrong(v, 'in out_dir / "images", but none in out_dir / "images_parquet"')


def test_ex2_rejects_files_directly_in_out_dir(out_dir, prompts, images):
    images.repartition(1).write_parquet(str(out_dir))
    _wrong(lab03.exercise_2.result(out_dir / "images_parquet", prompts), "in out_dir itself")


def test_ex2_rejects_another_format(out_dir, prompts):
    prompts.write_csv(str(out_dir / "images_parquet"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    _wrong(v, "holds no .parquet files (it holds ")
    assert ".csv file" in v.message


def test_ex2_rejects_an_empty_folder(out_dir, prompts):
    (out_dir / "images_parquet").mkdir()
    _wrong(lab03.exercise_2.result(out_dir / "images_parquet", prompts), "it is empty")


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda ds: ds.rename_columns({"prompt": "animal"}), "no `prompt` column"),
        (lambda ds: ds.limit(3), "hold 3 rows, but there are 6 prompts"),
        (lambda ds: ds.drop_columns(["image"]), "no image column"),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "image": np.array([str(p) for p in b["prompt"]])}),
            "holds str values, which cannot be read back as images",
        ),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "image": _noise(b["id"], (64, 64, 3))}),
            "has the shape (64, 64, 3), not (512, 512, 3)",
        ),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "image": np.transpose(b["image"], (0, 3, 1, 2))}),
            "colour channels first",
        ),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "image": b["image"].astype(np.float32) / 255}),
            "pixels of type float32",
        ),
        (lambda ds: ds.map_batches(_pil_images), "pickled Python objects"),
        (lambda ds: ds.map_batches(_zeros), "is blank: all its pixels lie between 0 and 0"),
        (lambda ds: ds.map_batches(lambda b: {**b, "image": (b["image"] // 255).astype(np.uint8)}), "is blank"),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "prompt": np.char.upper(b["prompt"].astype(str))}),
            "does not hold the prompts of `prompts`",
        ),
    ],
)
def test_ex2_rejects_mistakes(out_dir, prompts, images, mistake, message):
    mistake(images).write_parquet(str(out_dir / "images_parquet"))
    _wrong(lab03.exercise_2.result(out_dir / "images_parquet", prompts), message)


def test_ex2_rejects_a_second_write_with_a_rerun_hint(out_dir, prompts, images):
    images.write_parquet(str(out_dir / "images_parquet"))
    images.write_parquet(str(out_dir / "images_parquet"))
    v = lab03.exercise_2.result(out_dir / "images_parquet", prompts)
    _wrong(v, "hold 12 rows, but there are 6 prompts")
    assert "re-run the setup cell" in v.hint


# Exercise 3 ---------------------------------------------------------------------------------


def test_ex3_nothing_written_is_not_solved(out_dir, prompts, images):
    assert lab03.exercise_3.result(out_dir / "png", prompts).status == "not solved"
    images.write_parquet(str(out_dir / "images_parquet"))  # exercise 2's files are not a wrong answer here
    v = lab03.exercise_3.result(out_dir / "png", prompts)
    assert v.status == "not solved" and '"png"' in v.message


def test_ex3_accepts_write_images(out_dir, prompts, images):
    images.write_images(str(out_dir / "png"), column="image", file_format="png")
    v = lab03.exercise_3.result(out_dir / "png", prompts)
    assert v.passed, v
    assert "6 PNG files" in v.message


def test_ex3_accepts_pil_files_saved_in_a_loop(out_dir, images):
    (out_dir / "png").mkdir()
    for row in images.take_all():
        Image.fromarray(row["image"]).save(out_dir / "png" / f"{row['id']:03d}.PNG")
    assert lab03.exercise_3.result(str(out_dir / "png"), N).passed


def test_ex3_rejects_the_wrong_folder(out_dir, prompts, images):
    images.write_images(str(out_dir / "images"), column="image", file_format="png")
    _wrong(lab03.exercise_3.result(out_dir / "png", prompts), 'in out_dir / "images", but none in out_dir / "png"')


def test_ex3_rejects_jpeg(out_dir, prompts, images):
    images.write_images(str(out_dir / "png"), column="image", file_format="jpeg")
    v = lab03.exercise_3.result(out_dir / "png", prompts)
    _wrong(v, "the exercise asks for PNG")
    assert ".jp" in v.message


def test_ex3_rejects_jpeg_content_named_png(out_dir, prompts, images):
    (out_dir / "png").mkdir()
    for row in images.take_all():
        Image.fromarray(row["image"]).save(out_dir / "png" / f"{row['id']}.png", format="JPEG")
    _wrong(lab03.exercise_3.result(out_dir / "png", prompts), "named .png but hold JPEG images")


@pytest.mark.parametrize(
    "mistake, message",
    [
        (lambda ds: ds.limit(3), "found 3 PNG files, but there are 6 prompts"),
        (
            lambda ds: ds.map_batches(lambda b: {**b, "image": _noise(b["id"], (64, 64, 3))}),
            "6 of the 6 PNG files are 64x64 RGB images",
        ),
        (lambda ds: ds.map_batches(lambda b: {**b, "image": b["image"][..., 0]}), "are 512x512 L images"),
        (lambda ds: ds.map_batches(_zeros), "6 of the 6 PNG files hold no picture"),
        (lambda ds: ds.map_batches(lambda b: {**b, "image": (b["image"] / 255).astype(np.uint8)}), "is blank"),
    ],
)
def test_ex3_rejects_mistakes(out_dir, prompts, images, mistake, message):
    mistake(images).write_images(str(out_dir / "png"), column="image", file_format="png")
    _wrong(lab03.exercise_3.result(out_dir / "png", prompts), message)


def test_ex3_rejects_a_second_write_with_a_rerun_hint(out_dir, prompts, images):
    for _ in range(2):
        images.write_images(str(out_dir / "png"), column="image", file_format="png")
    v = lab03.exercise_3.result(out_dir / "png", prompts)
    _wrong(v, "found 12 PNG files")
    assert "re-run the setup cell" in v.hint


def test_ex3_rejects_an_empty_folder_and_a_table(out_dir, prompts, images):
    (out_dir / "png").mkdir()
    _wrong(lab03.exercise_3.result(out_dir / "png", prompts), "exists but is empty")
    images.write_parquet(str(out_dir / "png"))
    v = lab03.exercise_3.result(out_dir / "png", prompts)
    _wrong(v, "holds no .png files (it holds ")
    assert ".parquet file" in v.message


@pytest.mark.parametrize(
    "stray, message",
    [
        (lambda d, ds: (d / "notes.txt").write_text("my notes"), "holds 1 .txt file beside the PNG files"),
        (lambda d, ds: ds.write_parquet(str(d)), "holds 1 .parquet file beside the PNG files"),
        (lambda d, ds: ds.to_pandas()[["id", "prompt"]].to_csv(d / "prompts.csv"), ".csv file beside the PNG files"),
    ],
)
def test_ex3_rejects_stray_files_beside_the_pngs(out_dir, prompts, images, stray, message):
    images.write_images(str(out_dir / "png"), column="image", file_format="png")
    stray(out_dir / "png", images.repartition(1))
    _wrong(lab03.exercise_3.result(out_dir / "png", prompts), message)


# Stretch: thumbnails in a CPU stage -------------------------------------------------------------------


def _thumbs_pil(batch):  # the solution's way
    from PIL import Image

    batch["thumb"] = np.stack([np.asarray(Image.fromarray(i).resize((128, 128))) for i in batch["image"]])
    return batch


def _thumbs_stride(batch):  # another honest way: every fourth pixel
    batch["thumb"] = np.ascontiguousarray(batch["image"][:, ::4, ::4, :])
    return batch


def _thumbs_dark(batch):  # the right shape, but not a copy of the image
    batch["thumb"] = np.zeros((len(batch["image"]), 128, 128, 3), dtype=np.uint8)
    return batch


def _thumbs_full_size(batch):
    batch["thumb"] = batch["image"]
    return batch


def test_stretch_placeholder_is_not_solved(images):
    assert lab03.stretch.result(..., images).status == "not solved"


def test_stretch_accepts_a_pil_resize_and_a_stride(images):
    assert lab03.stretch.result(images.map_batches(_thumbs_pil), images).passed
    assert lab03.stretch.result(images.map_batches(_thumbs_stride), images).passed


def test_stretch_rejects_blank_and_full_size_thumbnails(images):
    verdict = lab03.stretch.result(images.map_batches(_thumbs_dark), images)
    assert verdict.status == "wrong" and "another mean colour" in verdict.message
    verdict = lab03.stretch.result(images.map_batches(_thumbs_full_size), images)
    assert verdict.status == "wrong" and "(512, 512, 3), not (128, 128, 3)" in verdict.message
    verdict = lab03.stretch.result(images, images)
    assert verdict.status == "wrong" and "no `thumb` column" in verdict.message
