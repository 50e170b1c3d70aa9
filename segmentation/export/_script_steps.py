"""Templates for the standalone scripts: one small function per threshold step.

The watershed steps are in ``_script_watershed``; ``_script`` composes both into :func:`segmentation.to_python`.

Each step appends the lines of ``segment()`` it needs to a :class:`Script` (only for the options the
recipe uses, parameters written as literals) and records the imports and helper functions those lines
call. The generated code mirrors the library's own calls exactly, so its result is identical bit for
bit; keep the two in step when the library changes (``tests/test_codegen.py`` compares them, and
``tests/test_codegen_real_data.py`` on float images with NaN / ±inf pixels and 16-bit images of few levels).

The dtype is known only when the script runs, so the non-finite rules are written for every recipe, through
the helpers ``finite_pixels`` (what thresholds and statistics are computed from: the image itself when it
is all finite) and ``fill_nonfinite`` (what filters see; written only when a step filters); both return
their input unchanged for integer and all-finite images.
"""

from __future__ import annotations

import textwrap

from ..recipes import METHODS, ThresholdRecipe

# -- the script being built ---------------------------------------------------------------------------


class Script:
    """The body of ``segment()`` (unindented lines), the imports and helper functions it needs."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.imports: set[str] = {"cv2", "np"}
        self.helpers: list[str] = []
        self.values_current = False  # whether ``values`` holds finite_pixels(channel) of the current channel
        # Sizes decided at run time (a typical diameter "auto", _script_fit): parameter name -> the script's
        # variable, written instead of the recipe's literal value
        self.names: dict[str, str] = {}

    def need(self, *names: str) -> None:
        """Imports by short name: ``ndi``, ``skimage:filters``, ``skimage.segmentation:watershed`` ..."""
        self.imports.update(names)

    def use(self, helper: str) -> None:
        """A module-level helper function of the script (see :data:`HELPERS`), with its own needs."""
        for name in HELPER_NEEDS.get(helper, ()):
            self.use(name)
        if helper not in self.helpers:
            self.helpers.append(helper)
        self.need(*HELPERS[helper][1])

    def finite_values(self) -> list[str]:
        """The line that sets ``values`` to the finite pixels of ``channel``, unless it is already set."""
        if self.values_current:
            return []
        self.use("finite_pixels")
        self.values_current = True
        return ["values = finite_pixels(channel)  # the pixels thresholds are computed from"]

    def channel_changed(self) -> None:
        """``channel`` was reassigned: ``values`` is out of date."""
        self.values_current = False

    def section(self, comment: str, code: list[str] | str) -> None:
        """A blank line, a comment (wrapped) and the step's code."""
        if isinstance(code, str):
            code = textwrap.dedent(code).strip("\n").splitlines()
        self.lines.append("")
        self.lines.extend(textwrap.wrap(comment, 100, initial_indent="# ", subsequent_indent="# "))
        self.lines.extend(code)


def render_imports(names: set[str]) -> list[str]:
    lines = ["import argparse", "import re", "import sys", "from pathlib import Path", "", "import cv2",
             "import numpy as np"]
    if "ndi" in names:
        lines.append("from scipy import ndimage as ndi")
    for module in ("skimage", "skimage.segmentation"):
        members = sorted(n.split(":", 1)[1] for n in names if n.split(":", 1)[0] == module)
        if members:
            lines.append(f"from {module} import {', '.join(members)}")
    return lines


def indent(lines: list[str], level: int = 1) -> list[str]:
    return [("    " * level + line) if line else line for line in lines]


def lit(value: float) -> str:
    """A float literal that reads back as exactly the same float."""
    return repr(float(value))


def by_polarity(polarity: str | None, bright: list[str], dark: list[str]) -> list[str]:
    """The lines for the recipe's polarity, or both behind a test when it is decided at run time."""
    if polarity == "bright":
        return bright
    if polarity == "dark":
        return dark
    return ['if polarity == "bright":', *indent(bright), "else:", *indent(dark)]


def compare(value: str, t: str, polarity: str | None) -> str:
    """Foreground rule: ``value > t`` for bright objects, ``value <= t`` for dark ones."""
    if polarity == "bright":
        return f"{value} > {t}"
    if polarity == "dark":
        return f"{value} <= {t}"
    return f'({value} > {t}) if polarity == "bright" else ({value} <= {t})'


# -- helper functions copied into the script: name -> (source, imports) ------------------------------

