"""Streamlit-only helpers shared by the pages (the library in ``segmentation/`` never imports Streamlit)."""

import gc

import altair
import pandas
import scipy.ndimage  # noqa: F401 - loaded before the freeze below
import skimage.feature  # noqa: F401
import skimage.filters  # noqa: F401
import skimage.measure  # noqa: F401
import skimage.morphology  # noqa: F401
import skimage.segmentation  # noqa: F401

import segmentation  # noqa: F401 - the library, loaded before the freeze below

# Streamlit runs a full gc.collect() after every rerun (runner.postScriptGC). With Altair, pandas and
# scikit-image loaded, that scans ~150,000 long-lived objects: ~100 ms per rerun, holding the GIL while the
# browser waits to fetch the new images. Load what the pages use (including Altair's schema, which loads
# on the first chart), then freeze those objects out of every later collection: ~1 ms per rerun. Objects
# created afterwards (caches, sessions) are still collected as usual.
altair.Chart(pandas.DataFrame({"x": [0]})).mark_point().encode(x="x:Q").to_dict()
gc.collect()
gc.freeze()
