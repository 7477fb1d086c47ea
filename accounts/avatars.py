"""Avatars are re-encoded, never stored as uploaded.

An upload that Pillow accepts as an image can still carry EXIF (GPS position, camera, comments),
text chunks, or anything appended after the image's end (an HTML page, a ZIP): bytes the server
would then publish under /media/. Decoding the pixels and encoding them afresh keeps only the
picture — JPEG stays JPEG, every other kind becomes PNG (an animated GIF keeps its first frame) —
turned upright by its EXIF orientation first.
"""

from __future__ import annotations

import io
import uuid

from django.core.files.base import ContentFile
from django.core.files.uploadedfile import UploadedFile
from PIL import Image, ImageOps

from chatproject.errors import ValidationFailed

# far above any avatar, far below what decoding could exhaust memory with
AVATAR_MAX_PIXELS = 4096 * 4096


def avatar_reencode(*, image: UploadedFile) -> tuple[str, ContentFile[bytes]]:
    """The avatar as it is stored: a fresh encoding of the upload's pixels and its file name.

    Raises:
        ValidationFailed: on `avatar`, when the bytes do not decode as an image.
    """
    try:
        image.seek(0)
        with Image.open(image) as source:
            if source.width * source.height > AVATAR_MAX_PIXELS:
                raise ValidationFailed(fields={"avatar": ["The image has too many pixels."]})
            kind = source.format
            picture = ImageOps.exif_transpose(source)
            picture.load()
    except ValidationFailed:
        raise
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ValidationFailed(fields={"avatar": ["The image cannot be decoded."]}) from exc
    has_alpha = kind != "JPEG" and (picture.mode in ("RGBA", "LA", "PA") or "transparency" in picture.info)
    mode = "RGBA" if has_alpha else "RGB"
    # a new image from the pixels alone: Pillow's encoders copy `info` (comments, ICC, EXIF) along
    bare = Image.frombytes(mode, picture.size, picture.convert(mode).tobytes())
    out = io.BytesIO()
    if kind == "JPEG":
        bare.save(out, format="JPEG", quality=90)
        extension = "jpg"
    else:
        bare.save(out, format="PNG")
        extension = "png"
    return f"{uuid.uuid4().hex}.{extension}", ContentFile(out.getvalue())