HELPERS: dict[str, tuple[str, tuple[str, ...]]] = {
    "as_image": ('''
def as_image(image):
    """H×W gray or H×W×3 RGB as uint8, uint16 or float32, normalised as Segmentation Studio does."""
    array = np.asarray(image)
    if array.ndim == 3 and array.shape[2] in (1, 2):
        array = array[:, :, 0]  # gray, or gray + alpha
    elif array.ndim == 3 and array.shape[2] == 4:
        array = array[:, :, :3]  # RGBA: the alpha is not part of the picture
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] != 3) or 0 in array.shape:
        raise ValueError(f"expected a non-empty H×W gray or H×W×3 colour image; got shape {array.shape}")
    if array.dtype == bool:
        return np.ascontiguousarray(array.astype(np.uint8) * np.uint8(255))
    if array.dtype in (np.uint8, np.uint16):
        return np.ascontiguousarray(array)
    if np.issubdtype(array.dtype, np.integer):  # other integers: the smallest type that holds them
        low, high = int(array.min()), int(array.max())
        if low >= 0 and high <= 255:
            return np.ascontiguousarray(array.astype(np.uint8))
        if low >= 0 and high <= 65535:
            return np.ascontiguousarray(array.astype(np.uint16))
        return np.ascontiguousarray(array.astype(np.float32))
    if np.issubdtype(array.dtype, np.floating):
        array = np.ascontiguousarray(array.astype(np.float32))
        if not np.isfinite(array).any():  # NaN and ±inf are kept: "no data", see finite_pixels
            raise ValueError("the image holds no finite values (all NaN or infinite)")
        return array
    raise ValueError(f"unsupported pixel type {array.dtype}; use 8-bit, 16-bit or float images")
''', ()),
    "finite_pixels": ('''
def finite_pixels(image):
    """The pixels thresholds are computed from: the image itself when every pixel is finite (integer
    images always), else its finite pixels as a 1×N row (NaN and ±inf in float images are "no data")."""
    if image.dtype != np.float32 or np.isfinite(image).all():
        return image
    return image[np.isfinite(image)][np.newaxis]
''', ()),
    "in_float_range": ('''
def in_float_range(image):
    """(scaled, exponent): a float image whose finite pixels' largest magnitude lies beyond 2**20 or below
    2**-20, multiplied by 2**-exponent (exact: a power of two) to bring it into 0.5..1, as Segmentation Studio
    does before float32 arithmetic that would overflow or underflow; any other image as it is, exponent 0."""
    if image.dtype != np.float32:
        return image, 0
    values = finite_pixels(image)
    if values.size == 0:
        return image, 0
    low, high, _, _ = cv2.minMaxLoc(values.reshape(values.shape[0], -1))
    peak = max(abs(low), abs(high))
    if peak == 0 or 2.0 ** -20 <= peak <= 2.0 ** 20:
        return image, 0
    exponent = int(np.frexp(peak)[1])
    return np.ldexp(image, -exponent).astype(np.float32, copy=False), exponent
''', ()),
    "in_range": ('''
def in_range(method, values, **params):
    """A scikit-image threshold method's result(s) in the values' own units, computed on the values scaled
    by in_float_range (float32 statistics of huge or tiny values overflow or underflow) and scaled back."""
    scaled, exponent = in_float_range(values)
    return tuple(float(np.ldexp(float(t), exponent)) for t in np.atleast_1d(method(scaled, **params)))
''', ()),
    "fill_nonfinite": ('''
def fill_nonfinite(image):
    """(filled, nonfinite): for the filters, NaN and ±inf pixels replaced by the value of the nearest
    finite pixel (SciPy's exact distance transform); nonfinite marks them (None when there are none)."""
    if image.dtype != np.float32 or np.isfinite(image).all():
        return image, None
    nonfinite = ~np.isfinite(image)
    nearest = ndi.distance_transform_edt(nonfinite, return_distances=False, return_indices=True)
    return image[tuple(nearest)], nonfinite
''', ("ndi",)),
    "otsu_threshold": ('''
def otsu_threshold(values):
    """Otsu's threshold: OpenCV for 8- and 16-bit images, scikit-image for float ones."""
    if values.dtype == np.float32:
        return in_range(filters.threshold_otsu, values)[0]
    return float(cv2.threshold(values, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[0])
''', ("skimage:filters",)),
    "histogram_input": ('''
def histogram_input(values, exact_range, few=0):
    """What scikit-image's histogram methods get. It bins integer images one bin per value: a 16-bit image
    keeps that when it holds at most 256 distinct values with a range below exact_range or at most few
    values; other 16-bit images become float32, which it bins in 256 bins over min..max."""
    if values.dtype != np.uint16:
        return values
    present = np.flatnonzero(np.bincount(values.ravel()))
    if len(present) <= 256 and (present[-1] - present[0] < exact_range or len(present) <= few):
        return values
    return values.astype(np.float32)
''', ()),
    "levels_sharing_a_bin": ('''
def levels_sharing_a_bin(values):
    """(a, b, n) for a 16-bit image of n values, at most 256, two of which (the first two: a < b) 256 bins
    over min..max would merge; None for other images."""
    if values.dtype != np.uint16:
        return None
    levels = np.flatnonzero(np.bincount(values.ravel()))
    if not 2 <= len(levels) <= 256:
        return None
    bins = np.minimum(((levels - levels[0]) * 256) // (levels[-1] - levels[0]), 255)
    shared = np.flatnonzero(np.diff(bins) == 0)
    if not len(shared):
        return None
    return int(levels[shared[0]]), int(levels[shared[0] + 1]), len(levels)
''', ()),
    "minimum_threshold": ('''
def minimum_threshold(values):
    """The Minimum method: 256 histogram bins, or one per value for a 16-bit image of at most 256 values
    (when they span under 256, or 256 bins would merge two of them; then at most about a second of passes)."""
    merged = levels_sharing_a_bin(values)
    if merged:
        span = int(values.max()) - int(values.min()) + 1
        passes = int(min(10_000, max(20, 3_000_000 // span)))
        try:
            return float(filters.threshold_minimum(values, max_num_iter=passes))
        except RuntimeError:
            low, high, levels = merged
            raise ValueError(
                f"the Minimum method cannot threshold this 16-bit image of {levels} grey levels: in 256 "
                f"histogram bins its levels {low} and {high} would become one, and its exact histogram "
                f"(one bin per value, {span:,} bins) shows no valley between two peaks within "
                f"{passes:,} smoothing passes; use Otsu, Yen or multi-Otsu, which take such images "
                "level by level") from None
    binned = histogram_input(values, exact_range=256)
    try:
        return in_range(filters.threshold_minimum, binned, max_num_iter=10_000)[0]
    except RuntimeError:
        raise ValueError("the Minimum method found no valley between two histogram peaks in this image (its "
                         "histogram is not bimodal); try Otsu or Li instead") from None
''', ("skimage:filters",)),
    "multiotsu_thresholds": ('''
def multiotsu_thresholds(values, classes):
    """Multi-Otsu thresholds, never merging the levels of a 16-bit image that has few of them."""
    if values.dtype == np.uint16:
        counts = np.bincount(values.ravel())
        levels = np.flatnonzero(counts)
        if classes < len(levels) <= 256 and levels[-1] - levels[0] >= 4096:
            # Otsu's criterion maximised exactly over the levels (dynamic programming, float64)
            weights, levels = counts[levels].astype(np.float64), levels.astype(np.float64)
            mass = np.concatenate([[0.0], np.cumsum(weights)])
            moment = np.concatenate([[0.0], np.cumsum(weights * levels)])
            start, end = np.arange(len(levels) + 1)[:, None], np.arange(len(levels) + 1)[None, :]
            with np.errstate(divide="ignore", invalid="ignore"):
                score = np.where(end > start, (moment[None, :] - moment[:, None]) ** 2
                                 / (mass[None, :] - mass[:, None]), -np.inf)
            best, choices = score[0].copy(), []
            for _ in range(classes - 1):
                total = best[:, None] + score
                choice = np.argmax(total, axis=0)
                best = total[choice, np.arange(len(levels) + 1)]
                choices.append(choice)
            ends, j = [], len(levels)
            for choice in reversed(choices):
                j = int(choice[j])
                ends.append(j)
            return tuple(float(levels[e - 1]) for e in reversed(ends))
    binned = histogram_input(values, exact_range=4096, few=classes)
    try:
        return in_range(filters.threshold_multiotsu, binned, classes=classes)
    except ValueError:  # scikit-image's words would suggest its nbins, which this method does not offer
        raise ValueError(f"this image has too few distinct grey levels for {classes} multi-Otsu classes; "
                         "use fewer classes") from None
''', ("skimage:filters",)),
    "to_uint8": ('''
def to_uint8(image):
    """(image8, low, high): the image mapped linearly from the min..max of its finite pixels to 0..255
    (8-bit images as they are); NaN and -inf become 0, +inf 255."""
    if image.dtype == np.uint8:
        return image, 0.0, 255.0
    values = finite_pixels(image)
    values, exponent = in_float_range(values)  # OpenCV's scale is a float32: tiny ranges would overflow it
    low, high, _, _ = cv2.minMaxLoc(values.reshape(values.shape[0], -1))
    if high <= low:
        image8 = np.zeros(image.shape, np.uint8)
    else:
        scale = 255.0 / (high - low)
        scaled = np.ldexp(image, -exponent).astype(np.float32, copy=False) if exponent else image
        image8 = cv2.convertScaleAbs(scaled, alpha=scale, beta=-low * scale)
    if image.dtype == np.float32 and not np.isfinite(image).all():
        image8[np.isnan(image) | (image == -np.inf)] = 0
        image8[image == np.inf] = 255
    return image8, float(np.ldexp(low, exponent)), float(np.ldexp(max(high, low), exponent))
''', ()),
    "label8": ('''
def label8(mask):
    """8-connected components of a bool mask as int32 labels (OpenCV)."""
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)[1]
''', ()),
    "distance_map": ('''
def distance_map(foreground):
    """Exact Euclidean distances (OpenCV) with correctly rounded roots, whatever OpenCV's thread count."""
    distance = cv2.distanceTransform(foreground.astype(np.uint8), cv2.DIST_L2, cv2.DIST_MASK_PRECISE)
    if distance.size == 0 or foreground.all():
        return distance
    if float(distance.max()) > 1400.0:  # a float32 root no longer pins its whole-number square down
        return ndi.distance_transform_edt(foreground).astype(np.float32)
    exact = distance.astype(np.float64)  # the squared distance is a whole number: round it, take its root
    np.multiply(exact, exact, out=exact)
    np.rint(exact, out=exact)
    np.sqrt(exact, out=exact)
    return exact.astype(np.float32)
''', ("ndi",)),
    "flood_each_object": ('''
def flood_each_object(landscape, seeds, foreground, connectivity, compactness=0.0, watershed_line=False):
    """scikit-image's watershed on each connected object of the foreground alone (on its bounding box).

    Alone, two seeds of exactly equal height in one object are split the same whatever else the image holds
    (in one call on the whole image the priority queue breaks such ties by its other entries); every other
    object gets the labels of one whole-image call.
    """
    count, objects, stats, _ = cv2.connectedComponentsWithStats(
        foreground.astype(np.uint8), connectivity=connectivity, ltype=cv2.CV_32S)
    labels = np.zeros(foreground.shape, np.int32)
    for k in range(1, count):
        x, y, w, h = (int(v) for v in stats[k, :4])
        box = (slice(y, y + h), slice(x, x + w))
        inside = objects[box] == k
        flooded = watershed(landscape[box], np.where(inside, seeds[box], 0), mask=inside,
                            compactness=compactness, connectivity=1 if connectivity == 4 else 2,
                            watershed_line=watershed_line)
        labels[box][inside] = flooded[inside]
    return labels
''', ("skimage.segmentation:watershed",)),
    "reconstruct_by_dilation": ('''
def reconstruct_by_dilation(seed, mask):
    """Grey-scale reconstruction by dilation of seed under mask, 8-connected (as scikit-image's)."""
    kernel = np.ones((3, 3), np.uint8)
    current = cv2.min(seed, mask)
    while True:
        previous = current
        for _ in range(8):  # compare only every few steps
            current = cv2.min(cv2.dilate(current, kernel), mask)
        if np.array_equal(current, previous):
            return current
''', ()),
    "seed_every_object": ('''
def seed_every_object(seeds, objects, distance):
    """Add a seed at the deepest point of every object that has none (else it would vanish)."""
    count = int(objects.max(initial=0))
    if count == 0:
        return seeds
    seeded = np.zeros(count + 1, bool)
    seeded[np.unique(objects[seeds > 0])] = True
    missing = np.flatnonzero(~seeded[1:]) + 1
    if missing.size == 0:
        return seeds
    seeds = seeds.copy()
    next_label = int(seeds.max(initial=0)) + 1
    seeded[0] = True
    where = np.flatnonzero(~seeded[objects])  # the pixels of the objects without a seed
    owner, value = objects.ravel()[where], distance.ravel()[where]
    highest = np.full(count + 1, -np.inf, value.dtype)
    np.maximum.at(highest, owner, value)
    hit = where[value == highest[owner]]
    # each object's highest pixel, the first in row-major order on a tie: the first hit of its number
    numbers, first = np.unique(objects.ravel()[hit], return_index=True)
    seeds.reshape(-1)[hit[first]] = next_label + np.arange(numbers.size)
    return seeds
''', ()),
}


