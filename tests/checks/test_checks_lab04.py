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
# Exercise 1 requires:
#   R1 a class `Enhancer` with `__call__`: test_exercise_1_rejects_wrong_classes[enhance_function, NoCall]
#   R2 (probe) a constructor with the arguments model_id, prompt_column, messages:
#      test_exercise_1_rejects_wrong_classes[OldSignature, OtherNames, TwoArguments]
#   R3 (probe) `model_id` is what it loads (a path that does not exist fails):
#      test_exercise_1_rejects_wrong_classes[IgnoresModelId]
#   R4 (probe) `prompt_column` is the column it reads (the check's 'caption'):
#      test_exercise_1_rejects_wrong_classes[HardCodedColumn]
#   R5 (probe) the enhanced texts go back into that same column:
#      test_exercise_1_rejects_wrong_classes[WritesToPrompt, DropsTheColumn, Unchanged]
#   R6 (probe) one string per row, the model's reply only: test_exercise_1_rejects_wrong_classes[RawOutputs,
#      OneRowOnly, ReturnsNothing, WrongReplyKey], test_exercise_1_rejects_wrong_replies_and_seasons[_pick(...),
#      UserOnlyConversationAsText, PlainTextWithTheInstruction]
#   R7 (probe) `messages` builds each row's conversation, called for each row with its text and its season (the
#      check's own builder, which notes its calls): test_exercise_1_rejects_wrong_replies_and_seasons[IgnoresMessages,
#      PlainTextPrompts, SeasonsList, SwappedArgs, ManualTokenizeNoMessages]
#   R8 (probe) each row's own season (season_for of its id; the probe's ids have seasons that differ from each other
#      and from their positions') in its conversation and in a `season` column, in every batch:
#      test_exercise_1_rejects_wrong_replies_and_seasons[OneSeasonForAll, NoSeasonColumn, FixedSeasonColumn,
#      SeasonByIndex], test_exercise_1_rejects_a_random_season
#   R9 (probe) greedy decoding, do_sample=False: test_exercise_1_rejects_wrong_replies_and_seasons[
#      _sampling(do_sample=True), _sampling() (the LLM's own config samples)]
#   R10 (probe) the pipeline loaded once per actor, as in the lesson:
#      test_exercise_1_rejects_wrong_replies_and_seasons[LoadsPerBatch]
# Right answers written otherwise: ModelAndTokenizerEnhancer (no pipeline, loaded lazily once), PandasEnhancer,
# ReturnsDataFrame, NewTextOnly, TemplateThenText, GreedyByConfig (a GenerationConfig instead of do_sample=False).


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
            out = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False)
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


