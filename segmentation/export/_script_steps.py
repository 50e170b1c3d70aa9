"""Templates for the standalone scripts: one small function per threshold step.

The watershed steps are in ``_script_watershed``; ``_script`` composes both into :func:`segmentation.to_python`.

Each step appends the lines of ``segment()`` it needs to a :class:`Script` (only for the options the
recipe uses, parameters written as literals) and records the imports and helper functions those lines
call. The generated code mirrors the library's own calls exactly, so its result is identical bit for
bit; keep the two in step when the library changes (``tests/test_codegen.py`` compares them).
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

    def need(self, *names: str) -> None:
        """Imports by short name: ``ndi``, ``skimage:filters``, ``skimage.segmentation:watershed`` ..."""
        self.imports.update(names)

    def use(self, helper: str) -> None:
        """A module-level helper function of the script (see :data:`HELPERS`), with its own needs."""
        if helper not in self.helpers:
            self.helpers.append(helper)
        self.need(*HELPERS[helper][1])

    def section(self, comment: str, code: list[str] | str) -> None:
        """A blank line, a comment (wrapped) and the step's code."""
        if isinstance(code, str):
            code = textwrap.dedent(code).strip("\n").splitlines()
        self.lines.append("")
        self.lines.extend(textwrap.wrap(comment, 100, initial_indent="# ", subsequent_indent="# "))
        self.lines.extend(code)


def render_imports(names: set[str]) -> list[str]:
    lines = ["import argparse", "import sys", "from pathlib import Path", "", "import cv2", "import numpy as np"]
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
        finite = np.isfinite(array)
        if not finite.all():  # NaN and infinities become the smallest finite value
            if not finite.any():
                raise ValueError("the image holds no finite values (all NaN or infinite)")
            array = np.where(finite, array, array[finite].min())
        return array
    raise ValueError(f"unsupported pixel type {array.dtype}; use 8-bit, 16-bit or float images")
''', ()),
    "otsu_threshold": ('''
def otsu_threshold(image):
    """Otsu's threshold: OpenCV for 8- and 16-bit images, scikit-image for float ones."""
    if image.dtype == np.float32:
        return float(filters.threshold_otsu(image))
    return float(cv2.threshold(image, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)[0])
''', ("skimage:filters",)),
    "to_uint8": ('''
def to_uint8(image):
    """(image8, low, high): the image mapped linearly from min..max to 0..255 (8-bit images as they are)."""
    if image.dtype == np.uint8:
        return image, 0.0, 255.0
    low, high, _, _ = cv2.minMaxLoc(image.reshape(image.shape[0], -1))
    if high <= low:
        return np.zeros(image.shape, np.uint8), float(low), float(low)
    scale = 255.0 / (high - low)
    return cv2.convertScaleAbs(image, alpha=scale, beta=-low * scale), float(low), float(high)
''', ()),
    "label8": ('''
def label8(mask):
    """8-connected components of a bool mask as int32 labels (OpenCV)."""
    return cv2.connectedComponents(mask.astype(np.uint8), connectivity=8, ltype=cv2.CV_32S)[1]
