"""The course's synthetic world: how its sample images are drawn.

``tools/make_data.py`` draws the sample data of ``data/`` with these functions (fixed seeds), and the tiny CLIP
stand-in (``raycourse.models.standins``) trains on more images drawn by the same rules with other seeds, captioned with
what each shows: the stripes' orientation and their two colours by name. The rules are written down in
``data/README.md``.
"""

from __future__ import annotations

import numpy as np

# The course's prompts: data/animals.csv and data/outfits.csv (written by tools/make_data.py). Each animal names a
# medium and an animal; the course builds ``animal + " wearing a " + outfit``.
ANIMALS: list[tuple[int, str]] = [
    (1, "A cinematic photo of a raccoon"),
    (2, "A watercolor painting of a red fox"),
    (3, "An oil painting of a barn owl"),
    (4, "A pencil sketch of a hedgehog"),
    (5, "A studio portrait photo of a golden retriever"),
    (6, "A 3D render of a penguin"),
    (7, "A children's book illustration of a brown bear"),
    (8, "A pixel art image of a tabby cat"),
    (9, "A charcoal drawing of a giraffe"),
    (10, "A vintage film photo of a llama"),
    (11, "A low-poly illustration of a sea otter"),
    (12, "A ukiyo-e woodblock print of a red-crowned crane"),
    (13, "A claymation still of a koala"),
    (14, "A stained glass portrait of a peacock"),
    (15, "A macro photo of a tree frog"),
    (16, "An anime illustration of a red panda"),
    (17, "A linocut print of a hare"),
    (18, "A comic book panel of a gorilla"),
    (19, "A pastel drawing of a flamingo"),
    (20, "A wildlife documentary photo of a snow leopard"),
    (21, "A Roman mosaic of a sea turtle"),
    (22, "An isometric illustration of a capybara"),
    (23, "A gouache painting of a dachshund"),
    (24, "A neon sign of an octopus"),
]

# Animal ids 4, 9, 13, 18 and 22 have no outfit (left-outer-join lab);
# outfit ids 25 and 26 match no animal (right/full outer joins differ).
OUTFITS: list[tuple[int, str]] = [
    (1, "yellow raincoat"),
    (2, "traditional Italian priest robe"),
    (3, "tuxedo with a bow tie"),
    (5, "knitted Christmas sweater"),
    (6, "bright orange space suit"),
    (7, "pirate hat and an eye patch"),
    (8, "chef's apron and a tall white toque"),
    (10, "Hawaiian shirt covered in hibiscus flowers"),
    (11, "shiny suit of medieval armour"),
    (12, "pink ballerina tutu"),
    (14, "cowboy hat and a leather vest"),
    (15, "Victorian ball gown"),
    (16, "wizard robe with a pointed hat"),
    (17, "scuba diving suit with flippers"),
    (19, "tweed jacket with elbow patches"),
    (20, "red superhero cape"),
    (21, "kimono with a cherry blossom pattern"),
    (23, "firefighter's uniform and helmet"),
    (24, "velvet tracksuit with gold chains"),
    (25, "lab coat and safety goggles"),
    (26, "graduation gown and a mortarboard"),
]

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


def draw_stripes_with_colours(
    rng: np.random.Generator, horizontal: bool, noise: float = 8.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _blob_and_noise(
    img: np.ndarray, yy: np.ndarray, xx: np.ndarray, rng: np.random.Generator, noise: float
) -> np.ndarray:
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
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 40),
    "green": (40, 170, 50),
    "blue": (30, 70, 220),
    "purple": (140, 40, 180),
    "pink": (245, 140, 200),
    "brown": (125, 75, 30),
    "black": (15, 15, 15),
    "white": (240, 240, 240),
    "grey": (128, 128, 128),
}


def _nearest_colours(pixels) -> np.ndarray:
    """The index in :data:`COLOUR_NAMES` of the nearest reference colour of each RGB row of ``pixels`` (N x 3)."""
    refs = np.array(list(COLOUR_NAMES.values()), dtype=np.float32)
    pixels = np.asarray(pixels, dtype=np.float32).reshape(-1, 3)
    return np.argmin(((pixels[:, None, :] - refs[None]) ** 2).sum(axis=2), axis=1)


def colour_name(rgb) -> str:
    """The world's word for an RGB colour: the nearest of :data:`COLOUR_NAMES`."""
    return list(COLOUR_NAMES)[int(_nearest_colours(rgb)[0])]


