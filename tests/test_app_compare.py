"""The Compare page (AppTest): any mix of recipes as columns, their URL form, ground truth of either kind,
object scores, the error overlay and tuning. Values are checked against the library's own results."""

from __future__ import annotations

import json
from urllib.parse import parse_qsl

import numpy as np
import pytest
from app_helpers import (
    assert_ok,
    errors,
    exceptions,
    main_images,
    media,  # noqa: F401 - fixture
    png_bytes,
    results_frame,
    run,
    set_widget,
    tiff_bytes,
    upload,
    widget,
)

import segmentation as seg
from segmentation import load_sample, sample_ground_truth
from studio_ui.compare_columns import label_of, page_link_params, parse_recipe, recipe_text
from studio_ui.compare_ui import per_row

CAMERA = load_sample("camera")
COINS = load_sample("coins")
NUCLEI = load_sample("nuclei")
NUCLEI_TRUTH = sample_ground_truth("nuclei")
WS2 = "watershed seeds=h_maxima h=2"


# --- the column texts ---------------------------------------------------------------------------
@pytest.mark.parametrize("recipe", [
    seg.WatershedRecipe(),
    seg.WatershedRecipe(h=2.5, distance_sigma=0.0),
    seg.WatershedRecipe(seeds="distance_peaks", min_distance=12, peak_fraction=0.3),
    seg.WatershedRecipe(landscape="gradient", foreground=seg.ThresholdRecipe(method="li", smoothing="gaussian")),
    seg.ThresholdRecipe(),
    seg.ThresholdRecipe(method="sauvola", window=31, k=0.3, polarity="dark", min_size=20),
    seg.ThresholdRecipe(method="multiotsu", classes=4, foreground_classes=(2, 3)),
    seg.ThresholdRecipe(method="manual", value=97.5),
])
def test_a_column_text_round_trips_exactly(recipe):
    text = recipe_text(recipe)
    assert text.split()[0] == recipe.kind
    assert parse_recipe(text) == recipe
    assert recipe_text(parse_recipe(text)) == text


def test_column_texts_accept_a_page_link_or_query_and_say_what_is_wrong():
    assert parse_recipe("h=2 seeds=distance_peaks min_distance=9") == seg.WatershedRecipe(
        seeds="distance_peaks", min_distance=9, h=2)  # watershed names imply a watershed recipe
    assert parse_recipe("http://localhost:8501/watershed?sample=coins&seeds=distance_peaks&min_distance=12") == \
        seg.WatershedRecipe(seeds="distance_peaks", min_distance=12)
    assert parse_recipe("?method=li&min_size=5") == seg.ThresholdRecipe(method="li", min_size=5)
    with pytest.raises(ValueError, match=r"min_distance.*0"):
        parse_recipe("watershed seeds=distance_peaks min_distance=0")
    with pytest.raises(ValueError, match="name=value"):
        parse_recipe("watershed h2")
    assert label_of(WS2) == "Watershed · seeds=h_maxima h=2"


@pytest.mark.parametrize("text, message", [
    ("watershed hh=2", "hh is not a watershed parameter; did you mean h?"),
    ("threshold methd=li", "methd is not a threshold parameter; did you mean method?"),
    ("watershed min_distnce=9", "min_distnce is not a watershed parameter; did you mean min_distance?"),
    ("watershed seeds=points", "seeds=points needs seeds placed by hand"),
    ("watershed seeds=marker_image", "seeds=marker_image needs seeds placed by hand"),
])
def test_a_misspelt_name_or_hand_placed_seeds_are_refused_in_words(text, message):
    with pytest.raises(ValueError, match=message):
        parse_recipe(text)


def test_a_page_link_keeps_only_its_recipe():
    # The link's sample and display settings are not recipe names; the Watershed page's path says the kind.
    assert parse_recipe("http://localhost:8501/watershed?sample=coins&outline=red") == seg.WatershedRecipe()
    assert parse_recipe("http://localhost:8501/?sample=coins&method=li&fill=0.3") == seg.ThresholdRecipe(method="li")


