"""The world's speech: the shop's reviews spoken by eSpeak NG's voices, at 16 kHz, mono, 16-bit.

``tools/make_data.py`` speaks some reviews of ``data/text/reviews.jsonl`` into ``data/audio/`` with the voices of
:data:`CLIP_VOICES`; the speech stand-in (:mod:`raycourse.models.speech_training`) trains on *other* sentences of the
same kind (:func:`raycourse.world.review_example`) spoken by the *other* voices of :data:`TRAINING_VOICES`, so what the
tests measure on the shipped clips is what it learned. Synthesis needs the ``espeak-ng`` program (Debian/Ubuntu:
``apt-get install espeak-ng``; macOS: ``brew install espeak-ng``); reading the shipped clips needs nothing of it.

eSpeak NG is a formant synthesiser: the same text, voice, speed and pitch give the same samples on the same
version (Debian 12's 1.51 made the shipped clips); another version may pronounce a word a little differently.
"""

from __future__ import annotations

import io
import math
import shutil
import subprocess
import wave

import numpy as np

#: The clips' sampling rate (what Whisper's feature extractor expects).
SAMPLE_RATE = 16_000
ESPEAK = "espeak-ng"

#: The voices of the shipped clips (``data/audio/``): a language and an eSpeak variant. The stand-in never hears them.
CLIP_VOICES: tuple[str, ...] = ("en-us+m3", "en-us+f2", "en-gb+m5", "en-us+f4", "en-gb-x-rp+m2")
#: The voices the stand-in learns from: the other variants, and other accents.
TRAINING_VOICES: tuple[str, ...] = tuple(
    f"{language}+{variant}"
    for language in ("en-us", "en-gb", "en-gb-x-rp", "en-gb-scotland", "en-029")
    for variant in ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5")
    if f"{language}+{variant}" not in CLIP_VOICES
)
#: Words a minute and pitch (0-99) of the shipped clips, and the ranges the training draws from.
CLIP_SPEEDS = (160, 175, 190)
CLIP_PITCHES = (35, 50, 65)
TRAINING_SPEEDS = (145, 210)
TRAINING_PITCHES = (20, 80)


class SpeechSynthesisError(RuntimeError):
    """eSpeak NG is missing or failed."""


def have_espeak() -> bool:
    return shutil.which(ESPEAK) is not None


def speak(text: str, voice: str, speed: int, pitch: int) -> np.ndarray:
    """``text`` spoken by eSpeak NG's ``voice`` at ``speed`` words a minute and ``pitch`` (0-99): int16 samples at
    :data:`SAMPLE_RATE`, with the synthesiser's leading and trailing silence cut to a tenth of a second."""
    if not have_espeak():
        raise SpeechSynthesisError(
            "eSpeak NG (the `espeak-ng` program) is not installed, and it speaks the world's sentences. Install it "
            "(Debian/Ubuntu: `apt-get install espeak-ng`; macOS: `brew install espeak-ng`). Only remaking the clips "
            "or training the speech stand-in needs it; the course ships both."
        )
    result = subprocess.run(
        [ESPEAK, "-v", voice, "-s", str(speed), "-p", str(pitch), "--stdout", text], capture_output=True, check=False
    )
    if result.returncode != 0 or not result.stdout:
        raise SpeechSynthesisError(f"espeak-ng failed on voice {voice!r}: {result.stderr.decode(errors='replace')}")
    with wave.open(io.BytesIO(result.stdout)) as wav:
        rate = wav.getframerate()
        # eSpeak's --stdout header gives an unknown length (0xFFFFFFFF): take what follows it
        frames = wav.readframes(wav.getnframes() if wav.getnframes() < 1 << 30 else 1 << 30)
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    samples = _trim(samples, rate)
    return to_int16(resample(samples, rate, SAMPLE_RATE))


def _trim(samples: np.ndarray, rate: int, keep: float = 0.1) -> np.ndarray:
    loud = np.flatnonzero(np.abs(samples) > 64)
    if loud.size == 0:
        return samples[: int(rate * keep)]
    pad = int(rate * keep)
    return samples[max(0, loud[0] - pad) : loud[-1] + pad]


def resample(samples: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling by the FFT (deterministic, NumPy only). The signal is padded with silence to a length
    whose FFT is fast (the rates' ratio times a power of two), resampled, and cut back to its own length."""
    if rate == new_rate:
        return samples
    common = math.gcd(rate, new_rate)
    up, down = new_rate // common, rate // common
    blocks = 1 << max(0, math.ceil(math.log2(max(1, len(samples)) / down)))
    padded = np.pad(samples, (0, down * blocks - len(samples)))
    n_new = up * blocks
    spectrum = np.fft.rfft(padded)
    keep = n_new // 2 + 1
    spectrum = spectrum[:keep] if keep <= len(spectrum) else np.pad(spectrum, (0, keep - len(spectrum)))
    return (np.fft.irfft(spectrum, n_new) * (n_new / len(padded)))[: int(round(len(samples) * up / down))]


def to_int16(samples: np.ndarray) -> np.ndarray:
    return np.clip(np.round(samples), -32768, 32767).astype(np.int16)


def wav_bytes(samples: np.ndarray, rate: int = SAMPLE_RATE) -> bytes:
    """A 16-bit mono PCM WAV file of ``samples`` (int16), with no timestamps: the same samples, the same bytes."""
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(np.asarray(samples, dtype="<i2").tobytes())
    return buffer.getvalue()


def silence(seconds: float) -> np.ndarray:
    """A clip with nothing in it (a microphone that recorded nothing)."""
    return np.zeros(int(SAMPLE_RATE * seconds), dtype=np.int16)


def noise(seconds: float, rng: np.random.Generator) -> np.ndarray:
    """A clip of loud hiss and hum, no speech (a garbled recording)."""
    n = int(SAMPLE_RATE * seconds)
    t = np.arange(n) / SAMPLE_RATE
    hiss = rng.normal(0.0, 4000.0, n)
    hum = 3000.0 * np.sin(2 * np.pi * 50 * t) * (1 + 0.5 * np.sin(2 * np.pi * 1.5 * t))
    return to_int16(hiss + hum)
