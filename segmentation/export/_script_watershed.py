"""Watershed templates for :func:`segmentation.to_python`: seeds, landscape and flooding.

The same contract as ``_script_steps``: each step appends the lines of ``segment()``
it needs to a ``Script``, mirroring :func:`segmentation.watershed`
call for call so that the script's labels are identical to the library's.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from ..recipes import WatershedRecipe
from ._script_steps import HELPERS, Script, by_polarity, lit, multiotsu_input

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
    if w.add_seeds or w.remove_seeds:
        seed_edits_step(s, w)
    if w.landscape == "distance":
        flood_distance_step(s, w)
    else:
        flood_gradient_step(s, w)
    s.need("skimage.segmentation:relabel_sequential")
    s.section("Number the objects 1..N consecutively.",
              ["labels = relabel_sequential(labels)[0].astype(np.int32, copy=False)"])
    if w.merge_points or w.split_points:
        object_edits_step(s, w)


def h_maxima_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    s.use("label8")
    s.use("reconstruct_by_dilation")
    s.use("seed_every_object")
    h = s.names.get("h", lit(w.h))
    s.section(f"Seeds: one per dome of the distance map rising at least h = {h if 'h' in s.names else f'{w.h:g}'} "
              "px above its saddle (h-maxima: the distance minus its reconstruction from distance - h, with "
              "scikit-image's float tolerance), plus one at the deepest point of any object left without a seed.",
              f"""
        if {h} > float(distance.max(initial=0) - distance.min(initial=0)):
            seeds = np.zeros(distance.shape, np.int32)  # a flat map has no domes
        else:
            resolution = 2 * np.finfo(np.float32).resolution * np.abs(distance)
            residue = distance - reconstruct_by_dilation(distance - {h} - resolution, distance)
            seeds = label8(residue >= {h})
        seeds = seed_every_object(seeds, objects, distance)""")


def distance_peak_seeds(s: Script, w: WatershedRecipe, pol: str | None) -> None:
    s.need("skimage:feature")
    s.use("seed_every_object")
    rel = lit(w.peak_fraction) if w.peak_fraction else "None"
    apart = s.names.get("min_distance", str(w.min_distance))
    s.section(f"Seeds: local maxima of the distance map at least {apart} px apart"
              + (f", above {w.peak_fraction:g} of their object's maximum" if w.peak_fraction else "")
              + " (scikit-image peak_local_max), plus one in any object left without a seed.", f"""
        peaks = feature.peak_local_max(distance, min_distance={apart}, labels=objects,
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
    s.use("flood_each_object")
    s.section(f"Flood the inverted distance map from the seeds inside the foreground (scikit-image), each "
              f"object on its own, {w.connectivity}-connected"
              + (f", compactness {w.compactness:g}" if w.compactness else "")
              + (", keeping 1-pixel lines between objects." if w.watershed_line else "."), f"""
        labels = flood_each_object(-distance, seeds, foreground, {w.connectivity},
                                   compactness={lit(w.compactness)}, watershed_line={w.watershed_line})""")


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


#: A copy of ``segmentation.regions._seed_edits._edit`` (the hand edits of the seeds), written into scripts as
#: ``edit_seeds``; tests/test_seed_edits.py checks that the two texts agree and that the labels are identical.
SEED_EDITS_SOURCE = "\n" + '''def edit_seeds(seeds, foreground, add, remove, radius):
    """(seeds 1..M as int32, notes): the remove points, then the add points, applied to ``seeds``."""
    notes = []
    height, width = seeds.shape
    removed = set()
    for row, col in remove:
        target = int(seeds[row, col])
        if target == 0 and radius > 0:
            top, left = max(0, row - radius), max(0, col - radius)
            window = seeds[top:row + radius + 1, left:col + radius + 1]
            rows, cols = np.nonzero(window)
            if rows.size:
                near = (rows + top - row) ** 2 + (cols + left - col) ** 2
                inside = near <= radius * radius
                if inside.any():
                    ids = window[rows, cols][inside]
                    near = near[inside]
                    target = int(ids[near == near.min()].min())
        if target == 0:
            notes.append(f"remove point ({row}, {col}) is on no seed")
        else:
            removed.add(target)
    edited = seeds.astype(np.int64)
    if removed:
        edited[np.isin(edited, np.array(sorted(removed), np.int64))] = 0
    first_new = int(edited.max(initial=0)) + 1
    rows, cols = np.nonzero(edited)
    ids, inverse = np.unique(edited[rows, cols], return_inverse=True)
    inverse = inverse.reshape(-1)
    count = np.bincount(inverse, minlength=ids.size)
    centres = np.rint(np.stack([np.bincount(inverse, rows, ids.size), np.bincount(inverse, cols, ids.size)], 1)
                      / np.maximum(count, 1)[:, None]).astype(np.int64)
    for index, (row, col) in enumerate(add):
        if not foreground[row, col]:
            notes.append(f"add point ({row}, {col}) is on the background: ignored (seeds grow only inside "
                         "the foreground)")
            continue
        if ids.size:
            near = (centres[:, 0] - row) ** 2 + (centres[:, 1] - col) ** 2
            nearest = int(np.flatnonzero(near == near.min())[0])
            (centre_row, centre_col), seed_id = centres[nearest], int(ids[nearest])
            mirror_row, mirror_col = 2 * centre_row - row, 2 * centre_col - col
            steps = 2 * max(abs(mirror_row - row), abs(mirror_col - col))
            if steps and 0 <= mirror_row < height and 0 <= mirror_col < width:
                line_rows = np.rint(np.linspace(row, mirror_row, steps + 1)).astype(np.int64)
                line_cols = np.rint(np.linspace(col, mirror_col, steps + 1)).astype(np.int64)
                if foreground[line_rows, line_cols].all():  # the seed lies between: cut it in two halves
                    seed_rows, seed_cols = np.nonzero(edited == seed_id)
                    to_point = (seed_rows - row) ** 2 + (seed_cols - col) ** 2
                    to_mirror = (seed_rows - mirror_row) ** 2 + (seed_cols - mirror_col) ** 2
                    moved = to_point < to_mirror
                    edited[seed_rows[moved], seed_cols[moved]] = first_new + index
                    edited[mirror_row, mirror_col] = seed_id
                    kept = ~moved
                    centres[nearest] = np.rint(((seed_rows[kept].sum() + mirror_row) / (kept.sum() + 1),
                                                (seed_cols[kept].sum() + mirror_col) / (kept.sum() + 1)))
            elif not steps:
                notes.append(f"add point ({row}, {col}) is on the centre of a seed: nothing to split")
                continue
        edited[row, col] = first_new + index
        new_rows, new_cols = np.nonzero(edited == first_new + index)
        ids = np.append(ids, first_new + index)
        centres = np.vstack([centres, np.rint([[new_rows.mean(), new_cols.mean()]]).astype(np.int64)])
    where = edited != 0
    _, numbers = np.unique(edited[where], return_inverse=True)
    result = np.zeros((height, width), np.int32)
    result[where] = (numbers.reshape(-1) + 1).astype(np.int32)
    return result, notes
'''
HELPERS.setdefault("edit_seeds", (SEED_EDITS_SOURCE, ()))


def _points_literal(name: str, points) -> list[str]:
    text = ", ".join(f"({row}, {col})" for row, col in points)
    wrapped = textwrap.wrap(text, 90, break_on_hyphens=False) or [""]
    pad = " " * (len(name) + 4)
    lines = [f"{name} = [" + wrapped[0], *(pad + line for line in wrapped[1:])]
    lines[-1] += "]"
    return lines


def seed_edits_step(s: Script, w: WatershedRecipe) -> None:
    s.use("edit_seeds")
    s.section("Seeds corrected by hand (row, col): each remove point deletes the seed it is on, or the nearest "
              f"within {w.edit_radius} px; each add point becomes a new seed (cutting the nearest seed in two "
              "when that seed lies between the point and its mirror image); then the seeds are numbered "
              "1..M again.",
              _points_literal("add_seeds", w.add_seeds) + _points_literal("remove_seeds", w.remove_seeds) + [
                  "for row, col in add_seeds + remove_seeds:",
                  "    if not (0 <= row < seeds.shape[0] and 0 <= col < seeds.shape[1]):",
                  '        raise ValueError(f"seed edit point ({row}, {col}) lies outside the image "',
                  '                         f"({seeds.shape[1]}×{seeds.shape[0]} pixels)")',
                  f"seeds, notes = edit_seeds(seeds, foreground, add_seeds, remove_seeds, {w.edit_radius})",
                  "for note in notes:",
                  "    print(note, file=sys.stderr)"])


def _object_edits_source() -> str:
    """The library's merge and split code (regions/_seed_edits.py, ``_merge`` to ``_renumbered``) as the script's.

    Read from the library's own file, not copied: the script runs the very lines the library runs, renamed
    (``_merge`` -> ``merge_objects``, ...) and with scikit-image's functions imported by name.
    """
    module = (Path(__file__).resolve().parent.parent / "regions" / "_seed_edits.py").read_text(encoding="utf-8")
    start = module.index("def _merge(")
    end = module.index("\n\n\n", module.index("def _renumbered(", start))
    code = module[start:end]
    for old, new in (("_merge(", "merge_objects("), ("_split(", "split_objects("), ("_renumbered(", "renumbered("),
                     ("sk_segmentation.", "")):
        code = code.replace(old, new)
    return "\n" + code + "\n"


HELPERS.setdefault("object_edits", (_object_edits_source(), ("ndi", "skimage.segmentation:watershed",
                                                             "skimage.segmentation:relabel_sequential")))


def object_edits_step(s: Script, w: WatershedRecipe) -> None:
    s.use("object_edits")
    lines = _points_literal("merge_points", w.merge_points) + _points_literal("split_points", w.split_points) + [
        "for row, col in merge_points + split_points:",
        "    if not (0 <= row < labels.shape[0] and 0 <= col < labels.shape[1]):",
        '        raise ValueError(f"object edit point ({row}, {col}) lies outside the image "',
        '                         f"({labels.shape[1]}×{labels.shape[0]} pixels)")']
    if w.merge_points:
        lines += ["labels, notes = merge_objects(labels, foreground, merge_points)",
                  "for note in notes:", "    print(note, file=sys.stderr)"]
    if w.split_points:
        lines += [f"labels, notes = split_objects(labels, split_points, {w.watershed_line})",
                  "for note in notes:", "    print(note, file=sys.stderr)"]
    s.section("Objects corrected by hand (row, col): the objects under each pair of merge points become one "
              "(with the watershed line between them); each split point cuts its object in two, flooding the "
              "object's own distance map from its two ends along the long axis, so the cut follows its neck. "
              "Then the objects are numbered 1..N again.", lines)