''', ()),
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
    for offset, (row, col) in enumerate(ndi.maximum_position(distance, objects, missing)):
        seeds[row, col] = next_label + offset
    return seeds
''', ("ndi",)),
}


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
                else:
                    channel = np.ascontiguousarray(plane, dtype=np.float32)""")


def smoothing_step(s: Script, r: ThresholdRecipe) -> None:
    if r.smoothing == "gaussian":
        s.section(f"Smoothing: Gaussian blur, sigma {r.sigma:g} px (OpenCV).",
                  f"channel = cv2.GaussianBlur(channel, (0, 0), sigmaX={lit(r.sigma)}, sigmaY={lit(r.sigma)})")
    elif r.smoothing == "median" and r.median_size <= 5:
        s.section(f"Smoothing: {r.median_size}×{r.median_size} median (OpenCV).",
                  f"channel = cv2.medianBlur(channel, {r.median_size})")
    elif r.smoothing == "median":
        n = r.median_size
        s.need("ndi")
        s.section(f"Smoothing: {n}×{n} median. OpenCV's median takes 16-bit and float images only up to 5×5, "
                  "so those use SciPy's.", f"""
            if channel.dtype == np.uint8:
                channel = cv2.medianBlur(channel, {n})
            else:
                channel = ndi.median_filter(channel, size={n}, mode="reflect")""")


def polarity_step(s: Script, r: ThresholdRecipe) -> str | None:
    """Returns the polarity, or None when the script decides it at run time (variable ``polarity``)."""
    if r.polarity != "auto":
        s.section(f"Objects are {r.polarity}: foreground is value {'>' if r.polarity == 'bright' else '<='} "
                  "threshold.", [])
        return r.polarity
    s.use("otsu_threshold")
    s.section("Polarity auto: objects lie on the side of Otsu's threshold holding fewer pixels (a tie or a "
              "constant image counts as bright).", [
                  "if channel.min() == channel.max():",
                  '    polarity = "bright"',
                  "else:",
                  "    above = np.count_nonzero(channel > otsu_threshold(channel))",
                  '    polarity = "bright" if above <= channel.size - above else "dark"'])
    return None


def background_step(s: Script, r: ThresholdRecipe, polarity: str | None) -> str | None:
    radius = r.background_radius
    if radius <= 0:
        return polarity
    # The library's rule (segmentation.subtract_background): shrink by 2, 4 or 8 for large radii.
    shrink = 1 if radius <= 10 else 2 if radius <= 30 else 4 if radius <= 100 else 8
    d = 2 * max(1, round(radius / shrink)) + 1

    def background(bright: bool) -> list[str]:
        pool, operation = ("cv2.erode", "cv2.MORPH_OPEN") if bright else ("cv2.dilate", "cv2.MORPH_CLOSE")
        lines = [f"background = cv2.morphologyEx(channel, {operation}, disc)"]
        if shrink > 1:
            lines = [f"small = np.ascontiguousarray({pool}(channel, block, anchor=(0, 0))[::{shrink}, ::{shrink}])",
                     f"background = cv2.morphologyEx(small, {operation}, disc)"]
        return lines


    what = {"bright": "opening", "dark": "closing"}.get(polarity, "opening (bright objects) or closing (dark ones)")
    how = {"bright": "minimum", "dark": "maximum"}.get(polarity, "minimum (maximum for dark objects)")
    lines = [f"disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, ({d}, {d}))"]
    if shrink > 1:
        lines.insert(0, f"block = cv2.getStructuringElement(cv2.MORPH_RECT, ({shrink}, {shrink}))")
    lines += by_polarity(polarity, background(True), background(False))
    if shrink > 1:
        lines.append("background = cv2.resize(background, (channel.shape[1], channel.shape[0]), "
                     "interpolation=cv2.INTER_LINEAR)")
    a, b = {"bright": ("channel", "background"), "dark": ("background", "channel")}.get(polarity, ("high", "low"))
    lines += ["# Saturating subtraction: where the background lies above a pixel, the result is 0."]
    if polarity is None:
        lines += ['high, low = (channel, background) if polarity == "bright" else (background, channel)']
    lines += ["if channel.dtype == np.float32:", f"    channel = np.maximum({a} - {b}, 0)",
              "else:", f"    channel = cv2.subtract({a}, {b})"]
    s.section(f"Background subtraction, like Fiji's Subtract Background: the background is the {what} of the "
              f"image by a disc of radius {radius} px (OpenCV)"
              + (f", computed on a copy shrunk {shrink}× by block {how} and enlarged back linearly"
                 if shrink > 1 else "") + "; afterwards the objects are bright on a background near 0.", lines)
    return "bright"


# scikit-image gives integer images one histogram bin per value; as float32 a 16-bit image gets 256 bins.
HISTOGRAM_INPUT = ["# 16-bit images as float32, so scikit-image uses 256 histogram bins over min..max",
                   "values = channel.astype(np.float32) if channel.dtype == np.uint16 else channel"]


def method_lines(s: Script, r: ThresholdRecipe, pol: str | None) -> list[str]:
    """The method's lines: ``channel`` in, ``raw`` (bool mask) out."""
    m = r.method
    if m == "manual":
        return [f"raw = {compare('channel', lit(r.value), pol)}"]
    if m == "otsu":
        s.use("otsu_threshold")
        return ["t = otsu_threshold(channel)", f"raw = {compare('channel', 't', pol)}"]
    if m == "triangle":
        s.use("to_uint8")
        return ["# OpenCV's triangle takes 8-bit images: others are mapped from min..max to 0..255 and back.",
                "image8, low, high = to_uint8(channel)",
                "t8 = cv2.threshold(image8, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_TRIANGLE)[0]",
                "t = float(t8) if channel.dtype == np.uint8 else low + float(t8) * (high - low) / 255.0",
                f"raw = {compare('channel', 't', pol)}"]
    if m in ("li", "mean"):
        s.need("skimage:filters")
        return [f"t = float(filters.threshold_{m}(channel))", f"raw = {compare('channel', 't', pol)}"]
    if m in ("yen", "isodata"):
        s.need("skimage:filters")
        return [*HISTOGRAM_INPUT, f"t = float(filters.threshold_{m}(values))", f"raw = {compare('channel', 't', pol)}"]
    if m == "minimum":
        s.need("skimage:filters")
        return [*HISTOGRAM_INPUT, "try:", "    t = float(filters.threshold_minimum(values))", "except RuntimeError:",
                '    raise ValueError("the Minimum method found no valley between two histogram peaks") from None',
                f"raw = {compare('channel', 't', pol)}"]
    if m == "multiotsu":
        s.need("skimage:filters")
        top = r.classes - 1
        chosen = (str(list(r.foreground_classes)) if r.foreground_classes
                  else f'[{top}] if polarity == "bright" else [0]' if pol is None
                  else str([top if pol == "bright" else 0]))
        return [*HISTOGRAM_INPUT,
                f"thresholds = filters.threshold_multiotsu(values, classes={r.classes}).astype(np.float64)",
                "# class of a pixel = number of thresholds strictly below its value (0 = darkest)",
                "classes = np.searchsorted(thresholds, channel, side=\"left\")",
                f"raw = np.isin(classes, {chosen})"]
    if m in ("adaptive_mean", "adaptive_gaussian"):
        s.use("to_uint8")
        how = "cv2.ADAPTIVE_THRESH_" + ("MEAN_C" if m == "adaptive_mean" else "GAUSSIAN_C")
        call = f"raw = cv2.adaptiveThreshold(image8, 1, local_mean, cv2.THRESH_BINARY{{}}, {r.block_size}, {{}})"
        return ["# OpenCV needs 8-bit input: others are mapped linearly from min..max to 0..255; the offset",
                "# is in those 8-bit levels.",
                "image8, _, _ = to_uint8(channel)",
                f"local_mean = {how}",
                *by_polarity(pol, ["# value > local mean + offset", call.format("", lit(-r.offset))],
                             ["# value <= local mean - offset", call.format("_INV", lit(r.offset))]),
                "raw = raw.astype(bool)"]
    s.need("skimage:filters")
    if m == "sauvola":
        lines = ([f"r = {lit(r.r)}"] if r.r else
                 ["# R = 0 means auto: scikit-image's default for 8-bit images, half the value range otherwise",
                  "r = None if channel.dtype == np.uint8 else 0.5 * float(channel.max() - channel.min()) or None"])
        lines.append(f"surface = filters.threshold_sauvola(channel, window_size={r.window}, k={lit(r.k)}, r=r)")
    else:
        lines = [f"surface = filters.threshold_niblack(channel, window_size={r.window}, k={lit(r.k)})"]
    return lines + [f"raw = {compare('channel', 'surface', pol)}"]


