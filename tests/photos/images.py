"""Photos of meters made for the tests: an odometer register rendered with real fonts.

Each picture is a meter face as a phone would take it: a dark register of black wheels with
white digits (the whole m³), red wheels for the decimals, the "m³" mark, on a light dial,
then perspective, blur, noise and glare, saved as JPEG. A wheel can be caught turning: its
outgoing digit slides up and out while the next one comes in from below, as on a real
odometer.
"""

from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

# Real photos: a meter photographed by a fixed camera, next to the checkout (labels.csv
# gives each one's register).
REAL_PHOTOS = Path(__file__).resolve().parents[2].parent / "shared" / "meter-photos"
# Read 00530 with confidence by the real reader (labels.csv: 00530).
METER_530 = REAL_PHOTOS / "530.07077.jpg"


def real_photo() -> bytes:
    """The photo of a meter showing 00530; skips the test where the photos are missing."""
    import pytest

    if not METER_530.exists():
        pytest.skip(f"{METER_530} is missing")
    return METER_530.read_bytes()


FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed.ttf",
)


@dataclass(frozen=True)
class MeterPhoto:
    """How to draw one photo. `turning` is how far the units wheel has turned towards its
    next digit (0: still; 0.5: half of each digit shows)."""

    register: str = "00530"
    decimals: str = "712"
    turning: float = 0.0
    font: str = FONTS[0]
    tilt_degrees: float = 0.0
    perspective: float = 0.0  # 0 to ~0.25: how much nearer one side is than the other
    blur: float = 0.0
    noise: float = 0.0  # standard deviation of the added grain, in grey levels
    glare: float = 0.0  # 0 to 1: a bright spot over the dial
    width: int = 960
    seed: int = 0
    mark: bool = True
    extra: dict[str, str] = field(default_factory=dict)


DIGIT_W, DIGIT_H, GAP = 64, 92, 14


def _wheel(
    face: Image.Image,
    x: int,
    y: int,
    digit: int,
    turning: float,
    font: ImageFont.FreeTypeFont,
    ink: str,
    paper: str,
) -> None:
    """One wheel's window at (x, y): the digit, or two half digits while turning."""
    window = Image.new("RGB", (DIGIT_W, DIGIT_H), paper)
    pen = ImageDraw.Draw(window)
    _left, top, _right, bottom = font.getbbox("0", anchor="ls")
    glyph_height = bottom - top
    # The digits' spacing on the drum: at rest only one digit shows, half-way round the
    # bottom half of one and the top half of the next.
    pitch = glyph_height + (DIGIT_H - glyph_height) / 2 + 4
    for k, d in ((0, digit), (1, (digit + 1) % 10)):
        centre = DIGIT_H / 2 + (k - turning) * pitch
        pen.text(
            (DIGIT_W / 2, centre - (top + bottom) / 2), str(d), font=font, fill=ink, anchor="ms"
        )
    face.paste(window, (x, y))


def _layout(spec: MeterPhoto) -> tuple[int, int]:
    """The face's width and where the register starts on it."""
    wheels = len(spec.register) + len(spec.decimals)
    register_w = wheels * (DIGIT_W + GAP) + GAP + (110 if spec.mark else 0)
    face_w = max(register_w + 200, 900)
    return face_w, (face_w - register_w) // 2


def black_wheels_span(spec: MeterPhoto) -> tuple[float, float]:
    """Where the black wheels start and end across the photo, in its pixels (for a photo
    with no tilt and no perspective)."""
    face_w, x0 = _layout(spec)
    scale = spec.width / face_w
    left = x0 + GAP
    right = left + len(spec.register) * (DIGIT_W + GAP) - GAP
    return left * scale, right * scale


