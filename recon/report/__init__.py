"""Static HTML reports: metric tables, shaded meshes, SDF slices and training curves on one page."""

from recon.report.html import Figure, ImageGrid, Report, Section, Table, Text, slugify, write_report
from recon.report.images import line_chart_svg, sdf_slices, shade_mesh

__all__ = [
    "Figure",
    "ImageGrid",
    "Report",
    "Section",
    "Table",
    "Text",
    "line_chart_svg",
    "sdf_slices",
    "shade_mesh",
    "slugify",
    "write_report",
]
