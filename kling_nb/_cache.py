"""The image cache: a finished job's pictures on disk the moment it completes.

Result URLs expire (Qiniu after 7 days, fal after about an hour), so every output image is
fetched into `KLING_NB_HOME/cache/<request id>/` at once — decode-checked, contained in its
folder and written whole — and the journal row is completed with their paths. A picture
already cached soundly is not fetched again; a damaged one (truncated, HTML) is. A region
edit's outputs are then pasted back into the kept original (`_composites`) and the row is
completed with the composites' paths: until then it stays resumable. This is blocking work:
async callers run it off the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._digest import THUMB_BYTES, THUMB_SIDE, THUMBS, write_thumbnail
from ._errors import KlingError, KlingJobError
from ._files import (
    atomic_write_bytes,
    cache_folder,
    cached_image_ok,
    child_path,
    image_file_name,
    safe_name,
    write_image,
)
from ._i18n import message
from ._results import EditResult, ResultImage, make_result
from ._text import clip
from ._wire import Output

if TYPE_CHECKING:
    from ._config import Connection
    from ._images import PreparedImage
    from ._job import Job
    from ._request import KlingO1Request

Download = Callable[[str], bytes]


def cache_images(output: Output, folder: Path, download: Download) -> list[ResultImage]:
    """Each output image in `folder` (fetched in parallel unless a sound copy is there),
    decode-checked, contained and written atomically; raises OSError, ValueError or a
    KlingError for the caller to word."""

    def fetch(index: int) -> ResultImage:
        entry = output.images[index]
        ctype = entry.content_type
        path = child_path(folder, image_file_name(entry.file_name, index, ctype))
        if not cached_image_ok(path, ctype):
            path = write_image(folder, entry.file_name, index, download(entry.url), ctype)
        from PIL import Image

        with Image.open(path) as img:
            width, height = img.size
        return ResultImage(entry.url, ctype, width, height, path, index)

    folder.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(fetch, range(len(output.images))))


def cache_for(
    conn: Connection, request_id: str, output: Output, download: Download
) -> list[ResultImage]:
    """`cache_images` into this request's cache folder."""
    return cache_images(output, cache_folder(conn.home, request_id), download)


def cache_job_output(job: Job, output: Output, *, complete: bool = True) -> list[ResultImage]:
    """Cache a finished job's images (result URLs expire) and complete its journal row (a
    region edit passes `complete=False`: its row is completed once its composites exist); a
    failure is a KlingJobError and leaves the row for resume() to try again."""
    try:
        images = cache_for(job.connection, job.request_id, output, job.client.download)
    except (OSError, ValueError, KlingError) as exc:
        url, rid = clip(output.first_url), job.request_id
        words = message("job.download_failed", request_id=rid, url=url, detail=exc)
        raise _unfinished(job, words, exc) from None
    if complete:
        _thumbnail(job, images[0].path.read_bytes() if images else b"")
        if job.journal_id is not None:
            job.journal.completed(job.journal_id, cached=[str(im.path) for im in images])
    return images


@dataclass(frozen=True)
class Pictures:
    """A finished edit's pictures: those shown (a region edit's composites) and the raw."""

    images: list[ResultImage]
    raw: list[ResultImage]
    region: dict[str, Any] | None = None
    covers: list[Any] = field(default_factory=list)  # small copies, for the contact sheet
    drifts: list[Any] = field(default_factory=list)  # measured while the pixels were at hand


def region_pictures(
    conn: Connection, request_id: str, raw: list[ResultImage], region: Mapping[str, Any]
) -> Pictures:
    """A region edit's raw outputs pasted back into its kept original, cached (`_composites`)."""
    from ._composites import finish_composites

    outputs = [(im.index, im.path) for im in raw]
    made = finish_composites(conn.home, request_id, region, outputs, emulated=conn.emulated)
    images = [
        ResultImage(im.url, c.content_type, *c.size, c.path, c.index)
        for im, c in zip(raw, made, strict=True)
    ]
    covers, drifts = [c.cover for c in made], [c.drift for c in made]
    return Pictures(images, raw, dict(region), covers, drifts)


def finish_edit(
    job: Job,
    output: Output,
    request: KlingO1Request,
    inputs: Sequence[PreparedImage],
    region: Mapping[str, Any] | None = None,
    *,
    sheet: bool = True,
) -> EditResult:
    """An edit's last step: cache its images (for a region edit, made into composites: its
    `region` is the journal row's), complete its row, return the result (a value:
    displaying or saving it writes no journal row; a save is recorded through its hook).
    `sheet=False`: its contact sheet and drift are put off (see `make_result`)."""
    region = region if region is not None else _row_region(job)
    if region is None:
        images = cache_job_output(job, output)
        pictures = Pictures(images, images)
    else:
        raw = cache_job_output(job, output, complete=False)
        try:
            pictures = region_pictures(job.connection, job.request_id, raw, region)
        except KlingJobError as exc:  # worded already (the original is gone)
            raise _unfinished(job, str(exc), exc) from None
        except (OSError, ValueError, KlingError) as exc:
            text = message("region.finish_failed", request_id=job.request_id, detail=exc)
            raise _unfinished(job, text, exc) from None
        _thumbnail(job, pictures.covers[0] if pictures.covers else b"")
        if job.journal_id is not None:
            job.journal.completed(job.journal_id, cached=[str(im.path) for im in pictures.images])
    return make_result(
        output.raw,
        pictures.images,
        request_id=job.request_id,
        endpoint=job.endpoint,
        connection=job.connection,
        request=request,
        inputs=list(inputs),
        on_saved=job.journal.add_saved,
        raw_images=pictures.raw,
        region=pictures.region,
        covers=pictures.covers,
        drifts=pictures.drifts,
        sheet=sheet,
    )


def _row_region(job: Job) -> dict[str, Any] | None:
    """The region plan the job's journal row holds (None for a whole-picture edit)."""
    if job.journal_id is None:
        return None
    entry = job.journal.get(job.journal_id)
    return entry.region if entry is not None else None


def _unfinished(job: Job, text: str, exc: BaseException) -> KlingJobError:
    """The error of a job whose pictures could not be finished; its row stays resumable."""
    error = KlingJobError(text, request_id=job.request_id, endpoint=job.endpoint, detail=str(exc))
    if job.journal_id is not None:
        job.journal.note(job.journal_id, error=str(error))  # stays downloading: resumable
    return error


def _thumbnail(job: Job, picture: Any) -> None:
    """history()'s tile, made now so that reading the history writes nothing."""
    name = f"out-{safe_name(job.request_id, 'job')}.jpg"
    target = job.connection.home / THUMBS / name
    with contextlib.suppress(OSError, ValueError):
        if isinstance(picture, bytes):
            if picture:
                write_thumbnail(picture, target)
        else:
            from ._images import thumbnail_bytes

            atomic_write_bytes(target, thumbnail_bytes(picture, THUMB_SIDE, THUMB_BYTES))
