"""``to_python(recipe)``: a standalone, readable Python script that reproduces a recipe's result.

The script uses only OpenCV, scikit-image (with SciPy) and NumPy, never this package. Its
``segment(image)`` is straight-line code for that one recipe — only the steps the recipe uses, each
library call with its parameters written as literals — and returns exactly (bit for bit) the mask of
:func:`segmentation.threshold` or the labels of :func:`segmentation.watershed` for the same pixel
array, with the library versions the script was generated with. Float images whose values lie beyond
±2**20 or below 2**-20 are scaled by an exact power of two first, in the script as in the library (see
:func:`segmentation.float_exponent`; the script's helpers ``in_float_range`` and ``in_range``). Float
images may hold NaN and ±inf
pixels: the script follows the library's rules (thresholds and statistics from the finite pixels, filters
seeing a non-finite pixel as its nearest finite one, NaN never foreground) with two small helpers,
``finite_pixels`` and ``fill_nonfinite``, written once. Its ``main()`` reads an image file
(a simpler loader than :func:`segmentation.load_image`: no EXIF orientation, palette or CMYK handling),
writes ``<stem>_mask.png`` (0/255) or ``<stem>_labels.png`` (16-bit) and prints the object count.

Recipes seeded by a marker image (``seeds="marker_image"``) are refused with a ``ValueError``: the
markers are an array given to the API, not a parameter a script can hold.

The steps are composed from small templates in ``_script_steps``.

Examples
--------
>>> from segmentation.recipes import ThresholdRecipe
>>> script = to_python(ThresholdRecipe(method="li", smoothing="gaussian", sigma=2.0))
>>> "in_range(filters.threshold_li, values)" in script and "import segmentation" not in script
True
"""

from __future__ import annotations

import pprint

import cv2
import numpy as np
import scipy
import skimage

from .._errors import ParameterError
from ..measurement._table import _recipe_comment
from ..recipes import CHANNELS, NUCLEAR_STAINS, UNIT_SPELLINGS, UNITS, ThresholdRecipe, WatershedRecipe
from . import _script_steps as steps
from ._script_fit import fit_steps
from ._script_watershed import watershed_steps

__all__ = ["to_python"]


def to_python(recipe: ThresholdRecipe | WatershedRecipe) -> str:
    """The source of a standalone script that segments an image with ``recipe``.

    Parameters
    ----------
    recipe : ThresholdRecipe or WatershedRecipe

    Returns
    -------
    str
        Python source: a header (what it does, the recipe's JSON), imports, ``segment(image)``
        (bool mask or int32 labels), the file loader and ``main()``.

    Raises
    ------
    ParameterError
        When ``recipe`` is not a recipe, or is a watershed seeded by a marker image (an array cannot be
        written into a script).
    """
    if isinstance(recipe, WatershedRecipe):
        if recipe.seeds == "marker_image":
            raise ParameterError("seeds: a watershed seeded by a marker image cannot be exported as a script: "
                                 "the markers are an array, not a parameter; choose h_maxima, distance_peaks, "
                                 "intensity_bands or points seeds, or call segmentation.watershed(image, "
                                 "markers=...) instead")
        foreground, watershed = recipe.sized().foreground, True  # sizes from a typical diameter, if set
    elif isinstance(recipe, ThresholdRecipe):
        foreground, watershed = recipe, False
    else:
        raise ParameterError(f"recipe must be a ThresholdRecipe or a WatershedRecipe; got {type(recipe).__name__}")

    script = steps.Script()
    script.use("as_image")
    functions: list[str] = []
    if watershed and recipe.diameter is None:  # fitted to each image at run time, as the library does
        functions, polarity = fit_steps(script, recipe)
        watershed_steps(script, recipe, polarity)
    else:
        polarity = steps.threshold_steps(script, foreground)
        if watershed:
            steps.back_to_image_units(script)  # the watershed sees the channel as the library's result holds it
            watershed_steps(script, recipe.sized(), polarity)

    parts = [_header(recipe, watershed), "\n".join(steps.render_imports(script.imports)),
             _settings(foreground, _recipe_comment(recipe.to_json()).rstrip("\n"))]
    parts += [source for name, (source, _) in steps.HELPERS.items() if name in script.helpers]  # in HELPERS' order
    parts += functions
    parts.append(_segment(script.lines, watershed))
    parts += [_LOAD_SAVE, _STACK, _MAIN_LABELS if watershed else _MAIN_MASK, 'if __name__ == "__main__":\n    main()']
    return "\n\n\n".join(part.strip("\n") for part in parts if part.strip()) + "\n"


