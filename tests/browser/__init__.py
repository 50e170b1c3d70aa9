"""Real-browser tests: a real ``streamlit run`` server driven by Chromium through Playwright."""
