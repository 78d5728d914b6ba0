"""Lab 04 checks: pass any correct answer, reject placeholders and plausible mistakes.

Exercise 1 gets Enhancer classes that load the tiny stand-in LLM in this process (fast).
Exercise 2 gets small pipelines over the catalogue whose stages are cheap fakes: its check
looks at the dataset's plan and rows, not at which models made them.
"""

import random
import sys

import numpy as np
import pandas as pd
import pytest
import ray.cloudpickle

import raycourse
from raycourse.checks import lab04

pytestmark = pytest.mark.tiny_only("the checks' unit tests run on the sample data and the stand-ins")

# Ray workers cannot import this test module: send its classes and functions by value.
ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])

SEASONS = ["winter", "spring", "summer", "autumn"]


def _messages(prompt, season):
    return [
        {"role": "system", "content": f"Add two short touches of {season}. One sentence."},
        {"role": "user", "content": prompt},
    ]


def _season(row_id):
    return random.Random(f"7-{row_id}").choice(SEASONS)


def _load(model_id):
    from transformers import pipeline

    return pipeline("text-generation", model=model_id, device="cpu")


def _catalogue_messages(description, season):  # the lab's catalogue_messages, shortened (longer than _messages':
    # a count made with the other chat must differ, whatever the tokenizer learned whole)
    return [
        {
            "role": "system",
            "content": f"A product photo for a pet-outfit shop, with two touches of {season} "
            "around the product. One sentence, no animal.",
        },
        {"role": "user", "content": description},
    ]


def _replies(pipe, prompts, ids, messages=_messages):
    chats = [messages(p, _season(i)) for p, i in zip(prompts, ids)]
    return [
        out[0]["generated_text"][-1]["content"].strip()
        for out in pipe(chats, max_new_tokens=8, do_sample=False, batch_size=2)
    ]


# ----------------------------------------------------------------------------- Exercise 1: right answers


class SolutionEnhancer:  # as in the solution notebook
    def __init__(self, model_id, prompt_column, messages):
        self.pipe = _load(model_id)
        self.prompt_column = prompt_column
        self.messages = messages

    def __call__(self, batch):
        prompts = batch[self.prompt_column]
        batch["original_prompt"] = prompts
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array(_replies(self.pipe, prompts, batch["id"], self.messages))
        return batch


class ModelAndTokenizerEnhancer:
    """Written differently: no pipeline, lazy loading, a new dict, a list column, extra defaults."""

    def __init__(self, model_id=None, prompt_column="prompt", messages=_messages, max_new_tokens=6):
        self.model_id, self.column, self.max_new_tokens = model_id, prompt_column, max_new_tokens
        self.build = messages
        self.model = None

    def __call__(self, batch):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.model is None:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            self.model = AutoModelForCausalLM.from_pretrained(self.model_id)
        texts = []
        for prompt, row_id in zip(batch[self.column], batch["id"]):
            enc = self.tokenizer.apply_chat_template(
                self.build(prompt, _season(row_id)), add_generation_prompt=True, return_tensors="pt", return_dict=True
            )
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens)
            texts.append(
                "Enhanced: " + self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True)
            )
        return {**batch, self.column: texts, "season": [_season(i) for i in batch["id"]]}


class PandasEnhancer:
    """Written for `batch_format="pandas"`: DataFrame methods in, a DataFrame out."""

    def __init__(self, model_id, prompt_column, messages):
        self.pipe, self.column, self.messages = _load(model_id), prompt_column, messages

    def __call__(self, df):
        df = df.assign(season=df["id"].map(_season), original_prompt=df[self.column])
        replies = _replies(self.pipe, df[self.column].tolist(), df["id"].tolist(), self.messages)
        return df.assign(**{self.column: replies})


class ReturnsDataFrame(SolutionEnhancer):  # a dict of arrays in, a DataFrame out
    def __call__(self, batch):
        return pd.DataFrame(super().__call__(batch))


