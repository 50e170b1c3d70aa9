"""Generate the hostile-input corpus for ``segmentation.io.load_image``.

Every file is made here from code (nothing binary is committed) and is a few kilobytes at most.
Each :class:`Case` says what ``load_image`` must do with its file: load it with a given shape,
dtype, pixel values and notes, or refuse it with an ``ImageLoadError`` whose message contains
given words.

Usage as a script::

    python tests/make_bad_inputs.py OUTDIR

Usage from tests::

    from make_bad_inputs import build_corpus
    cases = build_corpus(tmp_path)

This module deliberately does not import ``segmentation``: the corpus must not be produced by
the code it tests. OpenCV is used only to write an LZW-compressed 16-bit TIFF (a file that real
microscopes produce and that tifffile cannot decode without ``imagecodecs``).
"""

from __future__ import annotations

import io
import struct
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import tifffile
from PIL import Image

Probe = tuple[tuple[int, int], object, float]  # ((row, col), expected value, tolerance)


@dataclass(frozen=True)
class Case:
    """One corpus file and what ``load_image`` must make of it.

    ``expect`` is "load" or "error". For "load": ``shape`` (height, width[, channels]), ``dtype``,
    optional ``format`` (detected format), ``probes`` (pixel values) and ``words`` that must appear
    in the notes. For "error": ``words`` that must appear in the error message.
    """

    name: str
    description: str
    expect: str
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    words: tuple[str, ...] = ()
    probes: tuple[Probe, ...] = ()
    format: str | None = None

    @property
    def height(self) -> int:
        return self.shape[0]

    @property
    def width(self) -> int:
        return self.shape[1]

    @property
    def channels(self) -> int:
        return 1 if len(self.shape) == 2 else self.shape[2]


def png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def png_by_hand(pixels: np.ndarray | None, color_type: int, bit_depth: int,
                size: tuple[int, int] | None = None) -> bytes:
    """A PNG written byte by byte, independent of Pillow and OpenCV.

    ``pixels`` is H×W or H×W×C (C matching ``color_type``); with ``size=(width, height)`` and no
    pixels, the header claims that size while the data is a single empty zlib stream (the "bomb").
    """
    if pixels is None:
        width, height = size
        raw = b""
    else:
        height, width = pixels.shape[:2]
        rows = pixels.astype(">u2" if bit_depth == 16 else "u1").reshape(height, -1)
        raw = b"".join(b"\x00" + row.tobytes() for row in rows)  # filter type 0 on every row
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", header)
            + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))


