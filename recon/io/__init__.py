"""On-disk I/O: atomic writes, TSV tables and Zarr stores (see docs/data_format.md)."""
