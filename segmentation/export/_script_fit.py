"""A typical diameter "auto" in :func:`segmentation.to_python`: the script fits each image as the library does.

:func:`segmentation.watershed` with ``diameter=None`` runs :func:`segmentation.fit_nuclei_recipe` on a copy of at
most ``FIT_SIDE`` px (``segmentation.recipe_for_image``): it thresholds the copy with the recipe's sizes and with
the two object sides of a 3-class multi-Otsu split, keeps the foreground with the most convex objects, estimates
the typical diameter from it, chooses again with the sizes that diameter sets, and scales the diameter back.
The script does the same with the same steps: ``threshold_foreground(image, split_classes,
background_radius, min_size)`` is the recipe's threshold steps with those three decided at run time (the
templates of ``_script_steps``, their literals replaced by the variables), ``fit(image)`` the choice, and
``segment(image)`` runs the watershed with the sizes found. The constants come from the library
(``segmentation.recipes``), so the two cannot drift apart.
"""

from __future__ import annotations

from ..recipes import CONVEX_SOLIDITY, FIT_SIDE, SINGLE_THRESHOLD_METHODS, SPECK_FRACTION, WatershedRecipe
from . import _script_steps as steps
from ._script_steps import HELPERS, Script, indent, lit

__all__ = ["fit_steps"]

HELPERS.setdefault("h_maxima", ('''
def h_maxima(distance, h):
    """Labelled domes of the distance map rising at least h above their saddle (h-maxima, scikit-image's
    float tolerance); none on a map flatter than h."""
    if h > float(distance.max(initial=0) - distance.min(initial=0)):
        return np.zeros(distance.shape, np.int32)
    resolution = 2 * np.finfo(np.float32).resolution * np.abs(distance)
    residue = distance - reconstruct_by_dilation(distance - h - resolution, distance)
    return label8(residue >= h)
''', ()))

HELPERS.setdefault("typical_diameter", ('''
def typical_diameter(mask):
    """Twice the median inscribed radius of the objects, touching ones counted one by one: the exact distance
    to the background at each seed of the distance map blurred with sigma 1 px (h-maxima, h = 1 px)."""
    objects = label8(mask)
    if objects.max(initial=0) == 0:
        return 0.0
    exact = distance_map(mask)
    blurred = cv2.GaussianBlur(exact, (0, 0), sigmaX=1.0, sigmaY=1.0)
    seeds = seed_every_object(h_maxima(blurred, 1.0), objects, blurred)
    radius = np.zeros(int(seeds.max()) + 1, np.float64)
    np.maximum.at(radius, seeds[seeds > 0], exact[seeds > 0])
    return float(2.0 * np.median(radius[1:][radius[1:] > 0])) if (radius[1:] > 0).any() else 0.0
''', ()))

HELPERS.setdefault("convex_object_count", (f'''
def convex_object_count(mask):
    """How many objects are convex (area >= {CONVEX_SOLIDITY:g} x their filled convex hull's, OpenCV) and not
    specks (area >= {SPECK_FRACTION:g} x the median object area)."""
    labels = label8(mask)
    areas = np.bincount(labels.ravel())[1:]
    if areas.size == 0:
        return 0
    least = {lit(SPECK_FRACTION)} * float(np.median(areas))
    count = 0
    for index, box in enumerate(ndi.find_objects(labels)):
        if areas[index] < least:
            continue
        pixels = (labels[box] == index + 1).view(np.uint8)
        hull = np.zeros_like(pixels)
        cv2.fillConvexPoly(hull, cv2.convexHull(cv2.findNonZero(pixels)), 1)
        if areas[index] >= {lit(CONVEX_SOLIDITY)} * cv2.countNonZero(hull | pixels):
            count += 1
    return count
''', ("ndi",)))

for _name, _needs in (("h_maxima", ("reconstruct_by_dilation", "label8")),
                      ("typical_diameter", ("label8", "distance_map", "seed_every_object", "h_maxima")),
                      ("convex_object_count", ("label8",))):
    steps.HELPER_NEEDS.setdefault(_name, _needs)


