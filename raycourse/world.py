"""The course's synthetic world: how its sample images are drawn.

``tools/make_data.py`` draws the sample data of ``data/`` with these functions (fixed seeds), and the tiny CLIP
stand-in (``raycourse.standins``) trains on more images drawn by the same rules with other seeds, captioned with
what each shows: the stripes' orientation and their two colours by name. The rules are written down in
``data/README.md``.
"""

from __future__ import annotations

import numpy as np

SIZES = [48, 64, 80, 96, 112, 128, 144, 160]


def _two_colours(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Two random RGB colours that differ clearly in brightness."""
    while True:
        a = rng.integers(0, 256, size=3).astype(np.float32)
        b = rng.integers(0, 256, size=3).astype(np.float32)
        luma = np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if abs(float(luma @ (a - b))) >= 70:
            return a, b


def draw_stripes(rng: np.random.Generator, horizontal: bool, noise: float = 8.0) -> np.ndarray:
    """An HxWx3 uint8 image of (slightly tilted) stripes in two random colours.

    Colours, stripe width, duty cycle, phase, tilt, image size and a distracting
    blob are drawn from the same distributions for both classes; only the stripe
    orientation differs.
    """
    return draw_stripes_with_colours(rng, horizontal, noise)[0]


def draw_stripes_with_colours(rng: np.random.Generator, horizontal: bool,
                              noise: float = 8.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`draw_stripes`, and the stripes' two colours (RGB): what a caption of the image names."""
    w = int(rng.choice(SIZES))
    h = int(rng.choice(SIZES)) if rng.random() < 0.6 else w
    c1, c2 = _two_colours(rng)
    # The stripe period is chosen relative to the axis it varies along, so that
    # after resizing to 224 px the period is 10-28 px (a ViT patch is 16 px).
    axis_len = h if horizontal else w
    period = max(2.5, axis_len * rng.uniform(10, 28) / 224)
    duty = rng.uniform(0.35, 0.65)
    phase = rng.uniform(0, 1)
    tilt = np.deg2rad(rng.uniform(-10, 10))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if horizontal:
        t = yy * np.cos(tilt) + xx * np.sin(tilt)
    else:
        t = xx * np.cos(tilt) + yy * np.sin(tilt)
    mask = ((t / period + phase) % 1.0) < duty
    img = np.where(mask[..., None], c1, c2)

    return _blob_and_noise(img, yy, xx, rng, noise), c1, c2


def _blob_and_noise(img: np.ndarray, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator,
                    noise: float) -> np.ndarray:
    """Finish a drawn pattern: a distracting filled ellipse of a third random colour (in 70 % of the images, of
    every class), then Gaussian noise; as uint8."""
    h, w = yy.shape
    if rng.random() < 0.7:
        c3 = rng.integers(0, 256, size=3).astype(np.float32)
        cy, cx = rng.uniform(0, h), rng.uniform(0, w)
        ry, rx = rng.uniform(0.08, 0.25) * h, rng.uniform(0.08, 0.25) * w
        blob = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0
        img = np.where(blob[..., None], c3, img)

    if noise > 0:
        img = img + rng.normal(0, noise, size=img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def draw_checks(rng: np.random.Generator, noise: float = 8.0) -> np.ndarray:
    """An HxWx3 uint8 image of a (slightly tilted) checkerboard in two random colours.

    Size, colours, square size (5-14 px after resizing to 224 px), phase, tilt, the
    distracting blob and the noise are drawn from the same distributions as the stripes';
    only the pattern differs: squares, with edges in both directions.
    """
    w = int(rng.choice(SIZES))
    h = int(rng.choice(SIZES)) if rng.random() < 0.6 else w
    c1, c2 = _two_colours(rng)
    period = rng.uniform(10, 28)  # px at 224x224, the ViT's input size (a patch is 16 px)
    phase_y, phase_x = rng.uniform(0, 1), rng.uniform(0, 1)
    tilt = np.deg2rad(rng.uniform(-10, 10))

    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    y224, x224 = yy * 224 / h, xx * 224 / w  # drawn in the resized image's coordinates: square squares there
    across = x224 * np.cos(tilt) + y224 * np.sin(tilt)
    down = y224 * np.cos(tilt) - x224 * np.sin(tilt)
    mask = (((across / period + phase_x) % 1.0) < 0.5) ^ (((down / period + phase_y) % 1.0) < 0.5)
    img = np.where(mask[..., None], c1, c2)

    return _blob_and_noise(img, yy, xx, rng, noise)  # the same distracting blob as in the stripes


#: The world's colour words: a colour is called by the nearest of these (RGB, plain distance).
COLOUR_NAMES: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30), "orange": (245, 140, 20), "yellow": (240, 225, 40), "green": (40, 170, 50),
    "blue": (30, 70, 220), "purple": (140, 40, 180), "pink": (245, 140, 200), "brown": (125, 75, 30),
    "black": (15, 15, 15), "white": (240, 240, 240), "grey": (128, 128, 128),
}


def colour_name(rgb) -> str:
    """The world's word for an RGB colour: the nearest of :data:`COLOUR_NAMES`."""
    rgb = np.asarray(rgb, dtype=np.float32)
    names = list(COLOUR_NAMES)
    refs = np.array([COLOUR_NAMES[n] for n in names], dtype=np.float32)
    return names[int(np.argmin(((refs - rgb) ** 2).sum(axis=1)))]
