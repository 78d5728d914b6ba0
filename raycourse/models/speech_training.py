"""The speech-to-text stand-in: a ``WhisperForConditionalGeneration`` of tiny dimensions, trained on the world's speech.

A random Whisper writes nothing a pipeline could check. The stand-in is therefore trained (on one CPU thread,
deterministic; about half an hour on a quiet core) on reviews of the shop's kind
(:func:`raycourse.world.review_example`: its templates, outfits and pets) and on random strings of the same words
(:func:`random_strings`: a review's template can be guessed, a random string only heard), spoken by eSpeak NG with
the voices of :data:`raycourse.world.speech.TRAINING_VOICES` at random speeds and pitches; every step hears new
recordings of them (stretched, shifted, louder or softer, with hiss, and with bands of the spectrogram masked). It
never hears the shipped clips (``data/audio/``): their voices (:data:`~raycourse.world.speech.CLIP_VOICES`) are not
among the training voices, and no sentence of ``data/text/reviews.jsonl`` is among the training sentences; so the
word error rate that ``tests/platform/test_standins.py`` measures on the clips is what it learned. It also hears
silence and noise, whose transcript is empty.

It is laid out like ``openai/whisper-tiny``: the same classes, the same 80 log-mel bins and feature extractor (but
8-second windows instead of 30, and a mel frame every 20 ms instead of 10: the encoder's 200 positions are what a
CPU trains), a byte-level BPE tokenizer with Whisper's special tokens after the text tokens
(``<|startoftranscript|>``, ``<|en|>``, ``<|transcribe|>``, ``<|notimestamps|>``, ...), and Whisper's generation
config, so that ``WhisperProcessor``/``WhisperForConditionalGeneration.from_pretrained``, ``model.generate`` and
``pipeline("automatic-speech-recognition")`` work on it as on the real model. Training needs ``espeak-ng``
(``tools/train_standins.py speech``); the course ships the trained build.
"""

from __future__ import annotations

import json
import pathlib
import re
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from . import bpe
from .. import world
from ..world import speech as world_speech
from .training import _fit, seeded

TRAIN_SEED = 9_2026
CHUNK_SECONDS = 8  # the feature extractor's window (whisper: 30 s); the shipped clips last at most about 6 s
HOP = 320  # samples between two mel frames (whisper: 160): 50 frames a second, 25 encoder positions a second
#: Whisper's special tokens that the stand-in's tokenizer has, after its text tokens, in Whisper's order.
SPECIAL_TOKENS = (
    "<|endoftext|>",
    "<|startoftranscript|>",
    "<|en|>",
    "<|translate|>",
    "<|transcribe|>",
    "<|startoflm|>",
    "<|startofprev|>",
    "<|nospeech|>",
    "<|notimestamps|>",
)
REVIEWS = pathlib.Path(__file__).resolve().parents[2] / "data" / "text" / "reviews.jsonl"


def held_out_sentences() -> set[str]:
    """The review texts of ``data/text/reviews.jsonl`` (the clips speak some of them): never trained on."""
    return {json.loads(line)["text"] for line in REVIEWS.read_text(encoding="utf-8").splitlines() if line.strip()}


def training_sentences(n: int, seed: int = 0) -> list[str]:
    """``n`` reviews of the shop's kind, none of them a text of ``data/text/reviews.jsonl``."""
    rng = np.random.default_rng([TRAIN_SEED, seed, 1])
    held_out = held_out_sentences()
    out = []
    while len(out) < n:
        text = world.review_example(rng)
        if text not in held_out:
            out.append(text)
    return out


def normalise(text: str) -> list[str]:
    """The words of a transcript as a word error rate compares them: lower case, no punctuation but apostrophes."""
    return re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()


def word_errors(reference: str, hypothesis: str) -> tuple[int, int]:
    """(substitutions + deletions + insertions, words of the reference): the word-level edit distance."""
    ref, hyp = normalise(reference), normalise(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1], len(ref)


def word_error_rate(references: list[str], hypotheses: list[str]) -> float:
    """The corpus word error rate: all the errors over all the reference words (as ``jiwer.wer`` computes it)."""
    errors = [word_errors(r, h) for r, h in zip(references, hypotheses, strict=True)]
    return sum(e for e, _ in errors) / max(1, sum(n for _, n in errors))


def tokenizer_words() -> list[str]:
    """Every word the world's reviews can hold: learned whole by the stand-in's tokenizer."""
    words = set(world.review_words())
    for _, outfit in world.OUTFITS:
        words |= {w.strip(".,;:") for w in outfit.split()}
    words |= set(world._COLOUR_WORDS) | {w for c in world._CLOTHES for w in c.split()}
    return sorted(words)


