"""Exporting results: image and label files, fast display encodings, atomic writes, and standalone scripts.

Everything here is also exported by :mod:`segmentation`.
"""

from ._interop import (
    EXPORT_FORMATS,
    NGFF_UNITS,
    encode_geojson,
    encode_ome_zarr_zip,
    encode_roi_zip,
    object_outlines,
    write_ome_zarr,
)
from ._script import to_python
from ._writers import encode_jpeg_bytes, encode_labels, encode_png, encode_png_bytes, write_bytes_atomic

__all__ = ["encode_png", "encode_labels", "encode_png_bytes", "encode_jpeg_bytes", "write_bytes_atomic", "to_python",
           "object_outlines", "encode_roi_zip", "encode_geojson", "write_ome_zarr", "encode_ome_zarr_zip",
           "EXPORT_FORMATS", "NGFF_UNITS"]
