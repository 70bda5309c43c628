"""The pack stage: one sharded Zarr store per split, and its fingerprint (entry: ``stage.py``)."""
