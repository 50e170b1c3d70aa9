"""Recipes: validation with messages that name the parameter, exact JSON and flat-dict round trips,
rescaling for the preview, and keyword splitting between the watershed and its foreground."""

from __future__ import annotations

import json

import pytest
from skimage import data

import segmentation as seg
from segmentation import (
    RECIPE_FORMAT,
    RECIPE_VERSION,
    WATERSHED_FOREGROUND,
    ThresholdRecipe,
    WatershedRecipe,
    recipe_from_json,
)


# ------------------------------------------------------------------------------------- validation
def invalid_values(spec):
    """Values every spec of this kind must refuse (out of range, wrong type, even, unknown choice ...)."""
    bad = []
    if spec.kind == "int":
        bad += ["3", 2.5, True, None, float("nan")]
        if spec.min is not None:
            bad.append(int(spec.min) - 1)
        if spec.max is not None:
            bad.append(int(spec.max) + 1)
        if spec.odd:
            bad.append(int(spec.min) + 1)  # even, inside the range
    elif spec.kind == "float":
        bad += ["1.0", True, None, float("nan"), float("inf"), -float("inf")]
        if spec.min is not None:
            bad.append(spec.min - 0.001)
        if spec.max is not None:
            bad.append(spec.max * 1.001 + 0.001)
    elif spec.kind == "optional_float":
        bad += ["1.0", True, float("nan"), float("inf")]
    elif spec.kind == "bool":
        bad += [2, -1, "yes", "true", None, 0.5]
    elif spec.kind == "choice" and spec.open:  # other names (and, for channel, indices) are accepted
        bad += ["", "   ", None, 2.5, True, -1, "x" * 100, "tab\tin name"]
    elif spec.kind == "choice":
        bad += ["no-such-choice", spec.choices[0] + "x", "", 1, None]  # other letter case is accepted: see below
    elif spec.kind == "int_choice":
        bad += [max(spec.choices) + 1, str(spec.choices[0]), True, 4.5]
    elif spec.kind == "int_tuple":
        bad += ["1,2", (1.5,), (1, 1), (int(spec.max) + 1,), (-1,), 3]
    elif spec.kind == "points":
        bad += ["1,2", [(1,)], [(1, 2, 3)], [(-1, 2)], [(1.5, 2)], [("1", 2)],
                [(i, i) for i in range(int(spec.max) + 1)]]
    else:  # pragma: no cover - a new kind needs cases here
        raise AssertionError(f"no invalid values for kind {spec.kind}")
    return bad


SPEC_CASES = [(cls, spec, value) for cls in (ThresholdRecipe, WatershedRecipe) for spec in cls.specs()
              for value in invalid_values(spec)]


@pytest.mark.parametrize("cls, spec, value", SPEC_CASES,
                         ids=[f"{c.__name__}.{s.name}={v!r}"[:60] for c, s, v in SPEC_CASES])
def test_invalid_value_is_a_value_error_naming_the_parameter(cls, spec, value):
    with pytest.raises(ValueError) as info:
        cls(**{spec.name: value})
    assert str(info.value).startswith(spec.name + " "), str(info.value)


def test_every_kind_of_spec_is_covered():
    kinds = {spec.kind for cls in (ThresholdRecipe, WatershedRecipe) for spec in cls.specs()}
    assert kinds == {"int", "float", "optional_float", "bool", "choice", "int_choice", "int_tuple", "points"}


@pytest.mark.parametrize("cls", [ThresholdRecipe, WatershedRecipe])
def test_boundary_values_are_accepted(cls):
    for spec in cls.specs():
        if spec.kind in ("int", "float") and spec.min is not None and spec.max is not None:
            for value in (spec.min, spec.max):
                recipe = cls(**{spec.name: value})
                assert getattr(recipe, spec.name) == value
                assert type(getattr(recipe, spec.name)) is (int if spec.kind == "int" else float)


def test_values_are_normalised_to_their_type():
    recipe = ThresholdRecipe(window=31.0, k=1, fill_holes=1, foreground_classes=[2, 0])
    assert recipe.window == 31 and type(recipe.window) is int
    assert recipe.k == 1.0 and type(recipe.k) is float
    assert recipe.fill_holes is True
    assert recipe.foreground_classes == (0, 2)
    assert WatershedRecipe(points=[[1, 2], [3, 4]]).points == ((1, 2), (3, 4))


