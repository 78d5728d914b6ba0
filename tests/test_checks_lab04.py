"""Lab 04 checks: pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 gets Enhancer classes that load the tiny stand-in LLM in this process (fast).
Exercise 2 gets small pipelines whose stages are cheap fakes: its check looks at the
dataset's plan and rows, not at which models made them.
"""

import random
import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle

import raycourse
from raycourse.checks import lab04

# Ray workers cannot import this test module: send its classes and functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SEASONS = ["winter", "spring", "summer", "autumn"]


def _messages(prompt, season):
    return [{"role": "system", "content": f"Add two short touches of {season}. One sentence."},
            {"role": "user", "content": prompt}]


def _season(row_id):
    return random.Random(f"7-{row_id}").choice(SEASONS)


def _load(model_id):
    from transformers import pipeline

    return pipeline("text-generation", model=model_id, device="cpu")


def _replies(pipe, prompts, ids):
    chats = [_messages(p, _season(i)) for p, i in zip(prompts, ids)]
    return [out[0]["generated_text"][-1]["content"].strip()
            for out in pipe(chats, max_new_tokens=8, do_sample=False, batch_size=2)]


# ----------------------------------------------------------------------------- Exercise 1: right answers

class SolutionEnhancer:  # as in the solution notebook
    def __init__(self, model_id, prompt_column):
        self.pipe = _load(model_id)
        self.prompt_column = prompt_column

    def __call__(self, batch):
        prompts = batch[self.prompt_column]
        batch["original_prompt"] = prompts
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array(_replies(self.pipe, prompts, batch["id"]))
        return batch


class ModelAndTokenizerEnhancer:
    """Written differently: no pipeline, lazy loading, a new dict, a list column, extra defaults."""

    def __init__(self, model_id=None, prompt_column="prompt", max_new_tokens=6):
        self.model_id, self.column, self.max_new_tokens = model_id, prompt_column, max_new_tokens
        self.model = None

    def __call__(self, batch):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.model is None:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            self.model = AutoModelForCausalLM.from_pretrained(self.model_id)
        texts = []
        for prompt, row_id in zip(batch[self.column], batch["id"]):
            enc = self.tokenizer.apply_chat_template(_messages(prompt, _season(row_id)), add_generation_prompt=True,
                                                     return_tensors="pt", return_dict=True)
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens)
            texts.append("Enhanced: " + self.tokenizer.decode(out[0, enc["input_ids"].shape[1]:],
                                                             skip_special_tokens=True))
        return {**batch, self.column: texts, "season": [_season(i) for i in batch["id"]]}


class PandasEnhancer:
    """Written for `batch_format="pandas"`: DataFrame methods in, a DataFrame out."""

    def __init__(self, model_id, prompt_column):
        self.pipe, self.column = _load(model_id), prompt_column

    def __call__(self, df):
        df = df.assign(season=df["id"].map(_season), original_prompt=df[self.column])
        replies = _replies(self.pipe, df[self.column].tolist(), df["id"].tolist())
        return df.assign(**{self.column: replies})


class ReturnsDataFrame(SolutionEnhancer):  # a dict of arrays in, a DataFrame out
    def __call__(self, batch):
        return pd.DataFrame(super().__call__(batch))


