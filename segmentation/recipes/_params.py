"""Declarative parameter specifications shared by recipes, widgets, URLs and the command line.

Every recipe field carries a :class:`ParamSpec` in its dataclass metadata. From that one place come the
validation (range, choices, oddness), the text form used in URLs and on the command line, the widget the
app draws, and how the value scales when the preview runs on a downscaled copy of the image.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from .._errors import ParameterError

__all__ = ["ParamSpec", "param", "specs_of", "Points", "canonical_names", "alias_table"]

Points = tuple[tuple[int, int], ...]

_TRUE = {"true", "1", "yes", "on"}
_FALSE = {"false", "0", "no", "off"}


@dataclass(frozen=True)
class ParamSpec:
    """How one recipe parameter is checked, written as text, shown and scaled.

    ``kind`` is one of ``"int"``, ``"float"``, ``"bool"``, ``"choice"`` (a string from ``choices``),
    ``"int_choice"`` (an int from ``choices``), ``"int_tuple"`` (comma-separated ints),
    ``"optional_float"`` (a float or ``None`` meaning "automatic") and ``"points"``
    (``row,col;row,col``). ``when`` maps another parameter's name to the values for which this one
    applies (all conditions must hold). ``scale`` is ``"length"`` or ``"area"`` for values measured in
    pixels, so that a preview on a copy downscaled by a factor *f* uses ``value * f`` (or ``f²``).
    ``aliases`` are the parameter's earlier names: recipe files, share links and command-line options that
    use them still work (:func:`canonical_names`), so a parameter can be renamed without breaking them.
    A ``choice`` is matched case-blind and without surrounding spaces (``"MAX "`` is ``"max"``) and kept as
    its canonical spelling; ``spellings`` maps other accepted spellings (matched the same way) to a choice
    (``"micron"`` -> ``"µm"``).
    ``open`` makes a ``choice`` accept more than its ``choices`` (which are then suggestions): ``"text"``
    any short text, ``"channel"`` also a file's channel index (0, 1, ...; the text ``"2"`` is the index 2)
    or its name in the file's metadata (``"DAPI"``).

    Attributes
    ----------
    name : str
        The parameter's name in recipes, URLs, keyword arguments and (as ``--name-with-dashes``) the CLI.
    kind : str
        How the value is typed and written as text (see above).
    default : object
        The value when none is given.
    label, help : str
        The widget's label and tooltip (also the CLI help).
    group : str
        The section of the page and of ``--help`` the parameter is shown in.
    choices : tuple
        The allowed values of ``choice`` and ``int_choice`` parameters.
    min, max : float or None
        The inclusive range of numbers (for ``points``, ``max`` is the most points).
    odd : bool
        Whether an ``int`` must be odd (window sizes).
    step : float or None
        The widget's step.
    when : mapping of str to frozenset
        The other parameters' values for which this one applies.
    scale : {None, "length", "area"}
        How the value follows a downscaled preview.
    aliases : tuple of str
        Earlier names still accepted on input (never written).
    open : {"", "text", "channel"}
        Whether a ``choice`` also accepts other values (see above); ``""``: only ``choices``.
    spellings : mapping of str to str
        Other spellings of a ``choice``'s values, each mapped to one of ``choices`` (keys case-blind).
    """

    name: str
    kind: str
    default: Any
    label: str
    help: str
    group: str = "Method"
    choices: tuple = ()
    min: float | None = None
    max: float | None = None
    odd: bool = False
    step: float | None = None
    when: Mapping[str, frozenset] = dataclasses.field(default_factory=dict)
    scale: str | None = None
    aliases: tuple[str, ...] = ()
    open: str = ""
    spellings: Mapping[str, str] = dataclasses.field(default_factory=dict)

    def applies(self, values: Mapping[str, Any]) -> bool:
        """Whether this parameter matters given the other parameters' values."""
        return all(values.get(key) in allowed for key, allowed in self.when.items())

    # -- validation -------------------------------------------------------------------------------
    def check(self, value: Any) -> Any:
        """Return ``value`` converted to this parameter's type, or raise a ``ParameterError`` naming it."""
        kind = self.kind
        if isinstance(value, np.generic):  # numpy scalars (an image's mean, an np.int64 size) as Python ones
            value = value.item()
        if kind == "bool":
            if isinstance(value, (bool, int)) and value in (0, 1):
                return bool(value)
            raise self._error(value, "true or false")
        if kind == "choice":
            if isinstance(value, str) and value in self.choices:
                return value
            if isinstance(value, str) and (known := self._canonical(value)) is not None:
                return known
            if self.open:
                return self._open_value(value)
            others = [s for s in self.spellings if s not in self.choices][:4]
            raise self._error(value, "one of " + ", ".join(self.choices)
                              + (f" (other spellings such as {', '.join(others)} are accepted)" if others else ""))
        if kind == "int_choice":
            if _is_int(value) and int(value) in self.choices:
                return int(value)
            raise self._error(value, "one of " + ", ".join(map(str, self.choices)))
        if kind == "int":
            if not _is_int(value):
                raise self._error(value, "a whole number" + self._range_text())
            value = int(value)
            self._check_range(value)
            if self.odd and value % 2 == 0:
                raise self._error(value, "an odd number" + self._range_text())
            return value
        if kind == "optional_float" and isinstance(value, str) and value.strip().lower() == "auto":
            value = None  # the word its text form uses, accepted from Python too
        if kind == "float" or (kind == "optional_float" and value is not None):
            number = _finite_float(value)
            if number is None:
                raise self._error(value, "a finite number" + self._range_text()
                                  + (" or 'auto'" if kind == "optional_float" else ""))
            value = number
            self._check_range(value)
            return value
        if kind == "optional_float":
            return None
        if kind == "int_tuple":
            if not isinstance(value, (tuple, list)) or not all(_is_int(v) for v in value):
                raise self._error(value, "a list of whole numbers")
            values = tuple(int(v) for v in value)
            for v in values:
                self._check_range(v)
            if len(set(values)) != len(values):
                raise self._error(value, "a list without repeats")
            return tuple(sorted(values))
        if kind == "points":
            if not isinstance(value, (tuple, list)):
                raise self._error(value, "a list of (row, col) points")
            points = []
            for point in value:
                if (not isinstance(point, (tuple, list)) or len(point) != 2
                        or not all(_is_int(v) and int(v) >= 0 for v in point)):
                    raise self._error(value, "a list of (row, col) points with non-negative whole numbers")
                points.append((int(point[0]), int(point[1])))
            if self.max is not None and len(points) > self.max:
                raise self._error(value, f"at most {int(self.max)} points")
            return tuple(points)
        raise AssertionError(f"unknown parameter kind {kind!r}")

    def _canonical(self, text: str) -> str | None:
        """The choice ``text`` names in any letter case, with spaces around, or by another spelling; else None."""
        folded = text.strip().casefold()
        for choice in self.choices:
            if isinstance(choice, str) and choice.casefold() == folded:
                return choice
        return next((choice for spelling, choice in self.spellings.items() if spelling.casefold() == folded), None)

    def _open_value(self, value: Any) -> Any:
        """A value of an open choice outside its suggestions: short text, or (``"channel"``) an index."""
        channel = self.open == "channel"
        allowed = ("one of " + ", ".join(self.choices)
                   + (", a channel index (0, 1, ...) or a channel name from the file" if channel
                      else ", or another name of at most 32 characters"))
        if channel and _is_int(value) and int(value) >= 0:
            return int(value)
        if isinstance(value, str):
            text = value.strip()
            if channel and text.isascii() and text.isdigit():
                return int(text)
            # (A colour word in any letter case, "Red", was already taken as the word itself, which picks a
            # file's channel of that name too: names are matched case-blind, segmentation.load_image.)
            if 0 < len(text) <= (64 if channel else 32) and text.isprintable():
                return text
        raise self._error(value, allowed)

    def _check_range(self, value: float) -> None:
        if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
            raise self._error(value, self._range_text().removeprefix(" "))

    def _range_text(self) -> str:
        if self.min is not None and self.max is not None:
            return f" from {_fmt(self.min)} to {_fmt(self.max)}"
        if self.min is not None:
            return f" of at least {_fmt(self.min)}"
        if self.max is not None:
            return f" of at most {_fmt(self.max)}"
        return ""

    def _error(self, value: Any, allowed: str) -> ParameterError:
        shown = repr(value) if not isinstance(value, str) else f"'{value}'"
        if len(shown) > 60:
            shown = shown[:57] + "..."
        label = self.label.lower()
        same = label.split(" (")[0] in (self.name, self.name.replace("_", " "))  # "h (px)" says nothing new
        named = self.name if same else f"{self.name} ({label})"
        return ParameterError(f"{named} must be {allowed}; got {shown}")

    # -- text form (URLs, command line) -----------------------------------------------------------
    def to_text(self, value: Any) -> str:
        """The value as URL/command-line text; ``from_text(to_text(v)) == v`` exactly."""
        kind = self.kind
        if kind == "bool":
            return "true" if value else "false"
        if kind in ("int", "int_choice"):
            return str(int(value))
        if kind == "float" or kind == "optional_float":
            return "auto" if value is None else _float_text(value)
        if kind == "int_tuple":
            return ",".join(str(v) for v in value)
        if kind == "points":
            return ";".join(f"{r},{c}" for r, c in value)
        return str(value)

    def from_text(self, text: str) -> Any:
        """Parse URL/command-line text, then validate it; raise ``ParameterError`` naming the parameter."""
        if not isinstance(text, str):
            raise self._error(text, "text")
        raw = text.strip()
        kind = self.kind
        try:
            if kind == "bool":
                lowered = raw.lower()
                if lowered not in _TRUE | _FALSE:
                    raise ValueError
                value: Any = lowered in _TRUE
            elif kind in ("int", "int_choice"):
                value = int(raw)
            elif kind == "float":
                value = float(raw)
            elif kind == "optional_float":
                value = None if raw.lower() in ("", "auto", "none") else float(raw)
            elif kind == "int_tuple":
                value = tuple(int(v) for v in raw.split(",") if v.strip()) if raw else ()
            elif kind == "points":
                value = tuple(tuple(int(v) for v in p.split(",")) for p in raw.split(";") if p.strip())
            else:
                value = raw
        except ValueError:
            raise self._error(text, _KIND_TEXT.get(kind, "valid")) from None
        return self.check(value)

    # -- preview scaling --------------------------------------------------------------------------
    def rescale(self, value: Any, factor: float) -> Any:
        """The value to use on a copy of the image resized by ``factor`` (``factor`` < 1 shrinks)."""
        if self.scale is None or value is None:
            return value
        if self.kind == "points":
            return tuple((int(r * factor), int(c * factor)) for r, c in value)
        scaled = value * (factor * factor if self.scale == "area" else factor)
        high = self.max if self.max is not None else math.inf
        if self.kind in ("float", "optional_float"):  # a number that is not a count of pixels: never rounded
            low = self.min if self.min is not None else -math.inf
            return min(high, max(low, scaled))
        if value == 0:  # 0 means "off" for every integer length: keep it off
            return 0
        scaled = min(max(1, round(scaled)), high)
        if self.odd:
            scaled = max(int(self.min or 3), scaled + (1 - scaled % 2))
            if scaled > high:
                scaled -= 2
        elif self.min is not None:
            scaled = max(int(self.min), scaled)
        return int(scaled)