#: Helpers that call other helpers.
HELPER_NEEDS: dict[str, tuple[str, ...]] = {"to_uint8": ("finite_pixels", "in_float_range"),
                                            "minimum_threshold": ("histogram_input", "levels_sharing_a_bin",
                                                                  "in_range"),
                                            "in_float_range": ("finite_pixels",),
                                            "in_range": ("in_float_range",),
                                            "otsu_threshold": ("in_range",),
                                            "multiotsu_thresholds": ("in_range",)}


# -- threshold steps ------------------------------------------------------------------------------------

def channel_step(s: Script, r: ThresholdRecipe) -> None:
    c = r.channel
    if c == "luminance":
        s.section("Channel: luminance (OpenCV's RGB to gray, ITU-R BT.601 weights); gray images are used as "
                  "they are.", "channel = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image")
    elif c in ("red", "green", "blue", "value"):
        pick = "image.max(axis=2)" if c == "value" else f"image[:, :, {('red', 'green', 'blue').index(c)}]"
        s.section(f"Channel: {c}{' = max(R, G, B)' if c == 'value' else ''}; gray images are used as they are.",
                  f"channel = np.ascontiguousarray({pick}) if image.ndim == 3 else image")
    else:
        which, scale = (0, " / 360.0") if c == "hue" else (1, "")
        s.section(f"Channel: {c} (OpenCV's HSV: full range 0-255 for 8-bit images; for others "
                  f"{'hue in degrees / 360' if c == 'hue' else 'saturation in [0, 1]'}, scaled to 0-65535 "
                  "for 16-bit images); gray images are used as they are.", f"""
            if image.ndim == 2:
                channel = image
            elif image.dtype == np.uint8:
                channel = np.ascontiguousarray(cv2.cvtColor(image, cv2.COLOR_RGB2HSV_FULL)[:, :, {which}])
            else:
                plane = cv2.cvtColor(image.astype(np.float32), cv2.COLOR_RGB2HSV)[:, :, {which}]{scale}
                if image.dtype == np.uint16:
                    channel = np.round(plane * 65535.0).astype(np.uint16)
                else:  # a pixel with a NaN or ±inf channel has no hue or saturation: NaN, never foreground
                    plane = np.where(np.isfinite(image).all(axis=2), plane, np.float32(np.nan))
                    channel = np.ascontiguousarray(plane, dtype=np.float32)""")


