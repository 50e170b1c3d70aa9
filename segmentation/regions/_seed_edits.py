"""Correcting the automatic seeds by hand: remove points merge objects, add points split them.

A watershed gives one object per seed, so the quickest correction of a merged or split object is to edit
the seeds and flood again, rather than to paint the labels: the flooding then draws the new boundary along
the landscape. The edits are points in the image's pixel coordinates ``(row, col)`` (the same form as the
recipe's ``points``), so they live in the recipe, its share link, its JSON, the command line and the
generated script, and they scale with the preview like every other length.

The rules (:func:`edit_seeds`), applied to the seeds of whichever seeds method ran:

1. **Remove** points first, against the automatic seeds. A point on a seed pixel removes that whole seed
   (every pixel of its marker); a point off every seed removes the seed with the nearest pixel within
   ``radius`` pixels (Euclidean; on a tie the lower seed id). A point with no seed pixel that near removes
   nothing and a note says ``remove point (row, col) is on no seed``. Removing the seed of one of two
   touching objects merges them; removing the only seed of an isolated object removes that object.
2. **Add** points next, in the order given. A point on the background (outside the foreground) is ignored
   with a note. Any other point becomes a one-pixel seed of its own, and it cuts the *nearest seed* (the one
   whose centroid, rounded to a pixel, is nearest; on a tie the lower id) in two when that seed lies between
   the point and its mirror image: with ``c`` the seed's centroid and ``m = 2c - p`` the mirror of the point
   ``p``, when ``m`` is in the image and the straight line from ``p`` to ``m`` stays in the foreground, the
   seed's pixels nearer ``p`` than ``m`` join the new seed, the others stay, and ``m`` joins the old seed.
   So one click on one half of a merged pair, whose seed sits on the neck between them or on the other half,
   gives two objects, while a click on an unseeded bulge (whose mirror falls outside the object) only adds
   a seed there. A point on a seed's centroid splits nothing (a note says so).
3. The seeds are numbered 1..M again: the remaining automatic seeds in increasing order of their ids, then
   the add points' seeds in the order given.

Two corrections work on the flooded objects instead (:func:`merge_objects`, :func:`split_objects`), for the
cases seeds express badly: two objects that should be one although each has its own seed, and one object
that should be two although no click on a half would place a useful seed:

4. **Merge** points come in pairs: the objects under the two points of a pair become one (the lower label),
   and the watershed-line pixels between them (foreground pixels of label 0 whose labelled neighbours all
   belong to the merged object) join it. A point on the background, or a pair already in one object, changes
   nothing and a note says so.
5. **Split** points each cut the object under them in two along a line of seeds: two seeds are placed
   across the object's long axis (the pixels in the first and in the last quarter of the object's extent
   along its principal axis, from its second moments) and the object's own distance map is flooded from
   them, so the cut follows the object's narrowest neck between the two ends. The far half gets a new
   label. An object less than 2 pixels long along that axis is not split (a note says so).
6. The objects are numbered 1..N again, in the order of their lowest label.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage as ndi
from skimage import segmentation as sk_segmentation

from .._checks import check_flag, check_label_image, check_mask, check_number, check_same_shape
from .._errors import ParameterError

__all__ = ["edit_seeds", "merge_objects", "split_objects"]


def _check_points(points, name: str, shape: tuple[int, int]) -> tuple[tuple[int, int], ...]:
    """``points`` as ``(row, col)`` ints inside an image of ``shape``; ParameterError naming ``name`` otherwise."""
    if isinstance(points, (str, bytes)) or not hasattr(points, "__iter__"):
        raise ParameterError(f"{name} must be a sequence of (row, col) pairs; got {points!r}")
    checked = []
    for index, point in enumerate(points):
        if isinstance(point, (str, bytes)) or not hasattr(point, "__len__") or len(point) != 2:
            raise ParameterError(f"{name}[{index}] must be a (row, col) pair; got {point!r}")
        row, col = (check_number(f"{name}[{index}]", value, integer=True) for value in point)
        if not (0 <= row < shape[0] and 0 <= col < shape[1]):
            raise ParameterError(f"{name}: point ({row}, {col}) lies outside the {shape[1]}×{shape[0]} image")
        checked.append((int(row), int(col)))
    return tuple(checked)


def edit_seeds(seeds: np.ndarray, foreground: np.ndarray, *, add=(), remove=(), radius: int = 8
               ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Seeds corrected by hand: remove points delete seeds (merging objects), add points make new ones.

    Parameters
    ----------
    seeds : (H, W) ndarray of any integer dtype
        The automatic seeds: each non-zero value one seed (it may cover several pixels), 0 no seed.
    foreground : (H, W) ndarray of bool
        The foreground the seeds will flood (True = object pixel); add points outside it are ignored.
    add : sequence of (int, int)
        Add points as ``(row, col)`` pixel indices (row downwards from the top, column from the left).
    remove : sequence of (int, int)
        Remove points as ``(row, col)`` pixel indices.
    radius : int
        How far (in pixels, 0 to 1000) a remove point off every seed reaches for the nearest seed pixel.

    Returns
    -------
    seeds : (H, W) ndarray of int32
        The edited seeds numbered 1..M: the remaining automatic seeds in increasing order of their ids, then
        the add points' seeds in the order given (see the module's rules).
    notes : tuple of str
        One plain-English note per point that changed nothing (a remove point on no seed, an add point on
        the background or on a seed's centroid).

    Raises
    ------
    ParameterError
        ``seeds`` is not a 2-D integer array, ``foreground`` not a 2-D bool mask of the same shape, a point
        is not a ``(row, col)`` pair of whole numbers or lies outside the image (the message gives it), or
        ``radius`` is not a whole number from 0 to 1000.

    References
    ----------
    .. [1] S. Beucher and F. Meyer, "The morphological approach to segmentation: the watershed
       transformation", in *Mathematical Morphology in Image Processing*, Marcel Dekker, 1993,
       pp. 433–481 (marker-controlled watershed: one region per marker, so editing the markers edits the
       regions).
    .. [2] S. Berg et al., "ilastik: interactive machine learning for (bio)image analysis", *Nature Methods*
       16:1226–1232, 2019. doi:10.1038/s41592-019-0582-9 (seeded watershed corrected by adding and removing
       seeds, as in its carving and multicut workflows).
    .. [3] C. McQuin et al., "CellProfiler 3.0: next-generation image processing for biology", *PLoS
       Biology* 16(7):e2005970, 2018. doi:10.1371/journal.pbio.2005970 (EditObjectsManually: hand
       correction of automatic objects).

    Examples
    --------
    >>> seeds = np.zeros((5, 9), np.int32); seeds[2, 1:8] = 1  # one seed stretched over two objects
    >>> edited, notes = edit_seeds(seeds, seeds > 0, add=[(2, 7)])
    >>> edited[2].tolist(), notes
    ([0, 1, 1, 1, 1, 2, 2, 2, 0], ())
    >>> edit_seeds(seeds, seeds > 0, remove=[(0, 0)], radius=1)[1]
    ('remove point (0, 0) is on no seed',)
    """
    seeds = check_label_image(seeds, "seeds")
    foreground = check_mask(foreground, "foreground")
    check_same_shape("foreground", foreground, "seeds", seeds.shape)
    add = _check_points(add, "add_seeds", seeds.shape)
    remove = _check_points(remove, "remove_seeds", seeds.shape)
    radius = check_number("radius", radius, low=0, high=1000, integer=True)
    edited, notes = _edit(seeds, foreground, add, remove, int(radius))
    return edited, tuple(notes)


