"""The emulated runner fleet: a FIFO queue of jobs served by N workers, and its stats.

Everything here runs on one asyncio loop (the server's, or TestClient's); CPU work
(decoding, validating, rendering, encoding) goes to a thread pool so polls stay fast.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib
import io
import json
import logging
import random
import re
import shutil
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

from .._i18n import Language
from .._rules import (
    Violation,
    check_image_bytes,
    check_input,
    element_urls,
    is_url,
    normal_resolution,
)
from .._wire import (
    IMAGE_MAX_BYTES,
    LogLevel,
    WebhookBody,
    data_uri,
    decode_data_uri,
)
from ._body import release_memory
from ._failure import (
    CANCELLED,
    START_TIMEOUT,
    Failure,
    planned_failure,
    validation_failure,
)
from ._faults import Faults as Faults
from ._job import CancelOutcome, Job, StatusAnswer
from ._logs import LogLine
from ._options import FAULT_KINDS as FAULT_KINDS
from ._options import EmulatorOptions as EmulatorOptions
from ._storage import UploadStore

if TYPE_CHECKING:
    import httpx
    from PIL import Image

COUNT_CODES = ("images_too_many", "elements_too_many")  # refused before any per-item work
PIXELS_1K = 1024 * 1024  # `service_time` is the duration of one image of this many pixels
FAULT_LOG_MAX = 1000
# File and folder names the emulator writes and serves: no dots first, no separators.
SAFE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
log = logging.getLogger(__name__)


class Rendered(Protocol):
    """What the renderer returns per image (`_render.RenderedImage`)."""

    @property
    def data(self) -> bytes: ...
    @property
    def width(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def content_type(self) -> str: ...
    @property
    def file_name(self) -> str: ...


class RenderModel(Protocol):
    """The emulated model: `kling_nb.emulator._render`, or a stand-in with the same shape."""

    def render(
        self,
        inputs: list[Image.Image],
        prompt: str,
        *,
        resolution: str = ...,
        aspect_ratio: str = ...,
        num_images: int = ...,
        output_format: str = ...,
        seed: int = ...,
    ) -> Sequence[Rendered]: ...

    def output_size(
        self, resolution: str, aspect_ratio: str, first_input: tuple[int, int]
    ) -> tuple[int, int]: ...

    def style_of(self, prompt: str) -> str: ...


@dataclass
class Inspection:
    """The inputs of a job as the service sees them: broken rules, else decoded images."""

    violations: list[Violation]
    images: list[Image.Image]
    summary: list[str]


TOTALS = (
    "submits", "status_polls", "status_streams", "results", "cancels", "faults",
    "submit_drops", "jobs_completed", "jobs_failed", "webhooks_delivered", "webhook_failures",
    "billed_images", "results_expired",
)  # fmt: skip


class JobQueue:
    """Jobs by id, the FIFO of waiting jobs, the workers that run them, and the stats."""

    def __init__(
        self,
        options: EmulatorOptions,
        *,
        files_dir: Path | None = None,
        model: RenderModel | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.options = options
        self.faults = Faults(options)
        self.own_netlocs: set[str] = set()
        self._own_files_dir = files_dir is None
        # Without a folder from the caller, one of our own: made at start, deleted at stop.
        own = Path(tempfile.gettempdir()) / f"kling_nb_emulator_files_{uuid.uuid4().hex}"
        self.files_dir = files_dir or own
        self._model = model
        self._clock = clock
        self.jobs: dict[str, Job] = {}
        self._waiting: list[Job] = []
        self._running = 0
        self._wakeup: asyncio.Event | None = None
        self._seq = 0
        self.totals: dict[str, int] = dict.fromkeys(TOTALS, 0)
        self.faults_by_kind: dict[str, int] = {}
        self.fault_log: deque[dict[str, str]] = deque(maxlen=FAULT_LOG_MAX)
        self._tasks: set[asyncio.Task[None]] = set()
        self._executor: ThreadPoolExecutor | None = None
        self._http: httpx.AsyncClient | None = None
        self._data_bytes = 0  # sizes of data: URI results held, for result_urls=data
        self.uploads = UploadStore(int(options.uploads_max_mb * 2**20))  # fal's storage

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> None:
        """Start the workers on the running loop."""
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self._wakeup = asyncio.Event()
        self._executor = ThreadPoolExecutor(
            max_workers=self.options.workers, thread_name_prefix="kling-nb-emulator"
        )
        for index in range(self.options.workers):
            self._spawn(self._worker(index))

    async def stop(self) -> None:
        """Stop workers and deliveries; delete result files if this queue made the folder."""
        tasks = list(self._tasks) + [j.task for j in self.jobs.values() if j.task]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._executor is not None:
            # Wait for renders already running, so none writes into a deleted folder.
            await asyncio.to_thread(self._executor.shutdown, True, cancel_futures=True)
        if self._http is not None:
            await self._http.aclose()
        if self._own_files_dir:
            shutil.rmtree(self.files_dir, ignore_errors=True)

    def _spawn(self, coro: Any) -> asyncio.Task[None]:
        task: asyncio.Task[None] = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # --- the protocol's verbs ------------------------------------------------------------

    def submit(
        self,
        request_id: str,
        endpoint: str,
        body: dict[str, Any],
        *,
        file_base: str,
        webhook: str | None = None,
        low_priority: bool = False,
        start_timeout: float | None = None,
    ) -> Job:
        """Enqueue a job (normal priority before low) and wake a worker."""
        self._seq += 1
        n = body.get("num_images", 1)
        job = Job(
            request_id=request_id,
            endpoint=endpoint,
            body=body,
            file_base=file_base,
            submitted_at=self._clock(),
            seq=self._seq,
            low_priority=low_priority,
            webhook=webhook,
            planned=self.faults.job_failure(),
            detail_shape=self.faults.detail_shape(),  # drawn in submit order: reproducible
            num_images=n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1,
        )
        self.jobs[request_id] = job
        self.totals["submits"] += 1
        at = len(self._waiting)
        if not low_priority:
            at = next((i for i, j in enumerate(self._waiting) if j.low_priority), at)
        self._waiting.insert(at, job)
        self._touch_waiting(at + 1)
        if start_timeout is not None:
            asyncio.get_running_loop().call_later(start_timeout, self._expire, job)
        assert self._wakeup is not None, "JobQueue.start() was not awaited"
        self._wakeup.set()
        return job

    def position(self, job: Job) -> int:
        """0-based place among waiting jobs."""
        return self._waiting.index(job)

    def status_body(
        self, job: Job, with_logs: bool, lang: Language, logs_from: int = 0
    ) -> StatusAnswer:
        """The status object as the profile shapes it (PROTOCOL.md, and its last section);
        log lines worded in `lang`."""
        qiniu = self.options.profile == "qiniu"
        body: StatusAnswer = {"status": job.state}
        # Every profile: Qiniu's cookbook ran fal_client, which reads both keys, to the end
        # (docs/services.md, "Status"); `status_logs=False` plays a gateway without `logs`.
        if job.state == "IN_QUEUE":
            body["queue_position"] = self.position(job)
        if self.options.status_logs:
            body["logs"] = (
                [line.entry(lang) for line in job.logs[logs_from:]] if with_logs else None
            )
        if job.state != "COMPLETED":
            return body
        took = (job.completed_at or 0.0) - (job.started_at or job.completed_at or 0.0)
        body["metrics"] = {"inference_time": round(took, 3)}
        if qiniu:  # Qiniu: the reason in `detail` (null on success), the output in `result`
            body["detail"] = job.detail
            if job.output is not None:
                body["result"] = job.output
        elif job.failure is not None:
            body["error"] = job.failure.error
            body["error_type"] = job.failure.error_type
        if self.options.failed_status and job.failure not in (None, CANCELLED):
            body["status"] = "FAILED"
        return body

    def expired(self, job: Job) -> bool:
        """Whether the job's result is past the kept time (then it is forgotten)."""
        ttl = self.options.ttl
        if ttl is None or job.completed_at is None or self._clock() - job.completed_at < ttl:
            return False
        self.forget(job.request_id)
        self.totals["results_expired"] += 1
        return True

    def forget(self, request_id: str) -> None:
        """Drop a finished job and its files."""
        job = self.jobs.pop(request_id, None)
        if job is not None and job.output_bytes:
            self._data_bytes -= job.output_bytes
            job.output = None
            release_memory()  # tens of MB of data: URIs, or the process keeps their pages
        shutil.rmtree(self.files_dir / request_id, ignore_errors=True)

    def cancel(self, job: Job) -> CancelOutcome:
        """Cancel a job that has not completed, as `cancel_mode` says (docs/services.md):
        a queued job is removed; a running one is stopped, or only signalled and runs on."""
        job.cancel_requests += 1
        mode = self.options.cancel_mode
        if mode == "unsupported":
            outcome: CancelOutcome = "unsupported"
        elif job.state == "COMPLETED":
            outcome = "too_late"
        elif job.state == "IN_QUEUE":
            self._unqueue(job)
            outcome = "removed"
        elif mode == "queued-only":
            outcome = "signalled"
        else:
            if job.task is not None:
                job.task.cancel()
            outcome = "stopped"
        job.cancel_outcome = outcome
        if outcome == "signalled":
            self._log(job, "WARN", "emulator.log.cancel_signalled")
        elif outcome in ("removed", "stopped"):
            job.cancelled = True
            self._log(job, "WARN", "emulator.log.cancel_stopped")
            self._finish(job, CANCELLED)
        return outcome

    def _expire(self, job: Job) -> None:
        if job.state == "IN_QUEUE":
            self._unqueue(job)
            self._finish(job, START_TIMEOUT)

    def _unqueue(self, job: Job) -> None:
        at = self._waiting.index(job)
        del self._waiting[at]
        self._touch_waiting(at)

    def _touch_waiting(self, start: int) -> None:
        for later in self._waiting[start:]:
            later.touch()

    # --- workers -------------------------------------------------------------------------

    async def _worker(self, index: int) -> None:
        assert self._wakeup is not None
        while True:
            while not self._waiting:
                self._wakeup.clear()
                await self._wakeup.wait()
            job = self._waiting.pop(0)
            # Set at once, not in the task: a poll in between must never see a queued job
            # that has no place in the queue.
            job.state, job.started_at = "IN_PROGRESS", self._clock()
            self._touch_waiting(0)
            self._running += 1
            job.task = asyncio.get_running_loop().create_task(self._run(job, index))
            await asyncio.wait({job.task})
            job.task = None
            self._running -= 1

    async def _run(self, job: Job, worker: int) -> None:
        try:
            await self._process(job, worker)
        except asyncio.CancelledError:
            return  # cancel() already finished the job
        except Exception as exc:  # a renderer bug must end the job visibly, not hang it
            log.warning("emulated job %s crashed", job.request_id, exc_info=True)
            msg = f"The emulated model crashed: {type(exc).__name__}: {exc}"
            self._finish(job, Failure(500, msg, "internal_server_error", msg))

    async def _process(self, job: Job, worker: int) -> None:
        loop = asyncio.get_running_loop()
        self._log(job, "INFO", "emulator.log.picked_up", runner=worker + 1)
        self._notify(job, "IN_PROGRESS")
        found = await loop.run_in_executor(self._executor, self._inspect, job.body)
        if found.violations:
            for v in found.violations:
                self._log(job, "ERROR", f"rule.{v.code}", field=v.field, **v.facts)
            self._finish(job, validation_failure(found.violations))
            return
        summary = ", ".join(found.summary)
        self._log(job, "INFO", "emulator.log.decoded", count=len(found.images), summary=summary)
        await self._produce(job, found.images)

    async def _produce(self, job: Job, images: list[Image.Image]) -> None:
        """Render while the service time passes; the job ends at the later of the two."""
        prompt, params = job.body["prompt"], _params(job.body, self.options.seed)
        model = self._load_model()
        if not images:  # text-to-image: the model starts from a canvas drawn from the seed
            images = [_canvas(params["seed"])]
        w, h = model.output_size(params["resolution"], params["aspect_ratio"], images[0].size)
        duration = self.options.service_time * job.num_images * (w * h) / PIXELS_1K
        duration *= self.faults.service_factor()
        job.planned_seconds = duration
        style = model.style_of(prompt).replace("_", " ")
        self._log(job, "INFO", "emulator.log.style", style=style)
        self._log(job, "INFO", "emulator.log.plan", **_plan_facts(params, (w, h)))
        render = asyncio.get_running_loop().run_in_executor(
            self._executor, self._render, model, images, prompt, job, params
        )
        steps = 2 if job.planned else job.num_images
        for step in range(steps):
            if job.planned and step == 1:
                await asyncio.wait({render})
                self._finish(job, planned_failure(job.planned))
                return
            self._log(job, "INFO", "emulator.log.rendering", number=step + 1, count=job.num_images)
            await asyncio.sleep(duration / steps)
        output = await render
        self._log(job, "INFO", "emulator.log.stored", count=len(output))
        self._finish(job, None, {"images": output})

    def _load_model(self) -> RenderModel:
        if self._model is None:
            # Imported lazily: the renderer is heavy and optional until a job runs.
            self._model = importlib.import_module("kling_nb.emulator._render")
        assert self._model is not None
        return self._model

    # --- CPU work (thread pool) ----------------------------------------------------------

    def _inspect(self, body: dict[str, Any]) -> Inspection:
        """The service's checks: field rules, then each input fetched (locally) and checked."""
        from PIL import Image

        found = check_input(body, self.options.profile)
        if any(v.code in COUNT_CODES or v.loc[0] == "elements" for v in found):
            return Inspection(found, [], [])  # no per-item work for a request refused whole
        urls = body.get("image_urls")
        located: list[tuple[tuple[str | int, ...], object]] = [
            (("image_urls", i), url) for i, url in enumerate(urls if isinstance(urls, list) else [])
        ]
        images: list[Image.Image] = []
        summary: list[str] = []
        for loc, url in located + list(element_urls(body)):
            if not is_url(url):
                continue  # check_input already reported it
            assert isinstance(url, str)
            data, problem = self._fetch(url, loc)
            if problem is not None:
                found.append(problem)
                continue
            assert data is not None
            broken = [replace(v, loc=loc) for v in check_image_bytes(data)]
            found += broken
            if not broken:
                img = Image.open(io.BytesIO(data))
                img.load()
                images.append(img)
                summary.append(f"{img.width}×{img.height} {img.format}")
        return Inspection(found, images if not found else [], summary)

    def _fetch(self, url: str, loc: tuple[str | int, ...]) -> tuple[bytes | None, Violation | None]:
        """Bytes of a data: URI, an own file or a bundled sample; never a network fetch."""
        if url[:5].lower() == "data:":
            # Known before decoding: base64 holds 3 bytes per 4 characters, less its padding.
            size = (len(url) - url.find(",") - 1) * 3 // 4 - url.endswith("=") - url.endswith("==")
            if size > IMAGE_MAX_BYTES:  # refused without a decoded copy of tens of MB
                facts: dict[str, object] = {
                    "size_mb": round(size / 2**20, 1),
                    "limit_mb": IMAGE_MAX_BYTES // 2**20,
                }
                return None, Violation(loc, "image_too_many_bytes", facts)
            try:
                return decode_data_uri(url)[1], None
            except ValueError:
                return None, Violation(loc, "image_undecodable")
        parts = urlsplit(url)
        if parts.netloc in self.own_netlocs:
            data = self._own_file(unquote(parts.path))
            if data is not None:
                return data, None
            return None, Violation(loc, "image_not_found", {"value": url})
        from .. import _samples

        # Scheme and host are case-insensitive (RFC 3986): HTTPS://AITOKEN-PUBLIC… is the
        # guide's sample too. The path is not, so it stays as written.
        same = parts._replace(scheme=parts.scheme.lower(), netloc=parts.netloc.lower())
        sample = _samples.sample_bytes(same.geturl())
        if sample is not None:
            return sample, None
        return None, Violation(loc, "image_not_remote", {"value": url})

    def _own_file(self, path: str) -> bytes | None:
        parts = path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "files":
            target = self.file_path(parts[1], parts[2])
            return target.read_bytes() if target is not None else None
        if len(parts) == 2 and parts[0] == "samples":
            from .. import _samples

            return _samples.sample_bytes(parts[1])
        if len(parts) == 3 and parts[0] == "uploads":  # a file uploaded to fal's storage
            upload = self.uploads.get(parts[1], parts[2])
            return upload.data if upload is not None else None
        return None

    def file_path(self, request_id: str, name: str) -> Path | None:
        """The stored result file, or None (also for names that try to leave the folder)."""
        if not _safe_name(request_id) or not _safe_name(name):
            return None
        root = self.files_dir.resolve()
        target = (root / request_id / name).resolve()
        if not target.is_relative_to(root) or not target.is_file():
            return None
        return target

    def _render(
        self,
        model: RenderModel,
        images: list[Image.Image],
        prompt: str,
        job: Job,
        params: dict[str, Any],
    ) -> list[dict[str, object]]:
        """Render, then store the files (or make data: URIs); the output's `images` list."""
        # fal's sync_mode asks for the output inline, as data: URIs, whatever the server mode.
        job.inline = self.options.result_urls == "data" or job.body.get("sync_mode") is True
        rendered = list(model.render(images, prompt, **params))
        rendered.reverse()  # popped from the end: each picture's bytes go once it is stored
        folder = self.files_dir / job.request_id
        if not job.inline:
            folder.mkdir(parents=True, exist_ok=True)
        output: list[dict[str, object]] = []
        names: set[str] = set()
        for i in range(len(rendered)):
            img = rendered.pop()
            name = img.file_name if _safe_name(img.file_name) else f"image_{i + 1}"
            if name in names:
                name = f"{i + 1}_{name}"
            names.add(name)
            if job.inline:
                url = data_uri(img.data, img.content_type)
            else:
                (folder / name).write_bytes(img.data)
                url = job.file_base + name
            entry: dict[str, object] = {"url": url, "content_type": img.content_type}
            if self.options.profile != "qiniu":  # Qiniu documents url and content_type only
                entry |= {
                    "file_name": name,
                    "file_size": len(img.data),
                    "width": img.width,
                    "height": img.height,
                }
            output.append(entry)
        return output

    # --- endings, logs, webhooks ---------------------------------------------------------

    def _finish(
        self, job: Job, failure: Failure | None, output: dict[str, object] | None = None
    ) -> None:
        if job.state == "COMPLETED":
            return
        job.state, job.completed_at = "COMPLETED", self._clock()
        job.failure, job.output = failure, output
        job.body = {}  # inputs can be tens of MB of data: URIs; they are not needed any more
        self.totals["jobs_failed" if failure else "jobs_completed"] += 1
        if output is not None:
            job.billed_images = len(output.get("images") or [])  # type: ignore[arg-type]
            self.totals["billed_images"] += job.billed_images
            if job.inline:  # the data: URIs, and a little for the JSON around them
                entries: list[dict[str, Any]] = output["images"]  # type: ignore[assignment]
                job.output_bytes = sum(len(str(e["url"])) + 200 for e in entries)
                self._data_bytes += job.output_bytes
                release_memory()  # the rendered bytes, dropped in a worker thread
        if failure is not None and self.options.profile == "qiniu":
            job.detail = failure.qiniu_detail(job.detail_shape)
        if failure is not None and failure is not CANCELLED:
            self._log(job, "ERROR", "emulator.log.failed", error=failure.error)
        job.touch()
        if failure is None:
            self._notify(job, "OK", payload=output)
        else:
            self._notify(job, "ERROR", payload={"detail": failure.webhook_detail()}, error=failure)
        self._evict(keep=job.request_id)

    def _evict(self, keep: str) -> None:
        """Forget the oldest finished jobs beyond `max_jobs` or `data_results_max_mb`
        (never `keep`, the one just finished: its client has yet to fetch it)."""
        excess = len(self.jobs) - self.options.max_jobs
        cap = self.options.data_results_max_mb * 2**20
        if excess <= 0 and self._data_bytes <= cap:
            return
        for rid in [r for r, j in self.jobs.items() if j.state == "COMPLETED" and r != keep]:
            if excess <= 0 and self._data_bytes <= cap:
                break
            self.forget(rid)
            excess -= 1

    def _log(self, job: Job, level: LogLevel, key: str, /, **facts: object) -> None:
        """Add a log line by message key (worded when a status is read: `_logs`)."""
        stamp = datetime.fromtimestamp(self._clock(), timezone.utc).isoformat()
        job.logs.append(LogLine(level, key, stamp, facts))
        job.touch()

    def _notify(
        self,
        job: Job,
        status: Literal["IN_PROGRESS", "OK", "ERROR"],
        *,
        payload: object = None,
        error: Failure | None = None,
    ) -> None:
        if job.webhook is None:
            return
        body: WebhookBody = {
            "request_id": job.request_id,
            "gateway_request_id": f"gw-{job.request_id}",
            "status": status,
            "payload": payload,
            "error": error.error if error else None,
        }
        job.webhook_chain = self._spawn(self._deliver(job.webhook, body, job.webhook_chain))

    async def _deliver(
        self, url: str, body: WebhookBody, before: asyncio.Task[None] | None
    ) -> None:
        """POST one delivery after the previous one for the job, retrying with back-off."""
        import httpx

        if before is not None:
            await asyncio.wait({before})
        if self._http is None:
            # trust_env=False: a proxy from the environment must never see loopback traffic.
            self._http = httpx.AsyncClient(trust_env=False, timeout=5.0)
        for attempt in range(self.options.webhook_attempts):
            try:
                response = await self._http.post(url, json=body)
                if response.status_code < 300:
                    self.totals["webhooks_delivered"] += 1
                    return
            except httpx.HTTPError:
                pass  # counted below, then retried like the service does
            self.totals["webhook_failures"] += 1
            await asyncio.sleep(0.1 * 2**attempt)

    # --- stats ---------------------------------------------------------------------------

    def record_fault(self, route: str, kind: str) -> None:
        self.totals["faults"] += 1
        self.faults_by_kind[kind] = self.faults_by_kind.get(kind, 0) + 1
        self.fault_log.append({"route": route, "kind": kind})

    def stats(self) -> dict[str, object]:
        """Totals, fault record and per-request facts, as `GET /_emulator/stats` returns them."""
        return {
            "totals": dict(self.totals),
            "faults_by_kind": dict(self.faults_by_kind),
            "fault_log": list(self.fault_log),
            "queue": {
                "waiting": len(self._waiting),
                "running": self._running,
                "data_bytes": self._data_bytes,  # data: URI results held in memory
            },
            "uploads": self.uploads.stats(),  # files uploaded to the emulated fal storage
            "options": asdict(self.options),
            "requests": {rid: job.stats() for rid, job in self.jobs.items()},
        }

    def reset_stats(self) -> None:
        """Zero the counters (jobs and their results stay)."""
        self.totals = dict.fromkeys(TOTALS, 0)
        self.faults_by_kind.clear()
        self.fault_log.clear()
        for job in self.jobs.values():
            job.status_polls = 0
            job.status_streams = 0


