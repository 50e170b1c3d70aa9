"""Segmentation Studio's library: thresholding and marker-based watershed over OpenCV and scikit-image.

Pure numpy in, numpy and small result objects out; it never imports Streamlit. Images are ``H×W``
grayscale or ``H×W×3`` RGB (never BGR) arrays of ``uint8``, ``uint16`` or ``float32``; masks are
``bool``; labels are ``int32`` with 0 = background and objects numbered 1..N.

This namespace is the one public API. Its sub-packages group it by domain and export the same objects:
:mod:`segmentation.io` (reading images, samples), :mod:`segmentation.recipes` (validated parameters),
:mod:`segmentation.thresholding` (pre-processing, global and local methods, clean-up, the pipeline),
:mod:`segmentation.regions` (connected objects, marker-based watershed), :mod:`segmentation.measurement`
(measurements and agreement scores), :mod:`segmentation.display` (display images),
:mod:`segmentation.export` (files and scripts) and :mod:`segmentation.batch` (the command line).
Modules whose names start with an underscore are private.

>>> import segmentation as seg
>>> from skimage import data
>>> seg.threshold(data.camera(), "otsu").thresholds
(102.0,)
>>> seg.watershed(data.coins()).count
24
"""

from . import batch, display, export, io, measurement, recipes, regions, thresholding
from ._errors import ImageLoadError, ParameterError, SegmentationError
from ._numeric import as_image, float_exponent, in_float_range, is_constant, to_uint8
from .display import (
    CHANNEL_COLORS,
    SCORE_COLORS,
    boundary_overlay,
    channel_composite,
    colorize_labels,
    display_image,
    downscale,
    label_palette,
    mask_image,
    score_overlay,
)
from .export import (
    EXPORT_FORMATS,
    NGFF_UNITS,
    encode_geojson,
    encode_jpeg_bytes,
    encode_labels,
    encode_ome_zarr_zip,
    encode_png,
    encode_png_bytes,
    encode_roi_zip,
    object_outlines,
    to_python,
    write_bytes_atomic,
    write_ome_zarr,
)
from .io import (
    DEFAULT_SAMPLE_THRESHOLD,
    DEFAULT_SAMPLE_WATERSHED,
    SAMPLES,
    ImageInfo,
    PixelSize,
    Sample,
    load_channels,
    load_image,
    load_sample,
    resolve_pixel_size,
    sample_ground_truth,
    sample_path,
)
from .measurement import (
    MeasurementTable,
    ObjectScores,
    mask_agreement,
    measure,
    object_f1,
    pairwise_iou,
    score_objects,
    unit_suffix,
)
from .recipes import (
    CHANNELS,
    CONVEX_SOLIDITY,
    FIT_SIDE,
    GLOBAL_METHODS,
    LOCAL_METHODS,
    METHODS,
    NUCLEAR_STAINS,
    PAGES,
    PROJECTIONS,
    RECIPE_FORMAT,
    RECIPE_VERSION,
    SINGLE_THRESHOLD_METHODS,
    SPECK_FRACTION,
    UDUNITS,
    UNIT_SPELLINGS,
    UNITS,
    WATERSHED_FOREGROUND,
    WATERSHED_PRESETS,
    MethodInfo,
    ParamSpec,
    ThresholdRecipe,
    WatershedRecipe,
    alias_table,
    canonical_names,
    colour_channel,
    file_selection,
    length_unit,
    recipe_from_json,
    specs_of,
    upgrade_params,
)
from .regions import (
    WatershedResult,
    as_labels,
    choose_foreground,
    convex_object_count,
    distance_map,
    distance_peak_seeds,
    edit_seeds,
    fit_nuclei_recipe,
    flood_distance,
    flood_gradient,
    h_maxima_seeds,
    intensity_band_markers,
    label_objects,
    merge_objects,
    point_seeds,
    recipe_for_image,
    seed_every_object,
    split_objects,
    typical_diameter,
    watershed,
)
from .thresholding import (
    Prepared,
    ThresholdResult,
    adaptive_threshold_mask,
    background_shrink_factor,
    binarize,
    clean_mask,
    extract_channel,
    isodata_threshold,
    li_threshold,
    manual_threshold,
    mean_threshold,
    minimum_threshold,
    multiotsu_mask,
    multiotsu_thresholds,
    niblack_surface,
    otsu_threshold,
    prepare,
    remove_small_objects,
    resolve_polarity,
    sauvola_surface,
    smooth,
    subtract_background,
    threshold,
    triangle_threshold,
    yen_threshold,
)