def merge_objects(labels: np.ndarray, foreground: np.ndarray, points) -> tuple[np.ndarray, tuple[str, ...]]:
    """Objects joined by hand: the objects under each pair of points become one.

    Parameters
    ----------
    labels : (H, W) ndarray of any integer dtype
        Labelled objects, 0 = background (e.g. ``segmentation.watershed(...).labels``).
    foreground : (H, W) ndarray of bool
        The foreground the objects were flooded in: its label-0 pixels between two merged objects (watershed
        lines) join the merged object.
    points : sequence of (int, int)
        An even number of ``(row, col)`` pixel indices; points 1 and 2 are one pair, 3 and 4 the next, ...

    Returns
    -------
    labels : (H, W) ndarray of int32
        The objects numbered 1..N again in the order of their lowest label (see the module's rule 4).
    notes : tuple of str
        One plain-English note per pair that changed nothing (a point on the background, one object already).

    Raises
    ------
    ParameterError
        ``labels`` is not a 2-D integer array, ``foreground`` not a 2-D bool mask of the same shape, the number
        of points is odd, or a point is not a ``(row, col)`` pair of whole numbers inside the image.

    References
    ----------
    .. [1] C. McQuin et al., "CellProfiler 3.0: next-generation image processing for biology", *PLoS
       Biology* 16(7):e2005970, 2018. doi:10.1371/journal.pbio.2005970 (EditObjectsManually: join objects).

    Examples
    --------
    >>> labels = np.array([[1, 1, 0, 2, 2]], np.int32)
    >>> merge_objects(labels, np.ones((1, 5), bool), [(0, 0), (0, 4)])[0].tolist()
    [[1, 1, 1, 1, 1]]
    """
    labels = check_label_image(labels, "labels")
    foreground = check_mask(foreground, "foreground")
    check_same_shape("foreground", foreground, "labels", labels.shape)
    points = _check_points(points, "merge_points", labels.shape)
    if len(points) % 2:
        raise ParameterError(f"merge_points must come in pairs (two points per merge); got {len(points)} points")
    merged, notes = _merge(labels, foreground, points)
    return merged, tuple(notes)