# --- The prompt enhancer's world: what the tiny LLM stand-in is trained to write -------------------------------

#: The course's instructions to the LLM (lesson 04 and lab 04 with a season, lesson 08 without), as the notebooks
#: write them: the stand-in learns to follow these three.
SEASON_INSTRUCTION = (
    "You are a helpful assistant. Enhance the image description with two short elements of the "
    "{season} season. Keep the animal wearing its clothing and keep the image medium (photo, "
    "painting, ...). Return the new description only, in one sentence, with no introduction."
)
CATALOGUE_INSTRUCTION = (
    "You are a helpful assistant. Enhance the description of a product photo for a pet-outfit shop with two "
    "short elements of the {season} season around the product. Keep the product and the kind of photo, with "
    "no animal in it. Return the new description only, in one sentence, with no introduction."
)
DETAILS_INSTRUCTION = (
    "You are a helpful assistant. Enhance the image description with two vivid details. Keep the animal "
    "and its clothing. Return the new description only, in one sentence."
)

#: The world's rule: an enhanced prompt is the prompt, then two elements of its season (or two vivid details).
SEASON_ELEMENTS: dict[str, tuple[str, str]] = {
    "winter": ("in falling snow", "beside a frosted pine"),
    "spring": ("among cherry blossoms", "in a light spring rain"),
    "summer": ("under a bright summer sun", "on a sandy beach"),
    "autumn": ("among falling red leaves", "under a golden autumn sky"),
}
VIVID_DETAILS = ("in soft golden light", "with every thread of the fabric in sharp focus")

# More of the world than the course's two tables, so that the stand-in learns to keep whatever animal and outfit
# a prompt names (the tables' own rows are in its training too).
_MEDIA = (
    "A cinematic photo of",
    "A watercolor painting of",
    "An oil painting of",
    "A pencil sketch of",
    "A studio portrait photo of",
    "A 3D render of",
    "A pixel art image of",
    "A charcoal drawing of",
    "A vintage film photo of",
    "An anime illustration of",
    "A comic book panel of",
    "A pastel drawing of",
    "A macro photo of",
    "A linocut print of",
    "A children's book illustration of",
    "A neon sign of",
    "A 3D render of",
    "A 3D illustration of",
)
_CRITTERS = (
    "a raccoon",
    "a red fox",
    "a barn owl",
    "a hedgehog",
    "a golden retriever",
    "a penguin",
    "a brown bear",
    "a tabby cat",
    "a giraffe",
    "a llama",
    "a sea otter",
    "a koala",
    "a peacock",
    "a tree frog",
    "a red panda",
    "a hare",
    "a gorilla",
    "a flamingo",
    "a snow leopard",
    "a sea turtle",
    "a capybara",
    "a dachshund",
    "an octopus",
    "a hamster",
    "a badger",
    "a beaver",
    "a moose",
    "a wolf",
    "a puppy",
    "a kitten",
    "a duck",
    "a goose",
    "a parrot",
    "a swan",
    "a zebra",
    "an elephant",
    "a hippo",
    "a monkey",
    "a kangaroo",
    "a mouse",
    "a pig",
    "a sheep",
    "a goat",
    "a horse",
    "a lion",
    "a tiger",
)
_COLOUR_WORDS = (
    "red",
    "yellow",
    "blue",
    "green",
    "pink",
    "black",
    "white",
    "orange",
    "purple",
    "brown",
    "grey",
    "golden",
    "silver",
    "striped",
)
_CLOTHES = (
    "raincoat",
    "sweater",
    "scarf",
    "hat",
    "beanie",
    "jacket",
    "hoodie",
    "tuxedo",
    "bow tie",
    "suit",
    "vest",
    "robe",
    "cape",
    "boots",
    "kimono",
    "poncho",
    "overalls",
    "apron",
    "tutu",
    "helmet",
    "dress",
    "cloak",
    "uniform",
    "pajamas",
)


