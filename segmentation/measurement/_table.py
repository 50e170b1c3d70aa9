"""Per-object measurements: one row per labelled object, in pixels or physical units.

Column naming scheme (ASCII only, so CSV headers survive every spreadsheet and shell): a physical
quantity is named ``<quantity>_<unit>``. The unit is ``px`` when ``pixel_size`` is None, otherwise
the ASCII form of ``unit`` (``µm``/``μm`` -> ``um``; see :func:`unit_suffix`) with ``2`` appended
for areas. Areas in pixels are pixel counts, named ``area_px``.

Columns, in order (pixels / with ``pixel_size`` and ``unit="µm"``):

- ``label``: the object's id in the label image.
- ``area_px`` / ``area_um2``: pixel count (× pixel_size²).
- ``perimeter_px`` / ``perimeter_um``: skimage's ``perimeter`` (× pixel_size).
- ``centroid_row_px``, ``centroid_col_px`` / ``centroid_row_um``, ``centroid_col_um``: the
  centroid, row (y, downwards) then column (x), from the top-left pixel's centre (× pixel_size).
- ``bbox_min_row``, ``bbox_min_col``, ``bbox_max_row``, ``bbox_max_col``: bounding box in pixel
  indices, max exclusive (``labels[min_row:max_row, min_col:max_col]``), never scaled.
- ``equivalent_diameter_px`` / ``equivalent_diameter_um``: diameter of the disc of equal area.
- ``circularity``: 4πA/P², clipped to [0, 1]; unitless.
- ``solidity``: area / convex hull area; unitless.
- ``mean_intensity``, ``min_intensity``, ``max_intensity`` (only with an image): in the image's
  own units, no suffix; over each object's non-NaN pixels (NaN is "no data", ±inf are values; an object
  with NaN pixels only has NaN there).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
import unicodedata
from dataclasses import dataclass, field

import cv2
import numpy as np
from scipy import ndimage as ndi
from skimage.measure import regionprops_table

from .._checks import all_finite, check_number
from .._errors import ParameterError
from .._numeric import float_exponent
from ..regions import as_labels

__all__ = ["MeasurementTable", "measure", "unit_suffix"]

_BBOX = ("bbox_min_row", "bbox_min_col", "bbox_max_row", "bbox_max_col")


@dataclass(frozen=True, eq=False)
class MeasurementTable:
    """The result of :func:`measure`: ordered columns of equal length, one row per object.

    Attributes
    ----------
    columns : dict[str, ndarray]
        Column name -> read-only 1-D array of length N (one value per object), in display order:
        int64 for labels, pixel counts and bounding boxes, float64 for lengths, areas and ratios (the
        columns and their units are listed under :func:`measure`). ``st.dataframe(table.columns)``
        shows it without pandas.
    unit : str
        The length unit as given (``"µm"``), or ``"px"`` when ``pixel_size`` is None.
    pixel_size : float or None
        Size of one pixel in ``unit``, or None for pixel units.
    column_names : list of str
        The column names in order (a property).

    Raises
    ------
    ParameterError
        The columns differ in length.

    Examples
    --------
    >>> t = MeasurementTable({"label": np.array([1, 2]), "area_px": np.array([10, 4])}, "px", None)
    >>> len(t), t.column_names, t.to_records()[1]
    (2, ['label', 'area_px'], {'label': 2, 'area_px': 4})
    """

    columns: dict[str, np.ndarray]
    unit: str = "px"
    pixel_size: float | None = None
    _length: int = field(init=False, repr=False, compare=False, default=0)

    def __post_init__(self):
        lengths = {name: len(values) for name, values in self.columns.items()}
        if len(set(lengths.values())) > 1:
            raise ParameterError(f"columns must all have the same length, got {lengths}")
        frozen = {}
        for name, values in self.columns.items():
            array = np.array(values)  # a private copy, so the table cannot change under us
            array.flags.writeable = False
            frozen[name] = array
        object.__setattr__(self, "columns", frozen)
        object.__setattr__(self, "_length", next(iter(lengths.values()), 0))

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, name: str) -> np.ndarray:
        return self.columns[name]

    @property
    def column_names(self) -> list[str]:
        """The column names in order."""
        return list(self.columns)

    def to_records(self) -> list[dict]:
        """One dict per row with plain Python ``int`` / ``float`` values."""
        names = self.column_names
        lists = [self.columns[name].tolist() for name in names]
        return [dict(zip(names, row)) for row in zip(*lists)]

    def to_csv(self, *, recipe_json: str | None = None) -> str:
        """The table as CSV text: a header line, then one line per object.

        Integers are written as integers; floats with up to 10 significant digits (shortest
        form, so 12.5 stays ``12.5``). NaN (for example the mean of an object whose pixels are
        all NaN) is written as an empty field, which spreadsheets read as missing.

        Parameters
        ----------
        recipe_json : str, optional
            The recipe that made the objects, as ``recipe.to_json()`` writes it. When given, the text
            starts with one comment line naming its version, kind and SHA-256 (of the UTF-8 text, as
            the batch summary's ``recipe_sha256``)::

                # segmentation-studio recipe version 3, threshold, recipe_sha256 5f1c…

            so the file says which recipe (and which version's defaults) it holds. Read it back with
            ``pandas.read_csv(path, comment="#")`` or by skipping lines starting with ``#``.

        Raises
        ------
        ParameterError
            If ``recipe_json`` is not a recipe's JSON text (an object with ``version`` and ``kind``).
        """
        head = "" if recipe_json is None else _recipe_comment(recipe_json)
        text_columns = []
        for values in self.columns.values():
            if values.dtype.kind in "iub":
                text_columns.append([str(int(v)) for v in values.tolist()])
            else:
                text_columns.append(["" if math.isnan(v) else f"{v:.10g}" for v in values.tolist()])
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(self.column_names)
        writer.writerows(zip(*text_columns))
        return head + buffer.getvalue()


def _recipe_comment(recipe_json: str) -> str:
    """The CSV comment line that names a recipe's version, kind and SHA-256 (see :meth:`MeasurementTable.to_csv`).

    Parameters
    ----------
    recipe_json : str
        A recipe's JSON text (``recipe.to_json()``).

    Returns
    -------
    str
        One line, ending in a newline.

    Raises
    ------
    ParameterError
        If ``recipe_json`` is not JSON of an object with an integer ``version`` and a ``kind``.

    Examples
    --------
    >>> text = '{"format": "segmentation-studio-recipe", "version": 3, "kind": "threshold", "params": {}}'
    >>> _recipe_comment(text)[:54]
    '# segmentation-studio recipe version 3, threshold, rec'
    """
    try:
        data = json.loads(recipe_json)
        version, kind = data["version"], data["kind"]
    except (TypeError, ValueError, KeyError) as error:
        raise ParameterError(f"recipe_json must be a recipe's JSON text (with version and kind); got "
                             f"{str(recipe_json)[:60]!r}") from error
    if isinstance(version, bool) or not isinstance(version, int) or not isinstance(kind, str):
        raise ParameterError(f"recipe_json has version {version!r} and kind {kind!r}: expected an integer and a word")
    digest = hashlib.sha256(recipe_json.encode("utf-8")).hexdigest()
    return f"# segmentation-studio recipe version {version}, {kind}, recipe_sha256 {digest}\n"


def unit_suffix(unit: str) -> str:
    """The ASCII form of a length unit used in column names (``"µm"`` -> ``"um"``).

    Parameters
    ----------
    unit : str
        A length unit as a person writes it: ``"µm"`` (micro sign or Greek mu), ``"nm"``, ``" mm "``.

    Returns
    -------
    str
        The unit's ASCII letters and digits only (micro becomes ``u``, accents are dropped,
        spaces and symbols removed).

    Raises
    ------
    ParameterError
        ``unit`` is not a string, is blank, or has no ASCII letter or digit left (``"°"``).

    Examples
    --------
    >>> unit_suffix("µm"), unit_suffix("nm"), unit_suffix("mm")
    ('um', 'nm', 'mm')
    """
    if not isinstance(unit, str) or not unit.strip():
        raise ParameterError(f"unit must be a non-empty string such as 'µm', got {unit!r}")
    text = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u")  # micro sign, Greek mu
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"[^A-Za-z0-9]", "", text)
    if not text:
        raise ParameterError(f"unit {unit!r} has no letters usable in a column name; use e.g. 'um' or 'nm'")
    return text



def _intensity_from(image: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    image = np.asarray(image)
    if image.shape[:2] != shape or image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] != 3):
        raise ParameterError(f"image must be H×W or H×W×3 with H×W = labels' {shape}, got {image.shape}")
    if image.dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        # float16 would give means rounded to 3 digits (numpy returns a float16 mean); as_image converts it
        raise ParameterError(f"image must be uint8, uint16, float32 or float64, got dtype {image.dtype}; "
                             f"convert it with segmentation.as_image() first")
    if image.ndim == 3:
        # luminance as the pipeline's "luminance" channel computes it (ITU-R 601 via OpenCV),
        # so the numbers match what the threshold saw; uint8/uint16 stay in their own units
        if image.dtype.kind == "f" and image.dtype != np.float32:
            image = image.astype(np.float32)
        image = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    if image.dtype == np.float32 and float_exponent(image):
        image = image.astype(np.float64)  # a float32 sum of huge values overflows the mean intensity
    return image


def measure(labels: np.ndarray, image: np.ndarray | None = None, *, pixel_size: float | None = None,
            unit: str = "µm") -> MeasurementTable:
    """Measure every object of a label image (or of a bool mask's connected components).

    Parameters
    ----------
    labels : (H, W) ndarray of int or bool
        Integer labels (0 = background, objects any positive ids; gaps in the numbering are fine)
        or a bool mask, which is labelled first with 8-connectivity (``cv2.connectedComponents``).
    image : (H, W) or (H, W, 3) ndarray of uint8, uint16, float32 or float64, optional
        Gray or RGB image of the same H×W for the intensity columns. RGB uses luminance
        (ITU-R 601; a float64 RGB image is converted to float32 first, as the pipeline's channel is).
        Values stay in the image's units: a 16-bit image gives 16-bit min/max.
    pixel_size : float, optional
        Size of one pixel in ``unit``, > 0. When given, areas are in unit² and lengths and
        centroids in ``unit``; the column names say so (see Notes).
    unit : str
        Name of the physical length unit (``"µm"``, ``"nm"``, ...); used only with ``pixel_size``.

    Returns
    -------
    MeasurementTable
        One row per object in increasing label order; zero rows (same columns) when there are
        no objects (an all-zero or empty label image).

    Raises
    ------
    ParameterError
        ``labels`` is not a 2-D integer or bool array or holds negative values; ``image`` is not a
        uint8, uint16, float32 or float64 gray or RGB image of the labels' H×W (float16 is refused);
        ``pixel_size`` is not a finite number above 0; ``unit`` is not a string (or, with ``pixel_size``,
        has no usable letters).

    Notes
    -----
    Columns, in order (in pixels / with ``pixel_size`` and ``unit="µm"``): ``label``; ``area_px`` /
    ``area_um2`` (pixel count × pixel_size²); ``perimeter_px`` / ``perimeter_um``;
    ``centroid_row_px``, ``centroid_col_px`` / ``..._um`` (row downwards, then column, from the top-left
    pixel's centre); ``bbox_min_row``, ``bbox_min_col``, ``bbox_max_row``, ``bbox_max_col`` (pixel
    indices, max exclusive, never scaled); ``equivalent_diameter_px`` / ``..._um`` (the disc of equal
    area); ``circularity`` (4πA/P², unitless); ``solidity`` (area / convex hull area, unitless); and
    with an image ``mean_intensity``, ``min_intensity``, ``max_intensity`` in the image's own units.
    A unit's column suffix is :func:`unit_suffix` of it (``µm`` -> ``um``), with ``2`` for areas.

    Measurements are ``skimage.measure.regionprops_table``'s values (the shape columns computed for all objects
    at once, equal bit for bit; the intensity columns by regionprops itself). Perimeter is skimage's
    ``perimeter`` (4-connected contour with diagonal steps weighted √2), which is 0 for objects
    of one or two pixels; their circularity is defined as 1 (as compact as the pixel grid
    allows) instead of dividing by zero. Because the pixelated perimeter is a rough estimate
    for small objects, circularity is clipped to [0, 1].

    References
    ----------
    .. [1] S. van der Walt, J. L. Schönberger, J. Nunez-Iglesias et al., "scikit-image: image processing
       in Python", *PeerJ* 2:e453, 2014. doi:10.7717/peerj.453 (``skimage.measure.regionprops``)
    .. [2] G. Bradski, "The OpenCV Library", *Dr. Dobb's Journal of Software Tools*, 2000 (connected
       components and the ITU-R 601 luminance of ``cv2.cvtColor``).

    Examples
    --------
    >>> lab = np.zeros((20, 20), np.int32); lab[2:6, 2:12] = 1; lab[10:15, 10:15] = 2
    >>> t = measure(lab, pixel_size=0.5, unit="µm")
    >>> len(t), t["area_um2"].tolist()
    (2, [10.0, 6.25])
    """
    labels, original_ids = compact_ids(as_labels(labels))
    if image is not None:
        image = _intensity_from(image, labels.shape)
    if not isinstance(unit, str):
        raise ParameterError(f"unit must be a string such as 'µm', got {unit!r}")
    if pixel_size is not None:
        pixel_size = check_number("pixel_size", pixel_size, low=0, low_open=True)
        length, area = unit_suffix(unit), unit_suffix(unit) + "2"
    else:
        length = area = "px"

    if labels.size == 0 or not labels.any():
        # No objects: regionprops would return nothing useful; give the right columns, zero rows.
        props = {name: np.zeros(0) for name in _raw_names(image is not None)}
    else:
        # The shape columns at once (exactly regionprops' values, see _shape_columns); regionprops only for
        # the intensity columns, whose float means depend on numpy's summation order over each object.
        props = _shape_columns(labels)
        if image is not None:
            props.update(regionprops_table(labels, intensity_image=image,
                                           properties=["intensity_mean", "intensity_min", "intensity_max"]))

    scale = 1.0 if pixel_size is None else pixel_size
    area_px = np.asarray(props["area"], np.float64)
    perimeter_px = np.asarray(props["perimeter"], np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        circularity = np.where(perimeter_px > 0, 4.0 * np.pi * area_px / perimeter_px**2, 1.0)
    columns: dict[str, np.ndarray] = {
        "label": (np.asarray(props["label"], np.int64) if original_ids is None
                  else original_ids[np.asarray(props["label"], np.int64)].astype(np.int64)),
        f"area_{area}": area_px.astype(np.int64) if pixel_size is None else area_px * scale**2,
        f"perimeter_{length}": perimeter_px * scale,
        f"centroid_row_{length}": np.asarray(props["centroid-0"], np.float64) * scale,
        f"centroid_col_{length}": np.asarray(props["centroid-1"], np.float64) * scale,
    }
    for i, name in enumerate(_BBOX):
        columns[name] = np.asarray(props[f"bbox-{i}"], np.int64)
    columns[f"equivalent_diameter_{length}"] = np.asarray(props["equivalent_diameter_area"], np.float64) * scale
    columns["circularity"] = np.clip(circularity, 0.0, 1.0)
    columns["solidity"] = np.asarray(props["solidity"], np.float64)
    if image is not None:
        # min/max of an integer image are values of that image: keep them integers
        extreme_dtype = np.int64 if image.dtype.kind in "iu" else np.float64
        columns["mean_intensity"] = np.asarray(props["intensity_mean"], np.float64)
        columns["min_intensity"] = np.asarray(props["intensity_min"]).astype(extreme_dtype)
        columns["max_intensity"] = np.asarray(props["intensity_max"]).astype(extreme_dtype)
        if image.dtype.kind == "f" and len(area_px) and not all_finite(image):
            _intensity_without_nan(columns, labels, image, np.asarray(props["label"], np.int64))
    return MeasurementTable(columns, unit="px" if pixel_size is None else unit.strip(), pixel_size=pixel_size)


#: skimage's perimeter weights (``skimage/measure/_regionprops_utils.py``): code -> contour length.
_PERIMETER_WEIGHTS = np.zeros(50, np.float64)
_PERIMETER_WEIGHTS[[5, 7, 15, 17, 25, 27]] = 1
_PERIMETER_WEIGHTS[[21, 33]] = math.sqrt(2)
_PERIMETER_WEIGHTS[[13, 23]] = (1 + math.sqrt(2)) / 2


def _shape_columns(labels: np.ndarray) -> dict[str, np.ndarray]:
    """regionprops_table's shape columns for every object at once, equal to scikit-image's bit for bit.

    ``labels`` holds ids below its pixel count (see :func:`compact_ids`) and at least one object. Returned
    under regionprops' names (``label``, ``area``, ``perimeter``, ``centroid-0`` ...), float64 where
    regionprops gives floats. How each equals regionprops' value (``tests/test_fast_paths.py`` checks them):

    * every object pixel that has a 4-neighbour of another label (or outside the image) is a contour pixel
      (OpenCV's 3×3 cross morphological gradient of the labels, as 16-bit or float numbers that hold them
      exactly, is not 0 there);
      they are the only pixels read one by one;
    * ``label``, ``bbox-*``: the objects present and their contour pixels' extreme rows and columns (an
      object's extreme pixels are contour pixels), in increasing label order as regionprops lists them;
    * ``area``, ``centroid-*``: every row of an object is a set of runs whose first and last pixels are contour
      pixels (a neighbour on the left, resp. right, of another label); the runs give the pixel count and the
      sums of the rows and columns. regionprops' area is the mask's sum times 1.0 and its centroid
      ``coords.mean(axis=0)``: sums of whole numbers below 2**53 are exact in float64 in any order, so the
      quotient, correctly rounded, is the same;
    * ``equivalent_diameter_area``: regionprops' own expression on each float64 area;
    * ``perimeter``: scikit-image's ``perimeter(mask, 4)`` codes every contour pixel (in the object, a 4-neighbour
      outside it) as 1 + 2·(contour 4-neighbours) + 10·(contour diagonal neighbours) of the same object and
      returns ``histogram @ weights``; here the codes of all objects' contour pixels are counted at once and
      each object's 50-bin histogram (int64, the same counts at every weighted code) is dotted with the same
      weights, so the same float64 dot product;
    * ``area_convex``: regionprops counts the pixel centres in the closed convex hull of the object's pixels'
      diamonds (``convex_hull_image``: Qhull on the centres ± 0.5 along each axis, then
      ``grid_points_in_poly`` with borders). That hull is the centres' hull (OpenCV, exact on integers; a
      contour pixel carries every vertex) plus the diamond, and its lattice points are counted row by row in
      exact integer arithmetic (coordinates doubled), instead of a Qhull call and a polygon raster per object.

    Measured at 12 megapixels with 1,000 objects: see ``python -m benchmarks.full_resolution`` (regionprops_table
    1.0-1.9 s, its convex hulls most of it).
    """
    height, width = labels.shape
    top = int(labels.max())
    # OpenCV's morphology takes 16-bit and float images (exact ids: below 2**16, 2**24, then float64).
    values = labels.astype(np.uint16 if top < 1 << 16 else np.float32 if top < 1 << 24 else np.float64)
    padded = cv2.copyMakeBorder(values, 1, 1, 1, 1, cv2.BORDER_CONSTANT, value=0)
    cross = cv2.getStructuringElement(cv2.MORPH_CROSS, (3, 3))
    uneven = cv2.compare(cv2.morphologyEx(padded, cv2.MORPH_GRADIENT, cross), 0, cv2.CMP_NE)  # max != min
    contour = cv2.bitwise_and(uneven, cv2.compare(padded, 0, cv2.CMP_NE))
    spots = np.flatnonzero(contour)  # padded flat indices, row-major
    pflat, cflat = padded.ravel(), contour.ravel()
    mine = pflat[spots]
    step = width + 2
    code = np.ones(spots.size, np.int64)
    for offset, weight in ((-step, 2), (step, 2), (-1, 2), (1, 2),
                           (-step - 1, 10), (-step + 1, 10), (step - 1, 10), (step + 1, 10)):
        there = spots + offset
        code += weight * ((cflat[there] != 0) & (pflat[there] == mine))
    owner = mine.astype(np.intp)
    rows, cols = np.divmod(spots, step)
    rows -= 1
    cols -= 1
    # Runs: from a pixel whose left neighbour is of another label to the next whose right one is.
    starts = spots[pflat[spots - 1] != mine]
    ends = spots[pflat[spots + 1] != mine]
    run_owner = pflat[starts].astype(np.intp)
    run_row = starts // step - 1
    first_col, last_col = starts - (run_row + 1) * step - 1, ends - (run_row + 1) * step - 1
    length = last_col - first_col + 1
    order = np.argsort(owner, kind="stable")
    owner, rows, cols, code = owner[order], rows[order], cols[order], code[order]
    first = np.flatnonzero(np.diff(owner, prepend=-1))  # each object's first contour pixel
    ids = owner[first]
    # Per-object tables indexed 0..N-1 (the objects in label order), never by id: ids may run to the pixel count.
    group = np.repeat(np.arange(ids.size), np.diff(np.append(first, owner.size)))
    run_group = np.searchsorted(ids, run_owner)
    area = np.bincount(run_group, weights=length, minlength=ids.size)
    row_sums = np.bincount(run_group, weights=run_row * length, minlength=ids.size)
    col_sums = np.bincount(run_group, weights=(first_col + last_col) * length // 2, minlength=ids.size)
    boxes = [np.minimum.reduceat(rows, first), np.minimum.reduceat(cols, first),
             np.maximum.reduceat(rows, first) + 1, np.maximum.reduceat(cols, first) + 1]
    histogram = np.bincount(group * 50 + code, minlength=ids.size * 50).reshape(ids.size, 50)
    perimeter = np.array([row.copy() @ _PERIMETER_WEIGHTS for row in histogram], np.float64)
    convex = _convex_areas(rows, cols, first)
    return {
        "label": ids.astype(np.int64), "area": area, "perimeter": perimeter,
        "centroid-0": row_sums / area, "centroid-1": col_sums / area,
        "bbox-0": boxes[0].astype(np.int64), "bbox-1": boxes[1].astype(np.int64),
        "bbox-2": boxes[2].astype(np.int64), "bbox-3": boxes[3].astype(np.int64),
        "equivalent_diameter_area": _equivalent_diameters(area),
        "solidity": area / convex,
    }


def _equivalent_diameters(area: np.ndarray) -> np.ndarray:
    """The regionprops expression ``(2 * ndim * area / PI) ** (1 / ndim)`` on each float64 area, as it computes it."""
    return np.array([(2 * 2 * a / math.pi) ** (1 / 2) for a in map(np.float64, area.tolist())], np.float64)


def _convex_areas(rows: np.ndarray, cols: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The pixel count of each object's convex image as ``skimage.morphology.convex_hull_image`` gives it.

    ``rows`` and ``cols`` list the objects' contour pixels (every hull vertex is one) grouped by object, each
    group starting at ``first``. Per object, OpenCV's hull of the contour pixels' doubled coordinates plus
    the four diamond points of each vertex (±1 in doubled units) gives the polygon. Its lattice points
    (even doubled coordinates) are counted for all objects at once: each edge meets the rows it spans at a
    rational x (its end points included), and a row's columns inside are those between the smallest and
    the largest, rounded inwards by integer floor division, exactly.
    """
    diamond = np.array([[-1, 0], [1, 0], [0, -1], [0, 1]], np.int32)
    points = np.stack([cols, rows], axis=1).astype(np.int32) * 2
    polygons = []
    for start, end in zip(first.tolist(), [*first[1:].tolist(), len(rows)]):
        hull = cv2.convexHull(points[start:end]).reshape(-1, 2)
        grown = (hull[:, None, :] + diamond[None, :, :]).reshape(-1, 2)
        polygons.append(cv2.convexHull(np.ascontiguousarray(grown)).reshape(-1, 2))
    sides = np.array([len(p) for p in polygons], np.int64)
    vertices = np.concatenate(polygons).astype(np.int64)
    offsets = np.cumsum(sides) - sides
    following = np.arange(len(vertices)) + 1
    following[offsets + sides - 1] = offsets
    ax, ay = vertices[:, 0], vertices[:, 1]
    bx, by = ax[following], ay[following]
    edge_object = np.repeat(np.arange(len(polygons)), sides)
    top = np.minimum.reduceat(ay, offsets)
    row_base = -((-top) // 2)  # each object's first row r (2r >= its top)
    row_count = np.maximum.reduceat(ay, offsets) // 2 - row_base + 1
    row_offsets = np.cumsum(row_count) - row_count
    # Every (edge, row) pair with the row's doubled y within the edge's y range.
    low_y, high_y = np.minimum(ay, by), np.maximum(ay, by)
    first_row = -((-low_y) // 2)
    spans = np.maximum(high_y // 2 - first_row + 1, 0)
    edge = np.repeat(np.arange(len(vertices)), spans)
    row = first_row[edge] + np.arange(spans.sum()) - np.repeat(np.cumsum(spans) - spans, spans)
    y = 2 * row
    ax, ay, bx, by = ax[edge], ay[edge], bx[edge], by[edge]
    flat = ay == by  # a horizontal edge on the row: both its ends
    den = np.where(flat, 1, by - ay)
    num = np.where(flat, 0, ax * den + (y - ay) * (bx - ax))
    negative = den < 0
    num, den = np.where(negative, -num, num), np.where(negative, -den, den)
    left = np.where(flat, -((-np.minimum(ax, bx)) // 2), -((-num) // (2 * den)))
    right = np.where(flat, np.maximum(ax, bx) // 2, num // (2 * den))
    slot = row_offsets[edge_object[edge]] + row - row_base[edge_object[edge]]
    lowest = np.full(int(row_count.sum()), np.iinfo(np.int64).max)
    highest = np.full(int(row_count.sum()), np.iinfo(np.int64).min)
    np.minimum.at(lowest, slot, left)
    np.maximum.at(highest, slot, right)
    inside = np.maximum(highest - lowest + 1, 0)
    return np.bincount(np.repeat(np.arange(len(polygons)), row_count), weights=inside,
                       minlength=len(polygons))


def _intensity_without_nan(columns: dict, labels: np.ndarray, image: np.ndarray, ids: np.ndarray) -> None:
    """The intensity columns over each object's non-NaN pixels (NaN is "no data"; ±inf are values).

    regionprops' ``np.mean`` would make an object touching one NaN pixel NaN; an object with only NaN pixels
    keeps NaN (no value to report). +inf and -inf stay values, as IEEE arithmetic says (a mean with +inf is
    +inf). SciPy's labelled sums, one pass each.
    """
    nan = np.isnan(image)
    counts = ndi.sum_labels(~nan, labels, ids)
    with np.errstate(invalid="ignore", divide="ignore"):
        columns["mean_intensity"] = np.where(counts > 0, ndi.sum_labels(np.where(nan, 0.0, image.astype(np.float64)),
                                                                        labels, ids) / np.maximum(counts, 1), np.nan)
    columns["min_intensity"] = np.where(counts > 0, ndi.minimum(np.where(nan, np.inf, image), labels, ids), np.nan)
    columns["max_intensity"] = np.where(counts > 0, ndi.maximum(np.where(nan, -np.inf, image), labels, ids), np.nan)


def compact_ids(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Labels renumbered 1..N when their ids run beyond the pixel count, and the original ids (or None).

    Tables indexed by id (scipy's ``find_objects`` under ``regionprops``, ``bincount``) grow with the highest
    id, not with the number of objects: one object numbered 2**31 - 1 would need gigabytes. Ids above the
    pixel count always leave gaps, so renumbering them (order kept, 0 stays background) loses nothing.
    """
    if labels.size == 0 or int(labels.max()) < labels.size:
        return labels, None
    ids, inverse = np.unique(labels, return_inverse=True)
    compact = inverse.reshape(labels.shape).astype(np.int64)
    if ids[0] != 0:  # no background pixel: the smallest id became 0, shift so every object stays >= 1
        compact += 1
        ids = np.concatenate(([0], ids))
    return compact, ids


def _raw_names(with_intensity: bool) -> list[str]:
    names = ["label", "area", "perimeter", "centroid-0", "centroid-1", "bbox-0", "bbox-1", "bbox-2",
             "bbox-3", "equivalent_diameter_area", "solidity"]
    if with_intensity:
        names += ["intensity_mean", "intensity_min", "intensity_max"]
    return names
