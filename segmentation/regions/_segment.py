"""``watershed()``: the whole pipeline (threshold, seeds, flooding, hand edits), a diameter "auto" fitted first.

Apart from the steps of ``_watershed`` so that the fit (``_declump``, built on those steps) can run before them.
"""

from __future__ import annotations

import numpy as np

from .._errors import ParameterError, SegmentationError
from .._numeric import as_image
from ..recipes import ThresholdRecipe, WatershedRecipe, canonical_names
from ..thresholding import multiotsu_thresholds, threshold
from ._declump import recipe_for_image
from ._labels import label_objects
from ._seed_edits import edit_seeds, merge_objects, split_objects
from ._watershed import (
    WatershedResult,
    _numbered_seeds,
    _sequential,
    distance_map,
    distance_peak_seeds,
    flood_distance,
    flood_gradient,
    h_maxima_seeds,
    intensity_band_markers,
    point_seeds,
    seed_every_object,
)

__all__ = ["watershed"]


def _marker_seeds(markers, shape: tuple[int, int]) -> np.ndarray:
    """The user's marker image checked against the image's ``shape``, as given (numbered after the threshold)."""
    seeds = np.asarray(markers)
    if seeds.shape != shape:
        size = f"{seeds.shape[1]}×{seeds.shape[0]}" if seeds.ndim == 2 else f"of shape {seeds.shape}"
        raise ParameterError(f"markers: the marker image is {size} but the image is {shape[1]}×{shape[0]}")
    if not np.issubdtype(seeds.dtype, np.integer) and seeds.dtype != bool:
        raise ParameterError("markers: the marker image must hold whole numbers (0 = no seed); "
                             f"got dtype {seeds.dtype}")
    return seeds


