"""Watershed templates for :func:`segmentation.to_python`: seeds, landscape and flooding.

The same contract as ``_script_steps``: each step appends the lines of ``segment()``
it needs to a ``Script``, mirroring :func:`segmentation.watershed`
call for call so that the script's labels are identical to the library's.
"""

from __future__ import annotations

import textwrap

from ..recipes import WatershedRecipe
from ._script_steps import Script, by_polarity, lit, multiotsu_input

__all__ = ["watershed_steps"]


def watershed_steps(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    """Seeds, landscape and flooding: ``mask`` and ``channel`` in, ``labels`` out."""
    s.section("The foreground the watershed splits is the mask above.", ["foreground = mask"])
    if w.seeds in ("h_maxima", "distance_peaks"):
        conn = w.connectivity if w.landscape == "distance" else 4
        if conn == 8:
            s.use("label8")
        s.section(f"Connected foreground objects ({conn}-connected, as the flooding), so that every object "
                  "gets a seed.",
                  ["objects = label8(foreground)" if conn == 8 else
                   "objects = cv2.connectedComponents(foreground.astype(np.uint8), connectivity=4, "
                   "ltype=cv2.CV_32S)[1]"])
    if w.uses_distance:
        blur = (f"\ndistance = cv2.GaussianBlur(distance, (0, 0), sigmaX={lit(w.distance_sigma)}, "
                f"sigmaY={lit(w.distance_sigma)})") if w.distance_sigma > 0 else ""
        s.use("distance_map")
        s.section("Distance map: exact Euclidean distance of each foreground pixel to the background (OpenCV, "
                  "its square roots correctly rounded)"
                  + (f", blurred with sigma {w.distance_sigma:g} px." if blur else "."),
                  "distance = distance_map(foreground)" + blur)
    SEED_STEPS[w.seeds](s, w, pol)
    if w.landscape == "distance":
        flood_distance_step(s, w)
    else:
        flood_gradient_step(s, w)
    s.need("skimage.segmentation:relabel_sequential")
    s.section("Number the objects 1..N consecutively.",
              ["labels = relabel_sequential(labels)[0].astype(np.int32, copy=False)"])


def h_maxima_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    s.use("label8")
    s.use("reconstruct_by_dilation")
    s.use("seed_every_object")
    s.section(f"Seeds: one per dome of the distance map rising at least h = {w.h:g} px above its saddle "
              "(h-maxima: the distance minus its reconstruction from distance - h, with scikit-image's float "
              "tolerance), plus one at the deepest point of any object left without a seed.", f"""
        if {lit(w.h)} > float(distance.max(initial=0) - distance.min(initial=0)):
            seeds = np.zeros(distance.shape, np.int32)  # a flat map has no domes
        else:
            resolution = 2 * np.finfo(np.float32).resolution * np.abs(distance)
            residue = distance - reconstruct_by_dilation(distance - {lit(w.h)} - resolution, distance)
            seeds = label8(residue >= {lit(w.h)})
        seeds = seed_every_object(seeds, objects, distance)""")


def distance_peak_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    s.need("skimage:feature")
    s.use("seed_every_object")
    rel = lit(w.peak_fraction) if w.peak_fraction else "None"
    s.section(f"Seeds: local maxima of the distance map at least {w.min_distance} px apart"
              + (f", above {w.peak_fraction:g} of their object's maximum" if w.peak_fraction else "")
              + " (scikit-image peak_local_max), plus one in any object left without a seed.", f"""
        peaks = feature.peak_local_max(distance, min_distance={w.min_distance}, labels=objects,
                                       threshold_rel={rel}, exclude_border=False)
        seeds = np.zeros(distance.shape, np.int32)
        seeds[tuple(peaks.T)] = np.arange(1, len(peaks) + 1, dtype=np.int32)
        seeds = seed_every_object(seeds, objects, distance)""")


def intensity_band_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    s.use("label8")
    lines = []
    if w.band_low is None or w.band_high is None:
        s.need("skimage:filters")
        lines += ["# automatic bands: the two thresholds of a 3-class multi-Otsu of the finite pixels",
                  *s.finite_values(), f"low, high = {multiotsu_input(s, 3)}"]
    if w.band_low is not None:
        lines.append(f"low = {lit(w.band_low)}")
    if w.band_high is not None:
        lines.append(f"high = {lit(w.band_high)}")
    lines += by_polarity(pol, ["seeds, background = label8(channel > high), channel <= low"],
                         ["seeds, background = label8(channel <= low), channel > high"])
    s.section("Seeds: connected pixels beyond the high band seed one object each; pixels beyond the low band "
              "seed the background (roles swapped for dark objects).", lines)


def point_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    text = ", ".join(f"({row}, {col})" for row, col in w.points)
    wrapped = textwrap.wrap(text, 96, break_on_hyphens=False) or [""]
    points = ["points = [" + wrapped[0], *("          " + line for line in wrapped[1:])]
    points[-1] += "]"
    s.section("Seeds: one per point (row, col), numbered in this order; a point on the background is "
              "ignored (seeds grow only inside the foreground).", points + [
        "seeds = np.zeros(foreground.shape, np.int32)",
        "for index, (row, col) in enumerate(points, start=1):",
        "    if not (0 <= row < seeds.shape[0] and 0 <= col < seeds.shape[1]):",
        '        raise ValueError(f"seed point ({row}, {col}) lies outside the image "',
        '                         f"({seeds.shape[1]}×{seeds.shape[0]} pixels)")',
        "    seeds[row, col] = index",
        "seeds[~foreground] = 0"])


SEED_STEPS = {"h_maxima": h_maxima_seeds, "distance_peaks": distance_peak_seeds,
              "intensity_bands": intensity_band_seeds, "points": point_seeds}


def flood_distance_step(s: Script, w: WatershedRecipe) -> None:
    s.need("skimage.segmentation:watershed")
    s.section(f"Flood the inverted distance map from the seeds inside the foreground (scikit-image), "
              f"{w.connectivity}-connected" + (f", compactness {w.compactness:g}" if w.compactness else "")
              + (", keeping 1-pixel lines between objects." if w.watershed_line else "."), f"""
        labels = watershed(-distance, seeds, mask=foreground, compactness={lit(w.compactness)},
                           connectivity={1 if w.connectivity == 4 else 2}, watershed_line={w.watershed_line})
        labels = labels.astype(np.int32, copy=False)""")


def flood_gradient_step(s: Script, w: WatershedRecipe) -> None:
    s.use("to_uint8")
    lines = [] if w.seeds == "intensity_bands" else ["background = ~foreground"]
    lines += textwrap.dedent("""
        image8, _, _ = to_uint8(image)
        bgr = cv2.cvtColor(image8, cv2.COLOR_GRAY2BGR if image8.ndim == 2 else cv2.COLOR_RGB2BGR)
        background_label = int(seeds.max(initial=0)) + 1
        markers = np.where(background & (seeds == 0), background_label, seeds).astype(np.int32)
        # OpenCV marks the image border as lines too: pad by one pixel so that falls outside.
        bgr = cv2.copyMakeBorder(bgr, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
        markers = cv2.copyMakeBorder(markers, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
        labels = cv2.watershed(bgr, markers)[1:-1, 1:-1]
        """).strip("\n").splitlines()
    if not w.watershed_line:
        s.need("skimage.segmentation:expand_labels")
        lines += ["# Give the lines (-1) to a neighbouring region.",
                  "lines = labels == -1",
                  "if lines.any():",
                  "    labels = np.where(lines, 0, labels)",
                  "    labels = np.where(lines, expand_labels(labels, distance=1), labels)"]
    lines += ["labels[(labels == background_label) | (labels < 0)] = 0",
              "labels = labels.astype(np.int32, copy=False)"]
    s.section("Flood the colour gradient from the seeds with OpenCV's watershed (8-bit BGR, 4-connected); "
              "the background seeds become 0" + (", lines between objects stay 0." if w.watershed_line else "."),
              lines)
