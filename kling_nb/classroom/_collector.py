"""The collector: follows every forwarded job to its end and keeps its result for good.

Upstream result URLs expire (Qiniu 7 days, fal about an hour), and an emulator's are on
the teacher's loopback, so when a job completes the gateway fetches its result, downloads
its pictures into the class folder (`results/<request id>/`) with a thumbnail each, and
from then on answers the result itself. A sweep follows the jobs no student is polling
(a closed notebook, a gateway restarted mid-job).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from .._files import atomic_write_bytes, child_path, image_file_name
from .._secrets import scrub
from ._store import Job, Store
from ._upstream import Answer, Upstream, UpstreamDown

log = logging.getLogger("kling_nb.classroom")

TRANSIENT = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
SWEEP_INTERVAL = 2.0
SWEEP_CONCURRENCY = 8
THUMB_SIDE = 192


class Collector:
    """Fetches and keeps results (once per job, however many ask), and sweeps."""

    def __init__(
        self,
        store: Store,
        upstream: Upstream,
        results: Path,
        *,
        interval: float = SWEEP_INTERVAL,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.store = store
        self.upstream = upstream
        self.results = results
        self.interval = interval
        self._clock = clock
        self._inflight: dict[str, asyncio.Future[Answer]] = {}
        # Picture checks and thumbnails, one at a time: decoding in many threads at once
        # would hold a class's worth of pixels (and a malloc arena per thread) in memory.
        self._pictures = ThreadPoolExecutor(1, thread_name_prefix="kling-nb-pictures")
        self._seen: dict[str, float] = {}  # job id → when a student's poll last reached upstream
        self._watched: dict[str, int] = {}  # job id → status streams relayed right now

    def close(self) -> None:
        """Stop the picture thread (work not started is dropped: the sweep redoes it)."""
        self._pictures.shutdown(wait=False, cancel_futures=True)

    def seen(self, job_id: str) -> None:
        """A student's status call just asked the upstream: the sweep can skip this job."""
        self._seen[job_id] = self._clock()

    @contextmanager
    def watching(self, job_id: str) -> Iterator[None]:
        """While a student's status stream is relayed, the sweep leaves the job alone."""
        self._watched[job_id] = self._watched.get(job_id, 0) + 1
        try:
            yield
        finally:
            left = self._watched.pop(job_id) - 1
            if left:
                self._watched[job_id] = left
            self.seen(job_id)

    def folder(self, job_id: str) -> Path:
        return child_path(self.results, job_id)

    async def result(self, job: Job) -> Answer:
        """The upstream's result answer for `job`, kept when final; one fetch at a time."""
        found = self._inflight.get(job.id)
        if found is not None:
            return await asyncio.shield(found)
        future: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        self._inflight[job.id] = future
        try:
            answer = await self._fetch_and_keep(job)
            future.set_result(answer)
            return answer
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved here: a waiter may not exist
            raise
        finally:
            del self._inflight[job.id]

    async def _fetch_and_keep(self, job: Job) -> Answer:
        assert job.response_url is not None
        answer = await self.upstream.get(job.response_url)
        if answer.code == 404 and job.state == "completed":
            note = "the upstream answered 404 for its result: it expired or was forgotten"
            self.store.set_state(job.id, "lost", note)
            log.warning("%s: %s", job.id, note)
        elif answer.code == 200 and isinstance(answer.body, dict):
            await self._keep_output(job, answer.body)
        elif _final(job, answer):
            body = {"body": answer.body if answer.body is not None else answer.text}
            self.store.keep_result(job.id, answer.code, {**body, "headers": answer.headers})
            log.info("kept the failure of %s (HTTP %s)", job.id, answer.code)
        return answer

    async def _keep_output(self, job: Job, output: dict[str, Any]) -> None:
        """Download every picture (all at once) into the class folder, keep the output."""
        images = output.get("images")
        items = images if isinstance(images, list) else []
        names = _file_names(items)
        kept = await asyncio.gather(
            *(self._keep_image(job, i, item, names[i]) for i, item in enumerate(items))
        )
        missing = sum(1 for item in kept if item.get("file") is None)
        stored = {**scrubbed(output), "images": kept}
        note = (
            f"{missing} picture(s) not downloaded; their upstream URLs are kept"
            if missing
            else None
        )
        self.store.keep_result(job.id, 200, stored, note)
        log.info("kept the result of %s: %d picture(s)", job.id, len(kept) - missing)

    async def _keep_image(self, job: Job, index: int, item: Any, name: str) -> dict[str, Any]:
        if not isinstance(item, dict) or not isinstance(item.get("url"), str):
            return {"file": None, "upstream": scrubbed(item)}
        url = item["url"]
        kind = str(item.get("content_type") or "image/png")
        entry = {k: scrubbed(v) for k, v in item.items() if k != "url"}
        target = child_path(self.folder(job.id), name)
        part = target.with_name(f".{name}.part")
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            await self.upstream.download_to(url, part)  # streamed: never whole in memory
            await asyncio.get_running_loop().run_in_executor(
                self._pictures, _settle, part, target, kind
            )
        except (UpstreamDown, ValueError, OSError) as exc:
            part.unlink(missing_ok=True)
            log.warning("could not keep picture %d of %s: %s", index + 1, job.id, scrub(str(exc)))
            return {**entry, "file": None, "url": scrub(url) if url[:5] != "data:" else None}
        return {**entry, "file": name}

    async def thumbnail(self, job_id: str, name: str) -> Path | None:
        """`<picture>.thumb.jpg` beside a kept picture, made on first request (the dashboard's),
        so that no class pays for thumbnails while it runs."""
        picture = child_path(self.folder(job_id), name)
        thumb = picture.with_name(f"{name}.thumb.jpg")
        if thumb.is_file():
            return thumb
        if not picture.is_file():
            return None
        loop = asyncio.get_running_loop()
        made = await loop.run_in_executor(self._pictures, _thumbnail, picture)
        if made is None:
            return None
        await loop.run_in_executor(self._pictures, atomic_write_bytes, thumb, made)
        return thumb

    # --- the sweep ---------------------------------------------------------------------------

    async def sweep_forever(self) -> None:
        """Every `interval`, follow the jobs nobody polled lately; runs until cancelled."""
        while True:
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - a sweep must never stop the gateway
                log.exception("the result sweep failed; it runs again in %.0f s", self.interval)
            await asyncio.sleep(self.interval)

    async def sweep(self) -> int:
        """One pass; returns how many jobs it asked the upstream about."""
        now = self._clock()
        due = [
            job
            for job in self.store.to_collect()
            if job.id not in self._watched
            and now - self._seen.get(job.id, float("-inf")) >= self.interval
        ]
        gate = asyncio.Semaphore(SWEEP_CONCURRENCY)

        async def follow(job: Job) -> None:
            async with gate:
                try:
                    await self.follow(job)
                except UpstreamDown as exc:
                    log.warning("the upstream did not answer about %s: %s", job.id, exc)

        await asyncio.gather(*(follow(job) for job in due))
        for job_id in [j for j, at in self._seen.items() if now - at > 600]:
            del self._seen[job_id]  # bounded: finished jobs are not polled any more
        return len(due)

    async def follow(self, job: Job) -> None:
        """Ask the upstream about one job; keep its result once it completed."""
        if job.state == "completed":
            await self.result(job)
            return
        assert job.status_url is not None
        answer = await self.upstream.get(job.status_url, {"logs": "1"})
        self.seen(job.id)
        await self.observed(job, answer)

    async def observed(self, job: Job, answer: Answer) -> Job:
        """Record what a status answer says about `job` (state, completion, loss)."""
        body = answer.body if isinstance(answer.body, dict) else {}
        state = body.get("status")
        if answer.code == 404 and not job.kept:
            note = "the upstream answered 404: it no longer knows this job"
            self.store.set_state(job.id, "lost", note)
            log.warning("%s: %s", job.id, note)
        elif state == "IN_PROGRESS" and job.state == "queued":
            self.store.set_state(job.id, "running")
        elif isinstance(state, str) and state not in ("IN_QUEUE", "IN_PROGRESS"):
            self.store.completed(job.id, scrubbed(body))
            fresh = self.store.job(job.id)
            if fresh is not None and not fresh.kept:
                try:
                    await self.result(fresh)
                except UpstreamDown as exc:  # the sweep fetches it again
                    log.warning("the result of %s could not be fetched yet: %s", job.id, exc)
        return self.store.job(job.id) or job


