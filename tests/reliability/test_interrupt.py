"""Interrupt: 20 trials of Ctrl-C while waiting; each time the cancel reaches the emulator
within 1 s and the caller gets KlingCancelledError."""

from __future__ import annotations

import _thread
import random
import threading
import time

import pytest
from PIL import Image

from kling_nb import ENDPOINT, KlingCancelledError, emulator
from kling_nb._job import Job

from ..conftest import connect_to

TRIALS = 20


def test_ctrl_c_cancels_remotely_within_one_second_every_time(home) -> None:  # type: ignore[no-untyped-def]
    rng = random.Random(5)
    image = Image.linear_gradient("L").resize((640, 480)).convert("RGB")
    with emulator.start(service_time=60.0, workers=2, seed=1) as emu:
        conn = connect_to(emu, home)
        delays = []
        for trial in range(TRIALS):
            job = Job.submit(ENDPOINT, {"prompt": "ink", "image_urls": [image]}, connection=conn)
            fired = threading.Event()
            at: list[float] = []

            def interrupt(at: list[float] = at, fired: threading.Event = fired) -> None:
                at.append(time.monotonic())
                fired.set()
                _thread.interrupt_main()

            timer = threading.Timer(rng.uniform(0.05, 0.6), interrupt)
            timer.start()
            poll = None if trial % 2 == 0 else 0.2  # the stream path and the polling path
            with pytest.raises(KlingCancelledError):
                job.wait(poll_interval=poll, progress=False)
            assert fired.is_set()
            facts = emu.stats()["requests"][job.request_id]
            assert facts["cancelled"] is True, (trial, facts)
            delays.append(time.monotonic() - at[0])
        assert max(delays) <= 1.0, delays
