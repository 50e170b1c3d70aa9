"""One answer everywhere, on the dev nuclei: CLI --jobs 1 = --jobs 2 = the library = the generated script.

Issue #10 asks for this check on real images beside the tests (which use generated touching nuclei and never
read ``../shared``). For each DSB 2018 image in ``../shared/devdata/dsb2018/images`` (never committed), with the
default watershed recipe:

* ``python -m segmentation watershed IMAGES --jobs 1`` and ``--jobs 2`` (separate processes): the labels PNG and
  the measurements CSV of every image must be the same bytes;
* the library (``seg.watershed``) and the script ``seg.to_python(recipe)`` writes, run under 1, 2 and 4 OpenCV
  threads, must give the same label array as the CLI's file.

Run: ``python -m benchmarks.determinism [--devdata PATH]``; prints one row per image and exits 1 on any
difference (2 when the dev data is missing).
"""

from __future__ import annotations

import argparse
import importlib.util
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

import segmentation as seg

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEVDATA = ROOT.parent / "shared" / "devdata"


def _script(recipe, folder: Path):
    path = folder / "segment.py"
    path.write_text(seg.to_python(recipe), encoding="utf-8")
    spec = importlib.util.spec_from_file_location("segment_dev", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devdata", type=Path, default=DEFAULT_DEVDATA)
    args = parser.parse_args(argv)
    images = args.devdata / "dsb2018" / "images"
    if not images.is_dir():
        print(f"no dev data at {images}", file=sys.stderr)
        return 2
    recipe = seg.WatershedRecipe()
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        for jobs in ("1", "2"):
            done = subprocess.run([sys.executable, "-m", "segmentation", "watershed", str(images), "--jobs", jobs,
                                   "--out", str(out / f"jobs{jobs}")], cwd=ROOT, capture_output=True, text=True)
            if done.returncode != 0:
                print(done.stderr, file=sys.stderr)
                return 1
        script = _script(recipe, out)
        failures = 0
        print(f"{'image':<24} {'objects':>8}  jobs1=jobs2  library  script(1/2/4 threads)")
        for path in sorted(images.glob("*.png")):
            stem = path.stem
            one, two = out / "jobs1", out / "jobs2"
            same_files = all((one / f"{stem}{suffix}").read_bytes() == (two / f"{stem}{suffix}").read_bytes()
                             for suffix in ("_labels.png", "_measurements.csv"))
            written = seg.load_image(one / f"{stem}_labels.png")
            image = seg.load_image(path)
            library, by_script = [], []
            for threads in (1, 2, 4):
                cv2.setNumThreads(threads)
                library.append(np.array_equal(seg.watershed(image, recipe).labels, written))
                by_script.append(np.array_equal(script.segment(image), written))
            ok = same_files and all(library) and all(by_script)
            failures += not ok
            print(f"{stem[:24]:<24} {int(written.max()):>8}  {str(same_files):<11}  {str(all(library)):<7}  "
                  f"{'/'.join(str(b) for b in by_script)}")
    print("every output identical" if not failures else f"{failures} image(s) differ")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
