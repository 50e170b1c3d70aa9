"""Region-based segmentation: connected objects of a mask, and marker-based watershed (seeds, landscapes, flooding).

Everything here is also exported by :mod:`segmentation`.
"""

from ._declump import (
    choose_foreground,
    convex_object_count,
    fit_nuclei_recipe,
    recipe_for_image,
    typical_diameter,
)
from ._labels import as_labels, label_objects
from ._seed_edits import edit_seeds, merge_objects, split_objects
from ._segment import watershed
from ._watershed import (
    WatershedResult,
    distance_map,
    distance_peak_seeds,
    flood_distance,
    flood_gradient,
    h_maxima_seeds,
    intensity_band_markers,
    point_seeds,
    seed_every_object,
)

__all__ = ["label_objects", "as_labels", "watershed", "WatershedResult", "distance_map", "h_maxima_seeds",
           "distance_peak_seeds", "intensity_band_markers", "point_seeds", "seed_every_object", "flood_distance",
           "flood_gradient", "typical_diameter", "convex_object_count", "choose_foreground", "fit_nuclei_recipe",
           "recipe_for_image", "edit_seeds", "merge_objects", "split_objects"]
