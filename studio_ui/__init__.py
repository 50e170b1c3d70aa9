"""Streamlit-only helpers shared by the pages (the library in ``segmentation/`` never imports Streamlit)."""
