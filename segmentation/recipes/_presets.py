"""Bundled recipes: published pipelines written as this library's recipes, to compare with the defaults.

Each preset is an ordinary :class:`~segmentation.WatershedRecipe`: it round-trips through JSON, share links
and the command line, and :func:`segmentation.to_python` writes a script that gives the same labels.
Their dev-set figures are in ``docs/DEFAULTS.md`` ("Nuclei defaults on the dev set").
"""

from __future__ import annotations

import math
from types import MappingProxyType

from ._recipes import ThresholdRecipe, WatershedRecipe

__all__ = ["WATERSHED_PRESETS"]

#: CellProfiler's IdentifyPrimaryObjects as in its nuclei pipelines (BBBC039 / DSB 2018), with its
#: automatic settings for a smallest typical diameter of 10 px: threshold smoothing sigma 1.3488, minimum
#: cross-entropy (Li) threshold, holes filled, objects under a 10-px disc (79 px) removed, "shape"
#: declumping (maxima of the distance map at least 10 / 1.5 = 7 px apart, the map smoothed by CellProfiler's
#: automatic filter size 2.35 × 10 / 3.5 = 6.7 px, sigma 6.7 / 2.35 = 2.86 px) with "intensity" dividing
#: lines (the gradient landscape), after a background removal by a top-hat (opening) of radius 50 px.
_CELLPROFILER_MIN_DIAMETER = 10
CELLPROFILER_NUCLEI = WatershedRecipe(
    foreground=ThresholdRecipe(method="li", smoothing="gaussian", sigma=1.3488, background_radius=50,
                               fill_holes=True,
                               min_size=int(round(math.pi * (_CELLPROFILER_MIN_DIAMETER / 2) ** 2))),
    seeds="distance_peaks", min_distance=int(round(_CELLPROFILER_MIN_DIAMETER / 1.5)),
    distance_sigma=round(2.35 * _CELLPROFILER_MIN_DIAMETER / 3.5 / 2.35, 2), landscape="gradient",
    diameter=0.0)  # its own published sizes, not the library's fitted ones

#: Every bundled watershed recipe by name (read-only).
#: ``cellprofiler_nuclei``: CellProfiler's nuclei pipeline (see :data:`CELLPROFILER_NUCLEI`); references:
#: C. McQuin et al., *PLoS Biology* 16(7):e2005970, 2018, doi:10.1371/journal.pbio.2005970; V. Ljosa,
#: K. L. Sokolnicki and A. E. Carpenter, *Nature Methods* 9:637, 2012, doi:10.1038/nmeth.2083 (BBBC039).
WATERSHED_PRESETS = MappingProxyType({"cellprofiler_nuclei": CELLPROFILER_NUCLEI})
