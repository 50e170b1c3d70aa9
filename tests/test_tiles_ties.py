"""Watershed where two seeds of one group of touching objects have exactly equal heights.

scikit-image's flooding pushes every seed pixel at age 0 and pops its binary heap by (height, age): seed
pixels of equal height tie, and the heap breaks the tie by its layout, which depends on everything else in the
heap. In one call on the whole image the line between two mirror-image objects therefore moved when an object
far away was added, so no tile (no halo) could reproduce it. The library floods every object on its own
(``flood_distance``), so its labels depend on that object alone: the same in the whole image, in any tile, and
with any other objects around. References: scikit-image's own ``watershed`` called on the image holding the
group alone, and one call on the whole image for every object without a tie.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import segmentation as sk_segmentation

import segmentation as seg
from segmentation.batch import segment_tiled

#: Offsets of a disc's twin: the two equal discs make a group symmetric under a half turn, so the distance map
#: gives both seeds exactly the same height (with distance_sigma=0 the heights are square roots of integers).
TWIN_OFFSETS = [(5, 8), (8, 5), (0, 9), (6, -7), (9, 0), (-5, 8)]


def discs(seed: int, size: int = 400, twins: bool = True) -> np.ndarray:
    """A 0/255 mask: a disc every 40 px (radius 5-8), 60% of them with a touching twin (equal, or 1 px larger)."""
    rng = np.random.default_rng(seed)
    image = np.zeros((size, size), np.uint8)
    for row in range(20, size - 20, 40):
        for col in range(20, size - 20, 40):
            radius = int(rng.integers(5, 9))
            cv2.circle(image, (col, row), radius, 255, -1)
            if rng.random() < 0.6:
                dr, dc = TWIN_OFFSETS[int(rng.integers(len(TWIN_OFFSETS)))]
                cv2.circle(image, (col + dc, row + dr), radius if twins else radius + 1, 255, -1)
    return image


def recipe(**params) -> seg.WatershedRecipe:
    """The mask as it is (value > 0), h-maxima seeds on the distance map, 8-connected flooding."""
    return seg.WatershedRecipe.from_params(method="manual", value=0, polarity="bright", smoothing="none",
                                           fill_holes=False, min_size=0, seeds="h_maxima", h=1.0,
                                           connectivity=8, **params)


def tied_groups(whole: seg.WatershedResult, objects: np.ndarray) -> list[int]:
    """The groups (8-connected foreground components) holding seed pixels of two seeds at the same height."""
    tied = []
    for k in range(1, int(objects.max()) + 1):
        where = (objects == k) & (whole.markers > 0)
        heights, seeds = whole.distance[where], whole.markers[where]
        if any(np.unique(seeds[heights == h]).size > 1 for h in np.unique(heights)):
            tied.append(k)
    return tied


def alone(image: np.ndarray, rec: seg.WatershedRecipe, whole: seg.WatershedResult, inside: np.ndarray) -> np.ndarray:
    """The whole-image watershed of the image holding only the group ``inside``, in ``whole``'s numbers."""
    result = seg.watershed(np.where(inside, image, 0).astype(image.dtype), rec)
    assert np.array_equal(result.distance[inside], whole.distance[inside])  # the same landscape ...
    assert np.array_equal(result.markers[inside] > 0, whole.markers[inside] > 0)  # ... and seeds
    spots = inside & (whole.markers > 0)
    lookup = np.zeros(int(result.labels.max()) + 1, np.int64)
    lookup[result.labels[spots]] = whole.labels[spots]
    return lookup[result.labels[inside]]


def test_a_far_object_no_longer_moves_the_line_between_seeds_of_equal_height():
    """The root cause, gone: a tied group is split the same whatever objects lie far away, and as scikit-image
    splits the group when it is the only object in the image."""
    rec = recipe(distance_sigma=0.0)
    base = np.zeros((120, 400), np.uint8)
    cv2.circle(base, (30, 30), 7, 255, -1)
    cv2.circle(base, (38, 35), 7, 255, -1)  # its mirror image under a half turn about (34, 32.5)
    alone_result = seg.watershed(base, rec)
    skimage_alone = sk_segmentation.watershed(-alone_result.distance, alone_result.markers,
                                              mask=alone_result.foreground, connectivity=2)
    assert np.array_equal(alone_result.labels, skimage_alone)
    splits, whole_call = set(), set()
    for extra in range(12):
        image = base.copy()
        for i in range(extra):  # discs 110 px or more to the right, each an object of its own
            cv2.circle(image, (150 + 20 * i, 30), 4 + i % 5, 255, -1)
        result = seg.watershed(image, rec)
        group, seeds, distance = result.labels[:60, :60], result.markers[:60, :60], result.distance[:60, :60]
        tops = [distance[seeds == s].max() for s in np.unique(seeds[seeds > 0])]
        assert len(tops) == 2 and tops[0] == tops[1]  # the two seeds tie
        mine = alone_result.labels[:60, :60]
        assert np.array_equal(group == group[30, 30], mine == mine[30, 30]), extra  # the same line (numbers vary)
        assert np.array_equal(group > 0, mine > 0)
        splits.add(int((group == group[30, 30]).sum()))
        one_call = sk_segmentation.watershed(-result.distance, result.markers, mask=result.foreground, connectivity=2)
        whole_call.add(int((one_call[:60, :60] == one_call[30, 30]).sum()))
    assert len(splits) == 1
    # What made the exception: one scikit-image call on the whole image splits the group in several ways.
    assert len(whole_call) > 1, "scikit-image breaks such ties locally now: flooding object by object is moot"