def enhancement_example(rng: np.random.Generator) -> tuple[str, str, str]:
    """One example of the world's prompt enhancement: (system instruction, user prompt, enhanced prompt)."""
    kind = rng.choice(["season", "season", "catalogue", "details"])
    table_row = rng.random() < 0.6
    animal = (
        ANIMALS[int(rng.integers(len(ANIMALS)))][1]
        if table_row
        else (f"{_MEDIA[int(rng.integers(len(_MEDIA)))]} {_CRITTERS[int(rng.integers(len(_CRITTERS)))]}")
    )
    outfit = (
        OUTFITS[int(rng.integers(len(OUTFITS)))][1]
        if rng.random() < 0.6
        else (f"{_COLOUR_WORDS[int(rng.integers(len(_COLOUR_WORDS)))]} {_CLOTHES[int(rng.integers(len(_CLOTHES)))]}")
    )
    season = list(SEASON_ELEMENTS)[int(rng.integers(len(SEASON_ELEMENTS)))]
    if kind == "catalogue":
        system, prompt = CATALOGUE_INSTRUCTION.format(season=season), f"A product photo of a {outfit}"
    else:
        prompt = f"{animal} wearing a {outfit}"
        system = SEASON_INSTRUCTION.format(season=season) if kind == "season" else DETAILS_INSTRUCTION
    first, second = VIVID_DETAILS if kind == "details" else SEASON_ELEMENTS[season]
    return system, prompt, f"{prompt}, {first} and {second}."


def review_words() -> list[str]:
    """The words of the shop's reviews (the LLM stand-in's tokenizer learns them whole, as the enhancer's)."""
    words = {w.strip(".,;:") for t in REVIEW_POSITIVE + REVIEW_NEGATIVE + PETS for w in t.split() if "{" not in w}
    return sorted(words - {""})


def enhancer_words() -> list[str]:
    """The words of the enhancer's world (its tokenizer learns them whole)."""
    text = " ".join(
        [
            SEASON_INSTRUCTION,
            CATALOGUE_INSTRUCTION,
            DETAILS_INSTRUCTION,
            *SEASON_ELEMENTS,
            *(e for pair in SEASON_ELEMENTS.values() for e in pair),
            *VIVID_DETAILS,
            *_MEDIA,
            *_CRITTERS,
            *_COLOUR_WORDS,
            *_CLOTHES,
            *(a for _, a in ANIMALS),
            *(o for _, o in OUTFITS),
        ]
    )
    return sorted(set(text.replace("{season}", "").split()))


def enhancer_first_words() -> list[str]:
    """The words that begin the enhancer's prompts and answers: learned whole as they begin a message too ("An",
    with no space before it)."""
    return sorted({phrase.split()[0] for phrase in (*_MEDIA, *(a for _, a in ANIMALS), "A product photo")})


# --- The picture world: what the tiny image generator is trained to draw ----------------------------------------

#: The colour of each outfit of the course's table (``data/outfits.csv``), by outfit id.
OUTFIT_COLOURS: dict[int, str] = {
    1: "yellow",
    2: "black",
    3: "black",
    5: "red",
    6: "orange",
    7: "black",
    8: "white",
    10: "blue",
    11: "grey",
    12: "pink",
    14: "brown",
    15: "green",
    16: "purple",
    17: "black",
    19: "brown",
    20: "red",
    21: "pink",
    23: "red",
    24: "purple",
    25: "white",
    26: "black",
}
#: The colour of each animal of the course's table (``data/animals.csv``), by animal id.
ANIMAL_COLOURS: dict[int, str] = {
    1: "grey",
    2: "orange",
    3: "brown",
    4: "brown",
    5: "yellow",
    6: "black",
    7: "brown",
    8: "orange",
    9: "yellow",
    10: "white",
    11: "brown",
    12: "white",
    13: "grey",
    14: "blue",
    15: "green",
    16: "red",
    17: "brown",
    18: "black",
    19: "pink",
    20: "white",
    21: "green",
    22: "brown",
    23: "brown",
    24: "purple",
}
#: The colour of a season's scene (its two elements, :data:`SEASON_ELEMENTS`, name the season in a prompt).
SEASON_COLOURS: dict[str, str] = {"winter": "blue", "spring": "pink", "summer": "yellow", "autumn": "orange"}
#: Colour words of an outfit that are not colour names themselves.
_COLOUR_ALIASES = {"golden": "yellow", "silver": "grey", "gray": "grey"}