def _params(body: dict[str, Any], seed: int) -> dict[str, Any]:
    # Seeded by the request itself: the same request draws the same pictures, whatever
    # order it arrives in (so concurrent batches, and notebooks, are reproducible).
    digest = hashlib.sha256(f"{seed}:{json.dumps(body, sort_keys=True)}".encode()).digest()
    return {
        "resolution": normal_resolution(body.get("resolution", "1K")),
        "aspect_ratio": body.get("aspect_ratio", "auto"),
        "num_images": body.get("num_images", 1),
        "output_format": body.get("output_format", "png"),
        "seed": int.from_bytes(digest[:6], "big"),
    }


def _canvas(seed: int) -> Image.Image:
    """A 1024×1024 two-colour gradient, the same for the same seed."""
    from PIL import Image

    rng = random.Random(seed)
    top, bottom = (tuple(rng.randrange(256) for _ in range(3)) for _ in range(2))
    gradient = Image.linear_gradient("L").resize((1024, 1024))
    return Image.composite(
        Image.new("RGB", (1024, 1024), bottom),
        Image.new("RGB", (1024, 1024), top),
        gradient,
    )


def _plan_facts(params: dict[str, Any], size: tuple[int, int]) -> dict[str, object]:
    return {
        "count": params["num_images"],
        "width": size[0],
        "height": size[1],
        "format": str(params["output_format"]).upper(),
        "resolution": params["resolution"],
        "aspect": params["aspect_ratio"],
    }


def _safe_name(name: str) -> bool:
    return SAFE_NAME.fullmatch(name) is not None
