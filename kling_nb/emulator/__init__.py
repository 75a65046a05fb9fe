"""A local, offline emulator of the fal queue serving `fal-ai/kling-image/o1`.

    with kling_nb.emulator.start(service_time=0.2) as emu:
        env = emu.env()  # FAL_QUEUE_RUN_HOST and SSL_CERT_FILE, for a fal_client process

or, from a shell: `python -m kling_nb.emulator` (prints those two lines, serves until Ctrl-C).
Importing this package starts nothing.
"""

from ._app import DroppedConnection, create_app, create_files_app
from ._queue import EmulatorOptions
from ._server import Emulator, start

__all__ = [
    "DroppedConnection",
    "Emulator",
    "EmulatorOptions",
    "create_app",
    "create_files_app",
    "start",
]
