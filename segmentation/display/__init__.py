"""Display images: contrast stretch, mask and label images, boundary overlays, downscaled previews (RGB uint8).

Everything here is also exported by :mod:`segmentation`.
"""

from ._render import boundary_overlay, colorize_labels, display_image, downscale, label_palette, mask_image

__all__ = ["boundary_overlay", "colorize_labels", "display_image", "downscale", "label_palette", "mask_image"]
