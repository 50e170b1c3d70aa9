"""Display images: contrast stretch, mask and label images, boundary overlays, downscaled previews (RGB uint8).

Everything here is also exported by :mod:`segmentation`.
"""

from ._composite import CHANNEL_COLORS, channel_composite
from ._render import boundary_overlay, colorize_labels, display_image, downscale, label_palette, mask_image
from ._score_overlay import SCORE_COLORS, score_overlay

__all__ = ["boundary_overlay", "colorize_labels", "display_image", "downscale", "label_palette", "mask_image",
           "score_overlay", "SCORE_COLORS", "channel_composite", "CHANNEL_COLORS"]
