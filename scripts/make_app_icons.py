"""Draw the app's icons (the portal's drop on its blue) at every size the platforms ask for.

Run again only when the mark changes: the PNGs are committed under
src/autolettura/webapp/static/webapp/icons/. Drawn with Pillow at four times the size and
scaled down, so the edges are smooth without an SVG renderer.
"""

from __future__ import annotations

import math
from pathlib import Path

from PIL import Image, ImageDraw

BLUE = (0, 102, 204, 255)  # #0066cc, the portal's primary colour
WHITE = (255, 255, 255, 255)
OUT = Path(__file__).resolve().parent.parent / "src/autolettura/webapp/static/webapp/icons"
# "any": Android, desktop and the manifest's default; 180 is Apple's touch icon.
ANY = (48, 72, 96, 128, 144, 152, 180, 192, 256, 384, 512)
# "maskable": the platform crops to its own shape, so the mark stays in the middle 80 %.
MASKABLE = (192, 512)


def drop(size: int, scale: float) -> list[tuple[float, float]]:
    """The outline of a drop: a point at the top, a circle at the bottom (as favicon.svg)."""
    cx, r = size / 2, size * 0.3 * scale
    cy = size / 2 + r * 0.45
    tip_y = cy - r * 2.35
    # The two sides leave the tip tangent to the circle, at 90° ± alpha from its centre.
    alpha = math.acos(r / (cy - tip_y))
    first, last = math.pi / 2 + alpha, 2.5 * math.pi - alpha
    steps = 120
    points = [(cx, tip_y)]
    for i in range(steps + 1):
        a = first + (last - first) * i / steps
        points.append((cx + r * math.cos(a), cy - r * math.sin(a)))
    return points


def icon(size: int, *, maskable: bool) -> Image.Image:
    big = size * 4
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    if maskable:
        draw.rectangle((0, 0, big, big), fill=BLUE)
        scale = 0.62
    else:
        draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big * 0.19, fill=BLUE)
        scale = 0.86
    draw.polygon(drop(big, scale), fill=WHITE)
    # The ripple inside the drop, as in the portal's header mark.
    cx, r = big / 2, big * 0.3 * scale
    cy = big / 2 + r * 0.45
    inner = r * 0.55
    width = max(2, round(big * 0.035 * scale))
    draw.arc(
        (cx - inner, cy - inner, cx + inner, cy + inner), start=95, end=175, fill=BLUE, width=width
    )
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for size in ANY:
        icon(size, maskable=False).save(OUT / f"icon-{size}.png", optimize=True)
    for size in MASKABLE:
        icon(size, maskable=True).save(OUT / f"maskable-{size}.png", optimize=True)
    print(f"icons written to {OUT}")


if __name__ == "__main__":
    main()
