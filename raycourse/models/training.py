"""Training the tiny stand-ins on the course's synthetic world, so that `tiny` shows what each model does.

A random CLIP puts a sentence nowhere in particular: search returns arbitrary images and zero-shot sits at chance.
The stand-in CLIP is therefore trained for a few seconds, contrastively, on images drawn by the world's own rules
(:mod:`raycourse.world`, the rules ``data/`` is drawn with, other seeds: the sample images themselves are never
seen in training, so what the lessons measure on them is what the model learned, not what it memorised), each
with captions of what it shows: the stripes' orientation and their two colours by name ("a photo of vertical
stripes", "red and blue stripes", ...).

The loss is CLIP's symmetric cross-entropy over the image-caption similarities of a batch, with every caption
that is true of an image counted as a match (a batch holds many images of vertical stripes: "vertical stripes" is
true of all of them). Deterministic: fixed seeds, a fixed number of CPU threads while it trains, and no data
loader; the same seed gives the same weights on the same machine.
"""

from __future__ import annotations

import contextlib
import os

import numpy as np

from .. import world

#: Seed of the training images (``data/`` uses ``tools/make_data.py``'s seed: the two never share an image).
TRAIN_SEED = 27_2026
ORIENTATIONS = ("horizontal", "vertical")

# What a caption can say: {o} the orientation, {a} and {b} the two colours.
_ORIENTATION_ONLY = (
    "a photo of {o} stripes",
    "{o} stripes",
    "a photo of stripes {o}",
    "stripes {o}",
    "a picture of {o} stripes",
    "an image with {o} stripes",
)
_COLOURS_ONLY = ("{a} and {b} stripes", "a photo of {a} and {b} stripes", "stripes in {a} and {b}")
_BOTH = (
    "a photo of {o} stripes in {a} and {b}",
    "{o} {a} and {b} stripes",
    "{a} and {b} {o} stripes",
    "a picture of {o} stripes, {a} and {b}",
)


def clip_training_words() -> list[str]:
    """Every word a caption can hold (the CLIP stand-in's tokenizer learns them as whole words)."""
    words = set(ORIENTATIONS) | set(world.COLOUR_NAMES)
    for template in _ORIENTATION_ONLY + _COLOURS_ONLY + _BOTH:
        words |= {w.strip(",") for w in template.split() if "{" not in w}
    return sorted(words)


def _images(n: int, seed: int):
    """``n`` images of the world (half of each orientation), with their orientation and colour names."""
    from PIL import Image

    out = []
    for k in range(n):
        rng = np.random.default_rng([TRAIN_SEED, seed, k])
        horizontal = k % 2 == 0
        noise = 0.0 if k % 4 == 1 else 8.0  # as in data/: every 4th a clean PNG-like image, the rest noisy
        pixels, c1, c2 = world.draw_stripes_with_colours(rng, horizontal, noise)
        image = Image.fromarray(pixels)
        gray = k % 20 == 7  # and every 20th in grayscale
        if gray:
            image = image.convert("L").convert("RGB")
        colours = None if gray else tuple(sorted({world.colour_name(c1), world.colour_name(c2)}))
        out.append((image, ORIENTATIONS[0] if horizontal else ORIENTATIONS[1], colours))
    return out


def _caption(rng: np.random.Generator, orientation: str, colours):
    """A caption of an image, and what it claims: (text, orientation or None, colour set or None)."""
    kinds = ["o"] if colours is None or len(colours) < 2 else ["o", "c", "b"]
    kind = kinds[int(rng.integers(len(kinds)))]
    if kind != "o":
        a, b = colours if rng.random() < 0.5 else colours[::-1]
    if kind == "o":
        template = _ORIENTATION_ONLY[int(rng.integers(len(_ORIENTATION_ONLY)))]
        return template.format(o=orientation), orientation, None
    if kind == "c":
        template = _COLOURS_ONLY[int(rng.integers(len(_COLOURS_ONLY)))]
        return template.format(a=a, b=b), None, frozenset(colours)
    template = _BOTH[int(rng.integers(len(_BOTH)))]
    return template.format(o=orientation, a=a, b=b), orientation, frozenset(colours)


