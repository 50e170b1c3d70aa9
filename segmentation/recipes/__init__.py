"""Recipes: a method and every parameter it uses, validated, with their JSON and URL/command-line forms.

:class:`ParamSpec` is the one source of truth for each parameter: its checks, its text form, its widget and
how it scales on a downscaled preview. Everything here is also exported by :mod:`segmentation`.
"""

from ._params import ParamSpec, alias_table, canonical_names, specs_of
from ._presets import WATERSHED_PRESETS
from ._recipes import (
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
    MethodInfo,
    ThresholdRecipe,
    WatershedRecipe,
    colour_channel,
    file_selection,
    length_unit,
    recipe_from_json,
    upgrade_params,
)

__all__ = ["ParamSpec", "specs_of", "canonical_names", "alias_table", "CHANNELS", "GLOBAL_METHODS", "LOCAL_METHODS",
           "METHODS", "MethodInfo", "RECIPE_FORMAT", "WATERSHED_FOREGROUND", "ThresholdRecipe", "WatershedRecipe",
           "recipe_from_json", "RECIPE_VERSION", "PROJECTIONS", "UNITS", "colour_channel", "upgrade_params",
           "NUCLEAR_STAINS", "file_selection", "WATERSHED_PRESETS", "PAGES", "UDUNITS",
           "UNIT_SPELLINGS", "length_unit", "FIT_SIDE", "CONVEX_SOLIDITY", "SPECK_FRACTION",
           "SINGLE_THRESHOLD_METHODS"]
