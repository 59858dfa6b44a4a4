"""Benchmark: reading the register from labelled photos of meters, on one core.

    .venv/bin/python -m benchmarks.photo_reading [--synthetic 40] [--seed 12] [DIR ...]

Each DIR holds photos and a `labels.csv` with the columns `file`, `register` (the whole m³
as the black wheels show them) and `alternatives` (every value a careful reader could give,
`|`-separated). By default it reads ../shared/meter-photos/ beside the repository, in place
(those photos are not ours to copy), and --synthetic N photos of other registers rendered
like tests/photos/images.py renders them (fonts, red decimals, a wheel caught turning,
perspective, blur, noise, glare).

The process is pinned to one CPU and ONNX Runtime, OpenCV and BLAS to one thread. Each photo
is read once, without the cache (the cost a new photo has), then the rules are applied twice:
with the meter's number of digits known (as when the codes come with the photo) and not.

Printed per set and mode: exact (the reading is the register), accepted (the reading is
one of the label's alternatives, or the register is among the reader's alternatives),
unanswered (`-`), wrong answers at or above the confidence the channels act on
(AUTOLETTURA_PHOTO_CONFIDENCE), latency p50 and p95 (wall clock, and the CPU time the
one-thread process spent, which is what it costs on an idle core), and the process's peak
memory.
"""

from __future__ import annotations

import os

# Before numpy, OpenCV and ONNX Runtime load: one thread each, as on one core.
for _name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_name] = "1"

import argparse  # noqa: E402
import csv  # noqa: E402
import multiprocessing  # noqa: E402
import random  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SET = REPO.parent / "shared" / "meter-photos"
MAX_PHOTOS = 500  # bounded: the largest run stays within minutes
MAX_SYNTHETIC = 200


@dataclass(frozen=True)
class Labelled:
    name: str
    path: Path  # read when its turn comes: the photos waiting are not the reader's memory
    register: str
    alternatives: frozenset[str]


@dataclass
class Outcome:
    reading: str | None
    confidence: float
    alternatives: tuple[str, ...]


def labelled_set(folder: Path) -> list[Labelled]:
    with open(folder / "labels.csv", encoding="utf-8", newline="") as labels:
        rows = list(csv.DictReader(labels))
    return [
        Labelled(
            name=row["file"],
            path=folder / row["file"],
            register=row["register"],
            alternatives=frozenset(filter(None, row.get("alternatives", "").split("|")))
            | {row["register"]},
        )
        for row in rows[:MAX_PHOTOS]
    ]


def synthetic_set(count: int, seed: int, folder: Path) -> list[Labelled]:
    """Photos of random registers, written to `folder`; one in three with the units wheel
    caught turning. Rendered in a process of their own, so that the fonts and images the
    rendering leaves in memory are not counted as the reader's."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_render, (count, seed, folder))


def _render(count: int, seed: int, folder: Path) -> list[Labelled]:
    sys.path.insert(0, str(REPO))
    from tests.photos.images import meter_photo, varied

    rng = random.Random(seed)
    photos = []
    for n in range(count):
        digits = rng.choice((4, 5, 5, 5, 6))
        register = f"{rng.randrange(10**digits):0{digits}d}"
        turning = rng.choice((0.0, 0.0, rng.uniform(0.1, 0.9)))
        upper = f"{(int(register) + 1) % 10**digits:0{digits}d}"
        # A wheel more than a fifth of the way round may be read either way.
        alternatives = {register} | ({upper} if turning > 0.2 else set())
        name = f"synthetic-{n:03d}-{register}"
        path = folder / f"{name}.jpg"
        path.write_bytes(meter_photo(varied(register, seed * 1000 + n, turning=turning)))
        photos.append(Labelled(name, path, register, frozenset(alternatives)))
    return photos


def _reset_peak_memory() -> bool:
    """Start the process's peak resident memory (VmHWM) afresh; False where Linux cannot."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        return False
    return True