def meter_photo(spec: MeterPhoto) -> bytes:
    """The photo as JPEG bytes."""
    rng = random.Random(spec.seed)
    wheels = len(spec.register) + len(spec.decimals)
    register_w = wheels * (DIGIT_W + GAP) + GAP + (110 if spec.mark else 0)
    face_w, _x0 = _layout(spec)
    face = Image.new("RGB", (face_w, 640), (222, 224, 220))
    draw = ImageDraw.Draw(face)
    draw.ellipse((20, 20, face_w - 20, 620), fill=(236, 238, 234), outline=(90, 90, 90), width=6)
    font = ImageFont.truetype(spec.font, 78)
    small = ImageFont.truetype(FONTS[0], 40)
    x0, y0 = (face_w - register_w) // 2, 150
    draw.rounded_rectangle(
        (x0 - 10, y0 - 16, x0 + register_w + 10, y0 + DIGIT_H + 16), 12, fill=(28, 28, 30)
    )
    x = x0 + GAP
    for i, ch in enumerate(spec.register):
        last = i == len(spec.register) - 1
        _wheel(face, x, y0, int(ch), spec.turning if last else 0.0, font, "#f2f2f2", "#101012")
        x += DIGIT_W + GAP
    for ch in spec.decimals:
        _wheel(face, x, y0, int(ch), 0.0, font, "#f4f4f4", "#b3161c")
        x += DIGIT_W + GAP
    if spec.mark:
        draw.text((x + 8, y0 + DIGIT_H / 2), "m³", font=font, fill="#f2f2f2", anchor="lm")
    # The dial's small print and a few pointers, as on a real face.
    draw.text((face_w // 2, 420), "Q3 2,5  R160  DN15", font=small, fill=(60, 60, 60), anchor="mm")
    for k in range(3):
        cx, cy = face_w // 2 - 220 + 220 * k, 520
        draw.ellipse((cx - 40, cy - 40, cx + 40, cy + 40), outline=(40, 40, 40), width=3)
        draw.line((cx, cy, cx + rng.randint(-35, 35), cy - 30), fill=(200, 20, 30), width=7)

    image = face.rotate(
        spec.tilt_degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=(120, 118, 110)
    )
    if spec.perspective:
        w, h = image.size
        p = spec.perspective
        # Nearer on the left: the right side shrinks towards its middle.
        quad = (0, 0, 0, h, w, h * (1 - p / 2), w, h * p / 2)
        image = image.transform(
            (w, h),
            Image.Transform.QUAD,
            quad,
            resample=Image.Resampling.BICUBIC,
            fillcolor=(120, 118, 110),
        )
    if spec.glare:
        w, h = image.size
        spot = Image.new("L", image.size, 0)
        cx, cy = rng.randint(w // 4, 3 * w // 4), rng.randint(h // 3, 2 * h // 3)
        ImageDraw.Draw(spot).ellipse(
            (cx - w // 6, cy - h // 6, cx + w // 6, cy + h // 6), fill=int(255 * spec.glare)
        )
        spot = spot.filter(ImageFilter.GaussianBlur(w // 20))
        image = Image.composite(Image.new("RGB", image.size, (255, 255, 250)), image, spot)
    scale = spec.width / image.size[0]
    image = image.resize((spec.width, round(image.size[1] * scale)), Image.Resampling.LANCZOS)
    if spec.blur:
        image = image.filter(ImageFilter.GaussianBlur(spec.blur))
    if spec.noise:
        # Seeded, so that a photo is the same on every run.
        grain = np.random.default_rng(spec.seed).normal(128, spec.noise, image.size[::-1])
        grain_image = Image.fromarray(np.clip(grain, 0, 255).astype(np.uint8)).convert("RGB")
        image = Image.blend(image, grain_image, 0.18)
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


def varied(register: str, seed: int, **overrides: object) -> MeterPhoto:
    """A photo of `register` with the conditions a customer's phone brings, drawn from seed."""
    rng = random.Random(seed)
    values: dict[str, object] = {
        "register": register,
        "decimals": "".join(rng.choice("0123456789") for _ in range(3)),
        "font": rng.choice(FONTS),
        "tilt_degrees": rng.uniform(-12, 12),
        "perspective": rng.uniform(0, 0.18),
        "blur": rng.uniform(0, 1.4),
        "noise": rng.uniform(0, 40),
        "glare": rng.uniform(0, 0.6),
        "width": rng.choice((800, 1024, 1280)),
        "seed": seed,
    }
    values.update(overrides)
    return MeterPhoto(**values)  # type: ignore[arg-type]