def _header(recipe: ThresholdRecipe | WatershedRecipe, watershed: bool) -> str:
    what = ("Split touching objects with a marker-based watershed" if watershed
            else "Segment an image by thresholding")
    out = ("<stem>_labels.png (16-bit, 0 = background, objects 1..N; beyond 65,535 objects\n"
           "<stem>_labels.tif, 32-bit)") if watershed else "<stem>_mask.png (0/255)"
    versions = (f"OpenCV {cv2.__version__}, scikit-image {skimage.__version__}, SciPy {scipy.__version__}, "
                f"NumPy {np.__version__}")
    recipe_json = "\n".join("#   " + line for line in recipe.to_json().rstrip("\n").splitlines())
    fitted = ("\nThe typical object diameter is \"auto\": fit() fits it to each image as Segmentation Studio\n"
              "does (the foreground with the most convex objects, and the sizes its typical diameter sets),\n"
              "so another image gets its own sizes, as in the app and the command line.\n"
              if watershed and recipe.diameter is None else "")
    return f'''#!/usr/bin/env python3
"""{what}: a script generated by Segmentation Studio.

Usage:
    python this_script.py IMAGE [OUTPUT_FOLDER]

Writes {out}
into OUTPUT_FOLDER (default: the image's folder) and prints the number of objects.
Needs only OpenCV, scikit-image (with SciPy) and NumPy:
    pip install opencv-python-headless scikit-image

segment(image) gives exactly (bit for bit) Segmentation Studio's result for the same pixel array
(H×W gray or H×W×3 RGB; uint8, uint16 or float32) with the library versions it was generated with:
{versions} (other versions may differ in a few pixels).{fitted}
In float images NaN and ±inf pixels are "no data": thresholds come from the finite pixels, filters
see each as its nearest finite pixel, and NaN is never foreground (+inf is above every threshold,
-inf below).

The file loader here is simpler than the app's: it does not apply EXIF orientation, and reads gray +
alpha PNGs as RGB. A TIFF stack (OME-TIFF, ImageJ hyperstack, multi-page or multi-channel TIFF) gives
the plane the settings below choose, as in the app: a channel by index or name (a colour word: the
nuclear stain, else channel 0), a z-plane or a projection (max / mean / sum), a time point.
Next to the result it writes <stem>_areas.csv, each object's area in unit² with the pixel size (the
recipe's, else the file's OME / ImageJ / TIFF-centimetre one), else in pixels, equal to the app's
area column; its first line, a comment, names the recipe's version and SHA-256 (as the app's CSV).
These give the same pixels as in the app: 8/16-bit PNGs (gray, RGB, RGBA with the alpha composited
on white), and 8/16-bit and float32 gray or RGB TIFFs, also with extra channels, which follow the
TIFF 6.0 rules (read with tifffile, installed with scikit-image): a channel the file marks as alpha
is composited on white (associated alpha as colour + (1 - alpha) × white), any other extra channel
of an RGB pixel (e.g. near-infrared) is left out; the samples of a gray pixel without alpha (a
2-channel image stored as one 2-sample page) are channels, chosen by CHANNEL; float data keeps its
values (the alpha is dropped, an associated one divided out first).
"""

# The recipe, as Segmentation Studio exports it:
{recipe_json}'''