class GreedyByConfig(SolutionEnhancer):  # greedy decoding through a GenerationConfig instead of do_sample=False
    def __call__(self, batch):
        from transformers import GenerationConfig

        chats = [self.messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
        config = GenerationConfig(do_sample=False, max_new_tokens=8)
        outputs = self.pipe(chats, generation_config=config)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
        return batch


@pytest.mark.fast
@pytest.mark.parametrize(
    "answer",
    [
        SolutionEnhancer,
        ModelAndTokenizerEnhancer,
        PandasEnhancer,
        ReturnsDataFrame,
        NewTextOnly,
        TemplateThenText,
        GreedyByConfig,
    ],
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


@pytest.mark.fast
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


def _sampling(**generate_kwargs):
    """The solution's class with the pipeline called with `generate_kwargs` instead of do_sample=False."""

    class Samples(SolutionEnhancer):
        def __call__(self, batch):
            chats = [self.messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
            outputs = self.pipe(chats, max_new_tokens=8, **generate_kwargs)
            batch["season"] = np.array([_season(i) for i in batch["id"]])
            batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
            return batch

    return Samples


class LoadsPerBatch(SolutionEnhancer):  # keeps the model id, loads the pipeline in every call
    def __init__(self, model_id, prompt_column, messages):
        self.model_id, self.prompt_column, self.messages = model_id, prompt_column, messages

    def __call__(self, batch):
        self.pipe = _load(self.model_id)
        return super().__call__(batch)


class FixedSeasonColumn(SolutionEnhancer):
    def __call__(self, batch):
        batch = super().__call__(batch)
        batch["season"] = np.array([_season(batch["id"][0])] * len(batch["id"]))
        return batch


def _with_seasons(chat_args):
    """The solution's class with `chat_args(text, season, seasons)` as the arguments of `self.messages`."""

    class Builds(SolutionEnhancer):
        def __call__(self, batch):
            seasons = [_season(i) for i in batch["id"]]
            chats = [self.messages(*chat_args(p, s, seasons)) for p, s in zip(batch[self.prompt_column], seasons)]
            outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
            batch["season"] = np.array(seasons)
            batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
            return batch

    return Builds


SeasonsList = _with_seasons(lambda text, season, seasons: (text, seasons))  # every row's seasons, as a list
SwappedArgs = _with_seasons(lambda text, season, seasons: (season, text))


class ManualTokenizeNoMessages(ModelAndTokenizerEnhancer):  # a chat of its own, written out by hand: no `messages`
    def __call__(self, batch):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if self.model is None:
            self.tokenizer = AutoTokenizer.from_pretrained(self.model_id)
            self.model = AutoModelForCausalLM.from_pretrained(self.model_id)
        texts = []
        for prompt, row_id in zip(batch[self.column], batch["id"]):
            chat = f"system: add two touches of {_season(row_id)}.\nuser: {prompt}\nassistant:"
            enc = self.tokenizer(chat, return_tensors="pt")
            out = self.model.generate(**enc, max_new_tokens=6, do_sample=False)
            texts.append(self.tokenizer.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=True) + "!")
        return {**batch, self.column: texts, "season": [_season(i) for i in batch["id"]]}


class SeasonByIndex(SolutionEnhancer):  # the row's position in the batch taken for its id
    def __call__(self, batch):
        seasons = [_season(i) for i in range(len(batch["id"]))]
        chats = [self.messages(p, s) for p, s in zip(batch[self.prompt_column], seasons)]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
        return batch


class RandomSeason(SolutionEnhancer):  # random.choice(SEASONS) for each row, seeded here so that the test is the same
    def __call__(self, batch):
        rng = getattr(self, "rng", None) or random.Random(5)
        self.rng = rng
        seasons = [rng.choice(SEASONS) for _ in batch["id"]]
        chats = [self.messages(p, s) for p, s in zip(batch[self.prompt_column], seasons)]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array(seasons)
        batch[self.prompt_column] = np.array([out[0]["generated_text"][-1]["content"] for out in outputs])
        return batch


class WrongReplyKey(SolutionEnhancer):  # the pipeline's result read with a key it does not have
    def __call__(self, batch):
        chats = [self.messages(p, _season(i)) for p, i in zip(batch[self.prompt_column], batch["id"])]
        outputs = self.pipe(chats, max_new_tokens=8, do_sample=False)
        batch["season"] = np.array([_season(i) for i in batch["id"]])
        batch[self.prompt_column] = np.array([out[0]["generated"] for out in outputs])
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
        (OneSeasonForAll, "was built with the season"),
        (FixedSeasonColumn, "came back with the season"),
        (SeasonsList, "with a list as the season"),
        (SwappedArgs, "the arguments are swapped"),
        (ManualTokenizeNoMessages, "never called the `messages` it was given"),
        (SeasonByIndex, "is season_for(0): the row's position in the batch, not its id"),
        (_sampling(do_sample=True), "generate calls sampled"),
        (_sampling(), "generate calls sampled"),  # no do_sample: the LLM's own generation config samples
        (LoadsPerBatch, "loaded a model 1 times while working on 1 batches"),
    ],
)
def test_exercise_1_rejects_wrong_replies_and_seasons(answer, expected):
    verdict = lab04.exercise_1.result(answer, _season)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


@pytest.mark.fast
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
        (WrongReplyKey, "raised KeyError: 'generated' while picking the reply"),
    ],
)
def test_exercise_1_rejects_wrong_classes(answer, expected):
    verdict = lab04.exercise_1.result(answer)
    assert verdict.status == "wrong", verdict
    assert expected in verdict.message, verdict
    assert verdict.hint


def test_exercise_1_rejects_a_random_season():
    """random.choice(SEASONS) per row: right by chance for one row, but not for both rows of two batches."""
    verdict = lab04.exercise_1.result(RandomSeason, _season, seed=SEED)
    assert verdict.status == "wrong", verdict
    assert "season_for(" in verdict.message and verdict.hint == lab04.ex1.SEASON_HINT, verdict


def test_exercise_1_probes_ids_whose_seasons_differ_from_each_other_and_from_their_positions():
    for seed in range(20):
        _, candidates = lab04.probes(seed)
        ids = lab04.ex1._probe_ids(candidates, _season)
        seasons = [_season(i) for i in ids]
        assert len(set(seasons)) == 2 and not set(seasons) & {_season(0), _season(1)}, (seed, ids)