def _seeds_in_foreground(seeds: np.ndarray, foreground: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The seed pixels inside ``foreground`` numbered 1..M (int32), and the ids of the seeds wholly outside it.

    The numbers keep the order of the ids; the ids wholly on the background (sorted) flood nothing.
    Why a seed on the background is dropped rather than flooded: scikit-image's watershed ignores markers
    outside its mask, but OpenCV's gradient flooding would grow such a seed (seeds win over the background
    markers), giving an object outside the foreground; dropping them first makes both landscapes give the
    objects scikit-image gives on the same foreground. A seed partly in the foreground keeps that part.
    """
    numbered, used = _numbered_seeds(seeds, name, inside=foreground)
    outside = seeds[(seeds != 0) & ~foreground]
    lost = np.setdiff1d(outside, used) if outside.size else outside
    return numbered, lost


def _foreground_words(fg: ThresholdRecipe) -> str:
    if fg.method != "multiotsu" or not fg.foreground_classes:
        return fg.method
    return f"multi-Otsu classes {', '.join(map(str, fg.foreground_classes))} of {fg.classes}"


def watershed(image: np.ndarray, recipe: WatershedRecipe | None = None, *, markers: np.ndarray | None = None,
              **params) -> WatershedResult:
    """Split touching objects: threshold the foreground, place seeds, flood a landscape.

    Parameters
    ----------
    image : (H, W) or (H, W, 3) ndarray
        Grayscale or RGB, 8-bit, 16-bit or float (anything :func:`segmentation.as_image` accepts).
    recipe : WatershedRecipe, optional
        Every parameter; the documented defaults when omitted.
    markers : (H, W) ndarray of any integer dtype or bool, optional
        A marker image used instead of computed seeds: each non-zero value one seed (int8 to int64,
        uint8 to uint64, ids of any size, gaps allowed: 3e9 in uint32 or 2**40 in int64 stay distinct
        seeds; negative ids too, as scikit-image floods them), 0 no seed; a bool mask seeds one object
        per 8-connected region. The seeds are numbered 1..M in increasing order of their ids
        (``WatershedResult.markers``). A seed
        pixel on the background (outside the thresholded foreground) is ignored and a seed wholly on the
        background gives no object, on both landscapes (a note says so): a seed grows only inside the
        foreground, as in ``skimage.segmentation.watershed(..., mask=foreground)``. Seed points
        (``seeds="points"``) follow the same rule.
    **params : str, int, float, bool or tuple
        Watershed or foreground parameters by name (``seeds="distance_peaks"``, ``min_distance=10``,
        ``method="li"``, ``min_size=30`` ...), applied on top of ``recipe``. Lengths (``h``,
        ``min_distance``, ``distance_sigma``) are in pixels.

    Returns
    -------
    WatershedResult
        The labels (int32, 0 = background, 1..N) with every intermediate stage. An image with no
        foreground gives no objects (``count == 0``).

    Raises
    ------
    ParameterError
        ``recipe`` is not a :class:`WatershedRecipe`, a keyword is unknown or out of its range (the
        message names it), a seed point lies outside the image, ``markers`` is missing for
        ``seeds="marker_image"``, of another size than the image or not whole numbers, or there are more
        distinct seeds than int32 labels can number (2**31 - 2).
    ValueError
        ``image`` is not an image :func:`segmentation.as_image` accepts.
    SegmentationError
        The threshold method, or the automatic intensity bands, cannot work on this image (for example
        fewer than three grey levels).

    References
    ----------
    .. [1] S. Beucher and C. Lantuéjoul, "Use of watersheds in contour detection", International
       Workshop on Image Processing: Real-time Edge and Motion Detection/Estimation, CCETT, Rennes, 1979.
    .. [2] F. Meyer, "Color image segmentation", *4th International Conference on Image Processing and
       its Applications*, 1992, pp. 303–306. doi:10.1049/cp:19920006 (``cv2.watershed``)
    .. [3] S. Beucher and F. Meyer, "The morphological approach to segmentation: the watershed
       transformation", in *Mathematical Morphology in Image Processing*, Marcel Dekker, 1993,
       pp. 433–481.
    .. [4] P. Neubert and P. Protzel, "Compact watershed and preemptive SLIC: on improving trade-offs of
       superpixel segmentation algorithms", ICPR 2014, pp. 996–1001. doi:10.1109/ICPR.2014.181
    .. [5] P. Soille, *Morphological Image Analysis*, 2nd ed., Springer, 2003.
       doi:10.1007/978-3-662-05088-0 (h-maxima seeds)

    Examples
    --------
    >>> from skimage import data
    >>> watershed(data.coins()).count
    24
    """
    if recipe is not None and not isinstance(recipe, WatershedRecipe):
        raise ParameterError(f"recipe must be a WatershedRecipe or None; got {type(recipe).__name__}")
    if recipe is None:
        recipe = WatershedRecipe.from_params(**params)
    elif params:
        # Earlier names become current ones first, so they replace the recipe's values instead of clashing.
        params = canonical_names(WatershedRecipe.specs() + ThresholdRecipe.specs(), params)
        recipe = WatershedRecipe.from_params(**{**recipe.foreground.values(), **recipe.values(), **params})
    if markers is not None:
        recipe = recipe.replace(seeds="marker_image")
    image = as_image(image)
    fit_note = None
    if recipe.diameter is None:  # "auto": fitted to this image (segmentation.recipe_for_image)
        run = recipe_for_image(image, recipe)
        fit_note = (f"typical diameter auto: {run.diameter:.1f} px fitted" if run.diameter else
                    "typical diameter auto: no diameter kept (the recipe's own sizes)")
        fit_note += f", foreground {_foreground_words(run.foreground)}"
        run = run.sized()
        as_given, recipe = recipe, run
    else:
        as_given, recipe = recipe, recipe.sized()  # a typical diameter sets the other sizes (itself when it is 0)
    if recipe.seeds == "marker_image":
        # Checked before the threshold so a wrong marker image fails at once.
        if markers is None:
            raise ParameterError("seeds='marker_image' needs a marker image: pass markers=...")
        markers = _marker_seeds(markers, image.shape[:2])
    found = threshold(image, recipe.foreground)
    foreground = found.mask
    notes = list(found.notes) + ([fit_note] if fit_note else [])
    # Objects are the foreground's components under the flooding's own connectivity (OpenCV's gradient
    # watershed is 4-connected): a part joined only by a corner is then an object of its own with a seed,
    # instead of a region the flood can never reach.
    flood_connectivity = recipe.connectivity if recipe.landscape == "distance" else 4
    fg_labels = (label_objects(foreground, flood_connectivity) if recipe.seeds in ("distance_peaks", "h_maxima")
                 else None)
    distance = distance_map(foreground, sigma=recipe.distance_sigma) if recipe.uses_distance else None
    background = ~foreground

    if recipe.seeds == "h_maxima":
        seeds = seed_every_object(h_maxima_seeds(distance, recipe.h), fg_labels, distance)
    elif recipe.seeds == "distance_peaks":
        seeds = distance_peak_seeds(distance, fg_labels, min_distance=recipe.min_distance,
                                    peak_fraction=recipe.peak_fraction)
        seeds = seed_every_object(seeds, fg_labels, distance)
    elif recipe.seeds == "intensity_bands":
        low, high = recipe.band_low, recipe.band_high
        if low is None or high is None:
            try:
                auto_low, auto_high = multiotsu_thresholds(found.processed, 3)
            except ValueError:
                raise SegmentationError("automatic intensity bands need at least three grey levels in the "
                                        "image; set band_low and band_high yourself") from None
            low = auto_low if low is None else low
            high = auto_high if high is None else high
            notes.append(f"intensity bands from multi-Otsu: low {low:g}, high {high:g}")
        seeds, background = intensity_band_markers(found.processed, low, high, found.polarity)
    elif recipe.seeds == "points":
        seeds, lost = _seeds_in_foreground(point_seeds(foreground.shape, recipe.points), foreground, "points")
        if lost.size:
            shown = ", ".join(f"({recipe.points[i - 1][0]}, {recipe.points[i - 1][1]})" for i in lost[:5])
            notes.append(f"{lost.size} seed point{'s' if lost.size > 1 else ''} on the background ignored "
                         f"(seeds grow only inside the foreground): {shown}{', ...' if lost.size > 5 else ''}")
    else:
        # Never cast before numbering: see _numbered_seeds (ids beyond int32 would wrap or merge).
        given = label_objects(markers) if markers.dtype == bool else markers
        seeds, lost = _seeds_in_foreground(given, foreground, "markers")
        if lost.size:
            notes.append(f"{lost.size} marker seed{'s' if lost.size > 1 else ''} wholly on the background "
                         "ignored (seeds grow only inside the foreground)")

    if recipe.add_seeds or recipe.remove_seeds:  # hand edits on top of the seeds (see _seed_edits)
        seeds, edit_notes = edit_seeds(seeds, foreground, add=recipe.add_seeds, remove=recipe.remove_seeds,
                                       radius=recipe.edit_radius)
        notes += edit_notes
    if recipe.landscape == "distance":
        labels = flood_distance(distance, seeds, foreground, compactness=recipe.compactness,
                                connectivity=recipe.connectivity, watershed_line=recipe.watershed_line)
    else:
        labels = flood_gradient(image, seeds, background, watershed_line=recipe.watershed_line)
    labels = _sequential(labels, seeds)
    if recipe.merge_points:  # hand edits on the flooded objects (see _seed_edits)
        labels, edit_notes = merge_objects(labels, foreground, recipe.merge_points)
        notes += edit_notes
    if recipe.split_points:
        labels, edit_notes = split_objects(labels, recipe.split_points, watershed_line=recipe.watershed_line)
        notes += edit_notes
    return WatershedResult(labels=labels, markers=seeds.astype(np.int32, copy=False), foreground=foreground,
                           distance=distance, threshold=found, recipe=as_given, notes=tuple(notes))