def _settings(recipe: ThresholdRecipe, comment: str) -> str:
    """The recipe's file settings as constants: what to read of a microscopy file, and the pixel size.

    And ``comment``, the first line of the areas CSV: the recipe's version, kind and SHA-256, as the app's and
    the command line's measurements CSVs begin.
    """
    head, _, digest = comment.partition("recipe_sha256 ")
    head, tail = head, "recipe_sha256 " + digest  # two string pieces: a generated line stays short
    return f"""# What is read of a multi-channel / z-stack / time-series TIFF, and the pixel size (the recipe's):
CHANNEL = {recipe.channel!r}  # an index or a name picks a file channel; a colour word: the nuclear stain, or 0
PLANE = {recipe.plane!r}  # the z-plane (or page), from 0, when PROJECTION is "none" (or "auto" on pages)
TIMEPOINT = {recipe.timepoint!r}
PROJECTION = {recipe.projection!r}  # "auto" (max of a z-stack), "none", or "max", "mean", "sum" over the z-planes
PAGES = {recipe.pages!r}  # what the pages of a TIFF without metadata are: "planes", "channels", "timepoints"
SERIES = {recipe.series!r}  # the image series of a multi-series file, from 0
PIXEL_SIZE = {recipe.pixel_size!r}  # None: from the file (OME, ImageJ, TIFF cm resolution); 0: pixels
UNIT = {recipe.unit!r}
# the first line of <stem>_areas.csv, as in the app's measurements CSV
RECIPE_COMMENT = ({head!r}
                  {tail!r})
COLOUR_WORDS = {CHANNELS!r}
UNITS = {UNITS!r}
UNIT_SPELLINGS = {pprint.pformat(UNIT_SPELLINGS, width=100)}
NUCLEAR_STAINS = {pprint.pformat(NUCLEAR_STAINS, width=100)}"""


def _segment(lines: list[str], watershed: bool) -> str:
    returns = ("the labels (int32 H×W, 0 = background, objects numbered 1..N)" if watershed
               else "the foreground mask (bool H×W)")
    body = [f'"""Return {returns} of ``image``.', "",
            "``image``: H×W gray or H×W×3 RGB array, uint8, uint16 or float32.", '"""',
            "image = as_image(image)", *lines, "", f"return {'labels' if watershed else 'mask'}"]
    return "def segment(image):\n" + "\n".join(steps.indent(body)) + "\n"