def _file_names(items: list[Any]) -> list[str]:
    """A safe, distinct file name per output image (the server's where harmless)."""
    names: list[str] = []
    for index, item in enumerate(items):
        item = item if isinstance(item, dict) else {}
        kind = str(item.get("content_type") or "image/png")
        name = image_file_name(item.get("file_name"), index, kind)
        names.append(name if name not in names else f"{index + 1}_{name}")
    return names


def _final(job: Job, answer: Answer) -> bool:
    """True when a non-200 result answer is the job's last word (a failure), not a pause."""
    if answer.code == 422:
        return True
    if job.state != "completed":
        return False  # e.g. 400 "still IN_QUEUE": ask again later
    failed = bool((job.status or {}).get("error")) or (job.status or {}).get("status") not in (
        None,
        "COMPLETED",
    )
    return failed or answer.code not in TRANSIENT and answer.code != 404


def _settle(part: Path, target: Path, kind: str) -> None:
    """Move a downloaded picture into place, only if it decodes as the image it claims."""
    if not _decodes(part, kind):
        raise ValueError(f"{target.name} is not a {kind} image")
    with open(part, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(part, target)


def _decodes(path: Path, kind: str) -> bool:
    from PIL import Image

    expected = {"image/png": "PNG", "image/jpeg": "JPEG", "image/webp": "WEBP"}.get(kind)
    try:
        with Image.open(path) as img:
            fmt = img.format
            img.verify()
    except Exception:  # noqa: BLE001 - any decoder failure means "not an image"
        return False
    return expected is None or fmt == expected


def _thumbnail(picture: Path) -> bytes | None:
    from PIL import Image, UnidentifiedImageError

    from .._images import thumbnail_bytes
    from .._rules import MAX_DECODED_PIXELS

    try:
        with Image.open(picture) as img:
            if img.width * img.height > MAX_DECODED_PIXELS:
                return None
            img.draft("RGB", (THUMB_SIDE * 2, THUMB_SIDE * 2))
            img.load()
            return thumbnail_bytes(img, THUMB_SIDE, 40_000)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        return None


def scrubbed(value: Any) -> Any:
    """`value` with the key masked in every string, however deep."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {scrub(str(k)): scrubbed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrubbed(v) for v in value]
    return value
