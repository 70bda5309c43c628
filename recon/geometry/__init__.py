"""Geometry on triangle meshes: loading, quality checks, the canonical frame."""