#: How the filters treat a float image's NaN and ±inf pixels (said once per step that filters).
FILLED = ("The filter sees the NaN and ±inf pixels of a float image as the nearest finite pixel's value "
          "(fill_nonfinite)")
#: The last line of a filtering step: the non-finite pixels get their own values back.
PUT_BACK = "channel = smoothed if nonfinite is None else np.where(nonfinite, channel, smoothed)"


def scale_step(s: Script) -> None:
    """A float channel of huge or tiny values is scaled by a power of two first, as the library does."""
    s.use("in_float_range")
    s.section("Float images whose values lie beyond ±2**20 or below 2**-20 (e.g. 1e30 or 1e-30) are scaled by an "
              "exact power of two, 2**-exponent, before the steps, whose float32 arithmetic would overflow or "
              "underflow; thresholds are compared in those units (exponent 0 for other images).",
              "channel, exponent = in_float_range(channel)")
    s.channel_changed()


def back_to_image_units(s: Script) -> None:
    """The processed channel back in the image's units (the library's ``ThresholdResult.processed``)."""
    s.section("The channel back in the image's own units (exact), clipped to float32's range as the library "
              "does (a top-hat of ±3e38 data spans 6e38).", """
        if exponent:
            with np.errstate(over="ignore"):
                channel = np.ldexp(channel, exponent)
            limit = np.finfo(np.float32).max
            np.clip(channel, -limit, limit, out=channel)""")
    s.channel_changed()