def pillow_bytes(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def tiff_bytes(array: np.ndarray, **options) -> bytes:
    buffer = io.BytesIO()
    tifffile.imwrite(buffer, array, **options)
    return buffer.getvalue()


def _noise(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def _cases() -> list[tuple[Case, bytes]]:
    """(case, file content) pairs; build_corpus writes them."""
    out: list[tuple[Case, bytes]] = []

    def add(case: Case, data: bytes) -> None:
        out.append((case, data))

    # --- refused: not images at all -------------------------------------------------------
    add(Case("empty.png", "a zero-byte file", "error", words=("empty",)), b"")
    random_bytes = np.random.default_rng(1234).bytes(4096)
    assert random_bytes[:2] not in (b"BM", b"\xff\xd8", b"\x89P", b"II", b"MM", b"GI", b"RI")
    add(Case("random_bytes.png", "4 KB of random bytes", "error", words=("not an image",)), random_bytes)
    add(Case("notes_renamed.png", "a text file renamed to .png", "error", words=("not an image", "text")),
        b"Shopping list\n- agar plates\n- pipette tips\n\nCall the microscope technician on Monday.\n")
    add(Case("drawing.svg", "an SVG vector drawing", "error", words=("SVG", "export it as PNG")),
        b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" '
        b'height="64"><circle cx="32" cy="32" r="20" fill="red"/></svg>\n')
    add(Case("document.pdf", "the first bytes of a PDF document", "error", words=("PDF", "not supported")),
        b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")

    # --- refused: damaged ---------------------------------------------------------------
    full_png = pillow_bytes(Image.fromarray(_noise((64, 64, 3), 1)), "PNG")
    add(Case("truncated.png", "a 64×64 PNG cut in half", "error", words=("truncated or damaged", "PNG")),
        full_png[: len(full_png) // 2])
    full_jpeg = pillow_bytes(Image.fromarray(_noise((64, 64, 3), 2)), "JPEG", quality=90)
    add(Case("truncated.jpg", "a 64×64 JPEG cut in half", "error", words=("truncated or damaged", "JPEG")),
        full_jpeg[: len(full_jpeg) // 2])
    add(Case("header_only.png", "a PNG cut inside its header", "error", words=("truncated or damaged", "PNG")),
        full_png[:20])

    # --- refused: too large or empty, decided from the header ------------------------------
    add(Case("bomb_30000x30000.png", "a tiny PNG whose header claims 30000×30000 pixels", "error",
             words=("30000×30000", "900 MP", "64 MP limit")), png_by_hand(None, 0, 8, size=(30000, 30000)))
    jpeg = bytearray(pillow_bytes(Image.new("L", (8, 8), 128), "JPEG"))
    sof = jpeg.find(b"\xff\xc0")  # baseline start-of-frame: length(2) precision(1) height(2) width(2)
    jpeg[sof + 5: sof + 9] = struct.pack(">HH", 30000, 30000)
    add(Case("bomb_30000x30000.jpg", "a tiny JPEG whose frame header claims 30000×30000", "error",
             words=("30000×30000", "900 MP", "64 MP limit")), bytes(jpeg))
    webp = bytearray(pillow_bytes(Image.new("RGB", (8, 8), (1, 2, 3)), "WEBP", lossless=True))
    assert webp[12:16] == b"VP8L"
    webp[21:25] = (16382 | 16382 << 14).to_bytes(4, "little")  # 14-bit (width-1, height-1)
    add(Case("bomb_16383x16383.webp", "a lossless WebP header claiming 16383×16383", "error",
             words=("16383×16383", "268.4 MP", "over the 64 MP limit")), bytes(webp))
    add(Case("zero_width.png", "a PNG header with width 0", "error", words=("no pixels", "0×5")),
        png_by_hand(None, 0, 8, size=(0, 5)))

    # --- loaded: odd sizes ----------------------------------------------------------------
    add(Case("one_pixel.png", "a single orange RGB pixel", "load", (1, 1, 3), "uint8",
             probes=(((0, 0), (200, 100, 50), 0),)), pillow_bytes(Image.new("RGB", (1, 1), (200, 100, 50)), "PNG"))
    row = (np.arange(100_000) % 256).astype(np.uint8)[None, :]
    add(Case("row_1x100000.png", "one row, 100000 columns", "load", (1, 100_000), "uint8",
             probes=(((0, 0), 0, 0), ((0, 99_999), 99_999 % 256, 0))), png_by_hand(row, 0, 8))
    add(Case("column_100000x1.png", "100000 rows, one column", "load", (100_000, 1), "uint8",
             probes=(((99_999, 0), 99_999 % 256, 0),)), png_by_hand(row.T, 0, 8))

    # --- loaded: bit depths and sample types, values exact --------------------------------
    ramp16 = (np.arange(32 * 64, dtype=np.uint32).reshape(32, 64) * 32 + 1).astype(np.uint16)
    ramp16[-1, -1] = 65535
    exact16 = (((0, 0), 1, 0), ((0, 1), 33, 0), ((31, 63), 65535, 0))
    add(Case("gray16.png", "16-bit grayscale PNG ramp (odd values, top 65535)", "load", (32, 64), "uint16",
             probes=exact16), png_by_hand(ramp16, 0, 16))
    rgb16 = np.zeros((6, 8, 3), np.uint16)
    rgb16[...] = (1000, 30001, 65535)
    add(Case("rgb16.png", "16-bit RGB PNG with distinct channels (catches BGR and 8-bit reduction)",
             "load", (6, 8, 3), "uint16", probes=(((2, 3), (1000, 30001, 65535), 0),)), png_by_hand(rgb16, 2, 16))
    la16 = np.zeros((4, 4, 2), np.uint16)
    la16[..., 0] = 40000
    la16[:2, :, 1] = 65535  # top half opaque, bottom half fully transparent
    add(Case("gray_alpha16.png", "16-bit gray+alpha PNG (OpenCV expands it to BGRA)", "load", (4, 4), "uint16",
             words=("alpha", "white"), probes=(((0, 0), 40000, 0), ((3, 3), 65535, 0))), png_by_hand(la16, 4, 16))
    add(Case("gray16.tif", "16-bit grayscale TIFF", "load", (32, 64), "uint16", format="TIFF", probes=exact16),
        tiff_bytes(ramp16, photometric="minisblack"))
    ok, lzw = cv2.imencode(".tif", np.ascontiguousarray(rgb16[..., ::-1]))  # OpenCV writes BGR, LZW
    assert ok
    add(Case("rgb16_lzw.tif", "16-bit RGB TIFF with LZW compression", "load", (6, 8, 3), "uint16",
             probes=(((5, 7), (1000, 30001, 65535), 0),)), lzw.tobytes())
    floats = np.linspace(-1.5, 2.75, 8 * 10, dtype=np.float32).reshape(8, 10)
    floats[0, 1] = np.float32(1e-7)
    add(Case("float32.tif", "float32 TIFF with negative and tiny values", "load", (8, 10), "float32",
             probes=(((0, 0), -1.5, 0), ((0, 1), float(np.float32(1e-7)), 0), ((7, 9), 2.75, 0))),
        tiff_bytes(floats, photometric="minisblack"))
    add(Case("float32_rgb.tif", "float32 RGB TIFF (Pillow cannot open it)", "load", (8, 10, 3), "float32",
             probes=(((7, 9), (2.75, 5.5, -2.75), 0),)),
        tiff_bytes(np.stack([floats, floats * 2, -floats], axis=-1), photometric="rgb"))
    # Values at the edge of float32: scikit-image's float32 arithmetic overflows on them (Otsu from
    # about 1e12 on a large image), so the library must scale them rather than return garbage.
    huge = np.full((24, 32), -3e38, np.float32)
    huge[6:18, 8:24] = np.float32(3e38)
    huge[0, 0] = np.float32(1e-38)
    add(Case("float32_huge.tif", "float32 TIFF with values near ±3e38 (the float32 limit)", "load", (24, 32),
             "float32", probes=(((0, 1), -3e38, 1e31), ((10, 10), 3e38, 1e31))),
        tiff_bytes(huge, photometric="minisblack"))
    tiny = np.zeros((24, 32), np.float32)
    tiny[6:18, 8:24] = np.float32(3e-37)
    add(Case("float32_tiny.tif", "float32 TIFF whose values are all below 1e-36", "load", (24, 32), "float32",
             probes=(((10, 10), float(np.float32(3e-37)), 0),)),
        tiff_bytes(tiny, photometric="minisblack"))
    int32 = np.full((5, 7), 100_000, np.int32)
    int32[0, 0] = -3
    add(Case("int32.tif", "32-bit signed integer TIFF (becomes float32)", "load", (5, 7), "float32",
             words=("float32",), probes=(((0, 0), -3.0, 0), ((4, 6), 100_000.0, 0))), tiff_bytes(int32))
    pages = np.stack([np.full((6, 9), 100 * i, np.uint8) for i in range(3)])
    pages[0, 0, 0] = 7
    add(Case("multipage.tif", "a 3-page 8-bit TIFF; pages differ", "load", (6, 9), "uint8",
             words=("first page of a 3-page TIFF",), probes=(((0, 0), 7, 0), ((5, 8), 0, 0))),
        tiff_bytes(pages, photometric="minisblack"))

    # --- loaded: colour models, palettes, transparency -------------------------------------
    add(Case("cmyk.jpg", "CMYK JPEG of pure red (C=0 M=255 Y=255 K=0)", "load", (12, 16, 3), "uint8",
             words=("CMYK",), probes=(((6, 8), (255, 0, 0), 6),)),
        pillow_bytes(Image.new("CMYK", (16, 12), (0, 255, 255, 0)), "JPEG", quality=95))
    palette = Image.new("P", (6, 4), 0)
    palette.putpalette([255, 0, 0, 0, 0, 255] + [0] * 762)
    palette.putpixel((0, 0), 1)  # one opaque blue pixel; index 0 (red) is transparent
    add(Case("palette_transparent.png", "palette PNG, red entry fully transparent, one blue pixel", "load",
             (4, 6, 3), "uint8", words=("palette", "white"),
             probes=(((0, 0), (0, 0, 255), 0), ((3, 5), (255, 255, 255), 0))),
        pillow_bytes(palette, "PNG", transparency=0))
    rgba = np.zeros((8, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # left: opaque red
    rgba[:4, 4:] = (0, 255, 0, 0)  # top right: fully transparent green
    rgba[4:, 4:] = (0, 0, 0, 128)  # bottom right: half-transparent black
    add(Case("rgba.png", "RGBA PNG: opaque, transparent and half-transparent areas", "load", (8, 8, 3),
             "uint8", words=("alpha", "white"),
             probes=(((0, 0), (255, 0, 0), 0), ((0, 7), (255, 255, 255), 0), ((7, 7), (127, 127, 127), 1))),
        pillow_bytes(Image.fromarray(rgba), "PNG"))
    gray_alpha = np.zeros((4, 5, 2), np.uint8)
    gray_alpha[..., 0], gray_alpha[:, :2, 1] = 50, 255
    add(Case("gray_alpha.png", "8-bit gray+alpha PNG", "load", (4, 5), "uint8", words=("alpha",),
             probes=(((0, 0), 50, 0), ((0, 4), 255, 0))), pillow_bytes(Image.fromarray(gray_alpha, "LA"), "PNG"))
    add(Case("bilevel.png", "1-bit black-and-white PNG", "load", (4, 4), "uint8",
             probes=(((0, 0), 255, 0),)), pillow_bytes(Image.new("1", (4, 4), 1), "PNG"))
    frames = [Image.new("RGB", (10, 8), colour) for colour in
              [(255, 0, 0), (0, 255, 0), (0, 0, 255), (9, 9, 9), (200, 200, 0)]]
    add(Case("animated.gif", "5-frame animated GIF, first frame red", "load", (8, 10, 3), "uint8",
             words=("first frame", "5 frames"), probes=(((4, 4), (255, 0, 0), 0),)),
        pillow_bytes(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0))

    # --- loaded: orientation and lying names ------------------------------------------------
    stored = np.zeros((20, 40, 3), np.uint8)
    stored[:10, :20] = (255, 0, 0)  # red top-left as stored; rotated 90° clockwise it is top-right
    exif = Image.Exif()
    exif[0x0112] = 6
    add(Case("exif_orientation_6.jpg", "40×20 JPEG with EXIF orientation 6 (shown rotated 90° clockwise)",
             "load", (40, 20, 3), "uint8", words=("EXIF orientation", "90°"),
             probes=(((5, 15), (255, 0, 0), 12), ((5, 4), (0, 0, 0), 12), ((35, 15), (0, 0, 0), 12))),
        pillow_bytes(Image.fromarray(stored), "JPEG", exif=exif, quality=95))
    add(Case("png_named.jpg", "a valid PNG whose extension says JPEG", "load", (64, 64, 3), "uint8",
             format="PNG"), full_png)
    add(Case("gray.jpg", "8-bit grayscale JPEG", "load", (9, 11), "uint8", format="JPEG",
             probes=(((4, 5), 100, 2),)), pillow_bytes(Image.new("L", (11, 9), 100), "JPEG", quality=95))
    add(Case("picture.bmp", "24-bit BMP", "load", (5, 7, 3), "uint8", format="BMP",
             probes=(((4, 6), (10, 20, 30), 0),)), pillow_bytes(Image.new("RGB", (7, 5), (10, 20, 30)), "BMP"))
    add(Case("lossless.webp", "lossless WebP with an opaque alpha channel", "load", (5, 7, 3), "uint8",
             format="WEBP", probes=(((0, 0), (10, 200, 30), 0),)),
        pillow_bytes(Image.new("RGBA", (7, 5), (10, 200, 30, 255)), "WEBP", lossless=True))
    return out


def list_cases() -> list[Case]:
    """The cases without writing any file (for test parametrisation)."""
    return [case for case, _ in _cases()]


def build_corpus(folder: str | Path) -> list[Case]:
    """Write every corpus file into ``folder`` (created if needed) and return the cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    for case, data in _cases():
        (folder / case.name).write_bytes(data)
        cases.append(case)
    return cases


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python tests/make_bad_inputs.py OUTDIR", file=sys.stderr)
        return 2
    for case in build_corpus(argv[0]):
        size = (Path(argv[0]) / case.name).stat().st_size
        outcome = f"load {case.shape} {case.dtype}" if case.expect == "load" else f"error {case.words}"
        print(f"{case.name:28} {size:7d} B  {outcome}  - {case.description}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
