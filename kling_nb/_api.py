"""The public calls: `edit` and `run_fal_task`, each with an `_async` twin.

`run_fal_task` is the guide's helper done properly; `edit` is the one-liner that returns an
`EditResult`. Each checks before anything is paid, replays an identical completed request
unless `fresh`, submits once, waits (Ctrl-C, a cancelled task or the deadline cancel the
job on the server and say what the service answered) and caches the pictures at once.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ._admission import Replayed, Started, Submitted, start
from ._cache import cache_job_output, finish_edit
from ._config import Connection, current_connection
from ._errors import KlingJobError
from ._images import ImageInput, PreparedImage, fixes_line
from ._job import (
    DEFAULT_TIMEOUT,
    Job,
    ProgressArg,
    cancels_fresh_job,
    check_timeout,
    checked_body,
    kept_if_interrupted,
    off_loop,
)
from ._progress import announce
from ._request import KlingO1Request
from ._results import EditResult
from ._wire import Output

if TYPE_CHECKING:
    from ._region import RegionInput


def run_fal_task(
    endpoint: str,
    arguments: Mapping[str, Any],
    poll_interval: float | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: ProgressArg = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """The guide's helper done properly: validate, submit, wait with progress, return the dict.

    An identical request already completed is replayed, not paid again, unless `fresh`."""
    check_timeout(timeout)
    with cancels_fresh_job(timeout):
        started = start_task(endpoint, arguments, connection, fresh=fresh, progress=progress)
        if isinstance(started, Replayed):
            return dict(started.value)
        output = started.job.wait_output(timeout, poll_interval, progress)
    with kept_if_interrupted(started.job.request_id, started.job.endpoint):
        return _kept(started.job, output)


async def run_fal_task_async(
    endpoint: str,
    arguments: Mapping[str, Any],
    poll_interval: float | None = None,
    *,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: ProgressArg = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> dict[str, Any]:
    """`run_fal_task` for `await`: the wait runs on the event loop, no thread per job."""
    check_timeout(timeout)
    started = await off_loop(
        lambda: start_task(endpoint, arguments, connection, fresh=fresh, progress=progress),
        job_of,
    )
    if isinstance(started, Replayed):
        return dict(started.value)
    output = await started.job.wait_output_async(timeout, poll_interval, progress)
    return await asyncio.to_thread(_kept, started.job, output)


def edit(
    prompt: str,
    images: ImageInput | Sequence[ImageInput],
    *,
    resolution: str | None = None,
    num_images: int = 1,
    aspect_ratio: str = "auto",
    output_format: str | None = None,
    elements: Sequence[Mapping[str, Any]] | None = None,
    region: RegionInput | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: ProgressArg = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> EditResult:
    """Edit images with a prompt and return an EditResult (displays as a gallery).

    `region` — a box (left, top, right, bottom) in pixels of image 1 as shown, a mask (a PIL
    "L" image or a path; white = edit) or a `Region` — edits only that part: the crop around
    it is sent (at the resolution that does not shrink it, unless `resolution` says) and
    the pictures are pasted back into the full photo, every pixel beyond the region and its
    feather kept exactly. `resolution` defaults to 1K. An identical edit already completed
    is replayed from the journal, not paid again, unless `fresh`."""
    check_timeout(timeout)
    request = edit_request(
        prompt, images, resolution, num_images, aspect_ratio, output_format, elements, region
    )
    with cancels_fresh_job(timeout):
        started = start_edit(request, connection, fresh=fresh, progress=progress)
        if isinstance(started, Replayed):
            replayed: EditResult = started.value
            return replayed
        output = started.job.wait_output(timeout, None, progress)
    with kept_if_interrupted(started.job.request_id, started.job.endpoint):
        return finish_edit(started.job, output, request, started.inputs)


async def edit_async(
    prompt: str,
    images: ImageInput | Sequence[ImageInput],
    *,
    resolution: str | None = None,
    num_images: int = 1,
    aspect_ratio: str = "auto",
    output_format: str | None = None,
    elements: Sequence[Mapping[str, Any]] | None = None,
    region: RegionInput | None = None,
    timeout: float | None = DEFAULT_TIMEOUT,
    progress: ProgressArg = True,
    connection: Connection | None = None,
    fresh: bool = False,
) -> EditResult:
    """`edit` for `await` (and `asyncio.gather`); cancelling the task cancels the job."""
    check_timeout(timeout)
    request = edit_request(
        prompt, images, resolution, num_images, aspect_ratio, output_format, elements, region
    )
    return await edit_request_async(
        request, connection, timeout=timeout, progress=progress, fresh=fresh
    )


async def edit_request_async(
    request: KlingO1Request,
    connection: Connection | None,
    *,
    timeout: float | None,
    progress: ProgressArg,
    fresh: bool = False,
    prepared: tuple[dict[str, Any], list[PreparedImage], Any] | None = None,
) -> EditResult:
    """Submit `request` (or replay it), wait on the loop, cache its images: one async edit.

    `prepared` is what a batch already did for this item: its body, inputs and admission."""
    started = await off_loop(
        lambda: start_edit(request, connection, fresh=fresh, progress=progress, prepared=prepared),
        job_of,
    )
    if isinstance(started, Replayed):
        replayed: EditResult = started.value
        return replayed
    output = await started.job.wait_output_async(timeout, None, progress)
    return await asyncio.to_thread(finish_edit, started.job, output, request, started.inputs)


def start_task(
    endpoint: str,
    arguments: Mapping[str, Any],
    connection: Connection | None,
    *,
    fresh: bool = False,
    progress: ProgressArg = True,
) -> Started:
    """Check, admit (replay or budget) and submit once."""
    conn = connection or current_connection()
    body = checked_body(conn, endpoint, arguments)
    return start(conn, endpoint, body, fresh=fresh, progress=progress)


def start_edit(
    request: KlingO1Request,
    connection: Connection | None = None,
    *,
    fresh: bool = False,
    progress: ProgressArg = True,
    prepared: tuple[dict[str, Any], list[PreparedImage], Any] | None = None,
) -> Started:
    """Check, encode, admit (replay or budget) and submit once: `Submitted | Replayed`."""
    conn = connection or current_connection()
    if prepared is not None:
        body, inputs, admission = prepared
    else:
        encoded, inputs = request.prepare(conn.profile)
        body, admission = dict(encoded), None
        said = fixes_line(inputs)
        if said:  # no fix to an input is silent
            announce(progress, said)
    return start(
        conn,
        request.endpoint,
        body,
        request=request,
        inputs=inputs,
        admission=admission,
        fresh=fresh,
        progress=progress,
    )


def job_of(started: Started) -> Job:
    """The job a start submitted, for `off_loop` to cancel (a replay started none)."""
    if not isinstance(started, Submitted):
        raise LookupError("a replay: no job to cancel")
    return started.job


def edit_request(
    prompt: str,
    images: ImageInput | Sequence[ImageInput],
    resolution: str | None,
    num_images: int,
    aspect_ratio: str,
    output_format: str | None,
    elements: Sequence[Mapping[str, Any]] | None,
    region: RegionInput | None = None,
) -> KlingO1Request:
    """The request `edit` was called for (checked when it is prepared)."""
    extra: dict[str, Any] = {} if elements is None else {"elements": elements}
    return KlingO1Request(
        prompt,
        images,  # type: ignore[arg-type]  # one image or many: __post_init__ takes both
        resolution,
        num_images,
        aspect_ratio,
        output_format,
        region=region,
        **extra,
    )


def _kept(job: Job, output: Output) -> dict[str, Any]:
    """The guide-style output, its Kling O1 images cached first (so that a replay, resume()
    or history() never depends on a URL that expires); a failed cache leaves the row for
    resume() and the output is still returned."""
    if job.caches_images:
        with contextlib.suppress(KlingJobError):
            cache_job_output(job, output)
    return output.raw