_LOAD_SAVE = '''
def load_image(path):
    """Read an image file as H×W gray or H×W×3 RGB (uint8, uint16 or float32), as the app does."""
    data = np.fromfile(path, np.uint8)
    tiff = bytes(data[:4]) in (b"II*\\0", b"MM\\0*", b"II+\\0", b"MM\\0+")
    image = read_tiff_stack(path) if tiff else None  # a TIFF stack: the plane the settings above choose
    if image is not None:
        return kept_integers(image)
    if SERIES:
        raise ValueError(f"series {SERIES} does not exist: this file has one image series (0)")
    image = read_one_plane(path, data, tiff)
    if tiff and isinstance(CHANNEL, str) and CHANNEL not in COLOUR_WORDS:  # the name of its only channel?
        import tifffile  # installed with scikit-image

        with tifffile.TiffFile(path) as tif:
            if channel_names(tif, 1)[0].casefold() == CHANNEL.casefold():
                return image
    refuse_channel("one RGB plane" if image.ndim == 3 else "one gray plane", colour=image.ndim == 3)
    return image


def read_one_plane(path, data, tiff):
    """An image file that is not a stack, as H×W gray or H×W×3 RGB (uint8, uint16 or float32)."""
    image = read_tiff_with_extra_channels(path, data) if tiff else None  # a TIFF with extra channels
    if image is not None:
        return image
    image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
    if image is None:
        sys.exit(f"error: {path} is not an image OpenCV can read")
    image = kept_integers(image)
    if image.ndim == 3 and image.shape[2] == 4:  # RGBA (in a PNG the alpha is never premultiplied)
        return on_white(cv2.cvtColor(image, cv2.COLOR_BGRA2RGB), image[:, :, 3:], premultiplied=False)
    if image.ndim == 3 and image.shape[2] == 3:
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    return image


def kept_integers(image):
    """Integer pixels other than uint8 / uint16 (int16, int32 ...) as the app keeps them (as_image's rule):
    uint8 when every value is in 0..255, uint16 in 0..65535, else float32."""
    if image.dtype.kind not in "iu" or image.dtype in (np.uint8, np.uint16):
        return image
    low, high = int(image.min()), int(image.max())
    if low >= 0 and high <= 255:
        return image.astype(np.uint8)
    return image.astype(np.uint16 if low >= 0 and high <= 65535 else np.float32)


def read_tiff_with_extra_channels(path, data):
    """A gray or RGB TIFF with extra channels, by the TIFF 6.0 rules (see the top); None if it has none."""
    import tifffile  # installed with scikit-image

    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        n_colour = 3 if page.photometric == 2 else 1  # RGB, else gray (0: white-is-zero, 1: black-is-zero)
        if page.photometric > 2 or page.samplesperpixel <= n_colour:
            return None  # no extra channels (or palette, CMYK, ...): OpenCV reads it
        kinds = list(page.extrasamples)  # 1: associated alpha, 2: unassociated; any other is left out
        alpha = next((i for i, kind in enumerate(kinds) if kind in (1, 2)), None)  # the first alpha
        premultiplied, white_is_zero = alpha is not None and kinds[alpha] == 1, page.photometric == 0
        try:
            samples = np.moveaxis(page.asarray(), page.axes.index("S"), -1)
        except Exception as error:  # a compression tifffile needs imagecodecs for (LZW): OpenCV reads it
            samples = cv2.imdecode(data, cv2.IMREAD_UNCHANGED)
            got = 0 if samples is None else 1 if samples.ndim == 2 else samples.shape[2]
            if page.dtype == np.uint8:  # libtiff's RGBA reading: colour + 4th channel, alpha premultiplied
                ok = got == n_colour and alpha is None or got == 4 == n_colour + 1 and alpha in (None, 0)
                premultiplied = True
            else:  # deeper channels come as stored
                ok = got == page.samplesperpixel and samples.dtype == page.dtype
            if not ok:
                sys.exit(f"error: cannot read the extra channels of {path} ({error}); "
                         "pip install imagecodecs, or save the TIFF uncompressed")
            samples, white_is_zero = samples.reshape(*samples.shape[:2], got), False  # (libtiff inverts it)
            samples = samples[..., [2, 1, 0, 3][:got]] if got > 2 else samples  # OpenCV's BGR(A) order
    colour = samples[..., :n_colour]
    if white_is_zero and colour.dtype.kind == "u":  # bright made high
        colour = np.iinfo(colour.dtype).max - colour
    colour = kept_integers(colour)
    if colour.dtype not in (np.uint8, np.uint16, np.float32):  # float64: as float32
        colour = colour.astype(np.float32)
    if alpha is not None:
        colour = on_white(colour, samples[..., n_colour + alpha, None], premultiplied)
    return np.ascontiguousarray(colour[..., 0] if n_colour == 1 else colour)


def on_white(colour, alpha, premultiplied):
    """H×W×C colour and its H×W×1 alpha as shown on a white page (float: the alpha dropped, see the top)."""
    if colour.dtype == np.float32:
        if not premultiplied:
            return colour
        top = np.float32(np.iinfo(alpha.dtype).max) if alpha.dtype.kind in "iu" else 1
        weight = (alpha / top).astype(np.float32)
        return np.divide(colour, weight, out=colour.copy(), where=weight > 0)  # un-premultiplied
    top = np.iinfo(colour.dtype).max
    if alpha.min() == top:
        return colour  # opaque
    if premultiplied:  # colour + (1 - alpha) × white
        return np.minimum(colour.astype(np.int32) + (top - alpha), top).astype(colour.dtype)
    weight = alpha.astype(np.float32) / top  # (colour - white) × alpha + white
    return np.rint((colour.astype(np.float32) - top) * weight + top).astype(colour.dtype)


def write_png(path, array):
    # The app's and the command line's PNG level (3): the same bytes, not only the same pixels
    ok, png = cv2.imencode(".png", array, [cv2.IMWRITE_PNG_COMPRESSION, 3])
    if not ok:
        sys.exit(f"error: could not encode {path}")
    png.tofile(str(path))


def parse_args(argv, written):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", help="the image file to segment")
    parser.add_argument("output", nargs="?",
                        help=f"folder to write {written} into (default: the image's folder)")
    args = parser.parse_args(argv)
    folder = Path(args.output) if args.output else Path(args.image).resolve().parent
    folder.mkdir(parents=True, exist_ok=True)
    stem = Path(args.image).stem
    if stem.lower().endswith(".ome") and len(stem) > 4:  # cells.ome.tif -> cells, as the batch names it
        stem = stem[:-4]
    return args.image, folder / written.replace("<stem>", stem)
'''