def smoothing_step(s: Script, r: ThresholdRecipe) -> None:
    if r.smoothing == "none":
        return
    s.use("fill_nonfinite")
    kept = f"{FILLED}; they keep their own values."
    if r.smoothing == "gaussian":
        s.section(f"Smoothing: Gaussian blur, sigma {r.sigma:g} px (OpenCV). {kept}", [
            "filled, nonfinite = fill_nonfinite(channel)",
            f"smoothed = cv2.GaussianBlur(filled, (0, 0), sigmaX={lit(r.sigma)}, sigmaY={lit(r.sigma)})", PUT_BACK])
    elif r.median_size <= 5:
        s.section(f"Smoothing: {r.median_size}×{r.median_size} median (OpenCV). {kept}", [
            "filled, nonfinite = fill_nonfinite(channel)", f"smoothed = cv2.medianBlur(filled, {r.median_size})",
            PUT_BACK])
    else:
        n = r.median_size
        s.section(f"Smoothing: {n}×{n} median. OpenCV's median takes 16-bit and float images only up to 5×5, "
                  f"so those use SciPy's. {kept}", f"""
            filled, nonfinite = fill_nonfinite(channel)
            if channel.dtype == np.uint8:
                smoothed = cv2.medianBlur(filled, {n})
            else:
                smoothed = ndi.median_filter(filled, size={n}, mode="reflect")
            {PUT_BACK}""")
    s.channel_changed()


def polarity_step(s: Script, r: ThresholdRecipe) -> str | None:
    """Returns the polarity, or None when the script decides it at run time (variable ``polarity``)."""
    if r.polarity != "auto":
        s.section(f"Objects are {r.polarity}: foreground is value {'>' if r.polarity == 'bright' else '<='} "
                  "threshold.", [])
        return r.polarity
    s.use("otsu_threshold")
    s.section("Polarity auto: objects lie on the side of Otsu's threshold (of the finite pixels) holding fewer "
              "pixels (a tie or a constant image counts as bright; a NaN pixel is on neither side).", [
                  *s.finite_values(),
                  "if values.min() == values.max():",
                  '    polarity = "bright"',
                  "else:",
                  "    t = otsu_threshold(values)",
                  "    above, below = np.count_nonzero(channel > t), np.count_nonzero(channel <= t)",
                  '    polarity = "bright" if above <= below else "dark"'])
    return None