_KIND_TEXT = {
    "bool": "true or false", "int": "a whole number", "int_choice": "a whole number",
    "float": "a number", "optional_float": "a number or 'auto'", "int_tuple": "comma-separated whole numbers",
    "points": "points written as row,col;row,col",
}


def param(default: Any, **spec: Any) -> Any:
    """A dataclass field whose metadata holds its :class:`ParamSpec` (the name is filled in later)."""
    return field(default=default, metadata={"spec": spec})


def specs_of(cls_or_obj: Any) -> tuple[ParamSpec, ...]:
    """The parameter specifications of a recipe class, in declaration order.

    Parameters
    ----------
    cls_or_obj : type or object
        A recipe class (:class:`~segmentation.ThresholdRecipe`, :class:`~segmentation.WatershedRecipe`) or
        an instance of one.

    Returns
    -------
    tuple of ParamSpec
        One per parameter field (the watershed's nested ``foreground`` is not one).

    Raises
    ------
    ParameterError
        If ``cls_or_obj`` is not a recipe class or recipe.

    Examples
    --------
    >>> import segmentation as seg
    >>> [spec.name for spec in specs_of(seg.ThresholdRecipe)][:3]
    ['method', 'channel', 'pages']
    """
    cls = cls_or_obj if isinstance(cls_or_obj, type) else type(cls_or_obj)
    if not dataclasses.is_dataclass(cls):
        raise ParameterError(f"cls_or_obj must be a recipe class or a recipe; got {cls.__name__}")
    cached = cls.__dict__.get("_specs_cache")
    if cached is None:
        cached = tuple(
            ParamSpec(name=f.name, default=f.default, **f.metadata["spec"])
            for f in dataclasses.fields(cls) if "spec" in f.metadata
        )
        setattr(cls, "_specs_cache", cached)
    return cached


