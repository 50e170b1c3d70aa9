"""Reading images: any upload or file to an RGB or grayscale array, and the bundled samples by name.

Everything here is also exported by :mod:`segmentation`.
"""

from ._channels import load_channels
from ._read import ImageInfo, load_image
from ._samples import (
    DEFAULT_SAMPLE_THRESHOLD,
    DEFAULT_SAMPLE_WATERSHED,
    SAMPLES,
    Sample,
    load_sample,
    sample_ground_truth,
    sample_path,
)
from ._scale import PixelSize, resolve_pixel_size

__all__ = ["ImageInfo", "load_image", "DEFAULT_SAMPLE_THRESHOLD", "DEFAULT_SAMPLE_WATERSHED", "SAMPLES", "Sample",
           "load_sample", "sample_ground_truth", "sample_path", "PixelSize", "resolve_pixel_size",
           "load_channels"]
