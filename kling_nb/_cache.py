"""The image cache: a finished job's pictures on disk the moment it completes.

Result URLs expire (Qiniu after 7 days, fal after about an hour), so every output image is
fetched into `KLING_NB_HOME/cache/<request id>/` at once — decode-checked, contained in its
folder and written whole — and the journal row is completed with their paths. A picture
already cached soundly is not fetched again; a damaged one (truncated, HTML) is. This is
blocking work: async callers run it off the event loop.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ._digest import THUMBS, write_thumbnail
from ._errors import KlingError, KlingJobError
from ._files import (
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


def cache_job_output(job: Job, output: Output) -> list[ResultImage]:
    """Cache a finished job's images (result URLs expire) and complete its journal row; a
    failure is a KlingJobError and leaves the row for resume() to try again."""
    try:
        images = cache_for(job.connection, job.request_id, output, job.client.download)
    except (OSError, ValueError, KlingError) as exc:
        error = KlingJobError(
            message(
                "job.download_failed",
                request_id=job.request_id,
                url=clip(output.first_url),
                detail=exc,
            ),
            request_id=job.request_id,
            endpoint=job.endpoint,
            detail=str(exc),
        )
        if job.journal_id is not None:
            job.journal.note(job.journal_id, error=str(error))  # stays downloading: resumable
        raise error from None
    if images:  # history()'s tile, made now so that reading the history writes nothing
        name = f"out-{safe_name(job.request_id, 'job')}.jpg"
        with contextlib.suppress(OSError):
            write_thumbnail(images[0].path.read_bytes(), job.connection.home / THUMBS / name)
    if job.journal_id is not None:
        job.journal.completed(job.journal_id, cached=[str(im.path) for im in images])
    return images


def finish_edit(
    job: Job, output: Output, request: KlingO1Request, inputs: Sequence[PreparedImage]
) -> EditResult:
    """An edit's last step: cache its images, complete its row, return the result (a value:
    displaying or saving it writes no journal row; a save is recorded through its hook)."""
    images = cache_job_output(job, output)
    return make_result(
        output.raw,
        images,
        request_id=job.request_id,
        endpoint=job.endpoint,
        connection=job.connection,
        request=request,
        inputs=list(inputs),
        on_saved=job.journal.add_saved,
    )