@pytest.mark.parametrize("params, tiles", [(dict(distance_sigma=0.0), (48, 64, 100, 160, 400)),
                                           (dict(distance_sigma=1.0), (48, 64, 100, 160, 400)),
                                           (dict(distance_sigma=0.0, watershed_line=True), (64, 160)),
                                           (dict(distance_sigma=0.0, compactness=0.01), (64, 160))],
                         ids=["exact distance", "blurred distance", "watershed lines", "compact"])
def test_tied_groups_are_split_as_alone_in_the_whole_image_and_every_tile(params, tiles):
    rec = recipe(**params)
    image = discs(1)
    whole = seg.watershed(image, rec)
    objects = seg.label_objects(whole.foreground, 8)
    tied = tied_groups(whole, objects)
    assert len(tied) >= 10  # the mirror-image twins
    for k in tied:
        inside = objects == k
        assert np.array_equal(whole.labels[inside], alone(image, rec, whole, inside)), k
    untied = ~np.isin(objects, tied)
    one_call = sk_segmentation.watershed(-whole.distance, whole.markers, mask=whole.foreground, connectivity=2,
                                         compactness=rec.compactness, watershed_line=rec.watershed_line)
    assert np.array_equal(whole.labels[untied], one_call[untied])  # elsewhere one call's labels, bit for bit
    for tile in tiles:
        tiled = segment_tiled(image, rec, tile=tile)
        assert np.array_equal(tiled.mask[:], whole.foreground), tile
        assert tiled.count == whole.count, tile
        assert np.array_equal(tiled.labels[:], whole.labels), tile
        assert all(n.startswith("the halo is") for n in tiled.notes), (tile, tiled.notes)  # no tie note


def test_without_ties_between_seeds_the_tiled_watershed_is_the_whole_images_bit_for_bit():
    """Twins 1 px larger than their disc: no two seeds tie (ties among one seed's own pixels do not matter)."""
    rec = recipe(distance_sigma=0.0)
    image = discs(2, twins=False)
    whole = seg.watershed(image, rec)
    objects = seg.label_objects(whole.foreground, 8)
    assert not tied_groups(whole, objects)
    heights = whole.distance[whole.markers > 0]
    assert np.unique(heights).size < heights.size  # seeds of several pixels of one height are there
    assert whole.count > objects.max()  # twins split
    one_call = sk_segmentation.watershed(-whole.distance, whole.markers, mask=whole.foreground, connectivity=2)
    assert np.array_equal(whole.labels, one_call)
    for tile in (48, 100, 400):
        tiled = segment_tiled(image, rec, tile=tile)
        assert np.array_equal(tiled.labels[:], whole.labels), tile
        assert all(n.startswith("the halo is") for n in tiled.notes), (tile, tiled.notes)  # no tie note


def test_the_tiled_command_line_writes_the_whole_images_labels(tmp_path, monkeypatch, capsys):
    """The tiled command line and the whole-image one write the same labels for tied twins, with no message."""
    import csv

    import tifffile
    import zarr
    from cli_helpers import run_cli_in_process

    tifffile.imwrite(tmp_path / "twins.tif", discs(1))
    (tmp_path / "recipe.json").write_text(recipe().to_json())
    for out, extra in (("tiled", ["--tile", "96"]), ("whole", [])):
        done = run_cli_in_process("apply", "--recipe", "recipe.json", "twins.tif", *extra, "--out", out,
                                  "--jobs", "1", cwd=tmp_path, monkeypatch=monkeypatch, capsys=capsys)
        assert done.returncode == 0, done.stderr
    rows = {}
    for out in ("tiled", "whole"):
        text = (tmp_path / out / "summary.csv").read_text()
        rows[out] = next(csv.DictReader(line for line in text.splitlines(keepends=True) if not line.startswith("#")))
    assert "equal height" not in rows["tiled"]["message"]  # no exception to report any more
    assert rows["tiled"]["objects"] == rows["whole"]["objects"]
    tiles = zarr.open_group(str(tmp_path / "tiled" / "twins_tiles.zarr"), mode="r")
    assert np.array_equal(tiles["labels"][:], seg.load_image(tmp_path / "whole" / "twins_labels.png"))
    assert (tmp_path / "tiled" / "twins_measurements.csv").read_bytes() == \
        (tmp_path / "whole" / "twins_measurements.csv").read_bytes()
