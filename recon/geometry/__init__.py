"""The geometry kernel the stages share: meshes (loading, limits, quality, the canonical frame),
node grids, triangles, winding numbers, surface samples, voxels, cameras, ray casting and mesh
extraction. It imports no stage.
"""