# ----------------------------------------------------------------------------- Exercise 2: fake stages
# Exercise 2 requires:
#   R1 a Dataset `catalogue_images` from `catalogue`, left lazy:
#      test_exercise_2_rejects_a_batch_or_a_materialized_dataset
#   R2 each description enhanced by your own Enhancer (the class handed to the check), a map_batches stage:
#      test_exercise_2_rejects_a_class_that_is_not_yours, test_exercise_2_rejects_a_dataset_without_stages
#   R3 (probe) given `enhancer_model` and `catalogue_messages` through map_batches (a builder that makes the same
#      conversations on the check's texts is `catalogue_messages`): test_exercise_2_rejects_wrong_constructor_arguments
#   R4 given the catalogue's column, which holds the descriptions when the Enhancer runs:
#      test_exercise_2_rejects_an_enhancer_given_another_column
#   R5 then drawn by ImageGen (after the Enhancer): test_exercise_2_rejects_images_drawn_before_enhancing,
#      test_exercise_2_rejects_a_pipeline_without_the_image_stage
#   R6 `prompt` holds the enhanced description when ImageGen runs: test_exercise_2_rejects_columns_that_do_not_reach...
#   R7 both models on a GPU, a fraction each, one actor of each fitting one GPU together:
#      test_exercise_2_rejects_gpu_requests_the_lab_does_not_ask_for
#   R8 pools of one actor per stage (not the lesson's GPUS):
#      test_exercise_2_rejects_gpu_requests_the_lab_does_not_ask_for
#   R9 a whole-number batch_size per stage: Ray itself refuses a GPU stage without one (no check)
#   R10 the Enhancer's rows keep their season, and an image per row: test_exercise_2_rejects_rows_without_their_season,
#      test_exercise_2_rejects_wrong_images
# Right answers written otherwise: the rename before the Enhancer, constructor arguments by position, a pandas
# Enhancer, a pyarrow tensor column of images, other shares of the GPU, the Enhancer's cell run again after the
# pipeline's (a new class object, the same code: test_exercise_2_accepts_the_enhancers_cell_run_again), and
# catalogue_messages's cell run again, or another builder of the same conversations
# (test_exercise_2_accepts_catalogue_messages_defined_again).


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
    def __init__(self, model_id=None, prompt_column="description", messages=_catalogue_messages):
        super().__init__(model_id or raycourse.model_id("llm"), prompt_column, messages)


def fake_images(batch):  # a function stage: tasks, no actor start-up
    batch["image"] = np.zeros((len(batch["prompt"]), 32, 48, 3), dtype=np.uint8)
    return batch


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


def _image_gen(draw=fake_images, name="ImageGen"):
    """A class stage named like the lab's (or `name`) that draws with `draw`: no model."""
    return type(name, (), {"__call__": lambda self, batch: draw(batch)})


ImageGen = _image_gen()


def chat_messages(prompt, season):  # the animals' builder, by the lab's name
    return _messages(prompt, season)


ENHANCER_ARGS = {
    "model_id": raycourse.model_id("llm"),
    "prompt_column": "description",
    "messages": _catalogue_messages,
}
ACTOR = {"compute": ray.data.ActorPoolStrategy(size=1)}
ON_GPU = {**ACTOR, "num_gpus": 0.6, "batch_size": 4}  # the enhancer's share of a GPU (Ray wants a batch_size)
IMAGES_ON_GPU = {**ACTOR, "num_gpus": 0.4, "batch_size": 8}
TO_PROMPT = {"description": "prompt"}


@pytest.fixture(scope="module")
def catalogue(ray_session):
    """Four products, built as the lab builds them."""
    import pandas as pd

    outfits = pd.read_csv(raycourse.data_path("outfits")).head(4)
    outfits["description"] = "A product photo of a " + outfits["outfit"]
    return ray.data.from_pandas(outfits).materialize()


def _enhanced(catalogue, enhancer=FakeEnhancer, args=ENHANCER_ARGS, **kwargs):
    """The fake enhancer on the descriptions, on a share of a GPU, then `prompt` for the image stage."""
    return catalogue.map_batches(enhancer, fn_constructor_kwargs=args, **{**ON_GPU, **kwargs}).rename_columns(TO_PROMPT)


def _pipeline(catalogue, draw=fake_images, enhancer=FakeEnhancer, **image_kwargs):
    return _enhanced(catalogue, enhancer).map_batches(_image_gen(draw), **{**IMAGES_ON_GPU, **image_kwargs})


def check2(ds, enhancer=FakeEnhancer):
    return lab04.exercise_2.result(ds, _catalogue_messages, raycourse.model_id("llm"), enhancer)


def _wrong2(ds, message, enhancer=FakeEnhancer):
    verdict = check2(ds, enhancer)
    assert verdict.status == "wrong", verdict
    assert message in verdict.message, verdict
    assert verdict.hint
    return verdict


@pytest.mark.fast
def test_exercise_2_accepts_a_correct_pipeline(catalogue):
    verdict = check2(_pipeline(catalogue))
    assert verdict.passed, verdict
    assert "FakeEnhancer (0.6 GPU) then ImageGen (0.4 GPU), one actor each" in verdict.message