def test_open_in_page_parameters_carry_what_differs_from_that_pages_defaults():
    # The page sample suggests Sauvola, dark objects: a recipe with polarity auto must say so in its link.
    recipe = seg.ThresholdRecipe(method="otsu")
    params = page_link_params(recipe, "page")
    assert params["sample"] == "page" and params["method"] == "otsu" and params["polarity"] == "auto"
    # The link carries the recipe version it is read with (#10 review, finding 5).
    assert page_link_params(seg.WatershedRecipe(h=2), "coins") == {"sample": "coins", "h": "2",
                                                                    "v": str(seg.RECIPE_VERSION)}


@pytest.mark.parametrize("shape, expected", [((512, 512), 3), ((191, 384), 1), ((1000, 3000), 1),
                                             ((768, 1024), 2), ((2000, 1000), 4), ((3000, 300), 6)])
def test_views_per_row_follow_the_aspect_ratio(shape, expected):
    from studio_ui.compare_ui import VIEW_HEIGHT, view_width

    assert view_width(shape) * shape[0] / shape[1] == pytest.approx(VIEW_HEIGHT, abs=VIEW_HEIGHT / shape[1] + 1)
    assert per_row(shape, "auto") == expected
    assert per_row(shape, 2) == 2


# --- the URL: recipes, and links from before ----------------------------------------------------
def test_url_recipes_become_columns_with_the_librarys_results():
    at = run("compare", query={"sample": "coins", "methods": ["otsu"],
                               "recipes": [WS2, "watershed seeds=distance_peaks", "threshold method=li"]})
    assert_ok(at)
    frame = results_frame(at)
    assert list(frame.index) == ["Otsu", "Watershed · seeds=h_maxima h=2", "Watershed · seeds=distance_peaks",
                                 "Threshold · method=li"]
    assert frame.loc["Watershed · seeds=h_maxima h=2", "objects"] == seg.watershed(COINS, h=2).count
    assert frame.loc["Watershed · seeds=distance_peaks", "objects"] == seg.watershed(
        COINS, seeds="distance_peaks").count
    li = seg.threshold(COINS, "li")
    assert frame.loc["Threshold · method=li", "foreground %"] == pytest.approx(100 * li.foreground_fraction)
    assert widget(at, "recipes").value == [WS2, "watershed seeds=distance_peaks", "threshold method=li"]
    assert len(main_images(at)) == 4
    view_captions = [c.value for c in at.main.caption if " — " in c.value][-4:]  # under each view, in order
    assert view_captions[0].startswith("Otsu — ")
    assert view_captions[1].startswith(f"Watershed · seeds=h_maxima h=2 — {seg.watershed(COINS, h=2).count:,}")
    links = {link.proto.label: link.proto for link in at.get("page_link")}
    assert "Open in Watershed" in links and "Open in Thresholding" in links
    opened = dict(parse_qsl(next(link.proto.query_string for link in at.get("page_link")
                                 if link.proto.label == "Open in Watershed")))
    assert opened == {"sample": "coins", "h": "2", "v": str(seg.RECIPE_VERSION)}


def test_a_bad_recipe_in_the_url_is_left_out_in_words():
    at = run("compare", query={"methods": ["otsu"], "recipes": ["watershed h=-3", WS2]})
    assert exceptions(at) == []
    assert any("h" in e and "left out" in e for e in errors(at)), errors(at)
    assert list(results_frame(at).index) == ["Otsu", "Watershed · seeds=h_maxima h=2"]


def test_a_misspelt_url_recipe_is_left_out_naming_the_closest_name():
    at = run("compare", query={"methods": ["otsu"], "recipes": ["watershed hh=2", WS2]})
    assert exceptions(at) == []
    assert any("hh is not a watershed parameter; did you mean h?" in e and "left out" in e for e in errors(at)), \
        errors(at)
    assert list(results_frame(at).index) == ["Otsu", "Watershed · seeds=h_maxima h=2"]