def _memory_mb(field: str) -> float | None:
    """VmHWM (peak resident) or VmRSS (resident now) of this process, in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(f"{field}:"):
                return int(line.split()[1]) / 1024
    return None


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(title: str, photos: list[Labelled], outcomes: list[Outcome], threshold: float) -> None:
    n = len(photos)
    exact = sum(o.reading == p.register for p, o in zip(photos, outcomes, strict=True))
    accepted = sum(
        o.reading in p.alternatives or p.register in o.alternatives
        for p, o in zip(photos, outcomes, strict=True)
    )
    unanswered = sum(o.reading is None for o in outcomes)
    wrong = [
        (p, o)
        for p, o in zip(photos, outcomes, strict=True)
        if o.reading is not None and o.reading not in p.alternatives
    ]
    confident_wrong = [(p, o) for p, o in wrong if o.confidence >= threshold]
    print(
        f"  {title:<24} exact {exact}/{n} ({100 * exact / n:.1f}%)  "
        f"accepted {accepted}/{n} ({100 * accepted / n:.1f}%)  "
        f"unanswered {unanswered}/{n} ({100 * unanswered / n:.1f}%)  "
        f"wrong {len(wrong)} (at or above {threshold:.2f}: {len(confident_wrong)})"
    )
    for p, o in confident_wrong:
        print(
            f"    wrong and confident: {p.name}: {o.reading} at {o.confidence:.2f}, "
            f"label {p.register}"
        )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("folders", nargs="*", type=Path, metavar="DIR")
    parser.add_argument("--synthetic", type=int, default=0, help=f"0 to {MAX_SYNTHETIC}")
    parser.add_argument(
        "--seed",
        type=int,
        default=12,
        help="the rendered photos' seed (another one gives a held-out set)",
    )
    parser.add_argument("--cpu", type=int, default=None, help="the CPU to pin to")
    args = parser.parse_args(argv)
    if not 0 <= args.synthetic <= MAX_SYNTHETIC:
        parser.error(f"--synthetic must be from 0 to {MAX_SYNTHETIC}")
    folders = args.folders or [DEFAULT_SET]
    for folder in folders:
        if not (folder / "labels.csv").is_file():
            parser.error(f"{folder}: no labels.csv there")

    cpu = args.cpu if args.cpu is not None else min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "autolettura.settings")
    import cv2
    from django.conf import settings

    from autolettura.photos.reader import ImageUnreadable, RegisterReader, decode_image
    from autolettura.rules.register import register_choose

    cv2.setNumThreads(1)
    threshold = settings.AUTOLETTURA_PHOTO_CONFIDENCE
    started = time.perf_counter()
    reader = RegisterReader(threads=1)
    print(
        f"models loaded in {time.perf_counter() - started:.2f} s; one core (CPU {cpu}); "
        f"confidence the channels act on: {threshold:.2f}"
    )

    with tempfile.TemporaryDirectory(prefix="photos-") as rendered:
        sets = [(str(folder), labelled_set(folder)) for folder in folders]
        if args.synthetic:
            sets.append(
                (
                    f"synthetic ({args.synthetic}, seed {args.seed})",
                    synthetic_set(args.synthetic, args.seed, Path(rendered)),
                )
            )
        # The peak is counted from here: Python, Django and the models loaded, as in a worker.
        peak_reset = _reset_peak_memory()
        resident_mb = _memory_mb("VmRSS")
        latencies: list[float] = []
        cpu_times: list[float] = []
        for title, photos in sets:
            known: list[Outcome] = []
            unknown: list[Outcome] = []
            for photo in photos:
                image = photo.path.read_bytes()
                started = time.perf_counter()
                cpu_started = time.process_time()
                try:
                    seen = reader.read(decode_image(image))
                except ImageUnreadable:
                    seen = None
                wheels = seen.wheels if seen is not None else ()
                choice = register_choose(wheels, meter_digits=len(photo.register))
                latencies.append(time.perf_counter() - started)
                cpu_times.append(time.process_time() - cpu_started)
                known.append(Outcome(choice.reading, choice.confidence, choice.alternatives))
                blind = register_choose(wheels, meter_digits=None)
                unknown.append(Outcome(blind.reading, blind.confidence, blind.alternatives))
            print(f"{title}: {len(photos)} photos")
            report("digits known", photos, known, threshold)
            report("digits unknown", photos, unknown, threshold)
    peak_mb = _memory_mb("VmHWM") if peak_reset else None
    if peak_mb is None:
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"latency per photo: p50 {statistics.median(latencies):.3f} s, "
        f"p95 {percentile(latencies, 0.95):.3f} s, max {max(latencies):.3f} s "
        f"({len(latencies)} photos); peak memory {peak_mb:.0f} MB "
        f"({resident_mb:.0f} MB before the first photo: Python, Django, the models)"
    )
    # On a shared machine the wall clock counts the time others had the core; the CPU time
    # of this one-thread process is what a photo costs on a core of its own.
    print(
        f"CPU time per photo: p50 {statistics.median(cpu_times):.3f} s, "
        f"p95 {percentile(cpu_times, 0.95):.3f} s; load average at the end "
        f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )


if __name__ == "__main__":
    main()
