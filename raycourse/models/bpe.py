"""Byte-level BPE for the stand-ins' tokenizers, learned here on a built-in corpus and deterministically.

The trained stand-ins (:mod:`raycourse.models.standins`, :mod:`raycourse.models.speech_training`) each learn a small
vocabulary laid out like their real model's (Qwen's, CLIP's, Whisper's): the same byte alphabet, then merges of the
corpus below plus the words of the course's world.
"""

from __future__ import annotations

_ANIMALS = (
    "cat dog raccoon red fox barn owl hedgehog rabbit bunny bear panda koala "
    "penguin otter squirrel deer horse pony cow pig sheep goat llama alpaca "
    "duck goose chicken parrot eagle swan frog turtle lizard snake dolphin whale "
    "seal walrus lion tiger leopard cheetah zebra giraffe elephant hippo monkey "
    "gorilla kangaroo mouse hamster badger beaver moose wolf puppy kitten"
).split()
_CLOTHES = (
    "raincoat sweater scarf hat cap beanie jacket coat hoodie shirt dress skirt "
    "tuxedo bow tie suit vest robe cloak cape boots shoes sneakers socks gloves "
    "mittens sunglasses glasses necklace crown tiara helmet apron pajamas kimono "
    "poncho overalls jeans shorts uniform costume armor backpack umbrella"
).split()
_COLORS = (
    "red orange yellow green blue purple pink brown black white grey gray gold "
    "silver beige teal navy crimson pastel bright dark light colorful striped"
).split()
_SEASONS = (
    "spring summer autumn fall winter snow rain sunny cloudy windy storm morning "
    "evening night sunset sunrise Christmas Halloween holiday festival birthday"
).split()
_STYLES = (
    "photo photograph cinematic portrait painting watercolor oil pencil sketch "
    "drawing illustration cartoon anime digital art pixel poster studio lighting "
    "close up wide angle detailed realistic vintage impressionist charcoal ink "
    "pastel canvas gallery museum camera lens focus bokeh frame composition"
).split()
_PLACES = (
    "forest garden park beach mountain river lake city street kitchen library "
    "cafe shop market meadow field desert island castle village farm studio"
).split()
_WORDS = (
    "the a an of in on with and or to is are was for at by from this that it "
    "wearing sitting standing running playing looking smiling happy cute funny "
    "small big little old young tiny fluffy elegant cozy warm cold soft "
    "traditional modern classic fancy Italian French Japanese knitted woolen "
    "leather cotton silk review product customer quality fits size great good "
    "bad love like nice perfect poor cheap expensive recommend would buy again "
    "image picture model pipeline data batch label class train test score"
).split()


def corpus() -> list[str]:
    """A deterministic, built-in English corpus of course-related sentences."""
    lines = []
    n = 0
    for i, animal in enumerate(_ANIMALS):
        for j in range(6):
            style = _STYLES[(i * 7 + j * 3) % len(_STYLES)]
            color = _COLORS[(i * 5 + j) % len(_COLORS)]
            cloth = _CLOTHES[(i * 3 + j * 5) % len(_CLOTHES)]
            season = _SEASONS[(i + j * 7) % len(_SEASONS)]
            place = _PLACES[(i * 2 + j) % len(_PLACES)]
            word = _WORDS[n % len(_WORDS)]
            n += 1
            lines.append(f"A {style} of a {animal} wearing a {color} {cloth} in {season}, {word} {place}.")
            lines.append(
                f"The {animal} is {_WORDS[(n * 7) % len(_WORDS)]} a {cloth}. "
                f"{color.capitalize()} {style}, {season} {place}!"
            )
    everything = _ANIMALS + _CLOTHES + _COLORS + _SEASONS + _STYLES + _PLACES + _WORDS
    lines.append(" ".join(everything))
    lines.append(" ".join(w.capitalize() for w in everything))
    lines.append("0 1 2 3 4 5 6 7 8 9 10 100 2024 3.5 ? ! , . : ; ' \" ( ) - + = / * % $ # @")
    lines.append("You are a helpful assistant. Describe the image. Write a short caption.")
    return lines


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2 / CLIP / Qwen byte-to-printable-unicode table (same order as theirs)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    bs += list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def train_bpe(backend, vocab_size: int, suffix: str = "", extra: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    """Learn BPE merges on the built-in corpus, deterministically.

    The text is split exactly as ``backend`` (the real tokenizer's normalizer and
    pre-tokenizer) splits it. The merges are learned here rather than with
    ``tokenizers.trainers.BpeTrainer``, whose order among equally frequent pairs
    changes from run to run, which made two builds differ. Ties go to the
    lexicographically smallest pair, so the same corpus always gives the same merges.
    ``extra``: more lines of text, after the corpus.
    """
    from collections import Counter

    words: Counter = Counter()
    for line in corpus() + list(extra):
        text = backend.normalizer.normalize_str(line) if backend.normalizer else line
        for piece, _ in backend.pre_tokenizer.pre_tokenize_str(text):
            symbols = list(piece)
            if suffix:
                symbols[-1] += suffix
            words[tuple(symbols)] += 1
    alphabet = 256 * (2 if suffix else 1)
    merges: list[tuple[str, str]] = []
    while len(merges) < vocab_size - alphabet:
        pairs: Counter = Counter()
        for word, count in words.items():
            for pair in zip(word, word[1:]):
                pairs[pair] += count
        if not pairs:
            break
        best, count = min(pairs.items(), key=lambda item: (-item[1], item[0]))
        if count < 2:
            break
        merges.append(best)
        merged: Counter = Counter()
        for word, n in words.items():
            out, i = [], 0
            while i < len(word):
                if i + 1 < len(word) and (word[i], word[i + 1]) == best:
                    out.append(word[i] + word[i + 1])
                    i += 2
                else:
                    out.append(word[i])
                    i += 1
            merged[tuple(out)] += n
        words = merged
    return merges


def build_vocab(merges: list[tuple[str, str]], suffix: str = "") -> dict[str, int]:
    """Vocab laid out like the real ones: bytes, (bytes + suffix), merged tokens."""
    base = list(bytes_to_unicode().values())
    tokens = base + ([c + suffix for c in base] if suffix else [])
    seen = set(tokens)
    for a, b in merges:
        t = a + b
        if t not in seen:
            seen.add(t)
            tokens.append(t)
    return {t: i for i, t in enumerate(tokens)}