_STACK = '''
def read_tiff_stack(path):
    \"\"\"One plane of a TIFF stack (channels, z-planes, time points), as the app reads it, or None.\"\"\"
    import tifffile  # installed with scikit-image

    with tifffile.TiffFile(path) as tif:
        if not 0 <= SERIES < len(tif.series):
            raise ValueError(f"series {SERIES} does not exist: this file has {len(tif.series)} image series")
        series = tif.series[SERIES]
        axes, shape, key = series.axes, series.shape, series.keyframe
        # Gray pixels with several samples and no alpha: the samples are channels (S read as C).
        samples = key.photometric in (0, 1) and key.samplesperpixel > 1 and "S" in axes and "C" not in axes \\
            and not any(kind in (1, 2) for kind in key.extrasamples)
        axes = axes.replace("S", "C") if samples else axes
        # ImageJ over 4 GB: one page, the other planes stored after it (uncompressed): read in place
        stored = tifffile.memmap(path, series=SERIES, mode="r") if series.is_truncated else None
        held = sum(page is not None for page in series.pages) if stored is None else stored.size // key.size
        if held < int(np.prod(shape)) // int(np.prod(key.shape)):
            raise ValueError(f"the file's metadata declares {int(np.prod(shape)) // int(np.prod(key.shape))} "
                             f"planes ({axes} {shape}) but it holds {held} pages")
        planes = any(n > 1 for a, n in zip(axes, shape) if a not in "YXS")
        if SERIES == 0 and len(series.levels) == 1 and not planes:
            return None
        pages = next((a for a, n in zip(axes, shape) if a in "IQ" and n > 1), None)  # pages without metadata
        has = f"{shape[axes.index(pages)]} pages read as {PAGES}" if pages else "no C axis"
        if pages and PAGES != "planes" and PAGES[0].upper() not in axes:
            axes = axes.replace(pages, PAGES[0].upper(), 1)
        size = dict(zip(axes, shape))
        plane_axis = "Z" if "Z" in axes else next((a for a in axes if a in "IQ"), None)
        index = {"T": TIMEPOINT if size.get("T", 1) > 1 else 0, plane_axis: PLANE}
        if "C" not in axes:
            refuse_channel(has, colour=size.get("S", 1) >= 3)
        if size.get("C", 1) > 1:
            names = channel_names(tif, size["C"])
            named = [i for i, name in enumerate(names)
                     if isinstance(CHANNEL, str) and name.casefold() == CHANNEL.casefold()]
            if isinstance(CHANNEL, int):
                index["C"] = CHANNEL
            elif named or CHANNEL not in COLOUR_WORDS:
                if not named:
                    raise ValueError(f"this file has no channel named {CHANNEL!r}; its channels are {names}")
                index["C"] = named[0]
            else:  # the nuclear stain by name, else the first channel
                found = [(NUCLEAR_STAINS.index(s), i) for i, name in enumerate(names) for s in NUCLEAR_STAINS
                         if re.search(rf"(?<![a-z]){re.escape(s)}", name.lower())]
                index["C"] = min(found)[1] if found else 0
        for axis, value in index.items():
            if axis is not None and size.get(axis, 1) > 1 and not 0 <= value < size[axis]:
                raise ValueError(f"{axis} index {value} is beyond the file's {size[axis]}")
        leading = axes[:-len(key.axes)]
        projection = ("max" if plane_axis == "Z" else "none") if PROJECTION == "auto" else PROJECTION
        project = projection != "none" and plane_axis is not None and size.get(plane_axis, 1) > 1
        one = PLANE if plane_axis and plane_axis in leading else 0
        planes = range(size[plane_axis]) if project else [one]
        total = None
        try:
            for k, z in enumerate(planes):
                at = tuple(z if a == plane_axis else index.get(a, 0) if size[a] > 1 else 0
                           for a in leading)
                if stored is not None:  # the planes after the one page of a truncated ImageJ file
                    plane = np.array(stored[at])
                elif leading:
                    plane = series.pages[int(np.ravel_multi_index(at, shape[:len(leading)]))].asarray()
                else:
                    plane = series.pages[0].asarray()
                if "S" in key.axes:  # samples last (a planar page is S×Y×X); samples that are channels: one
                    plane = np.moveaxis(plane, key.axes.index("S"), -1)
                    plane = np.ascontiguousarray(plane[..., index["C"]]) if samples else plane
                if not project:
                    total = plane
                elif projection == "max":  # NaN-ignoring maximum, in the file's dtype
                    total = plane.copy() if total is None else np.fmax(total, plane, out=total)
                else:  # sum / mean of the non-NaN values in float64, in plane order, then float32
                    values = plane.astype(np.float64)
                    missing = np.isnan(values) if plane.dtype.kind == "f" else np.zeros(values.shape, bool)
                    values[missing] = 0.0
                    total = values if total is None else np.add(total, values, out=total)
                    seen = (~missing).astype(np.int32) if k == 0 else seen + ~missing
        except Exception as error:  # a compression tifffile needs imagecodecs for (LZW)
            if samples and index["C"] == 0 and len(series.pages) == 1:
                return None  # the gray sample of a plain page: read as a plain TIFF (OpenCV decodes LZW)
            sys.exit(f"error: cannot read the planes of {path} ({error}); pip install imagecodecs, "
                     "or save the TIFF uncompressed")
        if project and projection != "max":  # NaN where every plane is NaN (no data stays no data)
            with np.errstate(invalid="ignore", divide="ignore"):
                total = total / seen if projection == "mean" else total
            total[seen == 0] = np.nan
            total = total.astype(np.float32)
        white_is_zero = key.photometric == 0 and not (samples and index["C"])  # the gray sample only
        n_colour = 3 if key.photometric == 2 else 1
    colour = total if total.ndim == 2 else total[..., :n_colour]
    if colour.ndim == 3 and colour.shape[2] == 1:
        colour = colour[..., 0]
    if white_is_zero and colour.dtype.kind == "u":
        colour = np.iinfo(colour.dtype).max - colour
    if colour.dtype == bool:
        colour = colour.astype(np.uint8) * 255
    if colour.dtype.kind == "f" and colour.dtype != np.float32:  # float64, float16: as float32; integers
        colour = colour.astype(np.float32)                        # follow kept_integers (load_image)
    return np.ascontiguousarray(colour)


def refuse_channel(has, colour):
    \"\"\"Refuse a channel index but 0 (0-2 of RGB pixels) or a name, asked of an image without channels.\"\"\"
    if isinstance(CHANNEL, int) and (CHANNEL == 0 or colour and CHANNEL <= 2) or CHANNEL in COLOUR_WORDS:
        return
    raise ValueError(f"channel {CHANNEL!r} does not exist: this image has no channels ({has}); "
                     "if a plain TIFF's pages are channels, set PAGES = 'channels'")


def channel_names(tif, count):
    \"\"\"The channel names in the file's OME-XML or ImageJ labels ("" where none).\"\"\"
    import tifffile

    names = []
    if tif.is_ome:
        try:
            images = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
            images = images if isinstance(images, list) else [images]
            channels = images[min(SERIES, len(images) - 1)]["Pixels"].get("Channel", [])
            channels = channels if isinstance(channels, list) else [channels]
            names = [str(c.get("Name", "")) if isinstance(c, dict) else "" for c in channels]
        except Exception:
            names = []
    elif tif.is_imagej:
        labels = (tif.imagej_metadata or {}).get("Labels") or []
        names = [str(label) for label in labels[:count]] if len(labels) >= count > 1 else []
    return (names[:count] + [""] * count)[:count]


def file_pixel_size(path):
    \"\"\"(size, unit) from OME PhysicalSizeX/Y, ImageJ unit + resolution, or TIFF resolution in cm, or None.\"\"\"
    if bytes(np.fromfile(path, np.uint8, count=4)) not in (b"II*\\0", b"MM\\0*", b"II+\\0", b"MM\\0+"):
        return None
    import tifffile

    units = {**UNIT_SPELLINGS, **{unit.casefold(): unit for unit in UNITS}, "\\\\u00b5m": "µm", "u": "µm"}
    units = {key.casefold(): unit for key, unit in units.items()}  # the app's length units, case-blind
    with tifffile.TiffFile(path) as tif:
        page = tif.pages.first

        def per_unit(tag):
            value = page.tags.valueof(tag)
            return float(value[1]) / float(value[0]) if value and value[0] and value[1] else None

        if tif.is_ome:  # OME and ImageJ files say it in their own metadata, or have none
            try:
                images = tifffile.xml2dict(tif.ome_metadata)["OME"]["Image"]
                images = images if isinstance(images, list) else [images]
                pixels = images[min(SERIES, len(images) - 1)]["Pixels"]
                x = float(pixels["PhysicalSizeX"])
                y = float(pixels.get("PhysicalSizeY", x))
                unit = units.get(str(pixels.get("PhysicalSizeXUnit", "µm")).strip().casefold())
            except Exception:
                return None
        elif tif.is_imagej:
            unit = units.get(str((tif.imagej_metadata or {}).get("unit", "")).strip().casefold())
            x, y = per_unit(282), per_unit(283)
        elif int(page.tags.valueof(296, 2) or 2) == 3:  # pixels per centimetre
            x, y, unit = per_unit(282), per_unit(283), "µm"
            x, y = (x * 1e4 if x else None), (y * 1e4 if y else None)
        else:
            return None
    if not unit or not x or x <= 0 or (y and abs(x - y) > 1e-6 * max(abs(x), abs(y))):
        return None  # no unit, no size, or pixels that are not square
    return x, unit


def write_areas(out, labels, path):
    \"\"\"<stem>_areas.csv: each object's area, in unit² with a pixel size (the recipe's, else the file's).\"\"\"
    scale = file_pixel_size(path) if PIXEL_SIZE is None else (PIXEL_SIZE, UNIT) if PIXEL_SIZE > 0 else None
    areas = np.bincount(labels.ravel())[1:].astype(np.float64)
    if scale is None:
        header, values = "area_px", [str(int(a)) for a in areas]
    else:
        suffix = re.sub(r"[^A-Za-z0-9]", "", scale[1].replace("\\u00b5", "u").replace("\\u03bc", "u"))
        header, values = f"area_{suffix}2", [f"{a:.10g}" for a in areas * scale[0] ** 2]
    rows = [f"{i},{v}" for i, v in enumerate(values, start=1) if areas[i - 1] > 0]
    lines = [RECIPE_COMMENT, f"label,{header}"] + rows
    out.write_text("\\n".join(lines) + "\\n", encoding="utf-8")
'''

