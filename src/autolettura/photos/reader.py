"""The optical part of reading a meter: find the register in a photo and read its wheels.

Runs the PP-OCRv4 text detector and recogniser shipped inside the `rapidocr-onnxruntime`
wheel, on ONNX Runtime, on the CPU; nothing is fetched at run time. What it returns is what
the wheels show, wheel by wheel with every digit's probability; which reading to believe is
decided by the pure rules in `autolettura.rules.register`.
"""

from __future__ import annotations

import ctypes
import functools
import io
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import onnxruntime as ort
import PIL.Image
import rapidocr_onnxruntime
from rapidocr_onnxruntime.ch_ppocr_det.utils import DBPostProcess

from autolettura.rules.register import PIECE, Wheel, WheelInk, wheel_motion

MODELS = Path(rapidocr_onnxruntime.__file__).parent / "models"
DET_MODEL = MODELS / "ch_PP-OCRv4_det_infer.onnx"
REC_MODEL = MODELS / "ch_PP-OCRv4_rec_infer.onnx"

# A phone photo is 12 megapixels; the register needs far fewer. Larger images are scaled
# down before anything else, which bounds both time and memory whatever is sent.
MAX_SIDE = 1600
# The detector sees the photo with its shorter side at DET_SHORT pixels (the detector's own
# default: smaller loses the register's outer wheels), its longer at most DET_LONG.
DET_SHORT = 736
DET_LONG = 1280
REC_HEIGHT = 48
# What the detector and the recogniser see at once is bounded, and with it their memory
# (each pixel costs the detector ~300 bytes of feature maps): past DET_SHORT (the photo
# is seen whole there, at most 736 by 1280) the detector's input at most DET_PIXELS, a
# 4:3 photo at DET_SHORT; a batch of strips at most REC_COLUMNS pixels across.
DET_PIXELS = 760_000
REC_COLUMNS = 2400
MAX_PIXELS = 50_000_000  # refuse to decode a "decompression bomb"


MARK = "mMnh"  # how the recogniser reads the "m" of "m³"
LOOKALIKES = {0: "OoQDU\u3007", 1: "Il|]!", 2: "Zz", 5: "Ss", 6: "Gb", 8: "B", 9: "gq"}


@dataclass(frozen=True)
class Glyph:
    """One character the recogniser read: a digit (or -1 for any other) and its columns."""

    digit: int
    char: str  # what the recogniser read there with every character allowed
    first: int
    last: int
    probs: np.ndarray  # the ten digits' probabilities at its most certain column


@dataclass(frozen=True)
class _LineRead:
    read: list[tuple[Wheel, Glyph]]
    wide: np.ndarray  # the quadrilateral the strip was cut from
    strip: np.ndarray  # the centred strip
    text: str
    # The wheels whose columns (in `strip`) give the register's box; `read` by default.
    measured: list[tuple[Wheel, Glyph]] | None = None

    @property
    def geometry(self) -> list[tuple[Wheel, Glyph]]:
        return self.read if self.measured is None else self.measured


def _digit(wheel: Wheel) -> int:
    return int(np.argmax(wheel.probabilities))


class ImageUnreadable(Exception):
    """The bytes are not an image this reader can decode."""


@dataclass(frozen=True)
class RegisterImage:
    """What the wheels show, left to right, and where the register is in the photo."""

    wheels: tuple[Wheel, ...]
    box: tuple[tuple[int, int], ...]  # the register's corners in the image's pixels
    text: str  # what the recogniser read on the register's line, for diagnosis


def decode_image(data: bytes) -> np.ndarray:
    """The photo as a BGR array, upright, its longer side at most MAX_SIDE pixels.

    Raises ImageUnreadable for bytes that are no image, or too large an image.
    """
    return decode_photo(data)[0]


def decode_photo(data: bytes) -> tuple[np.ndarray, float]:
    """The photo as `decode_image` gives it, and the scale it was shrunk by (1 at most):
    a point of the array is at (x / scale, y / scale) in the photo as shown upright."""
    if not data:
        raise ImageUnreadable("empty")
    # The size from the header alone, before a pixel is decoded: a few KB of PNG can
    # claim a gigapixel, which decoding would have to hold in memory.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PIL.Image.DecompressionBombWarning)
            width, height = PIL.Image.open(io.BytesIO(data)).size
    except (OSError, ValueError, PIL.Image.DecompressionBombError) as exc:
        raise ImageUnreadable("not an image") from exc
    if width * height > MAX_PIXELS:
        raise ImageUnreadable("too many pixels")
    # OpenCV turns the photo as its EXIF orientation says, as the phone showed it.
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR)
    if image is None:
        raise ImageUnreadable("not an image")
    height, width = image.shape[:2]
    scale = MAX_SIDE / max(height, width)
    if scale >= 1:
        return image, 1.0
    image = cv2.resize(
        image, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA
    )
    return image, scale


