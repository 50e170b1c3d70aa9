"""Recipes: a method and every parameter it uses, validated, as one immutable object.

A recipe converts to and from JSON (the file the app exports and ``python -m segmentation apply``
reads) and to and from a flat dict of strings (the URL query parameters and the command-line options),
round-tripping exactly. The same parameter names are used everywhere: in the URL, on the command line,
in JSON and as keyword arguments of :func:`segmentation.threshold` and :func:`segmentation.watershed`.

Examples
--------
>>> recipe = ThresholdRecipe(method="sauvola", window=31, polarity="dark")
>>> recipe.to_flat()
{'method': 'sauvola', 'polarity': 'dark', 'window': '31'}
>>> ThresholdRecipe.from_flat(recipe.to_flat()) == recipe
True
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from typing import Any, ClassVar, Mapping, NamedTuple

from .._errors import ParameterError
from ._params import ParamSpec, Points, alias_table, canonical_names, param, specs_of

__all__ = ["FIT_SIDE", "CONVEX_SOLIDITY", "SPECK_FRACTION", "SINGLE_THRESHOLD_METHODS",
           "ThresholdRecipe", "WatershedRecipe", "recipe_from_json", "METHODS", "GLOBAL_METHODS",
           "LOCAL_METHODS", "RECIPE_FORMAT", "RECIPE_VERSION", "CHANNELS", "PROJECTIONS", "UNITS", "NUCLEAR_STAINS",
           "WATERSHED_FOREGROUND", "MethodInfo", "colour_channel", "upgrade_params", "file_selection", "PAGES",
           "UNIT_SPELLINGS", "UDUNITS", "length_unit"]

RECIPE_FORMAT = "segmentation-studio/recipe"

class MethodInfo(NamedTuple):
    """What a person is told about a thresholding method: its name, who computes it, and where it comes from.

    Attributes
    ----------
    label : str
        The name shown on the page ("Li (minimum cross-entropy)").
    library : str
        The library that computes it here.
    source : str
        The publication the method comes from (authors, year, venue).
    doi : str
        Its DOI, or "" when it has none (a book).
    """

    label: str
    library: str
    source: str
    doi: str = ""


#: Every thresholding method: name -> label, the library that computes it, and its published source.
METHODS: dict[str, MethodInfo] = {
    "manual": MethodInfo("Manual value", "numpy",
                         "R. C. Gonzalez & R. E. Woods, Digital Image Processing, 4th ed., Pearson, 2018, §10.3 "
                         "(basic global thresholding)"),
    "otsu": MethodInfo("Otsu", "OpenCV (scikit-image for float images)",
                       "N. Otsu, IEEE Trans. Systems, Man, and Cybernetics 9(1):62–66, 1979",
                       "10.1109/TSMC.1979.4310076"),
    "triangle": MethodInfo("Triangle", "OpenCV",
                           "G. W. Zack, W. E. Rogers & S. A. Latt, J. Histochem. Cytochem. 25(7):741–753, 1977",
                           "10.1177/25.7.70454"),
    "li": MethodInfo("Li (minimum cross-entropy)", "scikit-image",
                     "C. H. Li & P. K. S. Tam, Pattern Recognition Letters 19(8):771–776, 1998",
                     "10.1016/S0167-8655(98)00057-9"),
    "yen": MethodInfo("Yen", "scikit-image",
                      "J.-C. Yen, F.-J. Chang & S. Chang, IEEE Trans. Image Processing 4(3):370–378, 1995",
                      "10.1109/83.366472"),
    "isodata": MethodInfo("IsoData (Ridler–Calvard)", "scikit-image",
                          "T. W. Ridler & S. Calvard, IEEE Trans. Systems, Man, and Cybernetics 8(8):630–632, 1978",
                          "10.1109/TSMC.1978.4310039"),
    "mean": MethodInfo("Mean", "scikit-image",
                       "C. A. Glasbey, CVGIP: Graphical Models and Image Processing 55(6):532–537, 1993",
                       "10.1006/cgip.1993.1040"),
    "minimum": MethodInfo("Minimum (histogram valley)", "scikit-image",  # whole in the box at 1280 px
                          "J. M. S. Prewitt & M. L. Mendelsohn, Ann. N. Y. Acad. Sci. 128(3):1035–1053, 1966",
                          "10.1111/j.1749-6632.1965.tb11715.x"),
    "multiotsu": MethodInfo("Multi-Otsu", "scikit-image",
                            "P.-S. Liao, T.-S. Chen & P.-C. Chung, J. Inf. Sci. Eng. 17(5):713–727, 2001"),
    "adaptive_mean": MethodInfo("Adaptive mean (local)", "OpenCV",
                                "D. Bradley & G. Roth, Journal of Graphics Tools 12(2):13–21, 2007",
                                "10.1080/2151237X.2007.10129236"),
    "adaptive_gaussian": MethodInfo("Adaptive Gaussian (local)", "OpenCV",
                                    "R. C. Gonzalez & R. E. Woods, Digital Image Processing, 4th ed., Pearson, 2018, "
                                    "§10.3 (variable thresholding)"),
    "sauvola": MethodInfo("Sauvola (local)", "scikit-image",
                          "J. Sauvola & M. Pietikäinen, Pattern Recognition 33(2):225–236, 2000",
                          "10.1016/S0031-3203(99)00055-2"),
    "niblack": MethodInfo("Niblack (local)", "scikit-image",
                          "W. Niblack, An Introduction to Digital Image Processing, Prentice-Hall, 1986, pp. 115–116"),
}
GLOBAL_METHODS = ("manual", "otsu", "triangle", "li", "yen", "isodata", "mean", "minimum", "multiotsu")
LOCAL_METHODS = ("adaptive_mean", "adaptive_gaussian", "sauvola", "niblack")
CHANNELS = ("luminance", "red", "green", "blue", "hue", "saturation", "value")
#: Channel names taken for a nuclear stain (case-blind, anywhere in the name), in order of preference: a recipe
#: whose channel is a colour word reads this channel of a multi-channel file (segmentation.load_image).
NUCLEAR_STAINS = ("dapi", "hoechst", "h33342", "h33258", "draq5", "draq7", "nucblue", "nucspot", "sytox",
                  "to-pro", "topro", "redot", "propidium", "nuclei", "nuclear", "nucleus", "dna")
#: How the planes of a z-stack become one image: automatic (the maximum of a file's z-planes, one plane of
#: pages without metadata), one plane, or their maximum, mean or sum.
PROJECTIONS = ("auto", "none", "max", "mean", "sum")
#: What the pages of a plain multi-page TIFF (no metadata naming its axes) are.
PAGES = ("planes", "channels", "timepoints")
#: Length units a pixel size can be in (OME-NGFF takes UDUNITS-2 length units; these are the microscopy ones).
UNITS = ("µm", "nm", "mm", "cm", "m", "Å")
#: The UDUNITS-2 name of each unit (what OME-NGFF and OME-XML metadata write).
UDUNITS = {"µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter", "m": "meter",
           "Å": "angstrom"}
#: Other spellings of the units (matched case-blind; µ and the Greek μ are one letter then).
UNIT_SPELLINGS = {
    **{spelling: "µm" for spelling in ("um", "μm", "micron", "microns", "micrometer", "micrometers", "micrometre",
                                       "micrometres")},
    **{spelling: unit for unit, word in (("nm", "nanomet"), ("mm", "millimet"), ("cm", "centimet"), ("m", "met"))
       for spelling in (f"{word}er", f"{word}ers", f"{word}re", f"{word}res")},
    "\u212b": "Å", "angstrom": "Å", "angstroms": "Å", "ångström": "Å", "ångströms": "Å",
}
#: The version written into every recipe (JSON ``"version"``) and every output that carries a recipe.
#: 1: before the file's channels, planes and pixel size (pixel size 0: measurements in pixels);
#: 2: ``channel`` also a file's channel, ``projection``, ``plane``, ``timepoint``, ``pixel_size``, ``unit``;
#: 3: ``projection`` "auto" by default (a z-stack opens on its maximum projection; versions 1 and 2 read one
#: plane, so they get ``projection="none"``), ``pages`` (what a plain TIFF's pages are), ``series``, and
#: ``unit`` only a length unit (µm, nm, mm, cm, m, Å, in any common spelling).
RECIPE_VERSION = 3

# The typical diameter "auto" of a watershed (segmentation.recipe_for_image, and the script of such a recipe).
#: The least solidity (area / convex hull area) of an object counted as convex by segmentation.choose_foreground.
CONVEX_SOLIDITY = 0.9
#: The least area of a counted object, as a fraction of the median object area (smaller ones are specks).
SPECK_FRACTION = 0.2
#: The long side, in pixels, of the copy a diameter "auto" is fitted on (``segmentation.downscale``, ``INTER_AREA``):
#: the app's default preview size, so its live preview and the full-resolution result fit the same pixels. The fit
#: costs 0.33 s on the 1024-px copy of a 12-MP photo, 7.6 s on the photo itself (see docs/DEFAULTS.md).
FIT_SIDE = 1024
#: The global methods giving one threshold, whose foreground segmentation.choose_foreground compares with
#: multi-Otsu's classes.
SINGLE_THRESHOLD_METHODS = frozenset({"manual", "otsu", "triangle", "li", "yen", "isodata", "mean", "minimum"})

_ADAPTIVE = frozenset({"adaptive_mean", "adaptive_gaussian"})
_WINDOWED = frozenset({"sauvola", "niblack"})


def _when(**conditions: Any) -> dict[str, frozenset]:
    return {key: frozenset(values if isinstance(values, (tuple, set, frozenset)) else (values,))
            for key, values in conditions.items()}


class _Recipe:
    """Conversions shared by both recipe kinds (they are all driven by the parameter specs)."""

    kind: ClassVar[str]

    def __post_init__(self) -> None:
        for spec in specs_of(self):
            object.__setattr__(self, spec.name, spec.check(getattr(self, spec.name)))
        self._check_consistency()

    def _check_consistency(self) -> None:  # overridden where parameters constrain each other
        pass

    @classmethod
    def specs(cls) -> tuple[ParamSpec, ...]:
        return specs_of(cls)

    def values(self) -> dict[str, Any]:
        """Every parameter's value, keyed by its name (typed, not text)."""
        return {spec.name: getattr(self, spec.name) for spec in specs_of(self)}

    def replace(self, **changes: Any):
        """A copy with some parameters changed (current or earlier names); unknown names raise ParameterError."""
        changes = canonical_names(specs_of(self), changes)
        known = {spec.name for spec in specs_of(self)} | ({"foreground"} if self.kind == "watershed" else set())
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ParameterError(f"unknown {self.kind} parameter(s): {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
        return dataclasses.replace(self, **changes)

    # -- flat dict of strings (URL query parameters, command-line options) ------------------------
    def to_flat(self, *, include_defaults: bool = False) -> dict[str, str]:
        """The recipe as ``{name: text}``; parameters at their default are left out unless asked."""
        defaults = type(self)()
        values = self.values()
        return {spec.name: spec.to_text(values[spec.name]) for spec in specs_of(self)
                if include_defaults or values[spec.name] != getattr(defaults, spec.name)}

    @classmethod
    def from_flat(cls, flat: Mapping[str, str], *, ignore_unknown: bool = True):
        """Build a recipe from ``{name: text}``; missing names take their defaults.

        Unknown names are ignored (URLs carry other things too) unless ``ignore_unknown`` is false.
        A bad value raises ``ValueError`` naming the parameter and what it accepts.
        """
        flat = canonical_names(specs_of(cls), flat)
        specs = {spec.name: spec for spec in specs_of(cls)}
        if not ignore_unknown:
            unknown = sorted(set(flat) - set(specs))
            if unknown:
                raise ParameterError(f"unknown parameter(s): {', '.join(unknown)}; "
                                     f"known: {', '.join(specs)}")
        return cls(**{name: specs[name].from_text(text) for name, text in flat.items() if name in specs})

    # -- JSON -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        points = {spec.name for spec in specs_of(self) if spec.kind == "points"}
        values = {name: ([list(p) for p in v] if name in points else list(v) if isinstance(v, tuple) else v)
                  for name, v in self.values().items()}
        return {"format": RECIPE_FORMAT, "version": RECIPE_VERSION, "kind": self.kind, "params": values}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n"

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]):
        if not isinstance(data, Mapping) or data.get("format") != RECIPE_FORMAT:
            raise ValueError(f"this is not a Segmentation Studio recipe (expected \"format\": \"{RECIPE_FORMAT}\")")
        version = data.get("version", 1)
        if isinstance(version, bool) or version not in range(1, RECIPE_VERSION + 1):
            raise ValueError(f"unsupported recipe version {version!r}; this program reads versions 1 to "
                             f"{RECIPE_VERSION}")
        if data.get("kind") != cls.kind:
            raise ValueError(f"this is a {data.get('kind')!r} recipe, not a {cls.kind!r} recipe")
        params = data.get("params", {})
        if not isinstance(params, Mapping):
            raise ValueError("the recipe's \"params\" must be an object")
        return cls.from_params(**upgrade_params(params, version))

    @classmethod
    def from_params(cls, **params: Any):
        """The recipe with these keyword parameters (current or earlier names); the others at their defaults."""
        params = canonical_names(specs_of(cls), params)
        known = {spec.name for spec in specs_of(cls)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise ParameterError(f"unknown {cls.kind} parameter(s): {', '.join(unknown)}; "
                                 f"known: {', '.join(sorted(known))}")
        return cls(**params)

    @classmethod
    def from_json(cls, text: str):
        return cls.from_dict(_parse_json(text))

    # -- preview on a downscaled copy ---------------------------------------------------------------
    def rescaled(self, factor: float):
        """The recipe to run on a copy of the image resized by ``factor``.

        Every parameter measured in pixels (smoothing sigma, window and kernel sizes, minimum object
        size, seed distances, seed points) is scaled so that the preview matches the full-resolution
        result as closely as the coarser grid allows.
        """
        if factor == 1:
            return self
        changes = {spec.name: spec.rescale(getattr(self, spec.name), factor)
                   for spec in specs_of(self) if spec.scale}
        return self.replace(**changes)


# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ThresholdRecipe(_Recipe):
    """A thresholding method and its pre-processing, parameters and clean-up.

    Defaults (chosen on real images, see ``docs/DEFAULTS.md``): Otsu on the luminance, objects on
    whichever side of the threshold covers less of the image, no smoothing and no clean-up, so the
    result is exactly the textbook method until the user asks for more.
    """

    kind: ClassVar[str] = "threshold"

    method: str = param("otsu", kind="choice", choices=tuple(METHODS), label="Method",
                        help="How the threshold is chosen: global methods pick one value, local ones a value "
                             "per pixel.")
    # Pre-processing
    channel: str | int = param("luminance", kind="choice", choices=CHANNELS, open="channel", label="Channel",
                               group="Pre-processing",
                               help="Which channel is thresholded: of a colour image a colour word (luminance, "
                                    "red, ..., value); of a multi-channel microscopy file its index (0, 1, ...) or "
                                    "its name in the file (DAPI); a colour word there picks the nuclear stain "
                                    "(DAPI, Hoechst, ...) or else the first channel. Grayscale images ignore it.")
    pages: str = param("planes", kind="choice", choices=PAGES, label="Pages of a plain TIFF are",
                       group="Pre-processing",
                       help="What the pages of a multi-page TIFF without metadata saying what they are mean: "
                            "z-planes (or simply pages, such as scanned pages), channels, or time points. Files "
                            "whose metadata names their axes (OME-TIFF, ImageJ) ignore it.")
    series: int = param(0, kind="int", min=0, max=100_000, label="Series", group="Pre-processing",
                        help="Which image series of a file holding several (an OME-TIFF with several images), "
                             "from 0. Files with one series ignore 0.")
    projection: str = param("auto", kind="choice", choices=PROJECTIONS, label="Z projection",
                            group="Pre-processing",
                            help="For a z-stack: every plane combined, pixel by pixel, by their maximum, mean or "
                                 "sum, or one plane (none). auto: the maximum for a file whose metadata has "
                                 "z-planes, one plane (the Z plane below) for pages without metadata. "
                                 "Single-plane images ignore it.")
    plane: int = param(0, kind="int", min=0, max=1_000_000, label="Z plane", group="Pre-processing",
                       when=_when(projection=("none", "auto")),
                       help="Which z-plane of a z-stack (or page of a multi-page TIFF) is segmented, from 0; "
                            "with auto, used for pages without metadata only.")
    timepoint: int = param(0, kind="int", min=0, max=1_000_000, label="Time point", group="Pre-processing",
                           help="Which time point of a time series is segmented, from 0.")
    smoothing: str = param("none", kind="choice", choices=("none", "gaussian", "median"), label="Smoothing",
                           group="Pre-processing", help="Blur before thresholding to suppress noise.")
    sigma: float = param(1.0, kind="float", min=0.1, max=50.0, step=0.1, label="Gaussian sigma (px)",
                         group="Pre-processing", when=_when(smoothing="gaussian"), scale="length",
                         help="Standard deviation of the Gaussian blur, in pixels.")
    median_size: int = param(3, kind="int", min=3, max=99, odd=True, step=2, label="Median size (px)",
                             group="Pre-processing", when=_when(smoothing="median"), scale="length",
                             help="Side of the square median filter, in pixels (odd).")
    background_radius: int = param(0, kind="int", min=0, max=1000, label="Background radius (px, 0 = off)",
                                   group="Pre-processing", scale="length",
                                   help="Subtract an uneven background with a top-hat of this radius "
                                        "(larger than the objects), like Fiji's Subtract Background.")
    polarity: str = param("auto", kind="choice", choices=("auto", "bright", "dark"), label="Objects are",
                          group="Pre-processing",
                          help="Whether objects are brighter or darker than their surroundings; auto picks "
                               "the side of the Otsu threshold that covers less of the image.")
    # Method parameters
    value: float = param(128.0, kind="float", label="Threshold value", when=_when(method="manual"),
                         help="Pixels above this value (bright objects) or at or below it (dark objects) are "
                              "foreground, in the image's own units.")
    classes: int = param(3, kind="int", min=2, max=5, label="Classes", when=_when(method="multiotsu"),
                         help="Number of intensity classes multi-Otsu separates (2 classes = Otsu; 5 classes "
                              "take several seconds: scikit-image's search grows steeply).")
    foreground_classes: tuple = param((), kind="int_tuple", min=0, max=4, label="Foreground classes",
                                      when=_when(method="multiotsu"),
                                      help="Which classes (0 = darkest) are foreground; empty = the brightest "
                                           "for bright objects, the darkest for dark ones.")
    block_size: int = param(51, kind="int", min=3, max=1001, odd=True, step=2, label="Block size (px)",
                            when=_when(method=_ADAPTIVE), scale="length",
                            help="Side of the neighbourhood the local mean is taken over, in pixels (odd).")
    offset: float = param(20.0, kind="float", min=-255.0, max=255.0, step=1.0, label="Offset (C)",
                          when=_when(method=_ADAPTIVE),
                          help="How far (in 8-bit levels) an object pixel must stand out from its local "
                               "mean; OpenCV's C, with the sign set by the polarity.")
    window: int = param(51, kind="int", min=3, max=1001, odd=True, step=2, label="Window (px)",
                        when=_when(method=_WINDOWED), scale="length",
                        help="Side of the window for the local mean and deviation, in pixels (odd).")
    k: float = param(0.2, kind="float", min=-2.0, max=2.0, step=0.01, label="k",
                     when=_when(method=_WINDOWED),
                     help="Weight of the local standard deviation (scikit-image's convention).")
    r: float = param(0.0, kind="float", min=0.0, max=1e9, label="Sauvola R (0 = auto)",
                     when=_when(method="sauvola"),
                     help="Dynamic range of the standard deviation; 0 = half the 8-bit range, or half "
                          "the image's value range for 16-bit and float images.")
    # Clean-up
    opening: int = param(0, kind="int", min=0, max=201, label="Opening (px, 0 = off)", group="Clean-up",
                         scale="length", help="Remove specks and thin bridges thinner than this disc diameter.")
    closing: int = param(0, kind="int", min=0, max=201, label="Closing (px, 0 = off)", group="Clean-up",
                         scale="length", help="Close gaps and small holes narrower than this disc diameter.")
    iterations: int = param(1, kind="int", min=1, max=20, label="Iterations", group="Clean-up",
                            help="How many times opening and closing are applied.")
    fill_holes: bool = param(False, kind="bool", label="Fill holes", group="Clean-up",
                             help="Fill background regions completely enclosed by an object.")
    min_size: int = param(0, kind="int", min=0, max=10**9, label="Remove objects smaller than (px)",
                          group="Clean-up", scale="area",
                          help="Objects with fewer pixels than this are removed (0 = keep all).")
    clear_border: bool = param(False, kind="bool", label="Clear border objects", group="Clean-up",
                               help="Remove objects that touch the edge of the image (they are cut off).")
    # Measurements
    pixel_size: float | None = param(None, kind="optional_float", min=0.0, max=1e6, label="Pixel size (0 = pixels)",
                                     group="Measurements",
                                     help="Size of one pixel in the unit below; areas and lengths are then "
                                          "reported in it. auto = from the file (OME PhysicalSizeX/Y, ImageJ or "
                                          "TIFF resolution tags), pixels when it has none; 0 = always pixels.")
    unit: str = param("µm", kind="choice", choices=UNITS, spellings=UNIT_SPELLINGS, label="Unit",
                      group="Measurements",
                      help="The length unit of the pixel size you set (a size from the file keeps its own unit): "
                           "µm, nm, mm, cm, m or Å; um, micron and the full names are read as these.")

    def _check_consistency(self) -> None:
        bad = [c for c in self.foreground_classes if c >= self.classes]
        if bad:
            raise ParameterError(f"foreground_classes {list(self.foreground_classes)} must lie between 0 and "
                             f"{self.classes - 1} for {self.classes} classes")


# ------------------------------------------------------------------------------------------------
#: The foreground the watershed splits, unless told otherwise: Otsu after a light blur and a top-hat
#: background subtraction (uneven illumination, as in the coins photo), closed, holes filled and specks
#: removed. Chosen on scikit-image's coins and the DSB 2018 nuclei; see docs/DEFAULTS.md.
WATERSHED_FOREGROUND = ThresholdRecipe(smoothing="gaussian", sigma=1.25, background_radius=50, closing=3,
                                       fill_holes=True, min_size=50)

_DISTANCE_SEEDS = frozenset({"distance_peaks", "h_maxima"})


@dataclass(frozen=True)
class WatershedRecipe(_Recipe):
    """Marker-based watershed: a foreground from any threshold recipe, seeds and a landscape.

    The foreground parameters are a nested :class:`ThresholdRecipe` (``foreground``); in flat dicts and
    keyword arguments they appear under their own names (``method``, ``sigma``, ...), next to the
    watershed's (``seeds``, ``h``, ...).
    Defaults: seeds at the h-maxima (h = 1 px) of the lightly smoothed distance map, which gives one
    seed per roundish object whatever its size, flooding the inverted distance map inside the
    foreground. On the DSB 2018 nuclei this scores an object F1 of 0.72 against 0.53 for
    Otsu + connected components, and it finds the 24 coins of ``skimage.data.coins()``.
    """

    kind: ClassVar[str] = "watershed"

    foreground: ThresholdRecipe = dataclasses.field(default=WATERSHED_FOREGROUND)
    seeds: str = param("h_maxima", kind="choice",
                       choices=("h_maxima", "distance_peaks", "intensity_bands", "points", "marker_image"),
                       label="Seeds", group="Seeds",
                       help="Where each object starts: domes of the distance map (h-maxima), its local peaks, "
                            "pixels beyond intensity bands, points you place, or a marker image (API only).")
    h: float = param(1.0, kind="float", min=0.05, max=1000.0, step=0.05, label="h (px)", group="Seeds",
                     when=_when(seeds="h_maxima"), scale="length",
                     help="A dome of the distance map must rise this many pixels above its saddle to get its "
                          "own seed; raise it if objects are split, lower it if touching ones merge.")
    min_distance: int = param(7, kind="int", min=1, max=1000, label="Minimum seed distance (px)", group="Seeds",
                              when=_when(seeds="distance_peaks"), scale="length",
                              help="Two seeds are at least this far apart.")
    peak_fraction: float = param(0.0, kind="float", min=0.0, max=0.99, step=0.01,
                                 label="Minimum peak height (fraction of the object's maximum)", group="Seeds",
                                 when=_when(seeds="distance_peaks"),
                                 help="Ignore peaks lower than this fraction of the highest distance in the same "
                                      "object (per object, so small objects keep their seeds).")
    distance_sigma: float = param(1.0, kind="float", min=0.0, max=50.0, step=0.1,
                                  label="Distance smoothing (px, 0 = off)", group="Seeds", scale="length",
                                  help="Blur the distance map before finding seeds so ragged outlines do not "
                                       "create extra seeds.")
    band_low: float | None = param(None, kind="optional_float", label="Low band (auto = multi-Otsu)",
                                   group="Seeds", when=_when(seeds="intensity_bands"),
                                   help="Pixels at or below this value seed the background (bright objects).")
    band_high: float | None = param(None, kind="optional_float", label="High band (auto = multi-Otsu)",
                                    group="Seeds", when=_when(seeds="intensity_bands"),
                                    help="Connected pixels above this value seed one object each (bright objects).")
    points: Points = param((), kind="points", max=2000, label="Seed points (row,col;...)", group="Seeds",
                           when=_when(seeds="points"), scale="length",
                           help="One object grows from each point you place.")
    add_seeds: Points = param((), kind="points", max=2000, label="Added seeds (row,col;...)", group="Seeds",
                              scale="length",
                              help="Hand edits on top of the seeds: each point becomes a new seed, cutting the "
                                   "nearest seed in two when that seed lies between the point and its mirror "
                                   "image, so one click splits a merged object; points on the background are "
                                   "ignored. See docs/DEFAULTS.md, 'Seed edits'.")
    remove_seeds: Points = param((), kind="points", max=2000, label="Removed seeds (row,col;...)", group="Seeds",
                                 scale="length",
                                 help="Hand edits on top of the seeds: each point removes the seed it is on (or "
                                      "the nearest one within the reach below), so split objects merge.")
    edit_radius: int = param(8, kind="int", min=0, max=1000, label="Reach of a removed seed (px)", group="Seeds",
                             scale="length",
                             help="A removed-seed point off every seed removes the nearest seed at most this "
                                  "many pixels away.")
    merge_points: Points = param((), kind="points", max=2000, label="Merged objects (row,col;... in pairs)",
                                 group="Seeds", scale="length",
                                 help="Hand edits after the flooding: points in pairs, the objects under the two "
                                      "points of a pair become one (with the watershed line between them).")
    split_points: Points = param((), kind="points", max=2000, label="Split objects (row,col;...)", group="Seeds",
                                 scale="length",
                                 help="Hand edits after the flooding: each point cuts the object under it in two "
                                      "along a line of seeds across its long axis, so the cut follows its "
                                      "narrowest neck.")
    landscape: str = param("distance", kind="choice", choices=("distance", "gradient"), label="Landscape",
                           group="Landscape",
                           help="What is flooded: the inverted distance map (shape, scikit-image) or the "
                                "image's gradient (edges, OpenCV's watershed on the colour image).")
    compactness: float = param(0.0, kind="float", min=0.0, max=1e6, label="Compactness", group="Landscape",
                               when=_when(landscape="distance"),
                               help="Above 0, regions grow more evenly (compact watershed); 0 = classic.")
    connectivity: int = param(8, kind="int_choice", choices=(4, 8), label="Connectivity", group="Landscape",
                              when=_when(landscape="distance"),
                              help="Neighbours a region grows into: 4 (edges) or 8 (edges and corners). "
                                   "OpenCV's gradient watershed always uses 4.")
    watershed_line: bool = param(False, kind="bool", label="Watershed lines", group="Landscape",
                                 help="Keep a one-pixel background line between touching objects.")
    diameter: float | None = param(0.0, kind="optional_float", min=0.0, max=1000.0, step=1.0,
                                   label="Typical object diameter (px, auto = fitted, 0 = off)", group="Seeds",
                                   scale="length",
                                   help="When above 0, the object size sets the other sizes: the background radius "
                                        "(the diameter, if background subtraction is on), the smallest object "
                                        "(a fifth of a disc of this diameter), h (0.05 × diameter, at least 0.5 px) "
                                        "and the minimum seed distance (diameter / 1.5), overriding their own values. "
                                        "auto fits it, and the foreground classes, to each image of nuclei "
                                        "(segmentation.fit_nuclei_recipe on a copy of at most 1024 px).")

    def __post_init__(self) -> None:
        if isinstance(self.foreground, Mapping):
            object.__setattr__(self, "foreground", WATERSHED_FOREGROUND.replace(**self.foreground))
        if not isinstance(self.foreground, ThresholdRecipe):
            raise ParameterError("foreground must be a ThresholdRecipe or a dict of its parameters")
        super().__post_init__()

    def _check_consistency(self) -> None:
        if (self.seeds == "intensity_bands" and self.band_low is not None and self.band_high is not None
                and self.band_low > self.band_high):
            raise ParameterError(f"band_low ({self.band_low}) must not be above band_high ({self.band_high})")
        if len(self.merge_points) % 2:
            raise ParameterError(f"merge_points must come in pairs (two points per merge); got "
                                 f"{len(self.merge_points)} points")

    @classmethod
    def from_params(cls, **params: Any) -> "WatershedRecipe":
        """Keyword arguments naming either watershed or foreground parameters (flat, as in URLs)."""
        params = canonical_names(specs_of(cls) + specs_of(ThresholdRecipe), params)
        own = {spec.name for spec in specs_of(cls)} | {"foreground"}
        foreground_names = {spec.name for spec in specs_of(ThresholdRecipe)}
        unknown = sorted(set(params) - own - foreground_names)
        if unknown:
            raise ParameterError(f"unknown watershed parameter(s): {', '.join(unknown)}")
        foreground = params.pop("foreground", WATERSHED_FOREGROUND)
        if isinstance(foreground, Mapping):
            foreground = WATERSHED_FOREGROUND.replace(**foreground)
        fg_changes = {k: params.pop(k) for k in list(params) if k in foreground_names}
        if fg_changes:
            foreground = foreground.replace(**fg_changes)
        return cls(foreground=foreground, **params)

    # The flat and JSON forms hold the foreground's parameters next to the watershed's.
    def to_flat(self, *, include_defaults: bool = False) -> dict[str, str]:
        flat = {spec.name: spec.to_text(getattr(self.foreground, spec.name))
                for spec in specs_of(ThresholdRecipe)
                if include_defaults or getattr(self.foreground, spec.name) != getattr(WATERSHED_FOREGROUND, spec.name)}
        flat.update(super().to_flat(include_defaults=include_defaults))
        return flat

    @classmethod
    def from_flat(cls, flat: Mapping[str, str], *, ignore_unknown: bool = True) -> "WatershedRecipe":
        flat = canonical_names(specs_of(cls) + specs_of(ThresholdRecipe), flat)
        fg_specs = {spec.name: spec for spec in specs_of(ThresholdRecipe)}
        own_specs = {spec.name: spec for spec in specs_of(cls)}
        if not ignore_unknown:
            unknown = sorted(set(flat) - set(fg_specs) - set(own_specs))
            if unknown:
                raise ParameterError(f"unknown parameter(s): {', '.join(unknown)}")
        foreground = WATERSHED_FOREGROUND.replace(
            **{name: fg_specs[name].from_text(text) for name, text in flat.items() if name in fg_specs})
        own = {name: own_specs[name].from_text(text) for name, text in flat.items() if name in own_specs}
        return cls(foreground=foreground, **own)

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["params"] = {**self.foreground.to_dict()["params"], **data["params"]}
        return data

    def rescaled(self, factor: float) -> "WatershedRecipe":
        if factor == 1:
            return self
        scaled = super().rescaled(factor)
        return scaled.replace(foreground=self.foreground.rescaled(factor))

    def sized(self) -> "WatershedRecipe":
        """The recipe whose pixel sizes follow its typical object ``diameter`` (itself when ``diameter`` is 0).

        A diameter ``None`` ("auto") is fitted to each image: :func:`segmentation.recipe_for_image` gives the
        recipe run on a given image; ``sized()`` of an "auto" recipe is itself.

        With a diameter *D* > 0 (pixels): the foreground's ``background_radius`` becomes ``round(D)``
        (at least 1; only when background subtraction is on), its ``min_size`` ``round(0.05·π·D²)`` (a fifth
        of the area of a disc of diameter *D*), ``h`` becomes ``max(0.5, 0.05·D)`` and ``min_distance``
        ``round(D / 1.5)`` (at least 1), CellProfiler's automatic maxima suppression distance. The result
        has ``diameter`` 0, so ``sized()`` of it is itself. Chosen on the DSB 2018 nuclei: see
        ``docs/DEFAULTS.md`` ("Nuclei defaults on the dev set").

        Returns
        -------
        WatershedRecipe
            The recipe :func:`segmentation.watershed` and :func:`segmentation.to_python` actually run (for a
            diameter above 0 or 0).

        References
        ----------
        .. [1] C. McQuin et al., "CellProfiler 3.0: next-generation image processing for biology", *PLoS
           Biology* 16(7):e2005970, 2018. doi:10.1371/journal.pbio.2005970 (IdentifyPrimaryObjects: sizes
           derived from the typical diameter).

        Examples
        --------
        >>> sized = WatershedRecipe(diameter=20).sized()
        >>> sized.foreground.background_radius, sized.foreground.min_size, sized.h, sized.min_distance
        (20, 63, 1.0, 13)
        """
        if not self.diameter:
            return self
        d = self.diameter
        changes: dict[str, Any] = {"min_size": int(round(0.05 * math.pi * d * d))}
        if self.foreground.background_radius > 0:
            changes["background_radius"] = min(1000, max(1, int(round(d))))
        return dataclasses.replace(self, foreground=self.foreground.replace(**changes), diameter=0.0,
                                   h=max(0.5, 0.05 * d), min_distance=min(1000, max(1, int(round(d / 1.5)))))

    @property
    def uses_distance(self) -> bool:
        return self.landscape == "distance" or self.seeds in _DISTANCE_SEEDS


def _document_parameters(cls: type) -> None:
    """Append a numpydoc ``Parameters`` section written from the specs (the one source of the parameters' text)."""
    lines = ["", "Parameters", "----------"]
    if cls is WatershedRecipe:
        lines += ["foreground : ThresholdRecipe or dict", "    How the foreground is thresholded "
                  "(default :data:`WATERSHED_FOREGROUND`); a dict changes only the parameters it names."]
    for spec in specs_of(cls):
        kind = {"choice": "{" + ", ".join(f'"{c}"' for c in spec.choices) + "}",
                "int_choice": "{" + ", ".join(map(str, spec.choices)) + "}", "int_tuple": "tuple of int",
                "optional_float": "float or None", "points": "tuple of (row, col)"}.get(spec.kind, spec.kind)
        lines += [f"{spec.name} : {kind}, default {spec.default!r}", f"    {spec.label}. {spec.help}"]
    lines += ["", "Raises", "------", "ParameterError",
              "    If a value is outside its range or choices, or parameters contradict each other."]
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n" + "\n".join(("    " + line) if line else "" for line in lines)


_document_parameters(ThresholdRecipe)
_document_parameters(WatershedRecipe)
_UNIT_SPEC = next(spec for spec in specs_of(ThresholdRecipe) if spec.name == "unit")
# Both kinds share one namespace in URLs, JSON and the watershed's options: no earlier name may be ambiguous.
alias_table(specs_of(ThresholdRecipe) + specs_of(WatershedRecipe))


def upgrade_params(params: Mapping[str, Any], version: int) -> dict[str, Any]:
    """A recipe file's parameters of an earlier ``version``, as the current version writes the same recipe.

    Parameters
    ----------
    params : mapping of str to object
        The ``"params"`` of a recipe file (or a share link's values) written by recipe format ``version``.
    version : int
        1 (no ``"version"`` key counts as 1) up to :data:`RECIPE_VERSION`.

    Returns
    -------
    dict
        The same parameters, plus the values that keep the earlier version's result where a default changed:
        version 1 measured in pixels unless told a pixel size (it had none in the recipe), so it gets
        ``pixel_size=0`` (pixels) instead of the new default, the file's own pixel size; versions 1 and 2
        read one plane of a z-stack unless told a projection, so they get ``projection="none"`` instead of
        version 3's "auto" (the maximum projection of a z-stack).

    Raises
    ------
    ValueError
        If ``version`` is not a version this program reads.

    Examples
    --------
    >>> upgrade_params({"method": "li"}, 1)
    {'method': 'li', 'pixel_size': 0.0, 'projection': 'none'}
    >>> upgrade_params({"projection": "max"}, 2)
    {'projection': 'max'}
    """
    if isinstance(version, bool) or version not in range(1, RECIPE_VERSION + 1):
        raise ValueError(f"unsupported recipe version {version!r}; this program reads versions 1 to {RECIPE_VERSION}")
    params = dict(params)
    if version < 2:
        params.setdefault("pixel_size", 0.0)
    if version < 3:
        params.setdefault("projection", "none")
    return params


def file_selection(recipe: ThresholdRecipe | WatershedRecipe) -> dict[str, Any]:
    """What a recipe reads of a microscopy file: keyword arguments for :func:`segmentation.load_image`.

    Parameters
    ----------
    recipe : ThresholdRecipe or WatershedRecipe
        For a watershed, its foreground's settings.

    Returns
    -------
    dict
        ``{"channel": ..., "plane": ..., "timepoint": ..., "projection": ..., "pages": ..., "series": ...}``.

    Raises
    ------
    ParameterError
        If ``recipe`` is not a recipe.

    Examples
    --------
    >>> file_selection(ThresholdRecipe(channel="DAPI", projection="max"))
    {'channel': 'DAPI', 'plane': 0, 'timepoint': 0, 'projection': 'max', 'pages': 'planes', 'series': 0}
    """
    if isinstance(recipe, WatershedRecipe):
        recipe = recipe.foreground
    if not isinstance(recipe, ThresholdRecipe):
        raise ParameterError(f"recipe must be a ThresholdRecipe or a WatershedRecipe; got {type(recipe).__name__}")
    return {"channel": recipe.channel, "plane": recipe.plane, "timepoint": recipe.timepoint,
            "projection": recipe.projection, "pages": recipe.pages, "series": recipe.series}


def length_unit(unit: str) -> str:
    """A length unit in any accepted spelling as one of :data:`UNITS` (``"micron"`` -> ``"µm"``).

    Parameters
    ----------
    unit : str
        ``"µm"``, ``"um"``, ``"micron"``, ``"Micrometer"``, ``"nm"``, ``"angstrom"``, ... (case-blind, spaces
        around ignored; the micro sign and the Greek mu are both accepted).

    Returns
    -------
    str
        One of :data:`UNITS`; :data:`UDUNITS` gives its UDUNITS-2 name.

    Raises
    ------
    ParameterError
        If ``unit`` is not a length unit of :data:`UNITS` in any of its spellings.

    Examples
    --------
    >>> length_unit("micron"), length_unit(" NM "), UDUNITS[length_unit("um")]
    ('µm', 'nm', 'micrometer')
    """
    return _UNIT_SPEC.check(unit)


def colour_channel(channel: str | int) -> str:
    """The colour word a recipe's ``channel`` means on an RGB image.

    Parameters
    ----------
    channel : str or int
        A recipe's channel: a colour word of :data:`CHANNELS` (itself), or a channel index 0, 1 or 2
        (red, green, blue). A file's channel name means nothing on an RGB image.

    Returns
    -------
    str
        One of :data:`CHANNELS`.

    Raises
    ------
    ParameterError
        If ``channel`` is an index above 2 or a name that is not a colour word.

    Examples
    --------
    >>> colour_channel(1), colour_channel("value")
    ('green', 'value')
    """
    if isinstance(channel, str) and channel in CHANNELS:
        return channel
    if isinstance(channel, int) and not isinstance(channel, bool) and 0 <= channel <= 2:
        return ("red", "green", "blue")[channel]
    raise ParameterError(f"channel {channel!r} is not a channel of an RGB image: use a colour word ("
                         f"{', '.join(CHANNELS)}) or an index 0 (red), 1 (green) or 2 (blue); channel names "
                         "and other indices choose among a microscopy file's channels")


def recipe_from_json(text: str) -> ThresholdRecipe | WatershedRecipe:
    """Read a recipe file of either kind.

    Parameters
    ----------
    text : str or bytes
        The JSON text of a recipe file (``{"format": "segmentation-studio/recipe", "version": 1, "kind":
        "threshold" | "watershed", "params": {...}}``), as written by :meth:`ThresholdRecipe.to_json`, the
        app's *Recipe* download or the command line's ``recipe.json``. Earlier parameter names are accepted.

    Returns
    -------
    ThresholdRecipe or WatershedRecipe
        The recipe of the file's kind.

    Raises
    ------
    ValueError
        If the text is not JSON or not a recipe of a known kind and version.
    ParameterError
        If a parameter is unknown or its value is out of range.

    Examples
    --------
    >>> recipe_from_json(ThresholdRecipe(method="li").to_json()) == ThresholdRecipe(method="li")
    True
    """
    data = _parse_json(text)
    kind = data.get("kind") if isinstance(data, Mapping) else None
    if kind == "threshold":
        return ThresholdRecipe.from_dict(data)
    if kind == "watershed":
        return WatershedRecipe.from_dict(data)
    raise ValueError("this is not a Segmentation Studio recipe: \"kind\" must be \"threshold\" or \"watershed\"")


def _parse_json(text: str | bytes) -> Any:
    try:
        return json.loads(text)
    except (ValueError, TypeError) as error:
        raise ValueError(f"the recipe is not valid JSON ({error})") from None