def test_foreground_classes_must_lie_below_classes():
    with pytest.raises(ValueError, match="^foreground_classes"):
        ThresholdRecipe(method="multiotsu", classes=3, foreground_classes=(3,))
    with pytest.raises(ValueError, match="^foreground_classes"):
        ThresholdRecipe(method="multiotsu", classes=2, foreground_classes=(0, 2))
    assert ThresholdRecipe(method="multiotsu", classes=3, foreground_classes=(0, 2)).foreground_classes == (0, 2)
    assert ThresholdRecipe(method="multiotsu", classes=5, foreground_classes=(4,)).classes == 5


def test_band_low_must_not_exceed_band_high():
    with pytest.raises(ValueError, match="^band_low"):
        WatershedRecipe(seeds="intensity_bands", band_low=150, band_high=100)
    assert WatershedRecipe(seeds="intensity_bands", band_low=100, band_high=100).band_low == 100
    assert WatershedRecipe(seeds="intensity_bands", band_low=100).band_high is None


def test_foreground_must_be_a_threshold_recipe_or_dict():
    with pytest.raises(ValueError, match="foreground"):
        WatershedRecipe(foreground="otsu")
    recipe = WatershedRecipe(foreground={"method": "li"})
    assert recipe.foreground == WATERSHED_FOREGROUND.replace(method="li")
    with pytest.raises(ValueError, match="^window"):
        WatershedRecipe(foreground={"window": 4})


def test_recipes_are_immutable():
    recipe = ThresholdRecipe()
    with pytest.raises(AttributeError):
        recipe.window = 3


# ------------------------------------------------------------------------------------ round trips
THRESHOLD_RECIPES = [
    ThresholdRecipe(),
    ThresholdRecipe(method="manual", value=0.1 + 0.2),
    ThresholdRecipe(method="manual", value=-1e-300, polarity="dark"),
    ThresholdRecipe(method="sauvola", window=31, k=0.1 + 0.2, r=123.456789012345, polarity="dark"),
    ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(1, 3), channel="hue"),
    ThresholdRecipe(method="adaptive_gaussian", block_size=101, offset=-7.25, smoothing="median", median_size=7),
    ThresholdRecipe(smoothing="gaussian", sigma=1 / 3, background_radius=25, opening=3, closing=5,
                    iterations=2, fill_holes=True, min_size=10 ** 9, clear_border=True),
]
WATERSHED_RECIPES = [
    WatershedRecipe(),
    WatershedRecipe(seeds="points", points=((0, 0), (10, 20), (65535, 3))),
    WatershedRecipe(seeds="intensity_bands", band_low=0.1 + 0.2, band_high=None),
    WatershedRecipe(seeds="intensity_bands", band_low=None, band_high=1e-7),
    WatershedRecipe(seeds="distance_peaks", min_distance=3, peak_fraction=0.1 + 0.2, distance_sigma=0.0,
                    landscape="gradient", watershed_line=True),
    WatershedRecipe(h=2 / 3, compactness=1e-3, connectivity=8,
                    foreground=ThresholdRecipe(method="li", smoothing="none", min_size=0, polarity="dark")),
    WatershedRecipe(foreground=ThresholdRecipe(method="multiotsu", foreground_classes=(0, 2))),
]
ALL_RECIPES = THRESHOLD_RECIPES + WATERSHED_RECIPES


@pytest.mark.parametrize("recipe", ALL_RECIPES)
def test_json_round_trip_is_exact(recipe):
    text = recipe.to_json()
    data_ = json.loads(text)
    assert data_["format"] == RECIPE_FORMAT and data_["version"] == RECIPE_VERSION and data_["kind"] == recipe.kind
    back = type(recipe).from_json(text)
    assert back == recipe
    assert recipe_from_json(text) == recipe
    assert type(recipe_from_json(text)) is type(recipe)
    for name, value in recipe.values().items():
        assert getattr(back, name) == value and type(getattr(back, name)) is type(value)


@pytest.mark.parametrize("recipe", ALL_RECIPES)
@pytest.mark.parametrize("include_defaults", [False, True])
def test_flat_round_trip_is_exact(recipe, include_defaults):
    flat = recipe.to_flat(include_defaults=include_defaults)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in flat.items())
    back = type(recipe).from_flat(flat)
    assert back == recipe
    for name, value in recipe.values().items():
        assert getattr(back, name) == value and type(getattr(back, name)) is type(value)