class NewTextOnly(SolutionEnhancer):  # asks the pipeline for the new text only
    def __call__(self, batch):
        chats = [self.messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False, return_full_text=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated_text"].strip() for out in outputs])
        return batch


def _instruction(prompt, season):  # one plain-text prompt instead of a chat
    return f"Rewrite this image description with two touches of {season}: {prompt}\nRewritten:"


class PlainTextPrompts(SolutionEnhancer):  # its own plain-text prompts: not the conversations of `messages`
    def __call__(self, batch):
        seasons = [_season(i) for i in batch["id"]]
        texts = [_instruction(p, s) for p, s in zip(batch[self.prompt_column], seasons)]
        outputs = self.pipe(texts, max_new_tokens=8, do_sample=False, return_full_text=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"].strip() or "-" for out in outputs])
        return batch


class TemplateThenText(SolutionEnhancer):  # the conversations of `messages`, through the chat template as text
    def __call__(self, batch):
        tokenizer = self.pipe.tokenizer
        seasons = [_season(i) for i in batch["id"]]
        texts = [
            tokenizer.apply_chat_template(self.messages(p, s), tokenize=False, add_generation_prompt=True)
            for p, s in zip(batch[self.prompt_column], seasons)
        ]
        outputs = self.pipe(texts, max_new_tokens=8, do_sample=False, return_full_text=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"].strip() or "-" for out in outputs])
        return batch


@pytest.mark.parametrize(
    "answer",
    [SolutionEnhancer, ModelAndTokenizerEnhancer, PandasEnhancer, ReturnsDataFrame, NewTextOnly, TemplateThenText],
)
def test_exercise_1_accepts_correct_classes(answer):
    verdict = lab04.exercise_1.result(answer, _season)
    assert verdict.passed, verdict
    assert "'caption'" in verdict.message and "its row's season" in verdict.message
    assert "the `messages` it was given" in verdict.message


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
    def __init__(self, model_id, prompt_column, messages):
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


class TwoArguments:  # the model and the column, but no conversation builder
    def __init__(self, model_id, prompt_column):
        self.pipe, self.prompt_column = _load(model_id), prompt_column

    def __call__(self, batch):
        return batch


class HardCodedColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch["prompt"] = np.array(_replies(self.pipe, batch["prompt"], batch["id"], self.messages))
        return batch


class WritesToPrompt(SolutionEnhancer):  # reads the right column, writes a fixed one
    def __call__(self, batch):
        batch["prompt"] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"], self.messages))
        return batch


class DropsTheColumn(SolutionEnhancer):
    def __call__(self, batch):
        replies = _replies(self.pipe, batch[self.prompt_column], batch["id"], self.messages)
        return {"id": batch["id"], "enhanced": np.array(replies)}


class IgnoresModelId(SolutionEnhancer):
    def __init__(self, model_id, prompt_column, messages):
        super().__init__(raycourse.model_id("llm"), prompt_column, messages)


class IgnoresMessages(SolutionEnhancer):  # keeps `messages` but builds the lab's fixed conversation
    def __call__(self, batch):
        prompts = batch[self.prompt_column]
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array(_replies(self.pipe, prompts, batch["id"], _messages))
        return batch


class Unchanged(SolutionEnhancer):
    def __call__(self, batch):
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        return batch


class RawOutputs(SolutionEnhancer):  # forgets to pick the reply out of the pipeline's result
    def __call__(self, batch):
        chats = [self.messages(p, "winter") for p in batch[self.prompt_column]]
        outputs = self.pipe(chats, max_new_tokens=4)
        batch[self.prompt_column] = [out[0]["generated_text"] for out in outputs]
        return batch


class ReturnsNothing(SolutionEnhancer):
    def __call__(self, batch):
        batch[self.prompt_column] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"], self.messages))


class OneRowOnly(SolutionEnhancer):
    def __call__(self, batch):
        replies = _replies(self.pipe, batch[self.prompt_column][:1], batch["id"][:1], self.messages)
        return {self.prompt_column: np.array(replies)}


def _pick(pick):
    """An Enhancer like the solution's that takes `pick(conversation)` as the reply."""

    class Picks(SolutionEnhancer):
        def __call__(self, batch):
            chats = [self.messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
            outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
            batch["season"] = np.array([_season(i) for i in batch["id"]])
            batch[self.prompt_column] = np.array([pick(out[0]["generated_text"]) for out in outputs])
            return batch

    return Picks


class UserOnlyConversationAsText(SolutionEnhancer):  # no system message; the whole chat as the reply
    def __call__(self, batch):
        chats = [
            [{"role": "user", "content": f"Add {_season(i)}: {p}"}]
            for p, i in zip(batch[self.prompt_column], batch["id"])
        ]
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
        batch[self.prompt_column] = np.array(_replies(self.pipe, batch[self.prompt_column], batch["id"], self.messages))
        return batch


class OneSeasonForAll(SolutionEnhancer):  # every chat gets the first row's season
    def __call__(self, batch):
        season = _season(batch["id"][0])
        chats = [self.messages(p, season) for p in batch[self.prompt_column]]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
        return batch


class FixedSeasonColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch = super().__call__(batch)
        batch["season"] = np.array([_season(batch["id"][0])] * len(batch["id"]))
        return batch


@pytest.mark.parametrize(
    "answer, expected",
    [
        (_pick(lambda chat: chat[0]["content"]), "contains the system message sent to the model"),
        (_pick(lambda chat: str(chat)), "contains the system message sent to the model"),
        (_pick(lambda chat: " ".join(m["content"] for m in chat)), "contains the system message sent to the model"),
        (UserOnlyConversationAsText, "is a whole conversation written out as text"),
        (PlainTextWithTheInstruction, "contains the whole text sent to the model"),
        (NoSeasonColumn, "has no 'season' column"),
        (IgnoresMessages, "received conversations that function did not make"),
        (PlainTextPrompts, "received plain text that function did not make"),
        (OneSeasonForAll, "does not name its season"),
        (FixedSeasonColumn, "came back with the season"),
    ],
)
def test_exercise_1_rejects_wrong_replies_and_seasons(answer, expected):
    verdict = lab04.exercise_1.result(answer, _season)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


@pytest.mark.parametrize(
    "answer, expected",
    [
        (enhance_function, "not a class"),
        (NoCall, "no `__call__`"),
        (OldSignature, "failed: "),
        (OtherNames, "unexpected keyword argument 'model_id'"),
        (TwoArguments, "unexpected keyword argument 'messages'"),
        (HardCodedColumn, "read the column 'prompt'"),
        (WritesToPrompt, "new text went to 'prompt'"),
        (DropsTheColumn, "has no 'caption' column"),
        (IgnoresModelId, "ignores `model_id`"),
        (Unchanged, "came back unchanged"),
        (RawOutputs, "one string per row; one value is a list"),
        (ReturnsNothing, "returned a NoneType"),
        (OneRowOnly, "came back with 1 value(s)"),
    ],
)
def test_exercise_1_rejects_wrong_classes(answer, expected):
    verdict = lab04.exercise_1.result(answer)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


# ----------------------------------------------------------------------------- Exercise 2: fake stages


class FakeEnhancer:
    def __init__(self, model_id, prompt_column, messages):
        self.model_id, self.column, self.messages = model_id, prompt_column, messages

    def __call__(self, batch):
        batch["original_prompt"] = batch[self.column]
        batch["season"] = np.array(["winter"] * len(batch[self.column]))
        batch[self.column] = np.array([f"{p}, snow on the ground, a frosted pine" for p in batch[self.column]])
        return batch


class FakePandasEnhancer(FakeEnhancer):  # batch_format="pandas", returns a DataFrame
    def __call__(self, df):
        return df.assign(
            original_prompt=df[self.column], season="winter", **{self.column: df[self.column] + ", snow on the ground"}
        )


class FakeEnhancerWithoutSeason(FakeEnhancer):
    def __call__(self, batch):
        return {k: v for k, v in super().__call__(batch).items() if k != "season"}


class FakeEnhancerWithDefaults(FakeEnhancer):
    def __init__(self, model_id="some-model", prompt_column="description", messages=_catalogue_messages):
        super().__init__(model_id, prompt_column, messages)


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


def chat_messages(prompt, season):  # the animals' builder, by the lab's name
    return _messages(prompt, season)


ENHANCER_ARGS = {"model_id": "some-model", "prompt_column": "description", "messages": _catalogue_messages}
ACTOR = {"compute": ray.data.ActorPoolStrategy(size=1)}
ON_GPU = {**ACTOR, "num_gpus": 0.6, "batch_size": 4}  # the enhancer's share of a GPU (Ray wants a batch_size)
TO_PROMPT = {"description": "prompt"}


@pytest.fixture(scope="module")
def catalogue(ray_session):
    """Four products, built as the lab builds them."""
    import pandas as pd

    outfits = pd.read_csv(raycourse.data_path("outfits")).head(4)
    outfits["description"] = "A product photo of a " + outfits["outfit"]
    return ray.data.from_pandas(outfits).materialize()


def _enhanced(catalogue, enhancer=FakeEnhancer, **kwargs):
    """The fake enhancer on the descriptions, on a share of a GPU, then `prompt` for the image stage."""
    return catalogue.map_batches(enhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU, **kwargs).rename_columns(
        TO_PROMPT
    )


def check2(ds):
    return lab04.exercise_2.result(ds, _catalogue_messages)


def test_exercise_2_accepts_a_correct_pipeline(catalogue):
    verdict = check2(_enhanced(catalogue).map_batches(fake_images, batch_size=8))
    assert verdict.passed, verdict
    assert "32x48" in verdict.message


def test_exercise_2_accepts_the_rename_before_the_enhancer(catalogue):
    args = {**ENHANCER_ARGS, "prompt_column": "prompt"}
    ds = (
        catalogue.rename_columns(TO_PROMPT)
        .map_batches(FakeEnhancer, fn_constructor_kwargs=args, **ON_GPU)
        .map_batches(FakeImageGen, batch_size=8, num_gpus=0.4, **ACTOR)
    )
    verdict = check2(ds)
    assert verdict.passed, verdict


def _gpu_pools(catalogue, actors, enhancer_share=0.6, image_share=0.4):
    """The lab's two stages on GPUs, `actors` per pool."""
    pool = {"compute": ray.data.ActorPoolStrategy(size=actors)}
    return (
        catalogue.map_batches(
            FakeEnhancer, batch_size=4, num_gpus=enhancer_share, fn_constructor_kwargs=ENHANCER_ARGS, **pool
        )
        .rename_columns(TO_PROMPT)
        .map_batches(FakeImageGen, batch_size=8, num_gpus=image_share, **pool)
    )


@pytest.mark.parametrize("size", ["one actor", "one per GPU"])
def test_exercise_2_accepts_gpu_pools_of_one_actor_up_to_one_per_gpu(catalogue, size):
    actors = 1 if size == "one actor" else int(ray.cluster_resources()["GPU"])
    verdict = check2(_gpu_pools(catalogue, actors))
    assert verdict.passed, verdict
    assert check2(_gpu_pools(catalogue, actors, 0.25, 0.75)).passed  # other shares that fit


def test_exercise_2_rejects_gpu_pools_larger_than_the_cluster(catalogue):
    gpus = int(ray.cluster_resources()["GPU"])
    verdict = check2(_gpu_pools(catalogue, gpus + 1))
    assert verdict.status == "wrong", verdict
    assert f"{gpus + 1} FakeEnhancer x 0.6 + {gpus + 1} FakeImageGen x 0.4 GPUs" in verdict.message
    assert "wait for a GPU forever" in verdict.message and "ray.cluster_resources()" in verdict.hint


def test_exercise_2_holds_the_pools_to_the_learners_gpu_budget(catalogue, monkeypatch):
    gpus = int(ray.cluster_resources()["GPU"])
    monkeypatch.setenv("RAYCOURSE_GPUS_PER_LEARNER", str(gpus - 1))
    assert check2(_gpu_pools(catalogue, gpus - 1)).passed
    verdict = check2(_gpu_pools(catalogue, gpus))
    assert verdict.status == "wrong", verdict
    budget = f"your budget of {gpus - 1} GPU(s) (RAYCOURSE_GPUS_PER_LEARNER) of the cluster's {gpus}"
    assert f"more than {budget} can hold" in verdict.message, verdict
    assert "raycourse.gpu_budget()" in verdict.hint


def test_exercise_2_rejects_models_that_cannot_share_a_gpu(catalogue):
    verdict = check2(_gpu_pools(catalogue, 1, 1, 1))  # fits the course's two GPUs, not a one-GPU machine
    assert verdict.status == "wrong", verdict
    assert "FakeEnhancer 1 + FakeImageGen 1 = 2 GPUs: the models cannot share a GPU" in verdict.message
    assert "fraction" in verdict.hint


def test_exercise_2_rejects_a_pipeline_without_gpus(catalogue):
    ds = (
        catalogue.map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ACTOR)
        .rename_columns(TO_PROMPT)
        .map_batches(FakeImageGen, **ACTOR)
    )
    verdict = check2(ds)
    assert verdict.status == "wrong" and "no stage of the pipeline asks for a GPU" in verdict.message, verdict


def test_exercise_2_accepts_constructor_args_given_by_position(catalogue):
    ds = (
        catalogue.map_batches(
            FakeEnhancer, fn_constructor_args=("some-model", "description", _catalogue_messages), **ON_GPU
        )
        .rename_columns(TO_PROMPT)
        .map_batches(fake_images)
    )
    verdict = check2(ds)
    assert verdict.passed, verdict


def test_exercise_2_placeholder_is_not_solved():
    verdict = check2(...)
    assert verdict.status == "not solved"


def test_exercise_2_rejects_a_batch_instead_of_a_dataset(catalogue):
    verdict = check2(catalogue.take_batch(2))
    assert verdict.status == "wrong" and "not a Ray Dataset" in verdict.message


def test_exercise_2_rejects_an_enhancer_without_constructor_arguments(catalogue):
    ds = catalogue.map_batches(FakeEnhancerWithDefaults, **ON_GPU).rename_columns(TO_PROMPT).map_batches(fake_images)
    verdict = check2(ds)
    assert verdict.status == "wrong" and "gets constructor arguments" in verdict.message
    assert "fn_constructor_kwargs" in verdict.hint


def test_exercise_2_rejects_the_animals_conversation_and_none_at_all(catalogue):
    args = {**ENHANCER_ARGS, "messages": chat_messages}
    ds = (
        catalogue.map_batches(FakeEnhancer, fn_constructor_kwargs=args, **ON_GPU)
        .rename_columns(TO_PROMPT)
        .map_batches(fake_images)
    )
    verdict = check2(ds)
    assert verdict.status == "wrong" and "the animals' `chat_messages`" in verdict.message, verdict
    args = {"model_id": "some-model", "prompt_column": "description"}
    ds = (
        catalogue.map_batches(FakeEnhancerWithDefaults, fn_constructor_kwargs=args, **ON_GPU)
        .rename_columns(TO_PROMPT)
        .map_batches(fake_images)
    )
    verdict = check2(ds)
    assert verdict.status == "wrong" and "no conversation builder" in verdict.message, verdict


@pytest.mark.parametrize(
    "ds",
    [
        lambda c: (
            c.map_batches(FakePandasEnhancer, batch_format="pandas", fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
            .rename_columns(TO_PROMPT)
            .map_batches(fake_images)
        ),
        lambda c: _enhanced(c).map_batches(tensor_images),
    ],
)
def test_exercise_2_accepts_other_batch_formats(catalogue, ds):
    verdict = check2(ds(catalogue))
    assert verdict.passed, verdict


@pytest.mark.parametrize(
    "first, name", [(FakeImageGen, "FakeImageGen"), (Painter, "Painter"), (fake_images, "fake_images")]
)
def test_exercise_2_rejects_images_drawn_before_enhancing(catalogue, first, name):
    stage = ACTOR if isinstance(first, type) else {}
    args = {**ENHANCER_ARGS, "prompt_column": "prompt"}
    ds = (
        catalogue.rename_columns(TO_PROMPT)
        .map_batches(first, **stage)
        .map_batches(FakeEnhancer, fn_constructor_kwargs=args, **ON_GPU)
    )
    verdict = check2(ds)
    assert verdict.status == "wrong", verdict
    assert f"{name} draws the images (column 'image') before FakeEnhancer runs" in verdict.message, verdict
    assert verdict.hint


def test_exercise_2_rejects_rows_without_their_season(catalogue):
    verdict = check2(_enhanced(catalogue, FakeEnhancerWithoutSeason).map_batches(fake_images))
    assert verdict.status == "wrong" and "no 'season' column" in verdict.message, verdict


def test_exercise_2_rejects_a_pipeline_without_images(catalogue):
    verdict = check2(_enhanced(catalogue))
    assert verdict.status == "wrong" and "no 'image' column" in verdict.message


@pytest.mark.parametrize(
    "build, message",
    [
        # the descriptions enhanced, but nothing in `prompt`: the image stage fails
        (
            lambda c: c.map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU).map_batches(
                fake_images
            ),
            "failed: KeyError: 'prompt'",
        ),
        # renamed first, the Enhancer still told to read `description`
        (
            lambda c: (
                c.rename_columns(TO_PROMPT)
                .map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
                .map_batches(fake_images)
            ),
            "failed: KeyError: 'description'",
        ),
        # a copy of the description in `prompt` before the Enhancer: the image stage draws the original
        (
            lambda c: (
                c.map_batches(lambda b: {**b, "prompt": b["description"]})
                .map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
                .map_batches(fake_images)
            ),
            "have an unenhanced text in 'prompt', e.g. 'A product photo of a",
        ),
        # no Enhancer at all
        (
            lambda c: c.rename_columns(TO_PROMPT).map_batches(FakeImageGen, batch_size=8, num_gpus=0.4, **ACTOR),
            "none of the class stages (FakeImageGen) gets constructor arguments",
        ),
    ],
)
def test_exercise_2_rejects_columns_that_do_not_reach_the_image_stage(catalogue, build, message):
    verdict = check2(build(catalogue))
    assert verdict.status == "wrong" and message in verdict.message, verdict
    assert verdict.hint


@pytest.mark.parametrize(
    "images, expected", [(gray_images, "shape (height, width, 3)"), (float_images, "dtype float32")]
)
def test_exercise_2_rejects_wrong_images(catalogue, images, expected):
    verdict = check2(_enhanced(catalogue).map_batches(images))
    assert verdict.status == "wrong" and expected in verdict.message, verdict


def test_exercise_2_rejects_an_empty_dataset(catalogue):
    from ray.data.expressions import col

    verdict = check2(_enhanced(catalogue.filter(expr=col("id") < 0)).map_batches(fake_images))
    assert verdict.status == "wrong" and "no rows" in verdict.message


# Stretch: what the LLM reads, in tokens ---------------------------------------------------------------


class TokenCounter:  # the solution's way: an actor that loads the tokenizer once
    def __init__(self, model_id):
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(model_id)

    def __call__(self, batch):
        chats = [_catalogue_messages(d, _season(i)) for d, i in zip(batch["description"], batch["id"])]
        ids = [self.tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"] for c in chats]
        batch["n_tokens"] = np.array([len(i) for i in ids])
        return batch


def _count_by_text(df: pd.DataFrame) -> pd.DataFrame:  # another way: the template as text, then tokenize it
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(raycourse.model_id("llm"))
    texts = [
        tokenizer.apply_chat_template(_catalogue_messages(d, _season(i)), tokenize=False, add_generation_prompt=True)
        for d, i in zip(df["description"], df["id"])
    ]
    return df.assign(n_tokens=[len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts])


def _description_only(df: pd.DataFrame) -> pd.DataFrame:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(raycourse.model_id("llm"))
    return df.assign(n_tokens=[len(tokenizer(d)["input_ids"]) for d in df["description"]])


def test_stretch_placeholder_is_not_solved():
    assert lab04.stretch.result(..., _catalogue_messages, _season).status == "not solved"


def test_stretch_accepts_a_tokenizer_actor_and_a_pandas_stage(catalogue):
    actors = catalogue.map_batches(
        TokenCounter,
        fn_constructor_kwargs={"model_id": raycourse.model_id("llm")},
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    verdict = lab04.stretch.result(actors, _catalogue_messages, _season)
    assert verdict.passed, verdict
    assert lab04.stretch.result(
        catalogue.map_batches(_count_by_text, batch_format="pandas"), _catalogue_messages, _season
    ).passed


def test_stretch_rejects_the_description_alone_the_wrong_chat_and_character_counts(catalogue):
    alone = catalogue.map_batches(_description_only, batch_format="pandas")
    verdict = lab04.stretch.result(alone, _catalogue_messages, _season)
    assert verdict.status == "wrong" and "the tokens of the description alone" in verdict.message
    animals_chat = catalogue.map_batches(
        TokenCounter,
        fn_constructor_kwargs={"model_id": raycourse.model_id("llm")},
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    verdict = lab04.stretch.result(animals_chat, _messages, _season)  # counted with another conversation
    assert verdict.status == "wrong" and "the chat the Enhancer sends for it is" in verdict.message
    characters = catalogue.to_pandas().assign(n_tokens=lambda t: t["description"].str.len())
    verdict = lab04.stretch.result(characters, _catalogue_messages, _season)
    assert verdict.status == "wrong" and "the chat the Enhancer sends for it is" in verdict.message
    renamed = catalogue.rename_columns(TO_PROMPT).map_batches(lambda df: df.assign(n_tokens=1), batch_format="pandas")
    verdict = lab04.stretch.result(renamed, _catalogue_messages, _season)
    assert verdict.status == "wrong" and "no `description` column" in verdict.message