def _libc() -> Any:
    try:
        return ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to trim
        return None


_LIBC = _libc()


def _release_memory() -> None:
    """Give back to the system what a reading freed: the detector's feature maps are a
    few hundred MB, and glibc would otherwise keep them, so that a worker's memory grows
    to the largest photo it ever read plus fragments."""
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


def _run_options() -> ort.RunOptions:
    run = ort.RunOptions()
    # The arena's memory goes back at the end of each run, not kept for the next photo.
    run.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")
    return run


_RUN = _run_options()


class RegisterReader:
    """One loaded detector and recogniser; thread-safe, meant to be made once a process."""

    def __init__(self, *, threads: int = 1) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        # An arena planned for each input shape (the memory pattern), given back at the end
        # of every run (`_RUN`): one planned block per run instead of a malloc per tensor,
        # which left the heap fragmented and peaked up to half as high again, and cost a
        # fifth more time; between photos the process keeps nothing of it.
        options.enable_cpu_mem_arena = True
        options.enable_mem_pattern = True
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        providers = ["CPUExecutionProvider"]
        self._det = ort.InferenceSession(str(DET_MODEL), options, providers=providers)
        self._rec = ort.InferenceSession(str(REC_MODEL), options, providers=providers)
        meta = self._rec.get_modelmeta().custom_metadata_map
        self._chars = ["", *meta["character"].splitlines(), " "]
        self._digit_index = np.array([self._chars.index(str(d)) for d in range(10)])
        self._det_mean = np.float32(0.5)
        self._det_post = DBPostProcess(
            thresh=0.3,
            box_thresh=0.3,
            max_candidates=200,
            unclip_ratio=1.6,
            use_dilation=True,
            score_mode="fast",
        )
        self._lookalikes = {
            digit: np.array([self._chars.index(c) for c in letters if c in self._chars])
            for digit, letters in LOOKALIKES.items()
        }

    # -- detection ---------------------------------------------------------------------

    def detect(self, image: np.ndarray, short_side: int = DET_SHORT) -> list[np.ndarray]:
        """Text lines as quadrilaterals (4 by 2 float arrays, clockwise from top left).

        The detector's memory grows with its input (~300 bytes a pixel): larger than
        DET_SHORT, past DET_PIXELS, the photo is seen in overlapping tiles along its
        longer side, at the same scale.
        """
        height, width = image.shape[:2]
        ratio = min(short_side / min(height, width), DET_LONG / max(height, width))
        tiles = _tiles(height, width, ratio) if short_side > DET_SHORT else [(0, height, 0, width)]
        boxes: list[np.ndarray] = []
        for top, bottom, left, right in tiles:
            for box in self._detect_tile(image[top:bottom, left:right], ratio):
                box = box + np.array([left, top], dtype=np.float32)
                if not any(_same_box(box, kept) for kept in boxes):
                    boxes.append(box)
        return boxes

    def _detect_tile(self, image: np.ndarray, ratio: float) -> list[np.ndarray]:
        height, width = image.shape[:2]
        size = (max(32, round(width * ratio / 32) * 32), max(32, round(height * ratio / 32) * 32))
        resized = cv2.resize(image, size).astype(np.float32) / 255
        batch = ((resized - self._det_mean) / self._det_mean).transpose(2, 0, 1)[np.newaxis]
        del resized
        prediction = self._det.run(None, {self._det.get_inputs()[0].name: batch}, _RUN)[0]
        del batch
        boxes, _scores = self._det_post(prediction, image.shape[:2])
        return [np.asarray(box, dtype=np.float32) for box in boxes]

    # -- recognition -------------------------------------------------------------------

    def recognise(self, strips: list[np.ndarray]) -> list[np.ndarray]:
        """The recogniser's per-column probabilities (columns by classes) for each strip.

        Strips are recognised in batches of similar widths holding at most REC_COLUMNS
        pixels across in all: a photo full of text lines costs time, not memory.
        """
        widths = [max(1, round(s.shape[1] * REC_HEIGHT / s.shape[0])) for s in strips]
        out: list[np.ndarray] = [np.empty(0)] * len(strips)
        order = sorted(range(len(strips)), key=lambda i: widths[i])
        while order:
            batch = [order.pop(0)]
            while order and (len(batch) + 1) * max(widths[order[0]], 320) <= REC_COLUMNS:
                batch.append(order.pop(0))
            recognised = self._recognise([strips[i] for i in batch], [widths[i] for i in batch])
            for i, probs in zip(batch, recognised, strict=True):
                out[i] = probs
        return out

    def _recognise(self, strips: list[np.ndarray], widths: list[int]) -> list[np.ndarray]:
        width = max(max(widths), 320)
        batch = np.zeros((len(strips), 3, REC_HEIGHT, width), dtype=np.float32)
        for i, (strip, w) in enumerate(zip(strips, widths, strict=True)):
            resized = cv2.resize(strip, (w, REC_HEIGHT)).astype(np.float32)
            batch[i, :, :, :w] = (resized.transpose(2, 0, 1) / 255 - 0.5) / 0.5
        output = self._rec.run(None, {self._rec.get_inputs()[0].name: batch}, _RUN)[0]
        # Columns past a strip's own width saw only padding.
        return [
            output[i, : max(1, math.ceil(output.shape[1] * w / width))].copy()
            for i, w in enumerate(widths)
        ]

    def digits(self, probs: np.ndarray) -> list[Glyph]:
        """CTC decoding over the digits alone: every other character is "other".

        Letters a wheel's digit is often taken for (O, Q, D for 0; I, l for 1; S for 5; B
        for 8...) count for that digit: the register holds nothing but digits.
        """
        digits = probs[:, self._digit_index].copy()
        for digit, indices in self._lookalikes.items():
            digits[:, digit] += probs[:, indices].sum(axis=1)
        blank = probs[:, 0]
        other = np.clip(1 - blank - digits.sum(axis=1), 0, 1)
        classes = np.column_stack([blank, other, digits])  # 0 blank, 1 other, 2.. digits
        best = classes.argmax(axis=1)
        glyphs: list[Glyph] = []
        previous = -1
        for column, index in enumerate(best):
            if index >= 1 and index != previous:
                char = self._chars[int(probs[column].argmax())]
                glyphs.append(Glyph(int(index) - 2, char, column, column, classes[column, 2:]))
            elif index >= 1 and glyphs:
                last = glyphs[-1]
                keep = (
                    classes[column, 2:]
                    if classes[column, 2:].max() > last.probs.max()
                    else last.probs
                )
                glyphs[-1] = Glyph(last.digit, last.char, last.first, column, keep)
            previous = index
        return glyphs

    def other_text(self, probs: np.ndarray) -> str:
        """Plain CTC decoding, for diagnosis and for the "m³" mark."""
        best = probs.argmax(axis=1)
        previous = -1
        chars = []
        for index in best:
            if index != previous and index != 0:
                chars.append(self._chars[index])
            previous = index
        return "".join(chars)

    # -- the register ------------------------------------------------------------------

    def read(self, image: np.ndarray) -> RegisterImage | None:
        """What the register's wheels show, or None where no register is found."""
        try:
            return self._read(image)
        finally:
            _release_memory()

    def _read(self, image: np.ndarray) -> RegisterImage | None:
        for short_side in (DET_SHORT, 960, 544):
            line = self._register_line(image, self.detect(image, short_side))
            if line is not None:
                break
        else:
            return None
        quad, glyphs = line
        pitch = _width(quad) / max(1, len([g for g in glyphs if g.digit >= 0]))
        # The detector often stops short of a wheel caught turning: the strip reaches a
        # wheel further right.
        near = self._line_wheels(
            image, _extend(quad, left=0.1 * pitch, right=1.3 * pitch), frame_edge=False
        )
        # It also misses a leading zero beside the register's frame: a strip reaching a
        # wheel further left too is read, and its first wheel taken when the rest agree.
        far = self._line_wheels(
            image, _extend(quad, left=1.0 * pitch, right=1.3 * pitch), frame_edge=True
        )
        line_read = near
        near_black = [w for w, _g in near.read if not w.red]
        far_black = [w for w, _g in far.read if not w.red]
        if len(far_black) == len(near_black) + 1 and [_digit(w) for w in far_black[1:]] == [
            _digit(w) for w in near_black
        ]:
            line_read = _LineRead([far.read[0], *near.read], far.wide, far.strip, far.text)
            # The box is measured on the wider strip, where every wheel was read.
            line_read = _LineRead(line_read.read, far.wide, far.strip, far.text, far.read)
        black_columns = [
            c for w, g in line_read.geometry if not w.red for c in (g.first, g.last + 1)
        ]
        if not black_columns:
            return None
        # The box around the black wheels: their columns, half a digit's margin each side.
        wide = line_read.wide
        margin = pitch / 2 * line_read.strip.shape[1] / max(_width(wide), 1.0)
        left = min(black_columns) * STRIDE - margin
        right = max(black_columns) * STRIDE + margin
        return RegisterImage(
            wheels=tuple(wheel for wheel, _glyph in line_read.read),
            box=tuple((round(x), round(y)) for x, y in _strip_box(wide, left, right)),
            text=line_read.text,
        )

    def _line_wheels(self, image: np.ndarray, wide: np.ndarray, *, frame_edge: bool) -> _LineRead:
        """The wheels read on the strip of `wide`, each with the columns it was read in;
        `frame_edge`: the strip may start on the register's frame."""
        strips = [warp(image, wide, shift=shift) for shift in SHIFTS]
        recognised = self.recognise(strips)
        decoded = [self.digits(p) for p in recognised]
        tolerance = self._columns(strips[0]) * 0.04
        read: list[tuple[Wheel, Glyph]] = []
        ended = False
        for glyph in decoded[0]:
            if glyph.char in MARK and read:
                ended = True  # "m³": the register ends there
                break
            column = (glyph.first + glyph.last) / 2
            wheel = _wheel(glyph, [_nearest(other, column, tolerance) for other in decoded[1:]])
            if wheel is not None:
                red = _red_share(strips[0], glyph) >= RED_SHARE
                read.append((Wheel(wheel.probabilities, wheel.between, red=red), glyph))
            elif read and not read[-1][0].red and read[-1][0] is not UNKNOWN:
                # Neither a digit nor a wheel seen turning, right after the black wheels:
                # still a wheel, of unknown digit, so that the register is not read one
                # digit short with full confidence.
                read.append((UNKNOWN, glyph))
        # Something unreadable after the last wheel is a wheel only when the register is
        # known to go on: the red decimals or the "m³" mark follow it.
        while read and read[-1][0] is UNKNOWN and not ended:
            read.pop()
        read = _evenly_spaced(read)

        def reread(shift: float, *, column: float) -> Glyph | None:
            glyphs = self.digits(self.recognise([warp(image, wide, shift=shift)])[0])
            return _nearest(glyphs, column, tolerance)

        read = _turning_wheels(_tall_strip(image, wide), read, reread, frame_edge=frame_edge)
        return _LineRead(read, wide, strips[0], self.other_text(recognised[0]))

    def _columns(self, strip: np.ndarray) -> int:
        return math.ceil(strip.shape[1] * REC_HEIGHT / strip.shape[0] / 8)

    def _register_line(
        self, image: np.ndarray, boxes: list[np.ndarray]
    ) -> tuple[np.ndarray, list[Glyph]] | None:
        """The text line that reads as the most digits in a row (at least three)."""
        lines = [
            b for b in boxes if _width(b) >= 1.5 * _height(b) and _height(b) >= MIN_LINE_HEIGHT
        ]
        if not lines:
            return None
        best: tuple[float, np.ndarray, list[Glyph]] | None = None
        for quad, probs in zip(lines, self.recognise([warp(image, q) for q in lines]), strict=True):
            glyphs = self.digits(probs)
            run = _longest_digit_run(glyphs)
            # The register's digits are the largest text on the meter: a longer run of
            # smaller digits (a dial's "x0.0001") is not it.
            score = min(run, 9) ** 2 * _height(quad)
            if run >= 3 and (best is None or score > best[0]):
                best = (score, quad, glyphs)
        if best is None:
            return None
        return _merge_line(best[1], boxes), best[2]