def background_step(s: Script, r: ThresholdRecipe, polarity: str | None) -> str | None:
    radius = r.background_radius
    if radius <= 0:
        return polarity
    if "background_radius" in s.names:
        return _background_at_run_time(s, s.names["background_radius"], polarity)
    # The library's rule (segmentation.subtract_background): shrink by 2, 4 or 8 for large radii.
    shrink = 1 if radius <= 10 else 2 if radius <= 30 else 4 if radius <= 100 else 8
    d = 2 * max(1, round(radius / shrink)) + 1

    def background(bright: bool) -> list[str]:
        pool, operation = ("cv2.erode", "cv2.MORPH_OPEN") if bright else ("cv2.dilate", "cv2.MORPH_CLOSE")
        lines = [f"background = cv2.morphologyEx(filled, {operation}, disc)"]
        if shrink > 1:
            lines = [f"small = np.ascontiguousarray({pool}(filled, block, anchor=(0, 0))[::{shrink}, ::{shrink}])",
                     f"background = cv2.morphologyEx(small, {operation}, disc)"]
        return lines


    what = {"bright": "opening", "dark": "closing"}.get(polarity, "opening (bright objects) or closing (dark ones)")
    how = {"bright": "minimum", "dark": "maximum"}.get(polarity, "minimum (maximum for dark objects)")
    s.use("fill_nonfinite")
    lines = ["filled, nonfinite = fill_nonfinite(channel)",
             f"disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ({d}, {d}))"]
    if shrink > 1:
        lines.insert(1, f"block = cv2.getStructuringElement(cv2.MORPH_RECT, ({shrink}, {shrink}))")
    lines += by_polarity(polarity, background(True), background(False))
    if shrink > 1:
        lines += ["# enlarged to the whole grid from the corner, then cut to the image's size",
                  f"grid = (small.shape[1] * {shrink}, small.shape[0] * {shrink})",
                  "background = cv2.resize(background, grid, interpolation=cv2.INTER_LINEAR)",
                  "background = np.ascontiguousarray(background[:channel.shape[0], :channel.shape[1]])"]
    lines += _subtraction_lines(polarity)
    s.section(f"Background subtraction, like Fiji's Subtract Background: the background is the {what} of the "
              f"image by a disc of radius {radius} px (OpenCV)"
              + (f", computed on a copy shrunk {shrink}× by block {how} and enlarged back linearly"
                 if shrink > 1 else "") + f"; afterwards the objects are bright on a background near 0. {FILLED}.",
              lines)
    s.channel_changed()
    return "bright"




def _subtraction_lines(polarity: str | None) -> list[str]:
    a, b = {"bright": ("filled", "background"), "dark": ("background", "filled")}.get(polarity, ("high", "low"))
    lines = ["# Saturating subtraction: where the background lies above a pixel, the result is 0."]
    if polarity is None:
        lines += ['high, low = (filled, background) if polarity == "bright" else (background, filled)']
    return lines + [
        "if channel.dtype == np.float32:", f"    flat = np.maximum({a} - {b}, 0)",
        "else:", f"    flat = cv2.subtract({a}, {b})",
        "if nonfinite is not None:",
        "    # NaN stays NaN; an infinity on the objects' side becomes +inf, one on the other side 0",
        "    kept = " + {"bright": "channel[nonfinite]", "dark": "-channel[nonfinite]"}.get(
            polarity, 'channel[nonfinite] if polarity == "bright" else -channel[nonfinite]'),
        "    flat[nonfinite] = np.where(kept == -np.inf, np.float32(0), kept)",
        "channel = flat"]


def _background_at_run_time(s: Script, radius: str, polarity: str | None) -> str:
    """The background subtraction with its radius in the variable ``radius`` (the library's shrink rule run)."""
    def background(bright: bool) -> list[str]:
        pool, operation = ("cv2.erode", "cv2.MORPH_OPEN") if bright else ("cv2.dilate", "cv2.MORPH_CLOSE")
        return ["if shrink > 1:",
                "    block = cv2.getStructuringElement(cv2.MORPH_RECT, (shrink, shrink))",
                f"    small = np.ascontiguousarray({pool}(filled, block, anchor=(0, 0))[::shrink, ::shrink])",
                f"    background = cv2.morphologyEx(small, {operation}, disc)",
                "    # enlarged to the whole grid from the corner, then cut to the image's size",
                "    grid = (small.shape[1] * shrink, small.shape[0] * shrink)",
                "    background = cv2.resize(background, grid, interpolation=cv2.INTER_LINEAR)",
                "    background = np.ascontiguousarray(background[:channel.shape[0], :channel.shape[1]])",
                "else:",
                f"    background = cv2.morphologyEx(filled, {operation}, disc)"]

    what = {"bright": "opening", "dark": "closing"}.get(polarity, "opening (bright objects) or closing (dark ones)")
    s.use("fill_nonfinite")
    lines = ["filled, nonfinite = fill_nonfinite(channel)",
             f"shrink = (1 if {radius} <= 10 else 2 if {radius} <= 30",
             f"          else 4 if {radius} <= 100 else 8)  # the library's rule",
             f"d = 2 * max(1, round({radius} / shrink)) + 1",
             "disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (d, d))",
             *by_polarity(polarity, background(True), background(False)), *_subtraction_lines(polarity)]
    s.section(f"Background subtraction, like Fiji's Subtract Background: the background is the {what} of the "
              f"image by a disc of radius {radius} px (OpenCV), computed on a copy shrunk 2×, 4× or 8× (radius "
              f"above 10, 30, 100 px) by block minimum (maximum for dark objects) and enlarged back linearly; "
              f"afterwards the objects are bright on a background near 0. {FILLED}.", lines)
    s.channel_changed()
    return "bright"


