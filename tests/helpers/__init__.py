"""Builders of small test inputs shared by the test packages: video clips (media), a photo frame store and a tiny
trained run folder (colorizer), a synthetic frame store (embedder). Imported as ``helpers`` (pytest's pythonpath)."""