@contextlib.contextmanager
def _threads(n: int):
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextlib.contextmanager
def seeded(seed: int):
    """Seed torch's CPU RNG for a model's initial weights without disturbing the caller's RNG state."""
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.random.default_generator.manual_seed(seed)
        yield


def _fit(
    model,
    batch_loss,
    *,
    steps: int,
    lr: float,
    warm: float,
    name: str,
    every: int,
    log=None,
    weight_decay: float = 0.01,
    clip_norm: float | None = None,
    threads: int | None = None,
) -> list[float]:
    """The loop every trained stand-in uses: AdamW and a one-cycle schedule over ``steps`` steps (gradients clipped
    to ``clip_norm`` if given), on a fixed number of CPU threads (repeatable: ``threads``, else
    ``RAYCOURSE_STANDIN_THREADS``, default 2); ``batch_loss(step)`` gives each step's loss. Returns the losses."""
    import torch

    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=steps, pct_start=warm)
    model.train()
    losses = []
    with _threads(threads or int(os.environ.get("RAYCOURSE_STANDIN_THREADS", "2"))):
        for step in range(steps):
            loss = batch_loss(step)
            optimiser.zero_grad()
            loss.backward()
            if clip_norm is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
            optimiser.step()
            schedule.step()
            losses.append(loss.item())
            if log and (step % every == 0 or step == steps - 1):
                log(f"{name} step {step}: loss {losses[-1]:.3f}")
    model.eval()
    return losses


def train_clip(
    model, processor, seed: int = 0, *, images: int = 320, steps: int = 160, batch: int = 64, lr: float = 3e-3, log=None
) -> dict:
    """Train a (tiny) ``CLIPModel`` in place on the world's images and captions; return what it measured."""
    import torch

    data = _images(images, seed)
    pixels = processor(images=[image for image, _, _ in data], return_tensors="pt")["pixel_values"]
    orientation = [o for _, o, _ in data]
    colours = [frozenset(c) if c else None for _, _, c in data]
    rng = np.random.default_rng([TRAIN_SEED, seed, 1])
    generator = torch.Generator().manual_seed(seed)

    def batch_loss(step):
        index = torch.randperm(len(data), generator=generator)[:batch].tolist()
        captions = [_caption(rng, orientation[i], data[i][2]) for i in index]
        text = processor(text=[c[0] for c in captions], return_tensors="pt", padding=True)
        # match[i, j]: caption j is true of image i (everything it says, the image shows)
        match = torch.tensor(
            [
                [(co is None or co == orientation[i]) and (cc is None or cc == colours[i]) for _, co, cc in captions]
                for i in index
            ],
            dtype=torch.float32,
        )
        out = model(
            input_ids=text["input_ids"],
            attention_mask=text["attention_mask"],
            pixel_values=pixels[index],
            return_loss=False,
        )
        logits = out.logits_per_image  # (images, captions), scaled by the learned temperature
        loss_images = -(torch.log_softmax(logits, dim=1) * match / match.sum(1, keepdim=True)).sum(1).mean()
        loss_texts = -(torch.log_softmax(logits.T, dim=1) * match.T / match.T.sum(1, keepdim=True)).sum(1).mean()
        return (loss_images + loss_texts) / 2

    losses = _fit(model, batch_loss, steps=steps, lr=lr, warm=0.15, name="clip", every=40, log=log)
    return {"images": images, "steps": steps, "batch": batch, "first_loss": losses[0], "last_loss": losses[-1]}