def test_flat_form_text():
    recipe = ThresholdRecipe(method="manual", value=0.1 + 0.2)
    assert recipe.to_flat() == {"method": "manual", "value": "0.30000000000000004"}
    assert ThresholdRecipe().to_flat() == {}
    assert WatershedRecipe().to_flat() == {}
    points = WatershedRecipe(seeds="points", points=((1, 2), (3, 4))).to_flat()
    assert points == {"seeds": "points", "points": "1,2;3,4"}
    bands = WatershedRecipe(seeds="intensity_bands", band_low=5).to_flat(include_defaults=True)
    assert bands["band_low"] == "5" and bands["band_high"] == "auto"
    classes = ThresholdRecipe(method="multiotsu", foreground_classes=(2, 0)).to_flat()
    assert classes["foreground_classes"] == "0,2"
    # the watershed's flat form holds its foreground's parameters under their own names
    assert WatershedRecipe(foreground=WATERSHED_FOREGROUND.replace(method="li")).to_flat() == {"method": "li"}


def test_from_flat_parses_text_forms():
    recipe = ThresholdRecipe.from_flat({"method": "sauvola", "window": " 31 ", "fill_holes": "YES", "k": "1e-1"})
    assert recipe == ThresholdRecipe(method="sauvola", window=31, fill_holes=True, k=0.1)
    assert WatershedRecipe.from_flat({"band_low": "auto", "band_high": "none"}).band_low is None
    assert ThresholdRecipe.from_flat({"foreground_classes": ""}).foreground_classes == ()
    assert WatershedRecipe.from_flat({"points": ""}).points == ()


@pytest.mark.parametrize("cls, name, text", [
    (ThresholdRecipe, "window", "abc"), (ThresholdRecipe, "window", "30"), (ThresholdRecipe, "sigma", "nan"),
    (ThresholdRecipe, "fill_holes", "maybe"), (ThresholdRecipe, "method", "otsu2"),
    (ThresholdRecipe, "foreground_classes", "1,x"), (WatershedRecipe, "points", "1,2;3"),
    (WatershedRecipe, "band_low", "low"), (WatershedRecipe, "connectivity", "6"),
    (WatershedRecipe, "sigma", "-1"),  # a foreground parameter in the watershed's flat form
])
def test_from_flat_bad_text_names_the_parameter(cls, name, text):
    with pytest.raises(ValueError) as info:
        cls.from_flat({name: text})
    assert str(info.value).startswith(name + " ")


def test_from_flat_ignores_unknown_keys_unless_asked():
    assert ThresholdRecipe.from_flat({"method": "li", "page": "3", "utm_source": "x"}) == ThresholdRecipe(method="li")
    assert WatershedRecipe.from_flat({"h": "2", "page": "3"}) == WatershedRecipe(h=2)
    with pytest.raises(ValueError, match="utm_source"):
        ThresholdRecipe.from_flat({"method": "li", "utm_source": "x"}, ignore_unknown=False)
    with pytest.raises(ValueError, match="page"):
        WatershedRecipe.from_flat({"h": "2", "page": "3"}, ignore_unknown=False)
    # every known name passes the strict check, including the foreground's inside a watershed recipe
    recipe = WATERSHED_RECIPES[5]
    assert WatershedRecipe.from_flat(recipe.to_flat(include_defaults=True), ignore_unknown=False) == recipe


# -------------------------------------------------------------------------------------- rescaled
@pytest.mark.parametrize("factor", [0.5, 0.37, 0.25, 0.1])
def test_rescaled_scales_lengths_and_areas(factor):
    recipe = ThresholdRecipe(method="sauvola", window=51, smoothing="gaussian", sigma=3.0, median_size=9,
                             block_size=101, background_radius=50, opening=5, closing=0, min_size=400, k=0.3)
    scaled = recipe.rescaled(factor)
    for name in ("window", "median_size", "block_size"):  # odd lengths stay odd and at least 3
        value = getattr(scaled, name)
        assert value % 2 == 1 and value >= 3, (name, value)
        assert value == 3 or abs(value - getattr(recipe, name) * factor) <= 1.5, (name, value)
    assert scaled.sigma == pytest.approx(max(0.1, 3.0 * factor))
    assert abs(scaled.background_radius - 50 * factor) <= 0.5 + 1e-9
    assert scaled.opening >= 1 and abs(scaled.opening - 5 * factor) <= 1
    assert scaled.closing == 0  # 0 means off and stays off
    assert abs(scaled.min_size - max(1, round(400 * factor ** 2))) <= 0.5
    assert scaled.k == recipe.k and scaled.method == recipe.method and scaled.iterations == recipe.iterations
    assert recipe.rescaled(1) is recipe


def test_rescaled_small_values_keep_their_minimum():
    recipe = ThresholdRecipe(method="sauvola", window=3, smoothing="gaussian", sigma=0.1, min_size=1, opening=0)
    scaled = recipe.rescaled(0.25)
    assert scaled.window == 3 and scaled.sigma == 0.1 and scaled.min_size == 1 and scaled.opening == 0
    assert ThresholdRecipe(block_size=5).rescaled(0.5).block_size == 3


