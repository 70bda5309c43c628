"""Voxels, octrees and spherical maps of a normalized shape (the voxelize stage)."""