__version__ = "0.1.0"

__all__ = [
    # sub-packages (documented sub-namespaces)
    "batch", "display", "export", "io", "measurement", "recipes", "regions", "thresholding",
    # errors
    "ImageLoadError", "ParameterError", "SegmentationError",
    # recipes
    "METHODS", "MethodInfo", "GLOBAL_METHODS", "LOCAL_METHODS", "CHANNELS", "RECIPE_FORMAT", "WATERSHED_FOREGROUND",
    "ThresholdRecipe", "WatershedRecipe", "recipe_from_json", "ParamSpec", "specs_of", "canonical_names", "alias_table",
    # reading
    "load_image", "ImageInfo", "SAMPLES", "Sample", "load_sample", "sample_path", "sample_ground_truth",
    "DEFAULT_SAMPLE_THRESHOLD", "DEFAULT_SAMPLE_WATERSHED",
    # microscopy files: channels, planes, pixel size; recipe versions
    "resolve_pixel_size", "PixelSize", "NUCLEAR_STAINS", "PROJECTIONS", "UNITS", "RECIPE_VERSION", "colour_channel",
    "upgrade_params", "file_selection", "load_channels", "PAGES", "UDUNITS", "UNIT_SPELLINGS", "length_unit",
    # thresholding: the pipeline, the methods, pre-processing and clean-up
    "threshold", "ThresholdResult",
    "binarize", "manual_threshold", "otsu_threshold", "triangle_threshold", "li_threshold", "yen_threshold",
    "isodata_threshold", "mean_threshold", "minimum_threshold", "multiotsu_thresholds", "multiotsu_mask",
    "adaptive_threshold_mask", "sauvola_surface", "niblack_surface",
    "as_image", "extract_channel", "smooth", "resolve_polarity", "subtract_background", "background_shrink_factor",
    "prepare", "Prepared", "to_uint8", "is_constant", "float_exponent", "in_float_range",
    "clean_mask", "remove_small_objects",
    # regions: objects and the watershed
    "label_objects", "as_labels", "watershed", "WatershedResult", "distance_map", "h_maxima_seeds",
    "distance_peak_seeds", "intensity_band_markers", "point_seeds", "seed_every_object", "flood_distance",
    "flood_gradient", "edit_seeds", "merge_objects", "split_objects",
    # typical diameter, foreground choice and bundled recipes for nuclei (issue 16)
    "typical_diameter", "convex_object_count", "choose_foreground", "fit_nuclei_recipe", "recipe_for_image",
    "FIT_SIDE", "CONVEX_SOLIDITY", "SPECK_FRACTION", "SINGLE_THRESHOLD_METHODS", "WATERSHED_PRESETS",
    # measuring and scoring
    "measure", "MeasurementTable", "unit_suffix", "mask_agreement", "pairwise_iou", "object_f1", "score_objects",
    "ObjectScores",
    # display
    "display_image", "mask_image", "colorize_labels", "label_palette", "boundary_overlay", "downscale",
    "score_overlay", "SCORE_COLORS", "channel_composite", "CHANNEL_COLORS",
    # export
    "encode_png", "encode_labels", "encode_png_bytes", "encode_jpeg_bytes", "write_bytes_atomic", "to_python",
    # exports for Fiji, QuPath and napari
    "object_outlines", "encode_roi_zip", "encode_geojson", "write_ome_zarr", "encode_ome_zarr_zip", "EXPORT_FORMATS",
    "NGFF_UNITS",
]
