"""A local, offline emulator of the fal queue serving `fal-ai/kling-image/o1`.

    with kling_nb.emulator.start(service_time=0.2) as emu:
        env = emu.env()  # FAL_QUEUE_RUN_HOST, SSL_CERT_FILE, KLING_NB_PROFILE for a client

or, from a shell: `kling-nb emulator` / `python -m kling_nb.emulator` (prints those three
lines, serves until Ctrl-C; profile `qiniu` unless `--profile`). Every answer of the queue
carries `x-kling-nb-emulator-profile`. fal's storage upload API is served too: point
fal_client's `REST_URL` and `CDN_URL` at `emu.fal_rest_url` and `emu.fal_cdn_url`.
Importing this package starts nothing.
"""

from ._app import DroppedConnection, create_app, create_files_app
from ._options import EmulatorOptions
from ._server import Emulator, start

__all__ = [
    "DroppedConnection",
    "Emulator",
    "EmulatorOptions",
    "create_app",
    "create_files_app",
    "start",
]