def whisper_tokenizer():
    """A ``WhisperTokenizer`` (fast, byte-level BPE like Whisper's) learned on the world's words, then Whisper's
    special tokens; the prefix ``<|startoftranscript|><|en|><|transcribe|><|notimestamps|>``."""
    from tokenizers import AddedToken
    from transformers import WhisperTokenizer

    words = tokenizer_words()
    # each word after a space and at the start of a sentence, in lower case and capitalised
    extra = (" ".join(words),) * 50 + (" ".join(w.capitalize() for w in words),) * 20
    extra += tuple(w for w in words for _ in range(5)) + tuple(w.capitalize() for w in words for _ in range(5))
    merges = bpe.train_bpe(WhisperTokenizer().backend_tokenizer, 1024 - len(SPECIAL_TOKENS), extra=extra)
    vocab = bpe.build_vocab(merges)
    for token in SPECIAL_TOKENS:
        vocab[token] = len(vocab)
    tokenizer = WhisperTokenizer(
        vocab=vocab, merges=merges, language="english", task="transcribe", predict_timestamps=False, model_max_length=64
    )
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS]}
    )
    tokenizer.pad_token = "<|endoftext|>"
    return tokenizer


def _speak_all(sentences: list[str], seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng([TRAIN_SEED, seed, 2])
    voices = world_speech.TRAINING_VOICES
    jobs = [
        (
            text,
            voices[int(rng.integers(len(voices)))],
            int(rng.integers(*world_speech.TRAINING_SPEEDS)),
            int(rng.integers(*world_speech.TRAINING_PITCHES)),
        )
        for text in sentences
    ]
    with ThreadPoolExecutor(4) as pool:  # eSpeak NG runs in its own processes
        return list(pool.map(lambda job: world_speech.speak(*job), jobs))


def random_strings(n: int, seed: int) -> list[str]:
    """``n`` strings of one to eight of the world's words in random order. A review's words follow its template, so
    a decoder that only reads text guesses most of them; here nothing can be guessed, and the model learns to hear."""
    rng = np.random.default_rng([TRAIN_SEED, seed, 7])
    words = tokenizer_words()
    out = []
    for _ in range(n):
        k = int(rng.integers(1, 9))
        out.append(" ".join(words[int(i)] for i in rng.integers(0, len(words), k)).capitalize() + ".")
    return out


def _augment(samples: np.ndarray, rng: np.random.Generator, window: int, stretch: float = 0.1) -> np.ndarray:
    """A new recording of ``samples`` at each call: stretched in time by up to ``stretch`` (which moves its pitch and
    formants: another voice), a random start, loudness and (sometimes) hiss; float32 in [-1, 1]."""
    x = samples.astype(np.float32) / 32768.0
    factor = rng.uniform(1 - stretch, 1 + stretch)
    x = np.interp(np.arange(int(len(x) / factor)) * factor, np.arange(len(x)), x).astype(np.float32)
    x = x[: window - 1600]
    start = int(rng.integers(0, max(1, min(8000, window - len(x)))))
    x = np.pad(x, (start, 0)) * float(rng.uniform(0.2, 1.3))
    if rng.random() < 0.5:
        x = x + rng.normal(0.0, float(rng.uniform(0.001, 0.02)), len(x)).astype(np.float32)
    return np.clip(x, -1.0, 1.0)


def _mask(features, rng: np.random.Generator) -> None:
    """SpecAugment, in place: a band of up to 10 mel bins and a stretch of up to 20 frames of each row set to the
    row's mean."""
    bins, frames = features.shape[1:]
    for row in features:
        f0, t0 = int(rng.integers(0, bins - 10)), int(rng.integers(0, frames - 20))
        row[f0 : f0 + int(rng.integers(0, 10))] = row.mean()
        row[:, t0 : t0 + int(rng.integers(0, 20))] = row.mean()


def _no_speech(n: int, seed: int) -> list[np.ndarray]:
    """``n`` recordings without words: silence, or hiss and hum at random levels (their transcript is empty)."""
    rng = np.random.default_rng([TRAIN_SEED, seed, 4])
    out = []
    for k in range(n):
        seconds = float(rng.uniform(1.0, 5.0))
        if k % 3 == 0:
            out.append(world_speech.silence(seconds))
        else:
            level = float(rng.uniform(0.1, 1.5))
            out.append(world_speech.to_int16(world_speech.noise(seconds, rng).astype(np.float64) * level))
    return out


def train_speech(
    model,
    processor,
    seed: int = 0,
    *,
    sentences: int = 3000,
    strings: int = 4000,
    silent: int = 450,
    steps: int = 6000,
    batch: int = 32,
    lr: float = 3e-3,
    log=None,
) -> dict:
    """Train a (tiny) ``WhisperForConditionalGeneration`` in place on ``sentences`` of the world's reviews and
    ``strings`` random strings of its words (:func:`random_strings`), spoken, and on ``silent`` recordings without
    words, whose transcript is empty; every step hears new recordings of them (:func:`_augment`, :func:`_mask`).
    AdamW, a one-cycle schedule and gradient clipping, on one CPU thread (repeatable); return what it measured."""
    import torch

    texts = training_sentences(sentences, seed) + random_strings(strings, seed)
    audio = _speak_all(texts, seed) + _no_speech(silent, seed)
    texts += [""] * silent
    rng = np.random.default_rng([TRAIN_SEED, seed, 3])
    extractor, tokenizer = processor.feature_extractor, processor.tokenizer
    ids = [tokenizer(t).input_ids for t in texts]  # <|startoftranscript|><|en|><|transcribe|><|notimestamps|> ... eot
    pad = tokenizer.convert_tokens_to_ids("<|endoftext|>")  # whisper pads with its end of text
    generator = torch.Generator().manual_seed(seed)

    def batch_loss(step):
        index = torch.randperm(len(texts), generator=generator)[:batch].tolist()
        recordings = [_augment(audio[i], rng, extractor.n_samples) for i in index]
        features = extractor(
            recordings, sampling_rate=world_speech.SAMPLE_RATE, return_tensors="pt", device="cpu"
        ).input_features
        _mask(features, rng)
        width = max(len(ids[i]) for i in index) - 1
        inputs = torch.full((len(index), width), pad)
        labels = torch.full((len(index), width), -100)
        for row, i in enumerate(index):
            inputs[row, : len(ids[i]) - 1] = torch.tensor(ids[i][:-1])
            labels[row, : len(ids[i]) - 1] = torch.tensor(ids[i][1:])
        return model(input_features=features, decoder_input_ids=inputs, labels=labels).loss

    losses = _fit(
        model, batch_loss, steps=steps, lr=lr, warm=0.1, name="speech", every=100, log=log, clip_norm=1.0, threads=1
    )
    return {
        "sentences": sentences,
        "strings": strings,
        "silent": silent,
        "steps": steps,
        "batch": batch,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def build_speech(out: pathlib.Path, seed: int, *, log=None, **training) -> None:
    """Write the trained stand-in (model, processor, generation config) into ``out``."""
    from transformers import (
        GenerationConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
    )

    tokenizer = whisper_tokenizer()
    special = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    eot, sot = special["<|endoftext|>"], special["<|startoftranscript|>"]
    space = tokenizer.convert_tokens_to_ids("Ġ")
    config = _whisper_config(len(tokenizer), eot, sot, space)
    extractor = WhisperFeatureExtractor(
        feature_size=80, sampling_rate=world_speech.SAMPLE_RATE, hop_length=HOP, chunk_length=CHUNK_SECONDS, n_fft=400
    )
    processor = WhisperProcessor(feature_extractor=extractor, tokenizer=tokenizer)
    with seeded(seed):
        model = WhisperForConditionalGeneration(config)
        train_speech(model, processor, seed, log=log, **training)
    # whisper-tiny's generation config, for this vocabulary: English only, transcription, no timestamps by default
    model.generation_config = GenerationConfig(
        decoder_start_token_id=sot,
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=64,
        begin_suppress_tokens=[space, eot],
        suppress_tokens=[],
        is_multilingual=True,
        lang_to_id={"<|en|>": special["<|en|>"]},
        task_to_id={"transcribe": special["<|transcribe|>"], "translate": special["<|translate|>"]},
        no_timestamps_token_id=special["<|notimestamps|>"],
        prev_sot_token_id=special["<|startofprev|>"],
        alignment_heads=[[1, 0], [1, 1]],
    )
    model.save_pretrained(out)
    processor.save_pretrained(out)


def _whisper_config(vocab_size: int, eot: int, sot: int, space: int):
    """The speech stand-in's Whisper config: whisper-tiny's layout at a fraction of its width, for a vocabulary of
    ``vocab_size`` with these end-of-text, start-of-transcript and space tokens."""
    from transformers import WhisperConfig

    return WhisperConfig(
        vocab_size=vocab_size,
        num_mel_bins=80,
        d_model=64,
        encoder_layers=2,
        encoder_attention_heads=4,
        encoder_ffn_dim=256,
        decoder_layers=2,
        decoder_attention_heads=4,
        decoder_ffn_dim=256,
        max_source_positions=CHUNK_SECONDS * world_speech.SAMPLE_RATE // HOP // 2,  # the second convolution halves
        max_target_positions=64,
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
        decoder_start_token_id=sot,
        begin_suppress_tokens=[space, eot],
        suppress_tokens=[],
        scale_embedding=False,
        dropout=0.0,
    )
