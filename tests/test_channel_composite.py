"""seg.load_channels (every channel of one plane of a stack) and seg.channel_composite (ImageJ-style composite).

References: the arrays tifffile writes and reads itself, numpy's percentiles for the contrast stretch, and
additive colour mixing as ImageJ's composite mode shows channels (red + green = yellow).
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile
from microscopy_files import write_imagej_hyperstack, write_ome_tiff

import segmentation as seg


def test_load_channels_gives_each_channel_of_one_plane(tmp_path):
    stack = write_ome_tiff(tmp_path / "cells.ome.tif")  # C 2, Z 5
    channels, info = seg.load_channels(tmp_path / "cells.ome.tif", plane=3, projection="none")
    assert info.channel_names == ("GFP", "DAPI") and len(channels) == 2
    for c in range(2):
        assert channels[c].dtype == np.uint16 and np.array_equal(channels[c], stack[c, 3])
    projected, _ = seg.load_channels((tmp_path / "cells.ome.tif").read_bytes(), projection="max")
    assert all(np.array_equal(projected[c], stack[c].max(axis=0)) for c in range(2))
    assert np.array_equal(tifffile.imread(tmp_path / "cells.ome.tif")[1, 3], channels[1])


def test_load_channels_of_a_hyperstack_time_point(tmp_path):
    data = write_imagej_hyperstack(tmp_path / "hyper.tif")  # T 3, Z 4, C 2
    channels, info = seg.load_channels(tmp_path / "hyper.tif", plane=2, timepoint=1, projection="none")
    assert (info.n_channels, info.n_planes, info.n_timepoints) == (2, 4, 3)
    assert [int(c.max()) for c in channels] == [int(data[1, 2, c].max()) for c in range(2)] == [17, 18]


def test_load_channels_refusals(tmp_path):
    write_ome_tiff(tmp_path / "cells.ome.tif")
    with pytest.raises(seg.ImageLoadError, match="2 channels; at most 1"):
        seg.load_channels(tmp_path / "cells.ome.tif", max_channels=1)
    with pytest.raises(seg.ImageLoadError, match="plane 9 does not exist"):
        seg.load_channels(tmp_path / "cells.ome.tif", plane=9, projection="none")
    with pytest.raises(seg.ParameterError, match="max_channels"):
        seg.load_channels(tmp_path / "cells.ome.tif", max_channels=0)
    rgb = seg.encode_png(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(seg.ImageLoadError, match="RGB"):
        seg.load_channels(rgb)


def _stretched(plane: np.ndarray) -> np.ndarray:
    low, high = np.percentile(plane, (0.5, 99.5))
    return np.clip((plane.astype(np.float64) - low) / (high - low), 0, 1)


def test_composite_is_the_stretched_channels_added_in_their_colours():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4000, (40, 50)).astype(np.uint16)
    b = rng.integers(100, 900, (40, 50)).astype(np.uint16)
    colours = [(255, 0, 255), (0, 255, 0)]
    shown = seg.channel_composite([a, b], 1, colors=colours, dim=0.4).astype(float)
    expected = np.clip(_stretched(a)[..., None] * np.array(colours[0]) * 0.4
                       + _stretched(b)[..., None] * np.array(colours[1]), 0, 255)
    assert np.abs(shown - expected).max() <= 2  # display_image rounds its stretch to 8 bits first


def test_composite_mixes_additively_like_imagej():
    red = np.zeros((3, 3), np.uint8)
    red[0, :] = red[1, 1] = 200
    green = np.zeros((3, 3), np.uint8)
    green[:, 0] = green[1, 1] = 90
    rgb = seg.channel_composite([red, green])  # ImageJ's colours: channel 1 red, channel 2 green
    assert rgb[0, 0].tolist() == [255, 255, 0]  # both: yellow
    assert rgb[0, 2].tolist() == [255, 0, 0] and rgb[2, 0].tolist() == [0, 255, 0] and rgb[2, 2].tolist() == [0, 0, 0]
    dimmed = seg.channel_composite([red, green], 0, dim=0.0)
    assert dimmed[2, 0].tolist() == [0, 0, 0] and dimmed[0, 2].tolist() == [255, 0, 0]


def test_composite_empty_channel_and_nan_add_nothing():
    signal = np.zeros((4, 4), np.float32)
    signal[1, 1], signal[2, 2] = 5.0, np.nan
    empty = np.full((4, 4), 7, np.uint16)
    rgb = seg.channel_composite([signal, empty], 0, colors=[(0, 0, 255), (255, 255, 255)])
    assert rgb[1, 1].tolist() == [0, 0, 255] and rgb[2, 2].tolist() == [0, 0, 0] and rgb[0, 0].tolist() == [0, 0, 0]


@pytest.mark.parametrize("kwargs, words", [
    ({"channels": []}, "non-empty"),
    ({"channels": [np.zeros((2, 2)), np.zeros((2, 3))]}, "one shape"),
    ({"channels": [np.zeros((2, 2))] * 8}, "one colour per channel"),
    ({"channels": [np.zeros((2, 2))], "highlight": 1}, "highlight"),
    ({"channels": [np.zeros((2, 2))], "dim": 2}, "dim"),
    ({"channels": [np.zeros((2, 2))], "colors": [(300, 0, 0)]}, "colors"),
])
def test_composite_refusals_name_the_parameter(kwargs, words):
    with pytest.raises(seg.ParameterError, match=words):
        seg.channel_composite(**kwargs)