def split_objects(labels: np.ndarray, points, *, watershed_line: bool = False
                  ) -> tuple[np.ndarray, tuple[str, ...]]:
    """Objects cut by hand: each point cuts the object under it in two along its narrowest neck.

    Parameters
    ----------
    labels : (H, W) ndarray of any integer dtype
        Labelled objects, 0 = background.
    points : sequence of (int, int)
        ``(row, col)`` pixel indices, one per cut, applied in the order given.
    watershed_line : bool
        Keep a one-pixel line of label 0 between the two halves (as the watershed's own lines).

    Returns
    -------
    labels : (H, W) ndarray of int32
        The objects numbered 1..N again in the order of their lowest label (see the module's rule 5).
    notes : tuple of str
        One plain-English note per point that changed nothing (on the background, an object too small).

    Raises
    ------
    ParameterError
        ``labels`` is not a 2-D integer array, a point is not a ``(row, col)`` pair of whole numbers inside the
        image, or ``watershed_line`` is not a bool.

    References
    ----------
    .. [1] S. Beucher and F. Meyer, "The morphological approach to segmentation: the watershed
       transformation", in *Mathematical Morphology in Image Processing*, Marcel Dekker, 1993, pp. 433–481
       (two markers flooding an object's distance map meet at its neck).
    .. [2] M. R. Teague, "Image analysis via the general theory of moments", *J. Opt. Soc. Am.* 70(8):920–930,
       1980. doi:10.1364/JOSA.70.000920 (the principal axis from second central moments).

    Examples
    --------
    >>> labels = np.zeros((5, 11), np.int32); labels[1:4, 1:10] = 1
    >>> split_objects(labels, [(2, 2)])[0][2].tolist()
    [0, 1, 1, 1, 1, 1, 2, 2, 2, 2, 0]
    """
    labels = check_label_image(labels, "labels")
    points = _check_points(points, "split_points", labels.shape)
    watershed_line = check_flag("watershed_line", watershed_line)
    cut, notes = _split(labels, points, watershed_line)
    return cut, tuple(notes)