@pytest.mark.parametrize("text", ["watershed hh=2", "threshold methd=li", "watershed seeds=points"])
def test_a_bad_typed_recipe_is_refused_and_not_added(text):
    at = run("compare", query={"methods": ["otsu"]})
    at = set_widget(at, "recipe_add", text)
    assert exceptions(at) == []
    assert widget(at, "recipes").value == []
    assert any(e.startswith(text + ":") for e in errors(at)), errors(at)
    assert list(results_frame(at).index) == ["Otsu"]


def test_a_pasted_page_link_is_labelled_by_its_recipe():
    at = run("compare", query={"methods": ["otsu"]})
    at = set_widget(at, "recipe_add", "http://localhost:8501/watershed?sample=coins&h=3&seeds=distance_peaks")
    assert_ok(at)
    assert widget(at, "recipes").value == ["watershed seeds=distance_peaks h=3"]
    assert list(results_frame(at).index)[-1] == "Watershed · seeds=distance_peaks h=3"


def test_typing_a_recipe_adds_a_column():
    at = run("compare", query={"methods": ["otsu"]})
    at = set_widget(at, "recipe_add", "watershed seeds=distance_peaks min_distance=12")
    assert_ok(at)
    assert widget(at, "recipes").value == ["watershed seeds=distance_peaks min_distance=12"]
    assert list(results_frame(at).index)[-1] == "Watershed · seeds=distance_peaks min_distance=12"


def test_old_methods_links_open_the_same_view():
    at = run("compare", query={"methods": ["otsu", "sauvola"], "sauvola.window": "31", "min_size": "10"})
    assert_ok(at)
    frame = results_frame(at)
    assert list(frame.index) == ["Otsu", "Sauvola (local)"]
    expected = seg.threshold(CAMERA, seg.ThresholdRecipe(method="sauvola", window=31, min_size=10))
    assert frame.loc["Sauvola (local)", "foreground %"] == pytest.approx(100 * expected.foreground_fraction)
    assert widget(at, "recipes").value == []


def test_all_local_button():
    at = run("compare")
    next(b for b in at.button if b.label == "All local").click()
    at = at.run()
    assert_ok(at)
    assert list(results_frame(at).index) == [seg.METHODS[m].label for m in seg.LOCAL_METHODS]


# --- ground truth: mask or labels, said which; the inverted mask -----------------------------------
def test_a_16_bit_label_image_is_detected_as_instance_labels():
    at = run("compare", query={"sample": "nuclei", "methods": ["otsu"], "recipes": [WS2]})
    at = upload(at, "truth.png", png_bytes(NUCLEI_TRUTH.astype(np.uint16)), key="truth", mime="image/png")
    assert_ok(at)
    assert [s.value for s in at.success] == ["truth.png: instance labels, 100 objects"]


def test_a_binary_mask_is_detected_as_a_mask():
    truth = seg.threshold(CAMERA).mask
    at = upload(run("compare"), "truth.png", png_bytes(truth), key="truth", mime="image/png")
    assert_ok(at)
    assert any(i.value == f"truth.png: binary mask, {truth.mean():.1%} foreground" for i in at.info), \
        [i.value for i in at.info]
    assert not at.warning
    assert "Object scores" not in [h.value for h in at.subheader][-1]


def test_an_inverted_mask_is_flagged_and_fixed_in_one_click():
    truth = ~seg.threshold(CAMERA).mask  # the background as foreground: over half the image
    at = upload(run("compare"), "truth.png", png_bytes(truth), key="truth", mime="image/png")
    assert exceptions(at) == []
    assert any("look swapped" in w.value for w in at.warning), [w.value for w in at.warning]
    assert results_frame(at).loc["Otsu", "dice"] == 0.0
    next(b for b in at.button if b.key == "truth_fix").click()
    at = at.run()
    assert_ok(at)
    assert widget(at, "truth_invert").value is True
    assert not at.warning
    assert results_frame(at).loc["Otsu", "dice"] == 1.0
    assert not any(b.key == "truth_fix" for b in at.button)