def fit_steps(s: Script, w: WatershedRecipe) -> tuple[list[str], str | None]:
    """The script's fit, for a watershed recipe whose diameter is "auto".

    Returns the sources of the functions ``threshold_foreground``, ``choose_foreground``, ``sized`` and ``fit``, and the
    polarity after the foreground (None: the variable ``polarity``); the start of ``segment()`` (the fit, then
    the foreground with the sizes found) is in ``s.lines``, and ``s.names`` holds ``h`` and ``min_distance``
    for the seeds.
    """
    fg = w.foreground
    single = fg.method in SINGLE_THRESHOLD_METHODS  # as choose_foreground: other methods keep their own foreground
    s.names = {"background_radius": "background_radius", "min_size": "min_size"}
    if single:
        s.names["classes"] = "split_classes"
    pol = steps.threshold_steps(s, fg)
    steps.back_to_image_units(s)
    body = s.lines + ([f'polarity = "{pol}"'] if pol else []) + ["", "return mask, channel, polarity"]
    s.lines, s.names = [], {}
    s.channel_changed()
    for helper in ("convex_object_count", "typical_diameter"):
        s.use(helper)
    doc = ['"""The foreground mask of ``image`` (bool H×W), the processed channel and the objects\' polarity:',
           "the recipe's threshold steps with the background radius and smallest object given, and",
           ("``split_classes`` None for the recipe's method, else the classes of a 3-class multi-Otsu split."
            if single else "its own method."), '"""']
    foreground = ("def threshold_foreground(image, split_classes, background_radius, min_size):\n"
                  + "\n".join(indent(doc + body)) + "\n")
    candidates = ['    low, high = ([1, 2], [2]) if polarity == "bright" else ([0, 1], [0])',
                  "    for classes in (low, high):",
                  "        try:",
                  "            mask = threshold_foreground(image, classes, background_radius, min_size)[0]",
                  "        except ValueError:  # fewer than three grey levels: no 3-class split",
                  "            continue",
                  "        count = convex_object_count(mask)",
                  "        if count > best_count:  # a tie keeps the earlier",
                  "            best, best_mask, best_count = classes, mask, count"] if single else []
    choose = "\n".join([
        "def choose_foreground(image, background_radius, min_size):",
        '    """The foreground with the most convex objects: the recipe\'s own threshold'
        + (", or the dimmer or the brightest\n    object classes of a 3-class multi-Otsu split." if single else ".")
        + '\n    Returns its split_classes (None: the recipe\'s own) and its mask."""',
        "    mask, _, polarity = threshold_foreground(image, None, background_radius, min_size)",
        "    best, best_mask, best_count = None, mask, convex_object_count(mask)", *candidates,
        "    return best, best_mask"]) + "\n"
    background_on = fg.background_radius > 0
    sized = "\n".join([
        "def sized(diameter):",
        '    """The sizes a typical diameter sets (the library\'s WatershedRecipe.sized): background radius, smallest',
        '    object, h and minimum seed distance."""',
        "    radius = min(1000, max(1, int(round(diameter))))" if background_on else
        f"    radius = {fg.background_radius}  # no background subtraction: it stays off",
        "    return (radius, int(round(0.05 * np.pi * diameter * diameter)), max(0.5, 0.05 * diameter),",
        "            min(1000, max(1, int(round(diameter / 1.5)))))"]) + "\n"
    fit = "\n".join([
        "def fit(image):",
        '    """The typical diameter "auto" (the library\'s fit_nuclei_recipe on a copy of at most FIT_SIDE px):',
        "    the foreground with the recipe's sizes, its typical diameter, the foreground again with the sizes",
        "    that diameter sets, kept unless it holds fewer convex objects. Returns the split_classes chosen",
        '    and the diameter on the image (0.0: none kept, the recipe\'s own sizes)."""',
        "    copy, scale = image, 1.0",
        f"    if max(image.shape[:2]) > {FIT_SIDE}:  # INTER_AREA, as the library (and the app's preview)",
        f"        scale = {FIT_SIDE} / max(image.shape[:2])",
        "        size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))",
        "        copy = cv2.resize(image, size, interpolation=cv2.INTER_AREA)",
        f"    first, first_mask = choose_foreground(copy, {fg.background_radius}, {fg.min_size})",
        "    diameter = round(typical_diameter(first_mask), 1)",
        "    if diameter <= 0:",
        "        return first, 0.0",
        "    diameter = min(diameter, 1000.0)",
        "    second, second_mask = choose_foreground(copy, *sized(diameter)[:2])",
        "    if convex_object_count(second_mask) < convex_object_count(first_mask):",
        "        return first, 0.0",
        "    return second, min(1000.0, diameter / scale)"]) + "\n"
    s.section("Typical diameter auto: fitted to this image (see fit()), which sets the sizes; with no diameter "
              "kept, the recipe's own.", [
                  "split_classes, diameter = fit(image)",
                  "if diameter:",
                  "    background_radius, min_size, h, min_distance = sized(diameter)",
                  "else:",
                  f"    background_radius, min_size, h, min_distance = {fg.background_radius}, {fg.min_size}, "
                  f"{lit(w.h)}, {w.min_distance}",
                  "mask, channel, polarity = threshold_foreground(image, split_classes, background_radius, min_size)"])
    s.names = {"h": "h", "min_distance": "min_distance"}
    return [foreground, choose, sized, fit], pol
