"""Rendering: camera models and pose sampling (pure NumPy), and the Blender scene (imports bpy lazily).

``recon.render.cameras`` holds the pinhole camera maths in the data contract's frames
(``docs/data_format.md`` §1.1); ``recon.render.poses`` holds the pose presets that reproduce the
camera distributions of DISN, 3D-R2N2 and GenRe. Neither imports ``bpy``.
"""
