"""Server-side JPEG thumbnails for the image grid, made once and kept in the `output` location."""

from __future__ import annotations

import io
import uuid
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException, Query, Response, status
from PIL import Image as PILImage
from PIL import ImageOps

from labelbay.api.deps import ContextDep, CurrentUser, SessionDep
from labelbay.db.models import Role
from labelbay.services import images
from labelbay.storage import ObjectNotFound, ObjectStore

router = APIRouter(prefix="/api/v1", tags=["images"])

# A fixed set of sizes: any other value would let a client fill the cache with variants.
SIZES = (64, 128, 256, 512)
JPEG_QUALITY = 82
# A thumbnail's bytes depend only on the original's bytes (its sha256) and the size, so a browser
# may keep it a long time; "private" because it needs a credential to read.
CACHE_CONTROL = "private, max-age=604800, immutable"


def thumbnail_key(size: int, image_key: str) -> str:
    """Where a thumbnail lives in the output location: `thumbnails/{size}/{image key}`."""
    return f"thumbnails/{size}/{image_key}"


def render_thumbnail(data: bytes, size: int) -> bytes:
    """The image scaled to fit a size x size square (never enlarged), EXIF-rotated, as JPEG."""
    with PILImage.open(io.BytesIO(data)) as source:
        source.draft("RGB", (size, size))  # JPEG: decode at a reduced scale, much faster
        picture: PILImage.Image = source
        if picture.mode not in ("RGB", "L", "RGBA", "LA"):
            picture = picture.convert("RGBA")  # palettes, 1-bit, 16-bit: resized as RGBA
        # Scale first, then rotate and flatten the alpha onto white: the full-size image is
        # decoded once and not copied (uploads bound its decoded size: uploads/validate.py).
        picture.thumbnail((size, size), PILImage.Resampling.LANCZOS)
        picture = ImageOps.exif_transpose(picture)
        if picture.mode in ("RGBA", "LA"):
            background = PILImage.new("RGB", picture.size, (255, 255, 255))
            rgba = picture.convert("RGBA")
            background.paste(rgba, mask=rgba.getchannel("A"))
            picture = background
        out = io.BytesIO()
        picture.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return out.getvalue()


def cached_thumbnail(
    *, source: ObjectStore, source_key: str, cache: ObjectStore, image_key: str, size: int
) -> bytes:
    """The cached thumbnail of the image at `source_key` in `source`, kept under the image's own
    key; rendered and stored on the first request."""
    key = thumbnail_key(size, image_key)
    try:
        return cache.get(key)
    except ObjectNotFound:
        pass
    data = render_thumbnail(source.get(source_key), size)
    cache.put(key, data, content_type="image/jpeg")
    return data


@router.get(
    "/images/{image_id}/thumbnail",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}, 304: {"description": "not modified"}},
)
def get_thumbnail(
    image_id: uuid.UUID,
    user: CurrentUser,
    session: SessionDep,
    context: ContextDep,
    size: Annotated[int, Query(description=f"one of {', '.join(map(str, SIZES))}")] = 256,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    """A JPEG thumbnail that fits in size x size (any member). Made on first request, then cached
    in the `output` storage location; answers 304 to a matching `If-None-Match`."""
    if size not in SIZES:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"size must be one of {', '.join(map(str, SIZES))}",
        )
    image = images.get_image(session, user=user, image_id=image_id, min_role=Role.viewer)
    etag = f'"{image.sha256}-{size}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL}
    if if_none_match is not None and etag in {tag.strip() for tag in if_none_match.split(",")}:
        return Response(status_code=status.HTTP_304_NOT_MODIFIED, headers=headers)
    source, source_key = images.image_location(
        image, storage=context.storage, settings=context.settings
    )
    try:
        data = cached_thumbnail(
            source=source,
            source_key=source_key,
            cache=context.storage.output,
            image_key=image.storage_key,
            size=size,
        )
    except ObjectNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "the image's file is missing") from exc
    return Response(data, media_type="image/jpeg", headers=headers)