def test_watershed_rescaled_scales_its_own_and_the_foreground_parameters():
    recipe = WatershedRecipe(seeds="points", points=((10, 20), (101, 7)), h=2.0, min_distance=8, distance_sigma=2.0)
    scaled = recipe.rescaled(0.5)
    assert scaled.points == ((5, 10), (50, 3))
    assert scaled.h == pytest.approx(1.0) and scaled.min_distance == 4 and scaled.distance_sigma == pytest.approx(1.0)
    assert scaled.foreground.background_radius == 25
    assert abs(scaled.foreground.min_size - WATERSHED_FOREGROUND.min_size * 0.25) <= 0.5
    assert scaled.foreground.sigma == pytest.approx(WATERSHED_FOREGROUND.sigma * 0.5)
    assert scaled.compactness == recipe.compactness and scaled.peak_fraction == recipe.peak_fraction
    assert WatershedRecipe(min_distance=1, h=0.05).rescaled(0.1).min_distance == 1
    assert WatershedRecipe(min_distance=1, h=0.05).rescaled(0.1).h == 0.05


# ------------------------------------------------------------------------------ JSON file errors
def test_recipe_from_json_dispatches_on_kind():
    assert isinstance(recipe_from_json(ThresholdRecipe(method="li").to_json()), ThresholdRecipe)
    assert isinstance(recipe_from_json(WatershedRecipe(h=3).to_json()), WatershedRecipe)


def _doc(**changes):
    doc = ThresholdRecipe(method="yen").to_dict()
    doc.update(changes)
    return json.dumps(doc)


@pytest.mark.parametrize("text, pattern", [
    ("{not json", "not valid JSON"),
    ("[1, 2]", "not a Segmentation Studio recipe"),
    (_doc(kind="histogram"), "kind"),
    (_doc(format="something-else"), "not a Segmentation Studio recipe"),
    (_doc(version=RECIPE_VERSION + 1), f"version {RECIPE_VERSION + 1}"),
    (_doc(version=True), "version True"),
    (_doc(params=[1, 2]), "params"),
    (_doc(params={"method": "yen", "bogus": 1}), "bogus"),
    (_doc(params={"method": "yen", "window": 4}), "window"),
])
def test_bad_recipe_files_give_readable_value_errors(text, pattern):
    with pytest.raises(ValueError, match=pattern):
        recipe_from_json(text)


def test_reading_a_recipe_of_the_other_kind():
    with pytest.raises(ValueError, match="'watershed' recipe, not a 'threshold'"):
        ThresholdRecipe.from_json(WatershedRecipe().to_json())
    with pytest.raises(ValueError, match="'threshold' recipe, not a 'watershed'"):
        WatershedRecipe.from_json(ThresholdRecipe().to_json())
    doc = WatershedRecipe().to_dict()
    doc["version"] = 7
    with pytest.raises(ValueError, match="version 7"):
        WatershedRecipe.from_dict(doc)
    doc = WatershedRecipe().to_dict()
    doc["params"]["bogus"] = 1
    with pytest.raises(ValueError, match="bogus"):
        recipe_from_json(json.dumps(doc))


def test_missing_params_take_their_defaults():
    # Version 1 measured in pixels unless told otherwise: its recipes keep that (pixel_size 0), where version 2
    # takes the file's pixel size (pixel_size None, "auto"); versions 1 and 2 read one plane (projection "none"),
    # where version 3 takes the maximum of a z-stack ("auto").
    doc = {"format": RECIPE_FORMAT, "version": 1, "kind": "watershed", "params": {"h": 4}}
    assert recipe_from_json(json.dumps(doc)) == WatershedRecipe.from_params(h=4, pixel_size=0, projection="none")
    doc = {"format": RECIPE_FORMAT, "version": 1, "kind": "threshold"}
    assert recipe_from_json(json.dumps(doc)) == ThresholdRecipe(pixel_size=0, projection="none")
    doc = {"format": RECIPE_FORMAT, "version": 2, "kind": "threshold"}
    assert recipe_from_json(json.dumps(doc)) == ThresholdRecipe(projection="none")
    doc = {"format": RECIPE_FORMAT, "version": RECIPE_VERSION, "kind": "threshold"}
    assert recipe_from_json(json.dumps(doc)) == ThresholdRecipe()