def train_llm(
    model,
    tokenizer,
    seed: int = 0,
    *,
    conversations: int = 1500,
    turns: int = 3,
    steps: int = 500,
    warmup: float = 0.6,
    batch: int = 16,
    lr: float = 5e-3,
    reviews: int = 4,
    log=None,
) -> dict:
    """Train a (tiny) causal LM in place on the world's prompt enhancements (:func:`world.enhancement_example`):
    conversations of a few turns under one instruction, as the chat template writes them, the loss on the answers
    and their end tokens only (several turns share one instruction: its tokens are most of a one-turn example).
    The first ``warmup`` share of the steps gives each instruction in a few words: short sequences, where copying
    the prompt is learned at a fraction of the cost; the rest uses the course's own instructions."""
    import torch

    rng = np.random.default_rng([TRAIN_SEED, seed, 2])
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    short = _short_instructions()
    encoded, brief = [], []
    for _ in range(conversations):
        full, short_form = _conversation(tokenizer, rng, turns, end, short)
        encoded.append(full)
        brief.append(short_form)
    # And the shop's reviews, as plain text (module 07 reads the model's hidden states of a review): ``reviews`` of
    # them in every batch, the loss on every token, so that the model learns to write reviews of the shop's kind.
    review_rng = np.random.default_rng([TRAIN_SEED, seed, 4])
    shop = []
    for _ in range(conversations):
        ids = tokenizer(world.review_example(review_rng), add_special_tokens=False).input_ids
        shop.append((ids, [(1, len(ids))]))
    generator = torch.Generator().manual_seed(seed)
    batch_loss = _llm_batch_loss(
        model, tokenizer.pad_token_id, (brief, encoded, shop), generator, steps * warmup, batch, reviews
    )
    losses = _fit(model, batch_loss, steps=steps, lr=lr, warm=0.1, name="llm", every=50, log=log)
    return {
        "conversations": conversations,
        "steps": steps,
        "batch": batch,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }


def _short_instructions() -> dict[str, str]:
    """The course's instructions in a few words: the first, cheap phase of the LLM's training, where it learns to
    copy the prompt."""
    short = {}
    for name in world.SEASON_ELEMENTS:
        short[world.SEASON_INSTRUCTION.format(season=name)] = f"Enhance: {name}."
        short[world.CATALOGUE_INSTRUCTION.format(season=name)] = f"Enhance the product: {name}."
    short[world.DETAILS_INSTRUCTION] = "Enhance with vivid details."
    return short


def _conversation(tokenizer, rng: np.random.Generator, turns: int, end: int, short: dict) -> tuple[tuple, tuple]:
    """One conversation of a few turns under one instruction (:func:`world.enhancement_example`), encoded as the
    chat template writes it, with the token spans of its answers and their end tokens: under the course's
    instruction, and under its short form (``short``)."""
    system, prompt, answer = world.enhancement_example(rng)
    first = system
    messages = [{"role": "system", "content": system}]
    spans, ids = [], []
    for turn in range(int(rng.integers(1, turns + 1))):
        if turn:  # another prompt under the same instruction
            while True:
                other_system, prompt, answer = world.enhancement_example(rng)
                if other_system == system:
                    break
        messages.append({"role": "user", "content": prompt})
        context = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tokenizer(context, add_special_tokens=False).input_ids
        reply = tokenizer(answer, add_special_tokens=False).input_ids + [end]
        spans.append((len(ids), len(ids) + len(reply)))
        messages.append({"role": "assistant", "content": answer})
        ids = ids + reply
    full = (ids, spans)
    messages[0] = {"role": "system", "content": short[first]}
    ids, spans = [], []
    for turn in range(1, len(messages), 2):
        context = tokenizer.apply_chat_template(messages[: turn + 1], add_generation_prompt=True, tokenize=False)
        ids = tokenizer(context, add_special_tokens=False).input_ids
        reply = tokenizer(messages[turn + 1]["content"], add_special_tokens=False).input_ids + [end]
        spans.append((len(ids), len(ids) + len(reply)))
        ids = ids + reply
    return full, (ids, spans)


def _llm_batch_loss(model, pad: int, pools: tuple, generator, warm_steps: float, batch: int, reviews: int):
    """The LLM's ``batch_loss(step)`` for :func:`_fit`: ``batch`` conversations (of the short ones, ``pools[0]``,
    before step ``warm_steps``, then of the course's, ``pools[1]``) and ``reviews`` of the shop's reviews
    (``pools[2]``), padded; the loss on the spans only."""
    import torch

    brief, encoded, shop = pools

    def batch_loss(step):
        pool = brief if step < warm_steps else encoded
        chosen = [pool[i] for i in torch.randperm(len(pool), generator=generator)[:batch].tolist()]
        chosen += [shop[i] for i in torch.randperm(len(shop), generator=generator)[:reviews].tolist()]
        width = max(len(ids) for ids, _ in chosen)
        input_ids = torch.full((len(chosen), width), pad)
        labels = torch.full((len(chosen), width), -100)
        mask = torch.zeros((len(chosen), width), dtype=torch.long)
        for row, (ids, spans) in enumerate(chosen):
            input_ids[row, : len(ids)] = torch.tensor(ids)
            mask[row, : len(ids)] = 1
            for start, stop in spans:
                labels[row, start:stop] = torch.tensor(ids[start:stop])
        return model(input_ids=input_ids, attention_mask=mask, labels=labels).loss

    return batch_loss


