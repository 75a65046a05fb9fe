"""How an emulator behaves: the options `start(**options)` and the CLI flags share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from .._wire import PROFILES, Profile
from ._failure import DETAIL_SHAPES, DetailShape

ResultUrls = Literal["http", "https", "data"]
# What a faulted status/result response becomes; "-ingress" kinds look like nginx's.
FAULT_KINDS = ("429", "502-ingress", "503-ingress", "502", "503", "drop")
FAL_RESULT_TTL = 3600.0  # fal keeps results about an hour (its queue docs)

# How `PUT …/cancel` answers (docs/services.md, "Cancel"):
# - "stops": a queued job is removed, a running one stopped; neither is billed (the plain
#   protocol as PROTOCOL.md writes it);
# - "queued-only": a queued job is removed (not billed); a running one is only signalled and
#   finishes, billed (fal's queue docs: "the model app decides how to stop the work");
# - "unsupported": 404 with Qiniu's error body; the job runs on and is billed (Qiniu's queue
#   reference: cancel_url "" and "暂未支持", not supported).
CancelMode = Literal["stops", "queued-only", "unsupported"]
CANCEL_MODES: tuple[CancelMode, ...] = ("stops", "queued-only", "unsupported")
PROFILE_CANCEL: dict[Profile, CancelMode] = {
    "plain": "stops",
    "fal": "queued-only",
    "qiniu": "unsupported",
}


@dataclass(frozen=True)
class EmulatorOptions:
    """How an emulator behaves; `start(**fields)` and the CLI flags take the same names."""

    host: str = "127.0.0.1"
    port: int = 0
    files_port: int = 0
    service_time: float = 2.0
    workers: int = 2
    fault_rate: float = 0.0
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    fail_rate: float = 0.0
    submit_drop_rate: float = 0.0
    seed: int = 0
    service_jitter: float = 0.0
    profile: Profile = "plain"
    result_urls: ResultUrls = "http"
    keepalive_interval: float = 15.0
    status_stream: bool = True  # False: a gateway without the SSE status stream (404)
    max_jobs: int = 10_000
    webhook_attempts: int = 4
    # Results are forgotten (404) this many seconds after completion; None: the profile's
    # documented keep (fal about 1 h; the others keep them while the emulator runs).
    result_ttl: float | None = None
    # --- gateway quirks, any profile ---
    stream_refused: bool = False  # 400 {"detail":"SSE streaming not supported"} to the stream
    status_logs: bool = True  # False: status answers never carry `logs`
    failed_status: bool = False  # True: a failed job's status is FAILED, not COMPLETED
    max_body_mb: float = 64.0  # 413 above this many MB of request body
    block_urllib: bool = False  # 403 `error code: 1010` to urllib's user agent
    data_results_max_mb: float = 256.0  # result_urls=data: oldest results evicted above this
    # --- service behaviours (issue 17; None or "mixed": as the profile documents) ---
    cancel: CancelMode | None = None  # how cancel answers; None: as the profile (see below)
    detail_shape: DetailShape = "mixed"  # qiniu: a failure's `detail` as string or object
    fal_storage: bool = True  # serve fal's storage upload API (False: 404, no such host)
    uploads_max_mb: float = 256.0  # uploaded files kept in memory; one larger is a 413

    @property
    def cancel_mode(self) -> CancelMode:
        """How cancel answers: the option, else what the profile's service documents."""
        return self.cancel or PROFILE_CANCEL[self.profile]

    @property
    def ttl(self) -> float | None:
        """Seconds a result is kept after completion, or None for as long as it runs."""
        if self.result_ttl is not None:
            return self.result_ttl
        return FAL_RESULT_TTL if self.profile == "fal" else None

    def __post_init__(self) -> None:
        object.__setattr__(self, "fault_kinds", tuple(self.fault_kinds))  # lists from callers
        for name in ("fault_rate", "fail_rate", "submit_drop_rate", "service_jitter"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} = {value!r} must be a fraction from 0 to 1.")
        unknown = set(self.fault_kinds) - set(FAULT_KINDS)
        if unknown or not self.fault_kinds:
            raise ValueError(f"fault_kinds must be some of {', '.join(FAULT_KINDS)}.")
        if self.workers < 1:
            raise ValueError(f"workers = {self.workers!r} must be at least 1.")
        if self.service_time < 0 or self.keepalive_interval <= 0:
            raise ValueError("service_time must be ≥ 0 and keepalive_interval > 0 (seconds).")
        if self.profile not in PROFILES:
            raise ValueError(f"profile = {self.profile!r} must be one of {', '.join(PROFILES)}.")
        if self.result_ttl is not None and self.result_ttl <= 0:
            raise ValueError(f"result_ttl = {self.result_ttl!r} must be > 0 seconds.")
        if min(self.max_body_mb, self.data_results_max_mb, self.uploads_max_mb) <= 0:
            raise ValueError("max_body_mb, data_results_max_mb and uploads_max_mb must be > 0.")
        if self.cancel is not None and self.cancel not in CANCEL_MODES:
            raise ValueError(f"cancel = {self.cancel!r} must be one of {', '.join(CANCEL_MODES)}.")
        if self.detail_shape not in DETAIL_SHAPES:
            raise ValueError(
                f"detail_shape = {self.detail_shape!r} must be one of {', '.join(DETAIL_SHAPES)}."
            )
        if self.result_urls not in ("http", "https", "data"):
            raise ValueError(f"result_urls = {self.result_urls!r} must be http, https or data.")
        if self.max_jobs < 1 or self.webhook_attempts < 1:
            raise ValueError("max_jobs and webhook_attempts must be at least 1.")