# The generated scripts hold these functions as they are (segmentation/export/_script_watershed.py takes their
# source): keep them self-contained (numpy as np, ndi, sk_segmentation) and their lines within 110 columns.
def _merge(labels, foreground, points):
    """(labels 1..N as int32, notes): the objects under each pair of points joined into the lower label."""
    notes = []
    labels = _renumbered(labels)  # 1..N, so the table of roots below is as long as the objects are many
    top = int(labels.max(initial=0))
    root = np.arange(top + 1, dtype=np.int64)
    for k in range(0, len(points) - 1, 2):
        (row_a, col_a), (row_b, col_b) = points[k], points[k + 1]
        a, b = int(labels[row_a, col_a]), int(labels[row_b, col_b])
        if a <= 0 or b <= 0:
            notes.append(f"merge points ({row_a}, {col_a}) and ({row_b}, {col_b}): a point is on the "
                         "background")
            continue
        while root[a] != a:
            a = int(root[a])
        while root[b] != b:
            b = int(root[b])
        if a == b:
            notes.append(f"merge points ({row_a}, {col_a}) and ({row_b}, {col_b}) are on one object already")
            continue
        root[max(a, b)] = min(a, b)
    for index in range(top + 1):  # every label to its root (roots are lower, so one pass in order suffices)
        root[index] = root[root[index]]
    joined = root != np.arange(top + 1)
    if not joined.any():
        return _renumbered(labels), notes
    merged = root[np.clip(labels, 0, top)] * (labels > 0)
    targets = np.zeros(top + 1, bool)
    targets[root[joined]] = True
    # Line pixels: foreground, label 0, every labelled 8-neighbour in one merged object.
    high = ndi.maximum_filter(merged, size=3, mode="constant", cval=0)
    low = ndi.minimum_filter(np.where(merged > 0, merged, top + 1), size=3, mode="constant", cval=top + 1)
    line = foreground & (merged == 0) & (high == low) & targets[np.clip(high, 0, top)]
    merged[line] = high[line]
    return _renumbered(merged), notes


def _split(labels, points, watershed_line):
    """(labels 1..N as int32, notes): the object under each point cut in two along its neck."""
    notes = []
    cut = _renumbered(labels).astype(np.int64)
    for row, col in points:
        target = int(cut[row, col])
        if target <= 0:
            notes.append(f"split point ({row}, {col}) is on the background")
            continue
        rows, cols = np.nonzero(cut == target)
        top, left = int(rows.min()), int(cols.min())
        box = (slice(top, int(rows.max()) + 1), slice(left, int(cols.max()) + 1))
        inside = cut[box] == target
        d_row, d_col = rows - rows.mean(), cols - cols.mean()
        mu_rr, mu_cc, mu_rc = (d_row * d_row).mean(), (d_col * d_col).mean(), (d_row * d_col).mean()
        angle = 0.5 * np.arctan2(2 * mu_rc, mu_rr - mu_cc)  # the principal axis, from the second moments
        along = d_row * np.cos(angle) + d_col * np.sin(angle)
        low, high = float(along.min()), float(along.max())
        if high - low < 2:
            notes.append(f"split point ({row}, {col}): the object is too small to split")
            continue
        seeds = np.zeros(inside.shape, np.int32)
        near_end, far_end = along <= low + (high - low) / 4, along >= high - (high - low) / 4
        seeds[rows[near_end] - top, cols[near_end] - left] = 1
        seeds[rows[far_end] - top, cols[far_end] - left] = 2
        distance = ndi.distance_transform_edt(np.pad(inside, 1))[1:-1, 1:-1]
        halves = sk_segmentation.watershed(-distance, seeds, mask=inside, watershed_line=watershed_line)
        part = cut[box]
        part[inside & (halves == 2)] = int(cut.max()) + 1
        part[inside & (halves == 0)] = 0
    return _renumbered(cut), notes


def _renumbered(labels):
    """``labels`` numbered 1..N in the order of their values, as int32 (negative values: background)."""
    return sk_segmentation.relabel_sequential(np.clip(labels, 0, None))[0].astype(np.int32, copy=False)


# The generated scripts hold a copy of _edit (segmentation/export/_script_watershed.py, SEED_EDITS_SOURCE):
# change both together; tests/test_seed_edits.py compares their labels.
def _edit(seeds, foreground, add, remove, radius):
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