def test_a_correct_mask_after_an_inverted_one_offers_to_undo_the_inversion():
    truth = seg.threshold(CAMERA).mask
    at = upload(run("compare"), "inverted.png", png_bytes(~truth), key="truth", mime="image/png")
    next(b for b in at.button if b.key == "truth_fix").click()
    at = at.run()
    assert results_frame(at).loc["Otsu", "dice"] == 1.0
    # The next file is drawn the right way round: the ticked box now swaps it, which is said, with an undo.
    at = upload(at, "right.png", png_bytes(truth), key="truth", mime="image/png")
    assert exceptions(at) == []
    assert any("look swapped" in w.value for w in at.warning), [w.value for w in at.warning]
    assert results_frame(at).loc["Otsu", "dice"] == 0.0
    next(b for b in at.button if b.key == "truth_unfix").click()
    at = at.run()
    assert_ok(at)
    assert widget(at, "truth_invert").value is False and not at.warning
    assert results_frame(at).loc["Otsu", "dice"] == 1.0


def test_the_inversion_box_is_for_masks_only():
    at = run("compare", query={"sample": "nuclei", "methods": ["otsu"]})
    assert widget(at, "truth_invert") is not None  # before any truth: ready for a mask
    at = upload(at, "labels.tif", tiff_bytes(NUCLEI_TRUTH.astype(np.uint16)), key="truth", mime="image/tiff")
    assert_ok(at)
    assert widget(at, "truth_invert") is None


def test_a_colour_truth_is_refused_in_words():
    colour = np.zeros(CAMERA.shape + (3,), np.uint8)
    colour[..., 0] = 255
    at = upload(run("compare"), "truth.png", png_bytes(colour), key="truth", mime="image/png")
    assert exceptions(at) == []
    assert any("colour image" in e for e in errors(at)), errors(at)


# --- object scores, the error overlay, tuning ---------------------------------------------------
def _scored():
    at = run("compare", query={"sample": "nuclei", "methods": ["otsu", "li"], "recipes": [WS2]})
    return upload(at, "labels.tif", tiff_bytes(NUCLEI_TRUTH.astype(np.uint16)), key="truth", mime="image/tiff")


def test_object_scores_are_the_librarys_at_full_resolution(media):  # noqa: F811
    at = _scored()
    assert_ok(at)
    table = at.dataframe[1].value
    expected = {"Otsu": seg.threshold(NUCLEI, "otsu").mask,
                "Li (minimum cross-entropy)": seg.threshold(NUCLEI, "li").mask,
                "Watershed · seeds=h_maxima h=2": seg.watershed(NUCLEI, h=2).labels}
    assert list(table.index) == list(expected)
    for name, objects in expected.items():
        s = seg.score_objects(NUCLEI_TRUTH, objects)
        row = table.loc[name]
        assert row["F1@0.5"] == pytest.approx(s.f1[0]) and row["AP@0.5"] == pytest.approx(s.ap[0])
        assert row["mean AP 0.5–0.95"] == pytest.approx(s.mean_ap)
        assert (row["TP"], row["FP"], row["FN"], row["merges"], row["splits"]) == (
            s.tp[0], s.fp[0], s.fn[0], s.merges, s.splits)
        assert row["precision"] == pytest.approx(s.precision[0]) and row["recall"] == pytest.approx(s.recall[0])
    assert not any("preview estimates" in c.value or "≈" in c.value for c in at.caption)  # the whole image
    assert any(c.value.startswith("AP = TP / (TP + FP + FN) at each IoU threshold (the DSB 2018 definition")
               for c in at.caption)
    helps = {name: column["help"] for name, column in json.loads(at.dataframe[1].proto.columns).items()}
    assert "TP / (TP + FP + FN)" in helps["AP@0.5"] and "two or more true objects" in helps["merges"]
    assert set(helps) >= {"F1@0.5", "mean AP 0.5–0.95", "TP", "FP", "FN", "splits", "mean matched IoU"}
    # The error overlay shows the best recipe's errors, pixel for pixel the library's.
    best = max(expected, key=lambda n: seg.score_objects(NUCLEI_TRUTH, expected[n]).f1[0])
    assert widget(at, "errors_of").value == next(k for k, v in {"otsu": "Otsu", "li": "Li (minimum cross-entropy)",
                                                                 WS2: "Watershed · seeds=h_maxima h=2"}.items()
                                                 if v == best)
    objects = expected[best] if expected[best].dtype != bool else seg.label_objects(expected[best])
    wanted = seg.score_overlay(NUCLEI, NUCLEI_TRUTH, objects, seg.score_objects(NUCLEI_TRUTH, objects))
    assert np.array_equal(media.image(main_images(at)[-1]), wanted)