def canonical_names(specs: tuple[ParamSpec, ...], values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every parameter's earlier name (a :attr:`ParamSpec.aliases` entry) replaced by its name.

    Parameters
    ----------
    specs : tuple of ParamSpec
        The parameters that may be named.
    values : mapping of str to object
        Parameter values keyed by current or earlier names (a URL's query, a recipe file's ``params``,
        keyword arguments). Other keys are kept as they are.

    Returns
    -------
    dict
        The same values keyed by the current names, in the original order.

    Raises
    ------
    ParameterError
        If a parameter is given under two of its names.
    """
    if not any(spec.aliases for spec in specs):  # the usual case: nothing was ever renamed
        return dict(values)
    renamed = alias_table(specs)
    if not renamed.keys() & values.keys():
        return dict(values)
    result: dict[str, Any] = {}
    for key, value in values.items():
        name = renamed.get(key, key)
        if name in result:
            given = [k for k in values if renamed.get(k, k) == name]
            raise ParameterError(f"{name} is given twice, as {' and '.join(given)} "
                                 f"({', '.join(g for g in given if g != name)} is its earlier name)")
        result[name] = value
    return result


def alias_table(specs: tuple[ParamSpec, ...]) -> dict[str, str]:
    """``{earlier name: current name}`` for ``specs``, refusing earlier names that would be ambiguous.

    Parameters
    ----------
    specs : tuple of ParamSpec
        Parameters that share one namespace (a watershed's own and its foreground's share URLs and JSON).

    Returns
    -------
    dict of str to str
        Every alias mapped to its parameter's current name.

    Raises
    ------
    ValueError
        If an alias is also a current name, or two parameters claim the same alias (a mistake in the specs,
        not in a user's input: such an alias would silently set the wrong parameter).
    """
    names = {spec.name for spec in specs}
    table: dict[str, str] = {}
    for spec in specs:
        for alias in spec.aliases:
            if alias in names or table.get(alias, spec.name) != spec.name:
                other = alias if alias in names else table[alias]
                raise ValueError(f"the earlier name {alias!r} of {spec.name} is ambiguous: it is also "
                                 f"{'the name' if alias in names else 'an earlier name'} of {other}")
            table[alias] = spec.name
    return table


def _is_int(value: Any) -> bool:
    if isinstance(value, (bool, np.bool_)):
        return False
    if isinstance(value, (int, np.integer)):  # numpy ints too: points often come from np.argwhere
        return True
    return isinstance(value, (float, np.floating)) and math.isfinite(value) and float(value).is_integer()


def _finite_float(value: Any) -> float | None:
    """``value`` as a finite float, or None (not a number, a bool, NaN, infinite, or an int beyond float64)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int of more than about 309 digits (JSON integers can be that long)
        return None
    return number if math.isfinite(number) else None


def _float_text(value: float) -> str:
    # repr() is the shortest text that parses back to the same float, so URLs round-trip exactly.
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def _fmt(value: float) -> str:
    return _float_text(value) if isinstance(value, float) else str(value)
