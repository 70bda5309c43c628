"""The ingest stage: finding raw meshes (ShapeNet v1/v2, plain folders), splitting them, and
normalizing each into a checked per-shape store (entry: ``stage.py``)."""