def _blur(x, sigma: float):
    """A Gaussian blur of (B, 1, H, W) with wrap-around edges (the same at any size)."""
    import torch
    import torch.nn.functional as F

    radius = int(3 * sigma)
    kernel = torch.exp(-(torch.arange(-radius, radius + 1, dtype=torch.float32) ** 2) / (2 * sigma * sigma))
    kernel = kernel / kernel.sum()
    x = F.conv2d(F.pad(x, (radius, radius, 0, 0), mode="circular"), kernel.view(1, 1, 1, -1))
    return F.conv2d(F.pad(x, (0, 0, radius, radius), mode="circular"), kernel.view(1, 1, -1, 1))


def _colour_code(paint: dict, index, size: int):
    """The latents' colour: the RGB colour in [-1, 1] times ``paint["code"]``, a zero 4th channel."""
    import torch

    rgb = paint["colours"][index].view(-1, 3, 1, 1).expand(-1, 3, size, size)
    return paint["code"] * torch.cat([rgb, torch.zeros_like(rgb[:, :1])], dim=1)


def _train_text_colours(pipe, pool: list, target, n_colours: int, generator, steps: int, log) -> list[float]:
    """The image generator's stage 1: the second text encoder's pooled output (SDXL's text_embeds) learns to tell
    the colours apart (a linear head on top, then dropped). Returns the losses."""
    import torch
    import torch.nn.functional as F

    head = torch.nn.Linear(pipe.text_encoder_2.config.projection_dim, n_colours)
    text_part = torch.nn.ModuleList([pipe.text_encoder_2, head])

    def text_loss(step):
        index = torch.randint(0, len(pool), (32,), generator=generator)
        tokens = pipe.tokenizer_2(
            [pool[i][0] for i in index.tolist()],
            padding="longest",
            truncation=True,
            max_length=pipe.tokenizer_2.model_max_length,
            return_tensors="pt",
        )
        return F.cross_entropy(head(pipe.text_encoder_2(tokens.input_ids).text_embeds), target[index])

    return _fit(text_part, text_loss, steps=steps, lr=3e-3, warm=0.15, name="image_gen text", every=50, log=log)


def _train_decoder(pipe, paint: dict, generator, shading: float, noise_std: float, steps: int, log) -> list[float]:
    """The image generator's stage 2: the VAE's decoder paints noise + code as the code's colour, shaded by the
    noise's smooth part, on 64 px images. Returns the losses."""
    import torch
    import torch.nn.functional as F

    colours, sigma, scale = paint["colours"], paint["sigma"], pipe.vae.config.scaling_factor
    decoder = torch.nn.ModuleList([pipe.vae.post_quant_conv, pipe.vae.decoder])

    def decoder_loss(step):
        index = torch.randperm(len(colours), generator=generator)  # every colour in every batch: none is neglected
        noise = torch.randn(len(colours), 4, 8, 8, generator=generator)
        latents = sigma * noise + _colour_code(paint, index, 8)
        shaded = (colours[index].view(-1, 3, 1, 1) + shading * _blur(noise[:, :1], 2.0) / noise_std).clamp(-1, 1)
        return F.mse_loss(
            pipe.vae.decode(latents / scale).sample, F.interpolate(shaded, scale_factor=8, mode="bilinear")
        )

    return _fit(
        decoder,
        decoder_loss,
        steps=steps,
        lr=3e-3,
        warm=0.15,
        name="image_gen decoder",
        every=100,
        log=log,
        weight_decay=0.0,
    )  # no decay: the colours need exact weights


