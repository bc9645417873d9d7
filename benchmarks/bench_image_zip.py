"""A zip of class folders vs the same images as a .npz: time and peak memory to load on /data.

Builds 20,000 colour 32×32 images in 10 classes (smooth photo-like pictures: a gradient
background, a shape, sensor noise), saves them once as PNG files in class folders inside a
zip and once as a ``.npz``, then, each in a fresh process so peak memory is its own:

- ``zip``: ``zip_import.import_zip`` (central-directory checks, decode, resize, split,
  store) followed by what /data computes on first view (load, summary, means, PCA, samples);
- ``npz``: ``uploads.save_uploaded_dataset`` followed by the same /data computations.

Target: the zip path under 10 s on this 2-core machine. Wall time on a shared machine
includes other people's work; the process's CPU seconds are printed too. Run::

    python -m benchmarks.bench_image_zip              # ~1 minute
    python -m benchmarks.bench_image_zip --images 2000 --json out.json
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from benchmarks.common import LoadMeter, Phases, fresh_home

if TYPE_CHECKING:  # the children measure memory: nothing of dashcore loads before they ask
    from dashcore.settings import Settings

SIDE, CLASSES, TARGET_S = 32, 10, 10.0


def make_images(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``count`` colour images (uint8 N×32×32×3) and labels: class = shape colour family."""
    rng = np.random.default_rng(seed)
    labels = np.arange(count) % CLASSES
    yy, xx = np.mgrid[0:SIDE, 0:SIDE].astype(np.float32) / SIDE
    images = np.empty((count, SIDE, SIDE, 3), np.uint8)
    hues = rng.uniform(0, 255, (CLASSES, 3))
    for i in range(count):
        base = rng.uniform(0, 255, 3) * (0.6 + 0.4 * xx[..., None]) * (0.7 + 0.3 * yy[..., None])
        cy, cx, r = rng.uniform(0.3, 0.7), rng.uniform(0.3, 0.7), rng.uniform(0.15, 0.3)
        inside = ((yy - cy) ** 2 + (xx - cx) ** 2) < r * r
        base[inside] = hues[labels[i]] + rng.normal(0, 12, 3)
        base += rng.normal(0, 6, base.shape)
        images[i] = np.clip(base, 0, 255)
    return images, labels


def write_inputs(folder: Path, count: int) -> tuple[Path, Path]:
    """The same images as a zip of class folders (PNG) and as a .npz (80/20 split)."""
    images, labels = make_images(count)
    zip_path, npz_path = folder / "images.zip", folder / "images.npz"
    with zipfile.ZipFile(zip_path, "w", zipfile.ZIP_STORED) as archive:  # PNGs are compressed
        for i, (image, label) in enumerate(zip(images, labels, strict=True)):
            buffer = io.BytesIO()
            Image.fromarray(image).save(buffer, "PNG")
            archive.writestr(f"photos/class{label}/{i:05d}.png", buffer.getvalue())
    cut = int(count * 0.8)
    np.savez_compressed(npz_path, x_train=images[:cut], y_train=labels[:cut],
                        x_test=images[cut:], y_test=labels[cut:])
    return zip_path, npz_path


def data_page_views(name: str, settings: Settings) -> None:
    """What /data computes the first time it shows a dataset."""
    from dashcore.datasets import catalog, statistics

    ds = catalog.load_dataset(name, settings)
    statistics.summary(ds)
    statistics.mean_images(ds.x_train, ds.y_train, ds.num_classes)
    statistics.pca_2d(ds.x_train, ds.y_train)
    statistics.sample_tiles(ds.x_train, statistics.sample_indices(ds.y_train, ds.num_classes,
                                                                  10, 0))


def child(variant: str, path: Path) -> dict[str, float]:
    """One measured load in this (fresh) process."""
    from dashcore.datasets import image_folders, uploads, zip_import
    from dashcore.settings import get_settings

    settings = get_settings().ensure_dirs()
    data = path.read_bytes()
    phases, cpu_started = Phases(), time.process_time()
    with phases("store"):
        if variant == "zip":
            report = zip_import.import_zip("bench", data, image_folders.ImportOptions(
                side=SIDE, colour="rgb"), settings)
            problems = len(report.problems)
        else:
            uploads.save_uploaded_dataset("bench", data, settings)
            problems = 0
    with phases("/data"):
        data_page_views("upload:bench", settings)
    return {"store_s": phases.seconds["store"], "total_s": sum(phases.seconds.values()),
            "problems": problems,
            "cpu_s": time.process_time() - cpu_started,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "file_mb": len(data) / 1e6}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20_000)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--child", choices=("zip", "npz"), help=argparse.SUPPRESS)
    parser.add_argument("--path", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.path)))
        return
    load = LoadMeter()
    with tempfile.TemporaryDirectory() as tmp:
        zip_path, npz_path = write_inputs(Path(tmp), args.images)
        results = {}
        for variant, path in (("zip", zip_path), ("npz", npz_path)):
            with fresh_home(f"bench-{variant}-"):
                out = subprocess.run(
                    [sys.executable, "-m", "benchmarks.bench_image_zip", "--child", variant,
                     "--path", str(path)], env=dict(os.environ), check=False,
                    cwd=Path(__file__).resolve().parents[1],
                    capture_output=True, text=True, timeout=600)
            if out.returncode:
                sys.exit(f"{variant} failed:\n{out.stderr[-3000:]}")
            results[variant] = json.loads(out.stdout.strip().splitlines()[-1])
    print(load.line())
    for variant, r in results.items():
        print(f"{variant}: {r['file_mb']:.1f} MB file, stored in {r['store_s']:.2f} s, "
              f"/data ready in {r['total_s']:.2f} s ({r['cpu_s']:.2f} CPU s), "
              f"peak RSS {r['peak_rss_mb']:.0f} MB, "
              f"{r['problems']} problem lines")
    verdict = "PASS" if results["zip"]["total_s"] < TARGET_S else "FAIL"
    print(f"{verdict}: zip of {args.images:,} images ready on /data in "
          f"{results['zip']['total_s']:.2f} s (target < {TARGET_S:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