def multiotsu_input(s: Script, classes: int) -> str:
    """The expression giving multi-Otsu's thresholds of ``values`` (the finite pixels) as a tuple."""
    s.use("histogram_input")
    s.use("multiotsu_thresholds")
    return f"multiotsu_thresholds(values, {classes})"


def method_lines(s: Script, r: ThresholdRecipe, pol: str | None) -> list[str]:
    """The method's lines: ``channel`` (and ``values``, its finite pixels) in, ``raw`` (bool mask) out."""
    m = r.method
    if m == "manual":
        return [f"t = float(np.ldexp({lit(r.value)}, -exponent))  # the value in the channel's units",
                f"raw = {compare('channel', 't', pol)}"]
    if m == "otsu":
        s.use("otsu_threshold")
        return ["t = otsu_threshold(values)", f"raw = {compare('channel', 't', pol)}"]
    if m == "triangle":
        s.use("to_uint8")
        s.use("levels_sharing_a_bin")
        s.need("skimage:filters")
        return ["# OpenCV's triangle takes 8-bit images: others are mapped from min..max to 0..255 and back,",
                "# except a 16-bit image of few values 256 levels would merge: scikit-image, one bin per value.",
                "if levels_sharing_a_bin(values):",
                "    t = float(filters.threshold_triangle(values))",
                "else:",
                "    image8, low, high = to_uint8(values)",
                "    t8 = cv2.threshold(image8, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)[0]",
                "    t = float(t8) if channel.dtype == np.uint8 else low + float(t8) * (high - low) / 255.0",
                f"raw = {compare('channel', 't', pol)}"]
    if m in ("li", "mean"):
        s.need("skimage:filters")
        s.use("in_range")
        return [f"t = in_range(filters.threshold_{m}, values)[0]", f"raw = {compare('channel', 't', pol)}"]
    if m in ("yen", "isodata"):
        s.need("skimage:filters")
        s.use("histogram_input")
        s.use("in_range")
        return [f"t = in_range(filters.threshold_{m}, histogram_input(values, exact_range=65536))[0]",
                f"raw = {compare('channel', 't', pol)}"]
    if m == "minimum":
        s.use("minimum_threshold")
        return ["t = minimum_threshold(values)", f"raw = {compare('channel', 't', pol)}"]
    if m == "multiotsu":
        s.need("skimage:filters")
        top = r.classes - 1
        chosen = (s.names["foreground_classes"] if "foreground_classes" in s.names
                  else str(list(r.foreground_classes)) if r.foreground_classes
                  else f'[{top}] if polarity == "bright" else [0]' if pol is None
                  else str([top if pol == "bright" else 0]))
        return [f"thresholds = np.array({multiotsu_input(s, r.classes)}, np.float64)",
                "# class of a pixel = number of thresholds strictly below its value (0 = darkest)",
                "classes = np.searchsorted(thresholds, channel, side=\"left\")",
                f"raw = np.isin(classes, {chosen})",
                "raw &= ~np.isnan(channel)  # NaN (sorted above every threshold) is in no class"]
    if m in ("adaptive_mean", "adaptive_gaussian"):
        s.use("to_uint8")
        s.use("fill_nonfinite")
        how = "cv2.ADAPTIVE_THRESH_" + ("MEAN_C" if m == "adaptive_mean" else "GAUSSIAN_C")
        call = f"raw = cv2.adaptiveThreshold(image8, 1, local_mean, cv2.THRESH_BINARY{{}}, {r.block_size}, {{}})"
        inf = {"bright": "np.inf", "dark": "-np.inf"}.get(pol, '(np.inf if polarity == "bright" else -np.inf)')
        return ["# OpenCV needs 8-bit input: others are mapped linearly from min..max to 0..255; the offset",
                "# is in those 8-bit levels. The local means see NaN and ±inf as the nearest finite pixel.",
                "filled, nonfinite = fill_nonfinite(channel)",
                "image8, _, _ = to_uint8(filled)",
                f"local_mean = {how}",
                *by_polarity(pol, ["# value > local mean + offset", call.format("", lit(-r.offset))],
                             ["# value <= local mean - offset", call.format("_INV", lit(r.offset))]),
                "raw = raw.astype(bool)",
                "if nonfinite is not None:  # NaN is never foreground, +inf is above every threshold, -inf below",
                f"    raw[nonfinite] = channel[nonfinite] == {inf}"]
    s.need("skimage:filters")
    s.use("fill_nonfinite")
    s.use("in_float_range")
    lines = ["# Local statistics see NaN and ±inf as the nearest finite pixel; the comparison is on the channel.",
             "# Values still huge or tiny are scaled by a power of two for the statistics, and back.",
             "filled, _ = fill_nonfinite(channel)",
             "scaled, local_exponent = in_float_range(filled)"]
    if m == "sauvola":
        lines += ([f"r = float(np.ldexp({lit(r.r)}, -local_exponent)) or None"] if r.r else
                  ["# R = 0 means auto: scikit-image's default for 8-bit images, half the value range otherwise",
                   "r = None if channel.dtype == np.uint8 else 0.5 * float(scaled.max() - scaled.min()) or None"])
        lines.append(f"surface = filters.threshold_sauvola(scaled, window_size={r.window}, k={lit(r.k)}, r=r)")
    else:
        lines.append(f"surface = filters.threshold_niblack(scaled, window_size={r.window}, k={lit(r.k)})")
    return lines + ["if local_exponent:", "    surface = np.ldexp(surface, local_exponent)",
                    f"raw = {compare('channel', 'surface', pol)}"]


