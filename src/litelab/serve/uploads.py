"""Uploaded photos: bounded in bytes and pixels, decoded exactly as ``litelab predict`` does.

An upload is only ever decoded as an image (JPEG, PNG or WebP); its bytes never reach a
model loader. Each failure is an :class:`UploadError` carrying the HTTP status to answer
with: 413 for too many bytes or pixels, 415 for something that is not one of those images,
422 for an image whose data is broken.
"""

from __future__ import annotations

import base64
import io
import warnings

import numpy as np
from PIL import Image, UnidentifiedImageError

from litelab.data.images import decode_image

MAX_UPLOAD_BYTES = 10 * 1024 * 1024
MAX_PIXELS = 40_000_000  # a 40-megapixel photo; a decompression bomb is refused before decoding
UPLOAD_FORMATS = ("JPEG", "PNG", "WEBP")


class UploadError(Exception):
    """A bad upload, with the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def decode_upload(data: bytes, size: int, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray, dict]:
    """``(size, size, 3)`` uint8 pixels for one uploaded photo, and what it was.

    The header is read first: a format other than JPEG/PNG/WebP, or more than ``max_pixels``
    pixels, is refused before any pixel is decoded.
    """
    if not data:
        raise UploadError(422, "the uploaded file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=UPLOAD_FORMATS) as im:
                fmt, (width, height) = im.format, im.size
        except UnidentifiedImageError:
            raise UploadError(
                415, "the upload is not a JPEG, PNG or WebP image Pillow can read"
            ) from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise UploadError(413, "the image has too many pixels to decode safely") from None
        except Exception:  # noqa: BLE001 - a broken header can raise nearly anything in Pillow
            raise UploadError(422, "the image header is broken; cannot read it") from None
    if width * height > max_pixels:
        raise UploadError(
            413,
            f"the image is {width}x{height} = {width * height:,} pixels; "
            f"the limit is {max_pixels:,}",
        )
    pixels = decode_image(data, size)
    if pixels is None:
        raise UploadError(422, f"the {fmt} image is truncated or corrupt; cannot decode it")
    return pixels, {"format": fmt, "width": width, "height": height, "bytes": len(data)}


def png_data_url(pixels: np.ndarray) -> str:
    """The model's input image as a ``data:image/png;base64,...`` URL for the page."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(pixels, dtype=np.uint8), "RGB").save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
