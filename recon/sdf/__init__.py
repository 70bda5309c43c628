"""Signed distance fields of triangle soups: dense grids with exact near-surface values.

Importing ``recon.sdf`` imports nothing heavy; ``recon.sdf.grid`` needs numba and libigl.
"""