def method_step(s: Script, r: ThresholdRecipe, pol: str | None) -> None:
    lines = method_lines(s, r, pol)
    info = METHODS[r.method]
    comment = f"Method: {info.label}, computed by {info.library}; after {info.source}."
    if r.method != "manual":
        comment += " A constant image has nothing to separate: empty mask."
        lines = ["if channel.min() == channel.max():", "    raw = np.zeros(channel.shape, bool)",
                 "else:", *indent(lines)]
    s.section(comment, lines)


def cleanup_step(s: Script, r: ThresholdRecipe) -> None:
    done = [name for name, on in (("opening", r.opening > 1), ("closing", r.closing > 1),
                                  ("fill holes", r.fill_holes), ("remove small objects", r.min_size > 1),
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
    if r.min_size > 1:
        s.section(f"Remove objects of fewer than {r.min_size} pixels (8-connected, OpenCV).", f"""
            _, objects, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8,
                                                                    ltype=cv2.CV_32S)
            keep = stats[:, cv2.CC_STAT_AREA] >= {r.min_size}
            keep[0] = False  # label 0 is the background
            mask = keep[objects]""")
    if r.clear_border:
        s.need("skimage.segmentation:clear_border")
        s.section("Remove objects touching the image border (scikit-image).", "mask = clear_border(mask)")


def threshold_steps(s: Script, r: ThresholdRecipe) -> str | None:
    """Every threshold step: ``image`` in, ``mask`` (and ``channel``) out; returns the final polarity."""
    channel_step(s, r)
    smoothing_step(s, r)
    pol = background_step(s, r, polarity_step(s, r))
    method_step(s, r, pol)
    cleanup_step(s, r)
    return pol
