"""On-disk I/O: atomic writes, TSV tables, Zarr stores and PNG images (see docs/data_format.md)."""