def test_scores_on_a_preview_are_marked_as_estimates(monkeypatch):
    monkeypatch.setenv("STUDIO_FULL_RESOLUTION", "off")  # no background job: the preview's scores stay
    at = run("compare", query={"sample": "nuclei", "preview": "512", "methods": ["otsu"]})
    at = upload(at, "labels.tif", tiff_bytes(NUCLEI_TRUTH.astype(np.uint16)), key="truth", mime="image/tiff")
    assert_ok(at)
    assert "Object scores against the truth" in [h.value for h in at.subheader]
    assert any("preview estimate" in c.value for c in at.caption)
    assert any(c.value.startswith("≈ preview estimates") and "Full resolution" in c.value for c in at.caption)
    at = set_widget(at, "full", True)
    assert "Object scores against the truth" in [h.value for h in at.subheader]
    s = seg.score_objects(NUCLEI_TRUTH, seg.threshold(NUCLEI, "otsu").mask)
    assert at.dataframe[1].value.loc["Otsu", "F1@0.5"] == pytest.approx(s.f1[0])


def test_tuning_on_the_page_finds_the_searchs_best_and_offers_it():
    at = _scored()
    at = set_widget(at, "tune_column", WS2)
    at = set_widget(at, "tune_budget", 4)
    next(b for b in at.button if b.key == "tune_start").click()
    at = at.run()
    assert_ok(at)
    recipes, _, rows = seg.batch.search(seg.WatershedRecipe(h=2), [("n", NUCLEI, NUCLEI_TRUTH)], 4, 0)
    best = seg.batch.best_row(rows)
    message = next(s.value for s in at.success if "Best:" in s.value)
    assert f"4 of 4 evaluations. Best: evaluation {best['evaluation']}, F1@0.5 **{best['f1_iou50']:.3f}**" in message
    start_f1 = seg.score_objects(NUCLEI_TRUTH, seg.watershed(NUCLEI, h=2).labels).f1[0]  # evaluation 0 is the start
    assert f"(start recipe {start_f1:.3f})" in message
    best_text = recipe_text(recipes[best["evaluation"]])
    assert at.code[0].value == best_text
    link = next(link.proto for link in at.get("page_link") if link.proto.label.startswith("Open the best recipe"))
    assert dict(parse_qsl(link.query_string)) == page_link_params(recipes[best["evaluation"]], "nuclei")
    next(b for b in at.button if b.key == "tune_add").click()
    at = at.run()
    assert_ok(at)
    assert widget(at, "recipes").value[-1] == best_text
    table = next(d for d in at.dataframe if d.key == "tune_table").value if any(
        getattr(d, "key", None) == "tune_table" for d in at.dataframe) else at.dataframe[-1].value
    assert list(table.columns) == ["F1@0.5", "mean AP 0.5–0.95", "time (s)", "failed images", "recipe"]
    assert table.index.name == "evaluation" and len(table) == 4
    assert table["F1@0.5"].iloc[0] == pytest.approx(best["f1_iou50"])
    # Leaving Compare (the best recipe's own page, then Back) keeps the search and its result.
    at.switch_page("pages/2_watershed.py")
    at = at.run()
    assert exceptions(at) == []
    at.switch_page("pages/3_compare.py")
    at = at.run()
    assert exceptions(at) == []
    assert message in [s.value for s in at.success]
    assert at.code[0].value == best_text


