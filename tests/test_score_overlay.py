"""segmentation.score_overlay: each object error in its own colour-blind-safe colour, where score_objects puts it."""

from __future__ import annotations

import numpy as np
import pytest

import segmentation as seg

# The Okabe-Ito palette as published (Wong, Nature Methods 8:441, 2011, Fig. 2).
OKABE_ITO = {(230, 159, 0), (86, 180, 233), (0, 158, 115), (240, 228, 66), (0, 114, 178), (213, 94, 0),
             (204, 121, 167)}


def scene():
    """Hand-built truth and prediction with one object of each kind (ids chosen to differ between the two).

    truth 1 is matched by pred 11 (identical); truth 2 is missed (nothing there); pred 12 is false (no truth);
    truth 3 and 4 are merged by pred 13; truth 5 is split into pred 14, 15 and 16
    (each under half of it, so none matches).
    """
    truth = np.zeros((40, 60), np.int32)
    pred = np.zeros_like(truth)
    truth[2:10, 2:10] = 1
    pred[2:10, 2:10] = 11
    truth[2:10, 20:28] = 2
    pred[20:28, 2:10] = 12
    truth[20:28, 20:26] = 3
    truth[20:28, 28:34] = 4
    pred[20:28, 20:34] = 13
    truth[20:30, 40:56] = 5
    pred[20:30, 40:45] = 14
    pred[20:30, 45:50] = 15
    pred[20:30, 50:56] = 16
    return truth, pred


def test_the_scene_is_what_it_says():
    truth, pred = scene()
    s = seg.score_objects(truth, pred)
    assert s.matched == ((1, 11),)
    assert s.missed_ids == (2, 3, 4, 5) and s.false_ids == (12, 13, 14, 15, 16)
    assert s.merged_ids == (13,) and s.split_ids == (5,)


def test_each_kind_is_drawn_in_its_colour_where_the_scores_put_it():
    truth, pred = scene()
    s = seg.score_objects(truth, pred)
    view = seg.score_overlay(np.zeros(truth.shape, np.uint8), truth, pred, s, opacity=1.0, outline=False)
    assert view.shape == truth.shape + (3,) and view.dtype == np.uint8
    c = seg.SCORE_COLORS
    assert view[5, 24].tolist() == list(c["missed"])          # truth 2, nothing predicted
    assert view[24, 5].tolist() == list(c["false"])           # pred 12, no truth
    assert view[24, 23].tolist() == list(c["merge"])          # pred 13 covers truth 3 and 4: merge over missed
    assert view[24, 31].tolist() == list(c["merge"])
    assert view[25, 44].tolist() == list(c["split"])          # truth 5 split into 14-16: split over false
    assert view[25, 52].tolist() == list(c["split"])
    assert view[5, 5].tolist() == [0, 0, 0]                   # matched objects are not tinted
    assert view[35, 5].tolist() == [0, 0, 0]                  # background untouched


def test_tint_is_the_stated_blend_and_outlines_are_solid():
    truth, pred = scene()
    s = seg.score_objects(truth, pred)
    image = np.full(truth.shape, 100, np.uint8)
    view = seg.score_overlay(image, truth, pred, s, opacity=0.25)
    shown, _ = seg.display_image(image)
    base = int(shown[0, 0]) if shown.ndim == 2 else int(shown[0, 0, 0])
    expected = [round(0.75 * base + 0.25 * v) for v in seg.SCORE_COLORS["missed"]]
    assert view[5, 24].tolist() == expected                   # inside truth 2
    assert view[2, 24].tolist() == list(seg.SCORE_COLORS["missed"])  # its top edge
    assert view[2, 5].tolist() == list(seg.SCORE_COLORS["matched"])  # the matched object's outline
    assert view[5, 5].tolist() == [base] * 3                  # inside the matched object: untouched


def test_a_perfect_prediction_shows_only_green_outlines():
    truth, _ = scene()
    s = seg.score_objects(truth, truth)
    view = seg.score_overlay(np.zeros(truth.shape, np.uint8), truth, truth, s)
    colours = {tuple(v) for v in view.reshape(-1, 3).tolist()}
    assert colours == {(0, 0, 0), seg.SCORE_COLORS["matched"]}


def test_the_colours_are_okabe_ito_and_distinct():
    colours = list(seg.SCORE_COLORS.values())
    assert set(colours) <= OKABE_ITO
    assert len(set(colours)) == len(colours) == 5


def test_rgb_and_16_bit_images():
    truth, pred = scene()
    s = seg.score_objects(truth, pred)
    rgb = np.zeros(truth.shape + (3,), np.uint8)
    assert seg.score_overlay(rgb, truth, pred, s).shape == truth.shape + (3,)
    deep = np.zeros(truth.shape, np.uint16)
    assert seg.score_overlay(deep, truth, pred, s, opacity=1.0)[5, 24].tolist() == list(seg.SCORE_COLORS["missed"])


@pytest.mark.parametrize("change, words", [
    ({"truth": np.zeros((40, 60), bool)}, "truth must be an integer"),
    ({"labels": np.zeros((10, 10), np.int32)}, "labels is 10×10 pixels but the image is 60×40"),
    ({"labels": np.full((40, 60), -1, np.int32)}, "negative"),
    ({"opacity": 1.5}, "opacity"),
    ({"scores": object()}, "ObjectScores"),
])
def test_bad_inputs_are_refused_in_words(change, words):
    truth, pred = scene()
    args = {"image": np.zeros(truth.shape, np.uint8), "truth": truth, "labels": pred,
            "scores": seg.score_objects(truth, pred)} | change
    with pytest.raises(seg.ParameterError, match=words):
        seg.score_overlay(args.pop("image"), args.pop("truth"), args.pop("labels"), args.pop("scores"), **args)