_MAIN_MASK = '''
def main(argv=None):
    path, out = parse_args(argv, "<stem>_mask.png")
    try:
        mask = segment(load_image(path))
    except (OSError, ValueError) as error:  # an unreadable file or one no method can use: say so, no trace
        sys.exit(f"error: {path}: {error}")
    write_png(out, mask.astype(np.uint8) * 255)
    count, labels = cv2.connectedComponents(mask.view(np.uint8), connectivity=8, ltype=cv2.CV_32S)
    write_areas(out.with_name(out.name.replace("_mask.png", "_areas.csv")), labels, path)
    print(f"{count - 1} objects (8-connected); mask written to {out}")
'''

_MAIN_LABELS = '''
def main(argv=None):
    path, out = parse_args(argv, "<stem>_labels.png")
    try:
        labels = segment(load_image(path))
    except (OSError, ValueError) as error:  # an unreadable file or one no method can use: say so, no trace
        sys.exit(f"error: {path}: {error}")
    count = int(labels.max(initial=0))
    areas = out.with_name(out.name.replace("_labels.png", "_areas.csv"))
    if count > 65535:  # more than a 16-bit PNG holds: int32 TIFF, the bytes of the app's "Labels TIFF"
        import tifffile  # installed with scikit-image
        out = out.with_suffix(".tif")
        tifffile.imwrite(out, labels.astype(np.int32), photometric="minisblack", compression="zlib")
    else:
        write_png(out, labels.astype(np.uint16))
    write_areas(areas, labels, path)
    print(f"{count} objects; labels written to {out}")
'''