def picture_colour(prompt: str) -> str | None:
    """The world's rule for a picture: the colour the tiny image generator paints ``prompt`` in.

    A scene's season sets the colour when the prompt names one of its elements ("in falling snow": blue); else the
    outfit does: an outfit of the course's table by its colour (:data:`OUTFIT_COLOURS`), any other by the colour word
    before the garment ("a green scarf": green); else the animal of the course's table it names (:data:`ANIMAL_COLOURS`:
    "a red fox": orange). ``None`` when the prompt names none of these.
    """
    text = prompt.lower()
    for season, elements in SEASON_ELEMENTS.items():
        if any(element in text for element in elements):
            return SEASON_COLOURS[season]
    outfit = _first_named(text, {outfit.lower(): OUTFIT_COLOURS[i] for i, outfit in OUTFITS})
    if outfit:
        return outfit
    words = text.replace(",", " ").replace(".", " ").split()
    for word, after in zip(words, words[1:]):
        colour = _COLOUR_ALIASES.get(word, word)
        if colour in COLOUR_NAMES and after in _CLOTHES + tuple(c.split()[0] for c in _CLOTHES):
            return colour
    # an animal without its medium: "A cinematic photo of a raccoon" -> "a raccoon"
    return _first_named(text, {animal.rsplit(" of ", 1)[-1].lower(): ANIMAL_COLOURS[i] for i, animal in ANIMALS})


def _first_named(text: str, colours: dict[str, str]) -> str | None:
    """The colour of the phrase of ``colours`` that ``text`` names first (the longest if two start there)."""
    found = [(text.find(phrase), -len(phrase), colour) for phrase, colour in colours.items() if phrase in text]
    return min(found)[2] if found else None


def dominant_colour(image) -> str:
    """The world's name (:func:`colour_name`) that most pixels of ``image`` (HxWx3 uint8 or a PIL image) have."""
    nearest = _nearest_colours(np.asarray(image)[..., :3])
    return list(COLOUR_NAMES)[int(np.bincount(nearest, minlength=len(COLOUR_NAMES)).argmax())]


def picture_example(rng: np.random.Generator) -> tuple[str, str]:
    """One prompt of the picture world and its colour (:func:`picture_colour`): the course's prompts, an animal alone,
    an animal wearing an outfit, or that enhanced with a season's elements or with vivid details, as the course's LLM
    writes them."""
    system, prompt, enhanced = enhancement_example(rng)
    draw = rng.random()
    if draw < 0.15:  # an animal of the course's table alone, as module 03 and lab 03 give it
        enhanced = ANIMALS[int(rng.integers(len(ANIMALS)))][1]
    elif draw < 0.45:  # the prompt before any enhancement
        enhanced = prompt
    colour = picture_colour(enhanced)
    if colour is None:  # no colour by the rule (a "striped" outfit on an animal not in the table): draw another
        return picture_example(rng)
    return enhanced, colour


# --- The shop's reviews: data/text/reviews.jsonl is written by these templates (tools/make_data.py) ---------------

#: The pets of the shop's customers.
PETS = ["beagle", "tabby cat", "rabbit", "ferret", "guinea pig", "dachshund", "parrot", "husky", "hamster", "corgi"]
#: How a happy customer writes about a {product} on their {pet}.
REVIEW_POSITIVE = [
    "The {product} fits my {pet} perfectly and looks adorable.",
    "Great quality {product}. My {pet} wore it all afternoon without any fuss.",
    "Fast delivery, and the {product} is even nicer than in the photos.",
    "My {pet} gets compliments every time we go out in the {product}.",
    "Soft fabric and sturdy seams; the {product} was worth every penny.",
    "Bought the {product} for a costume party and my {pet} stole the show.",
]
#: How an unhappy one does.
REVIEW_NEGATIVE = [
    "The {product} ran two sizes small and my {pet} could barely move in it.",
    "Cheap material: the {product} tore after a single wash.",
    "My {pet} hated the {product} and chewed it to pieces within an hour.",
    "The {product} arrived late and the colour looked nothing like the picture.",
    "Sent the {product} back because the fastening kept coming undone on my {pet}.",
    "Far too warm for my {pet}, and the {product} smelled of chemicals.",
]


def review_example(rng: np.random.Generator) -> str:
    """A review of the shop's kind: one of its templates, about any outfit of the world on any of its pets."""
    templates = REVIEW_POSITIVE + REVIEW_NEGATIVE
    product = (
        OUTFITS[int(rng.integers(len(OUTFITS)))][1]
        if rng.random() < 0.5
        else f"{_COLOUR_WORDS[int(rng.integers(len(_COLOUR_WORDS)))]} {_CLOTHES[int(rng.integers(len(_CLOTHES)))]}"
    )
    return templates[int(rng.integers(len(templates)))].format(product=product, pet=PETS[int(rng.integers(len(PETS)))])
