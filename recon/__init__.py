"""recon: single-view 3D reconstruction datasets, models and evaluation from raw meshes.

Importing ``recon`` is cheap: heavy optional dependencies (bpy, torch) are imported
only inside the modules that use them.
"""

__version__ = "0.1.0"