def test_exercise_2_accepts_the_rename_before_the_enhancer_and_other_shares(catalogue):
    args = {**ENHANCER_ARGS, "prompt_column": "prompt"}
    ds = (
        catalogue.rename_columns(TO_PROMPT)
        .map_batches(FakeEnhancer, fn_constructor_kwargs=args, **{**ON_GPU, "num_gpus": 0.25})
        .map_batches(ImageGen, **{**IMAGES_ON_GPU, "num_gpus": 0.75})
    )
    verdict = check2(ds)
    assert verdict.passed, verdict


def test_exercise_2_accepts_constructor_args_given_by_position(catalogue):
    ds = (
        catalogue.map_batches(
            FakeEnhancer, fn_constructor_args=(raycourse.model_id("llm"), "description", _catalogue_messages), **ON_GPU
        )
        .rename_columns(TO_PROMPT)
        .map_batches(ImageGen, **IMAGES_ON_GPU)
    )
    verdict = check2(ds)
    assert verdict.passed, verdict


@pytest.mark.parametrize(
    "ds, enhancer",
    [
        (
            lambda c: (
                c.map_batches(FakePandasEnhancer, batch_format="pandas", fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
                .rename_columns(TO_PROMPT)
                .map_batches(ImageGen, **IMAGES_ON_GPU)
            ),
            FakePandasEnhancer,
        ),
        (lambda c: _pipeline(c, tensor_images), FakeEnhancer),
    ],
)
def test_exercise_2_accepts_other_batch_formats(catalogue, ds, enhancer):
    verdict = check2(ds(catalogue), enhancer)
    assert verdict.passed, verdict


def _enhancer_cell():
    """The notebook cell that defines the Enhancer: each run makes a new class object with the same code."""

    class CellEnhancer(FakeEnhancer):
        def __call__(self, batch):
            return super().__call__(batch)

    return CellEnhancer


def test_exercise_2_accepts_the_enhancers_cell_run_again(catalogue):
    first, again = _enhancer_cell(), _enhancer_cell()
    assert first is not again
    verdict = check2(_pipeline(catalogue, enhancer=first), again)
    assert verdict.passed, verdict


def _catalogue_messages_cell():
    """The setup cell that defines catalogue_messages: each run makes a new function object with the same code."""

    def catalogue_messages(description, season):
        return _catalogue_messages(description, season)

    return catalogue_messages


def test_exercise_2_accepts_catalogue_messages_defined_again(catalogue):
    first, again = _catalogue_messages_cell(), _catalogue_messages_cell()
    assert first is not again
    args = {**ENHANCER_ARGS, "messages": first}
    ds = _enhanced(catalogue, args=args).map_batches(ImageGen, **IMAGES_ON_GPU)
    verdict = lab04.exercise_2.result(ds, again, raycourse.model_id("llm"), FakeEnhancer)
    assert verdict.passed, verdict
    args = {**ENHANCER_ARGS, "messages": lambda text, season: _catalogue_messages(text, season)}  # the same chats
    ds = _enhanced(catalogue, args=args).map_batches(ImageGen, **IMAGES_ON_GPU)
    assert check2(ds).passed


def test_exercise_2_rejects_an_enhancer_given_another_column(catalogue):
    """The Enhancer given the bare outfit, renamed to `prompt` for ImageGen: the enhanced text is not the
    catalogue's description."""
    args = {**ENHANCER_ARGS, "prompt_column": "outfit"}
    ds = (
        catalogue.map_batches(FakeEnhancer, fn_constructor_kwargs=args, **ON_GPU)
        .rename_columns({"outfit": "prompt"})
        .map_batches(ImageGen, **IMAGES_ON_GPU)
    )
    verdict = _wrong2(ds, "FakeEnhancer is given prompt_column='outfit', and that column holds")
    assert "not a description of the catalogue" in verdict.message


def test_exercise_2_rejects_a_dataset_without_stages(catalogue):
    """A lazy Dataset with no map_batches stage is not "run already"."""
    verdict = _wrong2(catalogue.rename_columns(TO_PROMPT), "has no `map_batches` stage")
    assert "run already" not in verdict.message


def test_exercise_2_rejects_a_class_that_is_not_yours(catalogue):
    """Another class with the right constructor arguments in the pipeline (the lesson's, a copy, a second try), an
    older definition of the learner's class, and a check cell that hands over no class."""
    verdict = _wrong2(_pipeline(catalogue), "runs `FakeEnhancer`, not your `FakePandasEnhancer`", FakePandasEnhancer)
    assert "map_batches(Enhancer" in verdict.hint and len(verdict.message) < 200
    changed = type("FakeEnhancer", (FakeEnhancer,), {"__call__": lambda self, batch: batch})  # its cell edited
    _wrong2(_pipeline(catalogue), "runs `FakeEnhancer` (an older definition", changed)
    verdict = _wrong2(_pipeline(catalogue), "got no `Enhancer` class", None)
    assert "enhancer_model, Enhancer)" in verdict.hint


@pytest.mark.fast
def test_exercise_2_placeholder_is_not_solved():
    verdict = check2(...)
    assert verdict.status == "not solved"


def test_exercise_2_rejects_a_batch_or_a_materialized_dataset(catalogue):
    _wrong2(catalogue.take_batch(2), "not a Ray Dataset")
    verdict = _wrong2(_pipeline(catalogue).materialize(), "was run already (materialized, made by ")
    assert "FakeEnhancer" in verdict.message


@pytest.mark.parametrize(
    "enhancer, args, message",
    [
        (FakeEnhancerWithDefaults, None, "no class stage gets constructor arguments"),
        (FakeEnhancer, {**ENHANCER_ARGS, "messages": chat_messages}, "`chat_messages`, not `catalogue_messages`"),
        (
            FakeEnhancerWithDefaults,
            {"model_id": raycourse.model_id("llm"), "prompt_column": "description"},
            "builder(s) none, not `catalogue_messages`",
        ),
        (FakeEnhancer, {**ENHANCER_ARGS, "model_id": "Qwen/Qwen2.5-7B-Instruct"}, "is not given `enhancer_model`"),
    ],
)
def test_exercise_2_rejects_wrong_constructor_arguments(catalogue, enhancer, args, message):
    ds = catalogue.map_batches(enhancer, fn_constructor_kwargs=args, **ON_GPU).rename_columns(TO_PROMPT)
    verdict = _wrong2(ds.map_batches(ImageGen, **IMAGES_ON_GPU), message, enhancer)
    if args is None:
        assert "fn_constructor_kwargs" in verdict.hint


@pytest.mark.parametrize(
    "first, name", [(ImageGen, "ImageGen"), (_image_gen(name="Painter"), "Painter"), (fake_images, "fake_images")]
)
def test_exercise_2_rejects_images_drawn_before_enhancing(catalogue, first, name):
    stage = ACTOR if isinstance(first, type) else {}
    args = {**ENHANCER_ARGS, "prompt_column": "prompt"}
    ds = (
        catalogue.rename_columns(TO_PROMPT)
        .map_batches(first, **stage)
        .map_batches(FakeEnhancer, fn_constructor_kwargs=args, **ON_GPU)
    )
    _wrong2(ds, f"{name} draws the images (column 'image') before FakeEnhancer runs")


def test_exercise_2_rejects_a_pipeline_without_the_image_stage(catalogue):
    _wrong2(_enhanced(catalogue), "no `ImageGen` stage runs after FakeEnhancer (stages after it: none)")
    _wrong2(_enhanced(catalogue).map_batches(fake_images), "(stages after it: fake_images)")


@pytest.mark.parametrize(
    "build, message",
    [
        (lambda c: _pipeline(c, num_gpus=0), "ImageGen asks for num_gpus=0"),  # "both models on a GPU"
        (lambda c: _enhanced(c, num_gpus=1).map_batches(ImageGen, **IMAGES_ON_GPU), "FakeEnhancer asks for num_gpus=1"),
        (
            lambda c: _pipeline(c, num_gpus=0.6),  # each a fraction, but not one of each on one GPU
            "FakeEnhancer 0.6 + ImageGen 0.6 = 1.2 GPUs: the models cannot share a GPU",
        ),
        (  # the lesson's sizing, a pool per GPU, where the lab asks for one actor per stage
            lambda c: _pipeline(c, compute=ray.data.ActorPoolStrategy(size=int(ray.cluster_resources()["GPU"]))),
            "the pool of ImageGen has",
        ),
    ],
)
def test_exercise_2_rejects_gpu_requests_the_lab_does_not_ask_for(catalogue, build, message):
    _wrong2(build(catalogue), message)


def test_exercise_2_rejects_rows_without_their_season(catalogue):
    _wrong2(_pipeline(catalogue, enhancer=FakeEnhancerWithoutSeason), "no 'season' column", FakeEnhancerWithoutSeason)


@pytest.mark.parametrize(
    "build, message",
    [
        # the descriptions enhanced, but nothing in `prompt`: the image stage fails
        (
            lambda c: c.map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU).map_batches(
                ImageGen, **IMAGES_ON_GPU
            ),
            "failed: KeyError: 'prompt'",
        ),
        # renamed first, the Enhancer still told to read `description`
        (
            lambda c: (
                c.rename_columns(TO_PROMPT)
                .map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
                .map_batches(ImageGen, **IMAGES_ON_GPU)
            ),
            "failed: KeyError: 'description'",
        ),
        # a copy of the description in `prompt` before the Enhancer: the image stage draws the original
        (
            lambda c: (
                c.map_batches(lambda b: {**b, "prompt": b["description"]})
                .map_batches(FakeEnhancer, fn_constructor_kwargs=ENHANCER_ARGS, **ON_GPU)
                .map_batches(ImageGen, **IMAGES_ON_GPU)
            ),
            "have an unenhanced text in 'prompt', e.g. 'A product photo of a",
        ),
        # no Enhancer at all
        (
            lambda c: c.rename_columns(TO_PROMPT).map_batches(ImageGen, **IMAGES_ON_GPU),
            "no class stage gets constructor arguments (class stages: ImageGen)",
        ),
    ],
)
def test_exercise_2_rejects_columns_that_do_not_reach_the_image_stage(catalogue, build, message):
    verdict = _wrong2(build(catalogue), message)
    assert len(verdict.message) < 300  # the learner's own error line, not Ray's traceback