def method_step(s: Script, r: ThresholdRecipe, pol: str | None) -> None:
    values = [] if r.method == "manual" else s.finite_values()
    lines = method_lines(s, r, pol)
    info = METHODS[r.method]
    comment = f"Method: {info.label}, computed by {info.library}; after {info.source}."
    if "classes" in s.names:  # the fitted foreground: this method, or multi-Otsu classes chosen at run time
        name = s.names["classes"]
        s.names["foreground_classes"] = name
        split = method_lines(s, r.replace(method="multiotsu", classes=3, foreground_classes=(1,)), pol)
        del s.names["foreground_classes"]
        lines = [f"if {name} is None:", *indent(lines), "else:  # the classes of a 3-class multi-Otsu split",
                 *indent(split)]
        comment += f" Or, when {name} is given, those classes of a 3-class multi-Otsu split (scikit-image)."
    if r.method != "manual":
        comment += (" Thresholds come from the finite pixels: a float image's NaN is never foreground, +inf is "
                    "above every threshold and -inf below. A constant image has nothing to separate: empty mask.")
        lines = [*values, "if values.min() == values.max():", "    raw = np.zeros(channel.shape, bool)",
                 "else:", *indent(lines)]
    s.section(comment, lines)


def cleanup_step(s: Script, r: ThresholdRecipe) -> None:
    done = [name for name, on in (("opening", r.opening > 1), ("closing", r.closing > 1),
                                  ("fill holes", r.fill_holes),
                                  ("remove small objects", r.min_size > 1 or "min_size" in s.names),
                                  ("clear border", r.clear_border)) if on]
    s.section("Clean-up" + (f", in this order: {', '.join(done)}." if done else ": none."), ["mask = raw"])
    if r.opening > 1:
        s.section(f"Opening with a {r.opening} px disc, {r.iterations}× (removes specks and thin bridges).", f"""
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ({r.opening}, {r.opening}))
            opened = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disc, iterations={r.iterations})
            mask = opened.astype(bool)""")
    if r.closing > 1:
        pad = r.closing * r.iterations
        s.section(f"Closing with a {r.closing} px disc, {r.iterations}×, on a copy padded with background so "
                  "that objects are not glued to the image border.", f"""
            disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ({r.closing}, {r.closing}))
            padded = cv2.copyMakeBorder(mask.astype(np.uint8), {pad}, {pad}, {pad}, {pad}, cv2.BORDER_CONSTANT, value=0)
            closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc, iterations={r.iterations})
            mask = closed[{pad}:-{pad}, {pad}:-{pad}].astype(bool)""")
    if r.fill_holes:
        s.need("ndi")
        s.section("Fill holes (background regions not connected to the border).",
                  "mask = ndi.binary_fill_holes(mask)")
    if "min_size" in s.names:
        least = s.names["min_size"]
        s.section(f"Remove objects of fewer than {least} pixels (8-connected, OpenCV).", f"""
            if {least} > 1:
                _, objects, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8,
                                                                        ltype=cv2.CV_32S)
                keep = stats[:, cv2.CC_STAT_AREA] >= {least}
                keep[0] = False  # label 0 is the background
                mask = keep[objects]""")
    elif r.min_size > 1:
        s.section(f"Remove objects of fewer than {r.min_size} pixels (8-connected, OpenCV).", f"""
            _, objects, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8,
                                                                    ltype=cv2.CV_32S)
            keep = stats[:, cv2.CC_STAT_AREA] >= {r.min_size}
            keep[0] = False  # label 0 is the background
            mask = keep[objects]""")
    if r.clear_border:
        s.need("skimage.segmentation:clear_border")
        s.section("Remove objects touching the image border (scikit-image).", "mask = clear_border(mask)")
    if r.closing > 1 or r.fill_holes:
        s.section("NaN is never foreground: closing and hole filling may have covered a NaN \"no data\" hole.",
                  ["if channel.dtype == np.float32:", "    mask &= ~np.isnan(channel)"])


def threshold_steps(s: Script, r: ThresholdRecipe) -> str | None:
    """Every threshold step: ``image`` in, ``mask`` (and ``channel``) out; returns the final polarity."""
    channel_step(s, r)
    scale_step(s)
    smoothing_step(s, r)
    pol = background_step(s, r, polarity_step(s, r))
    method_step(s, r, pol)
    cleanup_step(s, r)
    return pol