def test_object_agreement_is_symmetric_and_the_librarys():
    from studio_ui.compare_ui import object_agreement

    objects = {"otsu": seg.threshold(COINS, "otsu").mask, "ws": seg.watershed(COINS).labels,
               "ws2": seg.watershed(COINS, h=3).labels}
    names, matrix = object_agreement(objects)
    assert names == ["otsu", "ws", "ws2"]
    assert np.allclose(matrix, matrix.T) and np.all(np.diag(matrix) == 1.0)
    assert matrix[0, 1] == pytest.approx(seg.score_objects(objects["otsu"], objects["ws"]).f1[0])
    assert matrix[1, 0] == pytest.approx(seg.score_objects(objects["otsu"], objects["ws"]).f1[0])
    assert matrix[1, 0] == pytest.approx(seg.score_objects(objects["ws"], objects["otsu"]).f1[0])


def test_the_agreement_matrix_by_objects_on_the_page():
    at = run("compare", query={"sample": "coins", "methods": ["otsu"], "recipes": ["watershed"],
                               "agreement": "Objects (F1 at IoU 0.5)"})
    assert_ok(at)
    spec = json.loads(at.get("vega_lite_chart")[0].proto.spec)
    assert spec["layer"][0]["encoding"]["color"]["field"] == "F1"
    assert spec["layer"][0]["encoding"]["x"]["sort"] == ["Otsu", "Watershed · defaults"]


def test_the_truth_stays_when_the_visitor_comes_back_from_another_page():
    at = _scored()
    assert [s.value for s in at.success] == ["labels.tif: instance labels, 100 objects"]
    at.switch_page("app.py")
    at = at.run()
    assert exceptions(at) == []
    at.switch_page("pages/3_compare.py")
    at = at.run()
    assert exceptions(at) == []
    assert [s.value for s in at.success] == ["labels.tif: instance labels, 100 objects"]
    assert "Object scores against the truth" in [h.value for h in at.subheader]
    next(b for b in at.button if b.key == "truth_forget").click()
    at = at.run()
    assert_ok(at)
    assert not at.success and "Object scores against the truth" not in [h.value for h in at.subheader]


def test_methods_box_shows_names_and_the_url_holds_the_librarys_keys():
    at = run("compare", query={"methods": ["multiotsu", "li"]})
    assert_ok(at)
    box = at.multiselect(key="methods")
    assert box.value == ["multiotsu", "li"]
    # names, never internal keys; a chip shows the name without its gloss ("Li", whole at 1280 px)
    assert box.options == [seg.METHODS[name].label.split(" (")[0] for name in seg.METHODS]
    assert "multiotsu" not in box.options
    box.set_value(["sauvola"]).run()
    assert_ok(at)
    assert at.query_params["methods"] in ("sauvola", ["sauvola"])
    assert list(results_frame(at).index) == ["Sauvola (local)"]
    at.multiselect(key="methods").set_value([]).run()  # nothing chosen is a choice a link keeps
    assert_ok(at)
    assert at.query_params["methods"] in ("", [""])


def test_a_methods_note_is_a_whole_line_under_the_table():
    """#10 review: the table's note column cut "Triangle ran on an 8…" at 1280 px; each note is now a caption under
    the table, with the library's words, named once."""
    at = run("compare", query={"sample": "nuclei", "methods": ["otsu", "triangle"], "preview": "2048"})
    assert_ok(at)
    assert "note" not in results_frame(at).columns
    notes = seg.threshold(load_sample("nuclei"), "triangle").notes
    assert notes and notes[0].startswith("Triangle ")
    captions = [c.value for c in at.caption]
    assert any(c.startswith(notes[0]) for c in captions), captions
    assert not any(c.startswith("**Triangle**") for c in captions)
