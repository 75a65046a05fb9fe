"""Seeded dice for every injected fault and drawn choice: reproducible by `seed`."""

from __future__ import annotations

import random
from typing import Literal

from ._failure import FAILURE_KINDS, FailureKind
from ._options import EmulatorOptions


class Faults:
    """Seeded dice for every injected fault; one stream per purpose, so each is reproducible."""

    def __init__(self, options: EmulatorOptions):
        self._options = options
        self._response = random.Random(f"{options.seed}:response")
        self._submit = random.Random(f"{options.seed}:submit")
        self._job = random.Random(f"{options.seed}:job")
        self._service = random.Random(f"{options.seed}:service")
        self._detail = random.Random(f"{options.seed}:detail")

    def service_factor(self) -> float:
        """How much longer or shorter this job runs: 1 ± `service_jitter`, uniformly."""
        jitter = self._options.service_jitter
        return 1.0 + self._service.uniform(-jitter, jitter) if jitter else 1.0

    def response(self) -> str | None:
        """The fault replacing this status/result response, or None."""
        if self._options.fault_rate and self._response.random() < self._options.fault_rate:
            return self._response.choice(self._options.fault_kinds)
        return None

    def drop_submit(self) -> bool:
        return bool(self._options.submit_drop_rate) and (
            self._submit.random() < self._options.submit_drop_rate
        )

    def job_failure(self) -> FailureKind | None:
        if self._options.fail_rate and self._job.random() < self._options.fail_rate:
            return self._job.choice(FAILURE_KINDS)
        return None

    def detail_shape(self) -> Literal["string", "object"]:
        """How Qiniu's `detail` words this failure: the option, or drawn when "mixed"."""
        shape = self._options.detail_shape
        if shape != "mixed":
            return shape
        return "string" if self._detail.random() < 0.5 else "object"