def _train_unet(pipe, paint: dict, pool: list, target, generator, timestep, steps: int, log) -> list[float]:
    """The image generator's stage 3: the UNet turns the prompts' embeddings (as the pipeline computes them) into
    the colour code, on 8x8 latents. Returns the losses."""
    import torch
    import torch.nn.functional as F

    sigma, code, prompts = paint["sigma"], paint["code"], len(pool)
    with torch.no_grad(), _threads(int(os.environ.get("RAYCOURSE_STANDIN_THREADS", "2"))):
        embedded = [
            pipe.encode_prompt(
                [p for p, _ in pool[i : i + 100]],
                device="cpu",
                num_images_per_prompt=1,
                do_classifier_free_guidance=False,
            )
            for i in range(0, prompts, 100)
        ]
    prompt_embeds = torch.cat([e[0] for e in embedded])
    pooled_embeds = torch.cat([e[2] for e in embedded])
    time_ids = torch.tensor([[512.0, 512.0, 0.0, 0.0, 512.0, 512.0]])  # the pipeline's at 512 px

    def unet_loss(step):
        index = torch.randint(0, prompts, (16,), generator=generator)
        noise = torch.randn(16, 4, 8, 8, generator=generator)
        eps = pipe.unet(
            noise * float(pipe.scheduler.init_noise_sigma) / (sigma**2 + 1) ** 0.5,
            timestep,  # scale_model_input's
            encoder_hidden_states=prompt_embeds[index],
            added_cond_kwargs={"text_embeds": pooled_embeds[index], "time_ids": time_ids.repeat(16, 1)},
        ).sample
        return F.mse_loss(-sigma * eps / code, _colour_code(paint, target[index], 8) / code)

    return _fit(pipe.unet, unet_loss, steps=steps, lr=3e-3, warm=0.15, name="image_gen unet", every=100, log=log)


def train_image_gen(
    pipe,
    seed: int = 0,
    *,
    prompts: int = 3000,
    text_steps: int = 200,
    decoder_steps: int = 300,
    unet_steps: int = 450,
    code: float = 100.0,
    shading: float = 0.1,
    log=None,
) -> dict:
    """Train a (tiny) SDXL pipeline in place so that one turbo step paints a prompt in the world's colour.

    The picture world (:func:`world.picture_colour`): a prompt's scene is the colour of its season, or of its outfit,
    with a soft shading that the seed's noise draws. SDXL-Turbo's one step (Euler ancestral at t=999, no guidance)
    turns the UNet's noise estimate into latents ``x0 = sigma * (noise - eps)``; the UNet learns
    ``eps = -code(colour) / sigma``, so that ``x0`` is the noise plus a large colour code, and the VAE's decoder
    learns to paint that code's colour, shaded by the noise's smooth part. Three stages, each cheap: the second
    text encoder learns to tell the colours apart in its pooled output (a linear head on top, then dropped); the
    decoder learns the code on 64 px images; the UNet learns the code from the prompts' embeddings, on 8x8 latents.
    Every stage is convolutional or global, so what is learned small holds at 512 px.
    """
    import torch

    names = list(world.COLOUR_NAMES)
    colours = torch.tensor([world.COLOUR_NAMES[n] for n in names], dtype=torch.float32) / 127.5 - 1
    rng = np.random.default_rng([TRAIN_SEED, seed, 3])
    generator = torch.Generator().manual_seed(seed)
    pool = [world.picture_example(rng) for _ in range(prompts)]
    target = torch.tensor([names.index(colour) for _, colour in pool])
    scheduler = pipe.scheduler
    scheduler.set_timesteps(1)
    timestep, sigma = scheduler.timesteps[0], float(scheduler.sigmas[0])
    noise_std = float(_blur(torch.randn(16, 1, 64, 64, generator=generator), 2.0).std())
    text_losses = _train_text_colours(pipe, pool, target, len(names), generator, text_steps, log)
    paint = {"colours": colours, "sigma": sigma, "code": code}
    decoder_losses = _train_decoder(pipe, paint, generator, shading, noise_std, decoder_steps, log)
    unet_losses = _train_unet(pipe, paint, pool, target, generator, timestep, unet_steps, log)
    return {
        "prompts": prompts,
        "text_loss": text_losses[-1],
        "decoder_loss": decoder_losses[-1],
        "unet_loss": unet_losses[-1],
    }
