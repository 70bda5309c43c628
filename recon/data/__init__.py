"""Datasets: finding raw meshes (ShapeNet v1/v2, plain folders) and splitting them."""