@pytest.mark.parametrize(
    "draw, expected",
    [(gray_images, "shape (32, 32)"), (float_images, "dtype float32"), (lambda b: b, "no 'image' column")],
)
def test_exercise_2_rejects_wrong_images(catalogue, draw, expected):
    _wrong2(_pipeline(catalogue, draw), expected)


@pytest.mark.fast
def test_exercise_2_rejects_an_empty_dataset(catalogue):
    from ray.data.expressions import col

    empty = catalogue.filter(expr=col("id") < 0)
    _wrong2(_pipeline(empty), "no rows")


# Stretch: what the LLM reads, in tokens ---------------------------------------------------------------
# The stretch requires:
#   R1 `costs`, a Dataset of `catalogue` with `n_tokens`: test_stretch_rejects_a_table_and_a_function_stage,
#      test_stretch_rejects_wrong_counts (its description renamed)
#   R2 the tokens of the whole chat through the chat template with the generation prompt:
#      test_stretch_rejects_wrong_counts
#   R3 (probe) each row's chat is catalogue_messages(description, season_for(id)), with its own id's season (the
#      check's ids, whose seasons differ from each other and from their positions'; a season is one token, so the
#      counts cannot tell): test_stretch_rejects_seasons_not_of_the_row_id[fixed, positional]
#   R4 in a class stage TokenCounter (left lazy): test_stretch_rejects_a_table_and_a_function_stage
#   R5 (probe) that loads the tokenizer once per actor: test_stretch_rejects_a_tokenizer_loaded_per_batch
#   R6 a pool of one actor with no GPU: test_stretch_rejects_a_gpu_or_a_larger_pool
# Right answers written otherwise: the template as text, then tokenized; the constructor's argument by position
# (test_stretch_accepts_constructor_args_given_by_position).