# A line of text shorter than this, in the photo's pixels, is too small to read digits from
# (a register photographed to be read has its digits several times taller); what the
# detector finds that small is texture, such as noise read as a row of tiny "digits".
MIN_LINE_HEIGHT = 12
# The recogniser sees a strip in columns of this many pixels (its width / its time steps).
STRIDE = 8
# A wheel is a decimal one when at least this share of its window is red.
RED_SHARE = 0.2


def _red_share(strip: np.ndarray, glyph: Glyph) -> float:
    """The share of red pixels (the decimals' wheels or digits) in a glyph's columns."""
    left = max(0, glyph.first * STRIDE - STRIDE // 2)
    right = min(strip.shape[1], (glyph.last + 1) * STRIDE + STRIDE // 2)
    if right <= left:
        return 0.0
    cell = strip[:, left:right].astype(np.int16)
    blue, green, red = cell[..., 0], cell[..., 1], cell[..., 2]
    others = np.maximum(blue, green)
    # Red over the other two, by a ratio as well as a margin: glare washes a red wheel out
    # to pink, and a dark one is red by little in absolute terms.
    reddish = (red - others >= 25) & (red * 4 >= others * 5)
    return float(reddish.mean())


# A wheel's digit counts as confirmed when the window moved up reads it with this
# probability; an unconfirmed one keeps this share of its probability.
CONFIRMED = 0.5
UNCONFIRMED = 0.6

UNKNOWN = Wheel(tuple([0.1] * 10))

# The register's line is read again in windows moved up by these fractions of its height:
# a wheel caught turning shows its outgoing digit there.
SHIFTS = (0.0, -0.3, -0.6)


def _tiles(height: int, width: int, ratio: float) -> list[tuple[int, int, int, int]]:
    """(top, bottom, left, right) of the tiles the detector sees the photo in: one when
    the photo at `ratio` fits DET_PIXELS, else overlapping ones along its longer side, a
    third of each shared with the next (a line cut by one is whole in the other)."""
    if height * width * ratio * ratio <= DET_PIXELS:
        return [(0, height, 0, width)]
    long_side, short_side = max(height, width), min(height, width)
    length = max(64, int(DET_PIXELS / (short_side * ratio * ratio)))
    overlap = length // 3
    count = math.ceil((long_side - overlap) / (length - overlap))
    step = (long_side - length) / max(1, count - 1)
    spans = [(round(i * step), round(i * step) + length) for i in range(count)]
    if width >= height:
        return [(0, height, start, min(end, width)) for start, end in spans]
    return [(start, min(end, height), 0, width) for start, end in spans]


def _same_box(box: np.ndarray, other: np.ndarray) -> bool:
    """The same line found in two overlapping tiles."""
    return bool(np.abs(box - other).max() <= 0.25 * max(_height(box), 1.0))


def _evenly_spaced(read: list[tuple[Wheel, Glyph]]) -> list[tuple[Wheel, Glyph]]:
    """The wheels without a leading one out of step with the others.

    Wheels sit at even intervals; the register's frame or a screw beside it, taken for a
    "1", does not.
    """
    centres = [(g.first + g.last) / 2 for _w, g in read]
    if len(centres) < 4:
        return read
    step = float(np.median(np.diff(centres)))
    while len(read) >= 4:
        gap = (read[1][1].first + read[1][1].last - read[0][1].first - read[0][1].last) / 2
        if abs(gap - step) <= 0.3 * step:
            break
        read = read[1:]
    return read


def _merge_line(quad: np.ndarray, boxes: list[np.ndarray]) -> np.ndarray:
    """The register's line grown over the boxes beside it on the same line.

    The detector splits a register where a wheel is caught turning, or where the black
    wheels meet the red ones; the pieces line up and nearly touch.
    """
    across, down, _width_, height = _axes(quad)
    origin = quad.mean(axis=0)
    left, right = -_width_ / 2, _width_ / 2
    grown = True
    while grown:
        grown = False
        for box in boxes:
            offsets = box - origin
            along = offsets @ across
            aside = (box.mean(axis=0) - origin) @ down
            box_height = _height(box)
            if abs(aside) > 0.4 * height or not 0.2 * height <= box_height <= 1.5 * height:
                continue
            low, high = float(along.min()), float(along.max())
            near = low <= right + 1.5 * height and high >= left - 1.5 * height
            if near and (low < left - 0.5 or high > right + 0.5):
                left, right, grown = min(left, low), max(right, high), True
    top, bottom = -height / 2, height / 2
    return np.array(
        [
            origin + across * left + down * top,
            origin + across * right + down * top,
            origin + across * right + down * bottom,
            origin + across * left + down * bottom,
        ],
        dtype=np.float32,
    )


def _longest_digit_run(glyphs: list[Glyph]) -> int:
    best = current = 0
    for glyph in glyphs:
        current = current + 1 if glyph.digit >= 0 else 0
        best = max(best, current)
    return best


def _nearest(glyphs: list[Glyph], column: float, tolerance: float) -> Glyph | None:
    near = [
        g
        for g in glyphs
        if g.digit >= 0 and abs((g.first + g.last) / 2 - column) <= max(tolerance, 1.5)
    ]
    return min(near, key=lambda g: abs((g.first + g.last) / 2 - column), default=None)


def _wheel(glyph: Glyph, above: list[Glyph | None]) -> Wheel | None:
    """A wheel from its digit in the centred window and in the windows moved up; None for
    a character that is no digit in any of them (the "m³" mark)."""
    seen_above = [g for g in above if g is not None and float(g.probs.max()) >= 0.6]
    if glyph.digit < 0:
        # Two half digits the centred window took for something else: a wheel turning,
        # when a window above sees a digit there.
        if not seen_above:
            return None
        outgoing = max(seen_above, key=lambda g: float(g.probs.max()))
        probs = outgoing.probs / max(float(outgoing.probs.sum()), 1e-6) * PLACE_ONLY
        return Wheel(
            tuple(float(p) for p in probs), between=(outgoing.digit, (outgoing.digit + 1) % 10)
        )
    probs = glyph.probs / max(float(glyph.probs.sum()), 1e-6)
    centre = int(np.argmax(probs))
    between = None
    if seen_above:
        outgoing = max(seen_above, key=lambda g: float(g.probs.max()))
        if outgoing.digit == (centre - 1) % 10:
            between = (outgoing.digit, centre)
        elif probs[centre] < 0.8 and outgoing.digit != centre:
            # The centred window saw two half digits and read neither well; the window
            # above saw the outgoing one.
            between = (outgoing.digit, (outgoing.digit + 1) % 10)
            probs = outgoing.probs / max(float(outgoing.probs.sum()), 1e-6)
    nearest_above = above[0]
    if between is None and (
        nearest_above is None
        or nearest_above.digit != centre
        or float(nearest_above.probs[centre]) < CONFIRMED
    ):
        # A still wheel still reads the same a little higher up; one that does not is
        # caught turning, or hard to see: its digit is only a guess.
        probs = probs * UNCONFIRMED
    if between is not None:
        probs = probs * PLACE_ONLY  # a turning wheel's digits are half hidden
    return Wheel(tuple(float(p) for p in probs), between=between)


def _axes(quad: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float]:
    top_left, top_right, bottom_right, bottom_left = quad
    across = (top_right - top_left + bottom_right - bottom_left) / 2
    down = (bottom_left - top_left + bottom_right - top_right) / 2
    width = float(np.linalg.norm(across))
    height = float(np.linalg.norm(down))
    return across / max(width, 1e-6), down / max(height, 1e-6), width, height


def _width(quad: np.ndarray) -> float:
    return _axes(quad)[2]


def _height(quad: np.ndarray) -> float:
    return _axes(quad)[3]


def _extend(quad: np.ndarray, *, left: float, right: float) -> np.ndarray:
    across, _down, _w, _h = _axes(quad)
    tl, tr, br, bl = quad
    corners = [tl - across * left, tr + across * right, br + across * right, bl - across * left]
    return np.array(corners, dtype=np.float32)


PAD = 0.15  # the strip's margin around a line, in the line's heights


# A wheel told turning by where its pieces sit is read at most this sure: its digits are
# half hidden, and which way it turns is measured, not read.
PLACE_ONLY = 0.85
# A wheel caught half-way whose halves did not read as two digits a digit apart: whatever
# the recogniser made of it keeps this share of its probability.
HALVES_ONLY = 0.5
# A piece of digit counts from this many rows of the tall strip (as high as the strip's
# digits are some 30): a row or two is noise or the window's edge.
PIECE_ROWS = 3
# The pieces of a wheel caught half-way reach this many digit heights above and below the
# line: to the window's edges.
HALVES_WINDOW = 1.25
WINDOW = 0.9  # the register's window reaches this many digit heights above and below
TALL = 3  # the tall strip is this many times the strip's height, on the same columns


def _tall_strip(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """The centred strip of `quad` reaching TALL times as high, column for column the
    same as `warp`'s: a turning wheel's digits above and below the line show there."""
    source, out_width = _strip_source(quad, 0.0, PAD)
    top_left, top_right, bottom_right, bottom_left = source
    grow = (bottom_left - top_left) * (TALL - 1) / 2
    source = np.array(
        [top_left - grow, top_right - grow, bottom_right + grow, bottom_left + grow],
        dtype=np.float32,
    )
    height = REC_HEIGHT * TALL
    target = np.array([[0, 0], [out_width, 0], [out_width, height], [0, height]], dtype=np.float32)
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(
        image, matrix, (out_width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )


def _ink_runs(
    cell: np.ndarray, threshold: float, bright_ink: bool, share: float = 0.12
) -> list[tuple[int, int]]:
    """The rows of a wheel's cell that hold ink (at least `share` of the row), as runs
    (first row, last row + 1)."""
    ink = cell > threshold if bright_ink else cell < threshold
    rows = ink.mean(axis=1) > share
    runs: list[tuple[int, int]] = []
    start = None
    for row, inked in enumerate(rows):
        if inked and start is None:
            start = row
        elif not inked and start is not None:
            runs.append((start, row))
            start = None
    if start is not None:
        runs.append((start, len(rows)))
    return runs


# The thin stroke of a neighbour's edge (the foot of a "1", the bottom of a "0") covers
# little of a row: pieces beside the main digit are looked for at this share.
FINE_SHARE = 0.04


@dataclass(frozen=True)
class _Cell:
    runs: list[tuple[int, int]]  # rows well inked: the digits
    fine: list[tuple[int, int]]  # rows inked at all: the digits and the slivers beside them


def _line_fit(xs: list[float], ys: list[float], x: float) -> float:
    """ys at x, on the straight line through (xs, ys) (their median with fewer than 3):
    with perspective, the wheels' digits shrink and rise steadily across the register."""
    if len(xs) < 3 or max(xs) - min(xs) < 1e-6:
        return float(np.median(ys))
    slope, intercept = np.polyfit(xs, ys, 1)
    return float(slope * x + intercept)


def _turning_wheels(
    tall: np.ndarray,
    read: list[tuple[Wheel, Glyph]],
    reread: Callable[..., Glyph | None],
    *,
    frame_edge: bool,
) -> list[tuple[Wheel, Glyph]]:
    """The wheels, with those caught turning told apart by where their digit sits.

    A still wheel's digit sits on the line, level with the others; a turning wheel's
    digit sits lower (it is coming in: the wheel shows it and the one before it) or
    higher (going out). The recogniser read the larger piece; which one it was decides
    whether that digit is the wheel's lower or upper one.
    """
    centres = [(g.first + g.last + 1) / 2 * STRIDE for _w, g in read]
    if len(read) < 3:
        return read
    step = float(np.median(np.diff(centres)))
    gray = cv2.cvtColor(tall, cv2.COLOR_BGR2GRAY).astype(np.float32)
    middle = gray[REC_HEIGHT * (TALL - 1) // 2 : REC_HEIGHT * (TALL + 1) // 2]
    bright_ink = float(np.median(middle)) < float(middle.mean()) + 1e-6
    threshold = float(cv2.threshold(middle.astype(np.uint8), 0, 255, cv2.THRESH_OTSU)[0])
    cells: list[_Cell] = []
    for centre in centres:
        left, right = round(centre - 0.3 * step), round(centre + 0.3 * step)
        columns = gray[:, max(0, left) : max(0, right)]
        if not columns.size:
            cells.append(_Cell([], []))
            continue
        cells.append(
            _Cell(
                _ink_runs(columns, threshold, bright_ink),
                _ink_runs(columns, threshold, bright_ink, FINE_SHARE),
            )
        )
    line_middle = tall.shape[0] / 2
    # The still wheels' digits: where they sit and how tall they are.
    xs: list[float] = []
    mains: list[tuple[int, int]] = []
    for centre, (wheel, _g), cell in zip(centres, read, cells, strict=True):
        near = [r for r in cell.runs if r[0] <= line_middle <= r[1]]
        if wheel.between is None and max(wheel.probabilities) >= 0.9 and near:
            xs.append(centre)
            mains.append(near[0])
    if len(mains) < 2:
        return read
    heights = [float(b - a) for a, b in mains]
    levels = [(a + b) / 2 for a, b in mains]
    digit_height = float(np.median(heights))
    level = float(np.median(levels))
    # On a strip that may start on the frame, a leading "digit" with no digit-sized ink
    # inside the register's window is the frame's edge (it runs past the window).
    top, bottom = level - WINDOW * digit_height, level + WINDOW * digit_height
    while (
        frame_edge
        and len(read) > 1
        and not any(
            r[0] > top and r[1] < bottom and r[1] - r[0] >= 0.5 * digit_height
            for r in cells[0].runs
        )
    ):
        read, cells, centres = read[1:], cells[1:], centres[1:]
    # Only the units wheel turns on its own; a wheel further left turns only while every
    # wheel right of it is turning from 9 to 0.
    out = list(read)
    for index in range(len(read) - 1, -1, -1):
        wheel, glyph = read[index]
        if wheel.red:
            continue
        column = (glyph.first + glyph.last) / 2
        turned = _turning(
            wheel,
            cells[index],
            _line_fit(xs, levels, centres[index]),
            # Heights measured on a few digits scatter too much to be extrapolated.
            digit_height,
            functools.partial(reread, column=column),
        )
        out[index] = (turned, glyph)
        if turned.between != (9, 0):
            break
    return out


def wheel_ink(
    runs: list[tuple[int, int]], fine: list[tuple[int, int]], level: float, height: float
) -> tuple[WheelInk, tuple[int, int]] | None:
    """Where a wheel's ink sits in its window, and its main digit's rows; None when no
    digit-sized piece shows (two small pieces: which one was read is not known)."""
    # Ink within the register's window only: a run reaching past it is the dial or the
    # frame around the register, not a digit.
    top, bottom = level - WINDOW * height, level + WINDOW * height
    band = [r for r in runs if r[0] > top and r[1] < bottom]
    if not band:
        return None
    main = max(band, key=lambda r: r[1] - r[0])
    if main[1] - main[0] < 0.6 * height:
        return None
    # Pieces: ink apart from the main digit (a blank row between), at least two rows.
    pieces = [r for r in fine if r[0] > top and r[1] < bottom and r[1] - r[0] >= 2]
    above = [r[1] - r[0] for r in pieces if r[1] < main[0]]
    below = [r[1] - r[0] for r in pieces if r[0] > main[1]]
    return (
        WheelInk(
            offset=((main[0] + main[1]) / 2 - level) / height,
            above=max(above, default=0) / height,
            below=max(below, default=0) / height,
        ),
        main,
    )


def _turning(
    wheel: Wheel,
    cell: _Cell,
    level: float,
    height: float,
    reread: Callable[[float], Glyph | None],
) -> Wheel:
    if wheel.between is not None or wheel.red:
        return wheel
    measured = wheel_ink(cell.runs, cell.fine, level, height)
    if measured is None:
        return _halfway(wheel, cell, level, height, reread)
    ink, main = measured
    motion = wheel_motion(ink)
    if not motion:
        return wheel
    # Read again with the larger piece moved to where the still wheels' digits sit: the
    # recogniser reads a whole digit better than the half one the line showed.
    shift = ((main[0] + main[1]) / 2 - level) / REC_HEIGHT * (1 + PAD)
    again = reread(shift)
    if again is not None and float(again.probs.max()) >= 0.5:
        probabilities = again.probs / max(float(again.probs.sum()), 1e-6)
    elif wheel is not UNKNOWN:
        probabilities = np.array(wheel.probabilities)
    else:
        return wheel
    digit = int(np.argmax(probabilities))
    # Told by the pieces' places, less sure than the recogniser's word on a still wheel.
    sure = tuple(float(p) * PLACE_ONLY for p in probabilities)
    if motion > 0:
        return Wheel(sure, between=((digit - 1) % 10, digit))
    return Wheel(sure, between=(digit, (digit + 1) % 10))


def _halfway(
    wheel: Wheel,
    cell: _Cell,
    level: float,
    height: float,
    reread: Callable[[float], Glyph | None],
) -> Wheel:
    """A wheel whose window shows no whole digit: half-way round, the bottom of the digit
    going out above the top of the one coming in. Each piece is read again moved to the
    line, as the whole digit it belongs to: two readings a digit apart are the wheel's two
    digits; neither reading the digit the recogniser made of the two halves leaves that
    digit untrusted.
    """
    # Pieces reach the window's edges; ink reaching the strip's edges is the frame or the
    # dial around the register.
    top, bottom = level - HALVES_WINDOW * height, level + HALVES_WINDOW * height
    band = [
        r
        for r in cell.runs
        if top < r[0] and r[1] < bottom and r[1] - r[0] >= max(PIECE * height, PIECE_ROWS)
    ]
    upper = [r for r in band if (r[0] + r[1]) / 2 < level]
    lower = [r for r in band if (r[0] + r[1]) / 2 > level]
    if not upper or not lower:
        return wheel
    going = max(upper, key=lambda r: r[1])  # the piece nearest the line on each side
    coming = min(lower, key=lambda r: r[0])
    # The whole digits' middles: half a digit above the going one's bottom, below the
    # coming one's top.
    out = reread((going[1] - height / 2 - level) / REC_HEIGHT * (1 + PAD))
    into = reread((coming[0] + height / 2 - level) / REC_HEIGHT * (1 + PAD))
    if out is not None and into is not None and (out.digit + 1) % 10 == into.digit:
        sure = min(float(out.probs.max()), float(into.probs.max())) * PLACE_ONLY
        probabilities = out.probs / max(float(out.probs.sum()), 1e-6)
        probabilities = probabilities * sure / max(float(probabilities.max()), 1e-6)
        return Wheel(tuple(float(p) for p in probabilities), between=(out.digit, into.digit))
    if wheel is UNKNOWN or _digit(wheel) in {g.digit for g in (out, into) if g is not None}:
        return wheel
    return Wheel(tuple(p * HALVES_ONLY for p in wheel.probabilities), red=wheel.red)


def _strip_source(quad: np.ndarray, shift: float, pad: float) -> tuple[np.ndarray, int]:
    """The corners in the photo of the strip `warp` makes, and the strip's width."""
    across, down, width, height = _axes(quad)
    centre = quad.mean(axis=0) + down * shift * height
    half_width = width / 2 + pad * height
    half_height = height / 2 * (1 + pad)
    source = np.array(
        [
            centre - across * half_width - down * half_height,
            centre + across * half_width - down * half_height,
            centre + across * half_width + down * half_height,
            centre - across * half_width + down * half_height,
        ],
        dtype=np.float32,
    )
    return source, max(8, round(REC_HEIGHT * half_width / half_height))


def _strip_box(quad: np.ndarray, left: float, right: float) -> np.ndarray:
    """The photo's quadrilateral under columns left..right of the centred strip of `quad`."""
    source, out_width = _strip_source(quad, 0.0, PAD)
    top_left, top_right, _bottom_right, bottom_left = source
    across = (top_right - top_left) / out_width
    down = bottom_left - top_left
    left, right = max(0.0, left), min(float(out_width), right)
    return np.array(
        [
            top_left + across * left,
            top_left + across * right,
            top_left + across * right + down,
            top_left + across * left + down,
        ]
    )


def warp(
    image: np.ndarray, quad: np.ndarray, *, shift: float = 0.0, pad: float = PAD
) -> np.ndarray:
    """The quadrilateral's content as an upright strip REC_HEIGHT pixels high, moved down by
    `shift` heights (up when negative)."""
    source, out_width = _strip_source(quad, shift, pad)
    target = np.array(
        [[0, 0], [out_width, 0], [out_width, REC_HEIGHT], [0, REC_HEIGHT]], dtype=np.float32
    )
    matrix = cv2.getPerspectiveTransform(source, target)
    return cv2.warpPerspective(
        image,
        matrix,
        (out_width, REC_HEIGHT),
        flags=cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
