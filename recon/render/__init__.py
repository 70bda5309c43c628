"""Rendering: Blender (bpy) renders of every shape with exact cameras.

- ``recon.geometry.cameras``: pinhole camera maths in the data contract's frames (pure NumPy);
- ``recon.render.poses``: the camera pose sets of DISN, 3D-R2N2, GenRe and a 5-DoF one (pure NumPy);
- ``recon.render.lighting``: DISN-like and seeded random light set-ups (pure NumPy);
- ``recon.render.blender``: the Blender scene and its passes (the only module importing ``bpy``);
- ``recon.render.stage``: a shape's views into its render store, and batches of shapes (colour
  encoding and contact sheets: ``recon.io.images``).

Importing ``recon.render`` imports none of them.
"""