def _token_counter(count, column="description", per_batch=False, by_position=False):
    """A class stage named TokenCounter: `count(tokenizer, description, row id)` per row (`by_position`: the row's
    position in the batch instead of its id)."""

    def __init__(self, model_id):
        from transformers import AutoTokenizer

        self.model_id = model_id
        self.tokenizer = None if per_batch else AutoTokenizer.from_pretrained(model_id)

    def __call__(self, batch):
        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(self.model_id) if per_batch else self.tokenizer
        ids = range(len(batch["id"])) if by_position else batch["id"]
        batch["n_tokens"] = np.array([count(tokenizer, d, i) for d, i in zip(batch[column], ids)])
        return batch

    return type("TokenCounter", (), {"__init__": __init__, "__call__": __call__})


def _chat_ids(tokenizer, description, row_id):  # the solution's way
    chat = _catalogue_messages(description, _season(row_id))
    return len(tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"])


def _chat_text(tokenizer, description, row_id):  # another way: the template as text, then tokenize it
    chat = _catalogue_messages(description, _season(row_id))
    text = tokenizer.apply_chat_template(chat, tokenize=False, add_generation_prompt=True)
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def _description_only(tokenizer, description, row_id):
    return len(tokenizer(description)["input_ids"])


def _winter_chat(tokenizer, description, row_id):  # one season for every row
    chat = _catalogue_messages(description, "winter")
    return len(tokenizer.apply_chat_template(chat, add_generation_prompt=True)["input_ids"])


def _costs(catalogue, count=_chat_ids, column="description", per_batch=False, by_position=False, **kwargs):
    return catalogue.map_batches(
        _token_counter(count, column, per_batch, by_position),
        fn_constructor_kwargs={"model_id": raycourse.model_id("llm")},
        **{"compute": ray.data.ActorPoolStrategy(size=1), **kwargs},
    )


def _stretch(costs, messages=_catalogue_messages):
    return lab04.stretch.result(costs, messages, _season)


@pytest.mark.fast
def test_stretch_placeholder_is_not_solved():
    assert lab04.stretch.result(..., _catalogue_messages, _season).status == "not solved"


@pytest.mark.fast
def test_stretch_accepts_a_tokenizer_actor_counting_ids_or_text(catalogue):
    verdict = _stretch(_costs(catalogue))
    assert verdict.passed, verdict
    assert _stretch(_costs(catalogue, _chat_text, batch_size=2)).passed


def test_stretch_rejects_wrong_counts(catalogue):
    verdict = _stretch(_costs(catalogue, _description_only))
    assert verdict.status == "wrong" and "the tokens of the description alone" in verdict.message
    verdict = _stretch(_costs(catalogue), _messages)  # counted with another conversation
    assert verdict.status == "wrong" and "the chat the Enhancer sends for it is" in verdict.message
    renamed = _costs(catalogue.rename_columns(TO_PROMPT), column="prompt")
    verdict = _stretch(renamed)
    assert verdict.status == "wrong" and "no `description` column" in verdict.message


def test_stretch_accepts_constructor_args_given_by_position(catalogue):
    costs = catalogue.map_batches(
        _token_counter(_chat_ids),
        fn_constructor_args=(raycourse.model_id("llm"),),
        compute=ray.data.ActorPoolStrategy(size=1),
    )
    verdict = _stretch(costs)
    assert verdict.passed, verdict


@pytest.mark.parametrize("case", ["fixed", "positional"])
def test_stretch_rejects_seasons_not_of_the_row_id(catalogue, case):
    """Right counts on the catalogue (a season is one token), but the chat of another season: found on the probe."""
    costs = _costs(catalogue, _winter_chat) if case == "fixed" else _costs(catalogue, by_position=True)
    verdict = lab04.stretch.result(costs, _catalogue_messages, _season, seed=SEED)
    assert verdict.status == "wrong", verdict
    assert "the chat counted for id " in verdict.message and "; season_for(" in verdict.message, verdict
    if case == "positional":
        assert "the row's position in the batch, not its id" in verdict.message, verdict


@pytest.mark.fast
def test_stretch_rejects_a_table_and_a_function_stage(catalogue):
    table = catalogue.to_pandas().assign(n_tokens=1)
    verdict = _stretch(table)
    assert verdict.status == "wrong" and "is a DataFrame, not a Ray Dataset" in verdict.message
    counter = _token_counter(_chat_ids)(raycourse.model_id("llm"))
    verdict = _stretch(catalogue.map_batches(lambda b: counter(b)))  # right counts, but not in a TokenCounter stage
    assert verdict.status == "wrong" and "no class stage `TokenCounter`" in verdict.message
    verdict = _stretch(_costs(catalogue).materialize())
    assert verdict.status == "wrong" and "it was run already" in verdict.message


@pytest.mark.parametrize(
    "kwargs", [{"num_gpus": 0.5, "batch_size": 4}, {"compute": ray.data.ActorPoolStrategy(min_size=1, max_size=2)}]
)
def test_stretch_rejects_a_gpu_or_a_larger_pool(catalogue, kwargs):
    verdict = _stretch(_costs(catalogue, **kwargs))
    assert verdict.status == "wrong" and "the lab asks for one actor and no GPU" in verdict.message, verdict


def test_stretch_rejects_a_tokenizer_loaded_per_batch(catalogue):
    verdict = _stretch(_costs(catalogue, per_batch=True))
    assert verdict.status == "wrong" and "loaded a tokenizer 1 times" in verdict.message, verdict


# Two halves: the observation of a right answer passes the judge, a forged one does not ---------------------------
# Exercise 1's probe batch comes from the seed: an observation made with another seed's probes is refused.

SEED = 20240611


def _forged(seen, path, value):
    import copy

    forged = copy.deepcopy(seen)
    *keys, last = path
    target = forged
    for key in keys:
        target = target[key]
    target[last] = value
    return forged


def _not_passed(check, observation, seed=SEED):
    verdict = check.decide(observation, seed)
    assert not verdict.passed, verdict
    return verdict


@pytest.fixture(scope="module")
def ex1_seen():
    return lab04.exercise_1.observe(SolutionEnhancer, _season, seed=SEED)


def test_exercise_1_observation_of_the_solution_passes_the_judge(ex1_seen):
    assert lab04.exercise_1.decide(ex1_seen, SEED).passed
    prompts, _ = lab04.probes(SEED)
    assert ex1_seen["prompts"] == prompts and prompts != lab04.probes(SEED + 1)[0]


def test_exercise_1_judge_refuses_a_forged_observation(ex1_seen):
    assert "not the one of this check's seed" in _not_passed(lab04.exercise_1, ex1_seen, SEED + 1).message
    unchanged = {**ex1_seen["columns"], "caption": list(ex1_seen["prompts"])}
    assert "came back unchanged" in _not_passed(lab04.exercise_1, _forged(ex1_seen, ("columns",), unchanged)).message
    assert "generate calls sampled" in _not_passed(lab04.exercise_1, _forged(ex1_seen, ("sampled",), [1])).message
    assert "ignores `model_id`" in _not_passed(lab04.exercise_1, _forged(ex1_seen, ("missing_model",), "ran")).message
    _not_passed(lab04.exercise_1, _forged(ex1_seen, ("missing_model",), None))
    other = [s for s in SEASONS if s != ex1_seen["seasons_for"][0]][0]
    seasons = _forged(ex1_seen, ("seasons_for",), [other, ex1_seen["seasons_for"][1]])
    assert "was built with the season" in _not_passed(lab04.exercise_1, seasons).message
    assert "never called the `messages`" in _not_passed(lab04.exercise_1, _forged(ex1_seen, ("calls",), [])).message
    second = _forged(ex1_seen, ("second_seasons",), [other, ex1_seen["seasons_for"][1]])
    assert "came back in the second batch with the season" in _not_passed(lab04.exercise_1, second).message
    _not_passed(lab04.exercise_1, {"ok": True})


@pytest.fixture(scope="module")
def ex2_seen(catalogue):
    return lab04.exercise_2.observe(
        _pipeline(catalogue), _catalogue_messages, raycourse.model_id("llm"), FakeEnhancer, seed=SEED
    )


def test_exercise_2_observation_of_the_solution_passes_the_judge(ex2_seen):
    assert lab04.exercise_2.decide(ex2_seen, SEED).passed


def test_exercise_2_judge_refuses_a_forged_observation(ex2_seen):
    _not_passed(lab04.exercise_2, _forged(ex2_seen, ("rows", "images"), []))
    outfits = pd.read_csv(raycourse.data_path("outfits"))["outfit"]
    originals = ["A product photo of a " + o for o in outfits[: len(ex2_seen["rows"]["prompts"])]]
    forged = _forged(ex2_seen, ("rows", "prompts"), originals)  # the descriptions as they came in
    assert "unenhanced text" in _not_passed(lab04.exercise_2, forged).message
    forged = _forged(ex2_seen, ("before",), {"columns": ["image"], "drawn_by": "ImageGen"})
    assert "before FakeEnhancer runs" in _not_passed(lab04.exercise_2, forged).message
    plan = [{**s, "yours": False} for s in ex2_seen["plan"]]
    assert "not your `FakeEnhancer`" in _not_passed(lab04.exercise_2, _forged(ex2_seen, ("plan",), plan)).message
    plan = [{**s, "num_gpus": 1.0} for s in ex2_seen["plan"]]
    assert "num_gpus=1" in _not_passed(lab04.exercise_2, _forged(ex2_seen, ("plan",), plan)).message
    assert "no rows" in _not_passed(lab04.exercise_2, _forged(ex2_seen, ("rows", "prompts"), [])).message
    assert ex2_seen["read"] == {"column": "description", "values": [ex2_seen["read"]["values"][0]]}
    read = {"column": "outfit", "values": ["yellow raincoat"]}
    assert "prompt_column='outfit'" in _not_passed(lab04.exercise_2, _forged(ex2_seen, ("read",), read)).message
    _not_passed(lab04.exercise_2, {"ok": True})


def _observe(chat):
    return [{"role": m["role"], "content": m["content"]} for m in chat]


@pytest.fixture(scope="module")
def stretch_seen(catalogue):
    return lab04.stretch.observe(_costs(catalogue), _catalogue_messages, _season, seed=SEED)


def test_stretch_observation_of_the_solution_passes_the_judge(stretch_seen):
    assert lab04.stretch.decide(stretch_seen, SEED).passed


def test_stretch_judge_refuses_a_forged_observation(stretch_seen):
    counts = [{**r, "n_tokens": r["n_tokens"] + 1} for r in stretch_seen["rows"]]
    assert "the chat the Enhancer sends" in _not_passed(lab04.stretch, _forged(stretch_seen, ("rows",), counts)).message
    bare = [{**r, "chat": [m for m in r["chat"] if m["role"] != "system"]} for r in stretch_seen["rows"]]
    _not_passed(lab04.stretch, _forged(stretch_seen, ("rows",), bare))  # a chat cut down to match a short count
    assert "is empty" in _not_passed(lab04.stretch, _forged(stretch_seen, ("n_rows",), 0)).message
    _not_passed(lab04.stretch, _forged(stretch_seen, ("rows",), []))
    loads = _forged(stretch_seen, ("loads", "end"), [1, 0])
    assert "loaded a model 1 times" in _not_passed(lab04.stretch, loads).message
    assert "not the one of this check's seed" in _not_passed(lab04.stretch, stretch_seen, SEED + 1).message
    probe = stretch_seen["probe"]
    assert probe["chats"], probe  # the probe saw the chats the TokenCounter sent
    other = [s for s in SEASONS if s != probe["seasons_for"][0]][0]
    wrong = [_observe(_catalogue_messages(probe["descriptions"][0], other)), *probe["chats"][1:]]
    forged = _not_passed(lab04.stretch, _forged(stretch_seen, ("probe", "chats"), wrong))
    assert f"has the season {other!r}" in forged.message