# -------------------------------------------------------------------------- keyword splitting
def test_from_params_splits_watershed_and_foreground_keywords():
    recipe = WatershedRecipe.from_params(method="li", min_size=30, seeds="distance_peaks", min_distance=9)
    assert recipe.foreground == WATERSHED_FOREGROUND.replace(method="li", min_size=30)
    assert recipe.seeds == "distance_peaks" and recipe.min_distance == 9
    with pytest.raises(ValueError, match="bogus"):
        WatershedRecipe.from_params(method="li", bogus=1)
    nested = WatershedRecipe.from_params(foreground={"method": "yen"}, sigma=2.0)
    assert nested.foreground == WATERSHED_FOREGROUND.replace(method="yen", sigma=2.0)


def test_watershed_and_threshold_keywords():
    image = data.coins()[:120, :160]
    result = seg.watershed(image, method="li", min_size=30)
    assert result.recipe.foreground.method == "li" and result.recipe.foreground.min_size == 30
    assert result.threshold.recipe == result.recipe.foreground
    with pytest.raises(ValueError, match="min_sise"):
        seg.watershed(image, min_sise=30)
    with pytest.raises(ValueError, match="^window"):
        seg.watershed(image, method="sauvola", window=4)
    threshold = seg.threshold(image, "sauvola", window=31, k=0.1)
    assert threshold.recipe == ThresholdRecipe(method="sauvola", window=31, k=0.1)
    on_top = seg.threshold(image, ThresholdRecipe(method="sauvola"), window=15)
    assert on_top.recipe.window == 15 and on_top.recipe.method == "sauvola"
    with pytest.raises((TypeError, ValueError), match="windw"):
        seg.threshold(image, "sauvola", windw=31)
    with pytest.raises(ValueError, match="^method"):
        seg.threshold(image, "otsu2")


def _applicable(recipe) -> set[str]:
    values = recipe.values()
    return {spec.name for spec in recipe.specs() if spec.applies(values)}


def test_parameters_apply_as_their_when_conditions_say():
    applicable = _applicable(ThresholdRecipe(method="sauvola"))
    assert {"window", "k", "r"} <= applicable
    assert not {"block_size", "offset", "classes", "value", "sigma", "median_size"} & applicable
    applicable = _applicable(WatershedRecipe(seeds="points", landscape="gradient"))
    assert "points" in applicable and not {"h", "min_distance", "compactness", "connectivity"} & applicable


# -------------------------------------------------------------------------- choices in any letter case
@pytest.mark.parametrize("cls", [ThresholdRecipe, WatershedRecipe])
def test_every_choice_takes_any_letter_case_and_spaces_and_keeps_its_own_spelling(cls):
    for spec in cls.specs():
        if spec.kind != "choice":
            continue
        for choice in spec.choices:
            for typed in (choice.upper(), choice.title(), f"  {choice} "):
                assert spec.check(typed) == choice, (spec.name, typed)
                assert spec.from_text(typed) == choice, (spec.name, typed)
    assert ThresholdRecipe.from_flat({"projection": "MAX", "smoothing": "Gaussian"}).projection == "max"
    assert ThresholdRecipe(method="OTSU ").method == "otsu"
    assert ThresholdRecipe(channel="DAPI").channel == "DAPI"  # a file's channel name is kept as written


def test_units_are_length_units_in_any_common_spelling():
    for typed, unit in (("um", "µm"), ("\u03bcm", "µm"), ("\u00b5m", "µm"), ("MICRON", "µm"), ("Micrometre", "µm"),
                        (" nm ", "nm"), ("nanometers", "nm"), ("millimetre", "mm"), ("CM", "cm"), ("meter", "m"),
                        ("angstrom", "Å"), ("\u212b", "Å")):
        assert ThresholdRecipe(unit=typed).unit == unit, typed
        assert ThresholdRecipe.from_flat({"unit": typed}).unit == unit, typed
    for bad in ("furlong", "", "%", "°", "px", "inch", "µm²"):
        with pytest.raises(seg.ParameterError) as info:
            ThresholdRecipe(unit=bad)
        message = str(info.value)
        assert message.startswith("unit ") and all(u in message for u in seg.UNITS) and repr(bad)[1:-1] in message
    # Every unit has its UDUNITS-2 name (what OME-NGFF writes); the file reader knows the same spellings
    # (tests/test_microscopy_pages.py).
    assert set(seg.UDUNITS) == set(seg.UNITS)
    assert seg.UDUNITS == {"µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
                           "m": "meter", "Å": "angstrom"}
    for spelling, unit in {**seg.UNIT_SPELLINGS, **{u: u for u in seg.UNITS}}.items():
        assert seg.length_unit(spelling) == unit, spelling