class NewTextOnly(SolutionEnhancer):  # asks the pipeline for the new text only
    def __call__(self, batch):
        chats = [_messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False, return_full_text=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated_text"].strip() for out in outputs])
        return batch


def _instruction(prompt, season):  # one plain-text prompt instead of a chat
    return f"Rewrite this image description with two touches of {season}: {prompt}\nRewritten:"


class PlainTextPrompts(SolutionEnhancer):
    def __call__(self, batch):
        seasons = [_season(i) for i in batch["id"]]
        texts = [_instruction(p, s) for p, s in zip(batch[self.prompt_column], seasons)]
        outputs = self.pipe(texts, max_new_tokens=8, do_sample=False, return_full_text=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"].strip() or "-" for out in outputs])
        return batch


@pytest.mark.parametrize("answer", [SolutionEnhancer, ModelAndTokenizerEnhancer, PandasEnhancer, ReturnsDataFrame,
                                    NewTextOnly, PlainTextPrompts])
def test_exercise_1_accepts_correct_classes(answer):
    verdict = lab04.exercise_1.result(answer, _season)
    assert verdict.passed, verdict
    assert "'description'" in verdict.message and "its row's season" in verdict.message


def test_exercise_1_checks_seasons_only_when_given_season_for():
    verdict = lab04.exercise_1.result(SolutionEnhancer)
    assert verdict.passed, verdict
    assert "season" not in verdict.message


def test_exercise_1_placeholder_is_not_solved():
    verdict = lab04.exercise_1.result(...)
    assert verdict.status == "not solved"
    assert "Enhancer" in verdict.message


# ----------------------------------------------------------------------------- Exercise 1: wrong answers

def enhance_function(batch):  # a function, not a class
    return batch


class NoCall:
    def __init__(self, model_id, prompt_column):
        self.model_id = model_id


class OldSignature:  # the lesson's class, unchanged
    def __init__(self):
        self.pipe = _load(raycourse.model_id("llm"))

    def __call__(self, batch):
        batch["prompt"] = np.array(_replies(self.pipe, batch["prompt"], batch["id"]))
        return batch


class OtherNames:
    def __init__(self, model_name, column):
        self.pipe, self.column = _load(model_name), column

    def __call__(self, batch):
        return batch


class HardCodedColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch["prompt"] = np.array(_replies(self.pipe, batch["prompt"], batch["id"]))
        return batch


class WritesToPrompt(SolutionEnhancer):  # reads the right column, writes a fixed one
    def __call__(self, batch):
        batch["prompt"] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"]))
        return batch


class DropsTheColumn(SolutionEnhancer):
    def __call__(self, batch):
        return {"id": batch["id"], "enhanced": np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"]))}


class IgnoresModelId(SolutionEnhancer):
    def __init__(self, model_id, prompt_column):
        super().__init__(raycourse.model_id("llm"), prompt_column)


class Unchanged(SolutionEnhancer):
    def __call__(self, batch):
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        return batch


class RawOutputs(SolutionEnhancer):  # forgets to pick the reply out of the pipeline's result
    def __call__(self, batch):
        chats = [_messages(p, "winter") for p in batch[self.prompt_column]]
        outputs = self.pipe(chats, max_new_tokens=4)
        batch[self.prompt_column] = [out[0]["generated_text"] for out in outputs]
        return batch


class ReturnsNothing(SolutionEnhancer):
    def __call__(self, batch):
        batch[self.prompt_column] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"]))


class OneRowOnly(SolutionEnhancer):
    def __call__(self, batch):
        return {self.prompt_column: np.array(_replies(self.pipe, batch[self.prompt_column][:1], batch["id"][:1]))}


def _pick(pick):
    """An Enhancer like the solution's that takes `pick(conversation)` as the reply."""

    class Picks(SolutionEnhancer):
        def __call__(self, batch):
            chats = [_messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
            outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
            batch["season"] = np.array([_season(i) for i in batch["id"]])
            batch[self.prompt_column] = np.array([pick(out[0]["generated_text"]) for out in outputs])
            return batch

    return Picks


class UserOnlyConversationAsText(SolutionEnhancer):  # no system message; the whole chat as the reply
    def __call__(self, batch):
        chats = [[{"role": "user", "content": f"Add {_season(i)}: {p}"}]
                 for p, i in zip(batch[self.prompt_column], batch["id"])]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([str(out[0]["generated_text"]) for out in outputs])
        return batch


class PlainTextWithTheInstruction(SolutionEnhancer):  # plain-text prompts, full text kept (the default)
    def __call__(self, batch):
        seasons = [_season(i) for i in batch["id"]]
        texts = [_instruction(p, s) for p, s in zip(batch[self.prompt_column], seasons)]
        outputs = self.pipe(texts, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"] for out in outputs])
        return batch


class NoSeasonColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch[self.prompt_column] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"]))
        return batch


class OneSeasonForAll(SolutionEnhancer):  # every chat gets the first row's season
    def __call__(self, batch):
        season = _season(batch["id"][0])
        chats = [_messages(p, season) for p in batch[self.prompt_column]]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
        return batch


class FixedSeasonColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch = super().__call__(batch)
        batch["season"] = np.array([_season(batch["id"][0])] * len(batch["id"]))
        return batch


@pytest.mark.parametrize("answer, expected", [
    (_pick(lambda chat: chat[0]["content"]), "contains the system message sent to the model"),
    (_pick(lambda chat: str(chat)), "contains the system message sent to the model"),
    (_pick(lambda chat: " ".join(m["content"] for m in chat)), "contains the system message sent to the model"),
    (UserOnlyConversationAsText, "is a whole conversation written out as text"),
    (PlainTextWithTheInstruction, "contains the whole text sent to the model"),
    (NoSeasonColumn, "has no 'season' column"),
    (OneSeasonForAll, "does not name its season"),
    (FixedSeasonColumn, "came back with the season"),
])
def test_exercise_1_rejects_wrong_replies_and_seasons(answer, expected):
    verdict = lab04.exercise_1.result(answer, _season)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


@pytest.mark.parametrize("answer, expected", [
    (enhance_function, "not a class"),
    (NoCall, "no `__call__`"),
    (OldSignature, "failed: "),
    (OtherNames, "unexpected keyword argument 'model_id'"),
    (HardCodedColumn, "read the column 'prompt'"),
    (WritesToPrompt, "new text went to 'prompt'"),
    (DropsTheColumn, "has no 'description' column"),
    (IgnoresModelId, "ignores `model_id`"),
    (Unchanged, "came back unchanged"),
    (RawOutputs, "one string per row; one value is a list"),
    (ReturnsNothing, "returned a NoneType"),
    (OneRowOnly, "came back with 1 value(s)"),
])
def test_exercise_1_rejects_wrong_classes(answer, expected):
    verdict = lab04.exercise_1.result(answer)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


# ----------------------------------------------------------------------------- Exercise 2: fake stages

class FakeEnhancer:
    def __init__(self, model_id, prompt_column):
        self.model_id, self.column = model_id, prompt_column

    def __call__(self, batch):
        batch["original_prompt"] = batch[self.column]
        batch["season"] = np.array(["winter"] * len(batch[self.column]))
        batch[self.column] = np.array([f"{p}, snow on the ground, a frosted pine" for p in batch[self.column]])
        return batch


class FakePandasEnhancer(FakeEnhancer):  # batch_format="pandas", returns a DataFrame
    def __call__(self, df):
        return df.assign(original_prompt=df[self.column], season="winter",
                         **{self.column: df[self.column] + ", snow on the ground"})


class FakeEnhancerWithoutSeason(FakeEnhancer):
    def __call__(self, batch):
        return {k: v for k, v in super().__call__(batch).items() if k != "season"}


class FakeEnhancerWithDefaults(FakeEnhancer):
    def __init__(self, model_id="some-model", prompt_column="prompt"):
        super().__init__(model_id, prompt_column)


def fake_images(batch):  # a function stage: tasks, no actor start-up
    batch["image"] = np.zeros((len(batch["prompt"]), 32, 48, 3), dtype=np.uint8)
    return batch


class FakeImageGen:
    def __call__(self, batch):
        return fake_images(batch)


class Painter(FakeImageGen):  # an image stage whose name does not say "image"
    pass


def tensor_images(batch):  # the images as pyarrow's own fixed-shape tensor column
    import pyarrow as pa

    pixels = np.zeros((len(batch["prompt"]), 32, 48, 3), dtype=np.uint8)
    return pa.table({**{k: v for k, v in batch.items()}, "image": pa.FixedShapeTensorArray.from_numpy_ndarray(pixels)})


def gray_images(batch):
    batch["image"] = np.zeros((len(batch["prompt"]), 32, 32), dtype=np.uint8)
    return batch


def float_images(batch):
    batch["image"] = np.zeros((len(batch["prompt"]), 32, 32, 3), dtype=np.float32)
    return batch


ENHANCER_ARGS = {"model_id": "some-model", "prompt_column": "prompt"}
ACTOR = {"compute": ray.data.ActorPoolStrategy(size=1)}


@pytest.fixture(scope="module")
def prompts(ray_session):
    """Four joined prompts, built as the lab builds them."""
    import pandas as pd

    animals = pd.read_csv(raycourse.data_path("animals"))
    outfits = pd.read_csv(raycourse.data_path("outfits"))
    joined = animals.merge(outfits, on="id").head(4)
    joined["prompt"] = joined["animal"] + " wearing a " + joined["outfit"]
    return ray.data.from_pandas(joined).materialize()


def _enhanced(prompts):
    return prompts.map_batches(FakeEnhancer, batch_size=4, fn_constructor_kwargs=ENHANCER_ARGS, **ACTOR)


def test_exercise_2_accepts_a_correct_pipeline(prompts):
    verdict = lab04.exercise_2.result(_enhanced(prompts).map_batches(fake_images, batch_size=8), "prompt")
    assert verdict.passed, verdict
    assert "32x48" in verdict.message


def _gpu_pools(prompts, actors):
    """The lab's two stages on GPUs, `actors` per pool: the Enhancer at 0.6 of a GPU, the image stage at 0.4."""
    pool = {"compute": ray.data.ActorPoolStrategy(size=actors)}
    return (prompts.map_batches(FakeEnhancer, batch_size=4, num_gpus=0.6, fn_constructor_kwargs=ENHANCER_ARGS, **pool)
            .map_batches(FakeImageGen, batch_size=8, num_gpus=0.4, **pool))


@pytest.mark.parametrize("size", ["one actor", "one per GPU"])
def test_exercise_2_accepts_gpu_pools_of_one_actor_up_to_one_per_gpu(prompts, size):
    actors = 1 if size == "one actor" else int(ray.cluster_resources()["GPU"])
    verdict = lab04.exercise_2.result(_gpu_pools(prompts, actors), "prompt")
    assert verdict.passed, verdict


def test_exercise_2_rejects_gpu_pools_larger_than_the_cluster(prompts):
    gpus = int(ray.cluster_resources()["GPU"])
    verdict = lab04.exercise_2.result(_gpu_pools(prompts, gpus + 1), "prompt")
    assert verdict.status == "wrong", verdict
    assert f"{gpus + 1} FakeEnhancer x 0.6 + {gpus + 1} FakeImageGen x 0.4 GPUs" in verdict.message
    assert "wait for a GPU forever" in verdict.message and "ray.cluster_resources()" in verdict.hint


def test_exercise_2_accepts_constructor_args_given_by_position(prompts):
    ds = (prompts.map_batches(FakeEnhancer, fn_constructor_args=("some-model", "prompt"), **ACTOR)
          .map_batches(fake_images))
    verdict = lab04.exercise_2.result(ds)
    assert verdict.passed, verdict


def test_exercise_2_placeholder_is_not_solved():
    verdict = lab04.exercise_2.result(..., "prompt")
    assert verdict.status == "not solved"


def test_exercise_2_rejects_a_batch_instead_of_a_dataset(prompts):
    verdict = lab04.exercise_2.result(prompts.take_batch(2), "prompt")
    assert verdict.status == "wrong" and "not a Ray Dataset" in verdict.message


def test_exercise_2_rejects_an_enhancer_without_constructor_arguments(prompts):
    ds = prompts.map_batches(FakeEnhancerWithDefaults, **ACTOR).map_batches(fake_images)
    verdict = lab04.exercise_2.result(ds, "prompt")
    assert verdict.status == "wrong" and "gets constructor arguments" in verdict.message
    assert "fn_constructor_kwargs" in verdict.hint


@pytest.mark.parametrize("ds", [
    lambda p: p.map_batches(FakePandasEnhancer, batch_format="pandas", fn_constructor_kwargs=ENHANCER_ARGS, **ACTOR)
    .map_batches(fake_images),
    lambda p: _enhanced(p).map_batches(tensor_images),
])
def test_exercise_2_accepts_other_batch_formats(prompts, ds):
    verdict = lab04.exercise_2.result(ds(prompts), "prompt")
    assert verdict.passed, verdict


@pytest.mark.parametrize("first, name", [(FakeImageGen, "FakeImageGen"), (Painter, "Painter"),
                                         (fake_images, "fake_images")])
def test_exercise_2_rejects_images_drawn_before_enhancing(prompts, first, name):
    stage = ACTOR if isinstance(first, type) else {}
    ds = prompts.map_batches(first, **stage).map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ACTOR)
    verdict = lab04.exercise_2.result(ds, "prompt")
    assert verdict.status == "wrong", verdict
    assert f"{name} draws the images (column 'image') before FakeEnhancer runs" in verdict.message, verdict
    assert verdict.hint


def test_exercise_2_rejects_rows_without_their_season(prompts):
    ds = prompts.map_batches(FakeEnhancerWithoutSeason, fn_constructor_kwargs=ENHANCER_ARGS, **ACTOR).map_batches(
        fake_images)
    verdict = lab04.exercise_2.result(ds, "prompt")
    assert verdict.status == "wrong" and "no 'season' column" in verdict.message, verdict


def test_exercise_2_rejects_a_pipeline_without_images(prompts):
    verdict = lab04.exercise_2.result(_enhanced(prompts), "prompt")
    assert verdict.status == "wrong" and "no 'image' column" in verdict.message


def test_exercise_2_rejects_unenhanced_prompts(prompts):
    verdict = lab04.exercise_2.result(prompts.map_batches(fake_images), "prompt")
    assert verdict.status == "wrong" and "still hold the joined prompt" in verdict.message


@pytest.mark.parametrize("images, expected", [(gray_images, "shape (height, width, 3)"),
                                              (float_images, "dtype float32")])
def test_exercise_2_rejects_wrong_images(prompts, images, expected):
    verdict = lab04.exercise_2.result(_enhanced(prompts).map_batches(images), "prompt")
    assert verdict.status == "wrong" and expected in verdict.message, verdict


def test_exercise_2_rejects_an_empty_dataset(prompts):
    from ray.data.expressions import col

    ds = _enhanced(prompts.filter(expr=col("id") < 0)).map_batches(fake_images)
    verdict = lab04.exercise_2.result(ds, "prompt")
    assert verdict.status == "wrong" and "no rows" in verdict.message


# Stretch: what the LLM reads, in tokens ---------------------------------------------------------------


class TokenCounter:  # the solution's way: an actor that loads the tokenizer once
    def __init__(self, model_id):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_id)

    def __call__(self, batch):
        chats = [_messages(p, _season(i)) for p, i in zip(batch["prompt"], batch["id"])]
        ids = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"] for c in chats]
        batch["n_tokens"] = np.array([len(i) for i in ids])
        return batch


def _count_by_text(df: pd.DataFrame) -> pd.DataFrame:  # another way: the template as text, then tokenize it
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(raycourse.model_id("llm"))
    texts = [tokenizer.apply_chat_template(_messages(p, _season(i)), tokenize=False, add_generation_prompt=True)
             for p, i in zip(df["prompt"], df["id"])]
    return df.assign(n_tokens=[len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts])


def _prompt_only(df: pd.DataFrame) -> pd.DataFrame:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(raycourse.model_id("llm"))
    return df.assign(n_tokens=[len(tokenizer(p)["input_ids"]) for p in df["prompt"]])


def test_stretch_placeholder_is_not_solved():
    assert lab04.stretch.result(..., _messages, _season).status == "not solved"


def test_stretch_accepts_a_tokenizer_actor_and_a_pandas_stage(prompts):
    actors = prompts.map_batches(TokenCounter, fn_constructor_kwargs={"model_id": raycourse.model_id("llm")},
                                 compute=ray.data.ActorPoolStrategy(size=1))
    assert lab04.stretch.result(actors, _messages, _season).passed
    assert lab04.stretch.result(prompts.map_batches(_count_by_text, batch_format="pandas"), _messages, _season).passed


def test_stretch_rejects_the_prompt_alone_and_character_counts(prompts):
    verdict = lab04.stretch.result(prompts.map_batches(_prompt_only, batch_format="pandas"), _messages, _season)
    assert verdict.status == "wrong" and "the tokens of the prompt alone" in verdict.message
    characters = prompts.to_pandas().assign(n_tokens=lambda t: t["prompt"].str.len())
    verdict = lab04.stretch.result(characters, _messages, _season)
    assert verdict.status == "wrong" and "the chat the Enhancer sends for it is" in verdict.message
