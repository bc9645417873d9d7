"""Server memory when datasets are uploaded and loaded at the limits.

Each phase runs in a fresh Python process (what a server process would hold), reading its
resident set size (RSS) from /proc before and after:

1. ``largest``: an uploaded dataset as large as the limits allow (``DASHCORE_DATASET_MB``
   of uint8 pixels and labels, at most ``DASHCORE_MAX_DATASET_IMAGES`` images) is stored,
   then loaded through ``catalog.load_dataset`` twice (the second load is the cache).
2. ``bomb``: a small ``.npz`` of 20,000 blank 256×256 images (1.3 GB once inflated) is
   offered to ``save_uploaded_dataset``; it is refused from its headers.

Usage: ``python -m benchmarks.bench_dataset_memory`` (about a minute; needs ~2 GB free).
Prints one JSON line per phase: baseline RSS, RSS after, peak RSS, ratio after/baseline.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def rss_mb() -> float:
    """Resident set size of this process now, in MB (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_mb() -> float:
    """Largest resident set size this process has had, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _store_largest() -> dict:
    """Write the largest dataset the limits allow into the datasets folder (uint8)."""
    import io

    import numpy as np

    from dashcore.settings import get_settings

    settings = get_settings().ensure_dirs()
    limits = settings.limits
    images = limits.dataset_images
    side = int(((limits.dataset_mb * 1_000_000 - 16 * images) / images) ** 0.5)
    test = images // 7
    rng = np.random.default_rng(0)
    x = np.zeros((images, side, side), np.uint8)
    x[:, side // 4: 3 * side // 4, side // 2] = rng.integers(128, 256, (images, 1), np.uint8)
    y = (np.arange(images) % 10).astype(np.int64)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, x_train=x[test:], y_train=y[test:], x_test=x[:test],
                        y_test=y[:test], owner=np.array(""))
    (settings.datasets_dir / "largest.npz").write_bytes(buffer.getvalue())
    return {"images": images, "side": side, "file_mb": round(len(buffer.getvalue()) / 1e6, 1),
            "pixels_mb": round(x.nbytes / 1e6, 1)}


def _load_largest() -> dict:
    start = rss_mb()
    from dashcore.datasets import catalog  # imported first: numpy and the package count
    from dashcore.settings import get_settings

    settings = get_settings()

    baseline = rss_mb()
    began = time.perf_counter()
    dataset = catalog.load_dataset("upload:largest", settings)
    first_s = time.perf_counter() - began
    after = rss_mb()
    began = time.perf_counter()
    again = catalog.load_dataset("upload:largest", settings)
    second_s = time.perf_counter() - began
    return {"python_mb": round(start, 1), "baseline_mb": round(baseline, 1),
            "after_load_mb": round(after, 1), "after_second_load_mb": round(rss_mb(), 1),
            "peak_mb": round(peak_mb(), 1), "ratio": round(after / baseline, 2),
            "cached_mb": round(catalog._uploads_cache.held_bytes() / 1e6, 1),
            "first_load_s": round(first_s, 2), "second_load_s": round(second_s, 4),
            "same_object": again is dataset, "images": len(dataset.x_train) + len(dataset.x_test)}


def _bomb() -> dict:
    from dashcore.datasets import uploads
    from dashcore.errors import UserError
    from dashcore.settings import get_settings
    from tests.helpers.datasets import bomb_npz

    data = bomb_npz(images=20_000, side=256)
    baseline = rss_mb()
    try:
        uploads.save_uploaded_dataset("bomb", data, get_settings())
        outcome = "accepted"
    except UserError as exc:
        outcome = str(exc)[:120]
    return {"file_mb": round(len(data) / 1e6, 2), "baseline_mb": round(baseline, 1),
            "after_mb": round(rss_mb(), 1), "peak_mb": round(peak_mb(), 1),
            "ratio": round(rss_mb() / baseline, 2), "outcome": outcome}


PHASES = {"store": _store_largest, "load": _load_largest, "bomb": _bomb}


def main() -> None:
    if len(sys.argv) == 2 and sys.argv[1] in PHASES:
        print(json.dumps(PHASES[sys.argv[1]]()))
        return
    from benchmarks.common import LoadMeter, fresh_home  # not in the children: their RSS counts

    load = LoadMeter()
    with fresh_home("bench-memory-"):  # one data folder for the three phases
        for phase in ("store", "load", "bomb"):
            out = subprocess.run([sys.executable, "-m", "benchmarks.bench_dataset_memory", phase],
                                 env=dict(os.environ), cwd=REPO, check=True,
                                 capture_output=True, text=True).stdout.strip().splitlines()[-1]
            print(json.dumps({"phase": phase, **json.loads(out)}))
    print(load.line())


if __name__ == "__main__":
    main()
