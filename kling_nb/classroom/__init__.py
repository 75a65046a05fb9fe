"""A classroom gateway: one paid key stays with the teacher, each student gets a token.

    with kling_nb.classroom.start(upstream="emulator") as room:
        token = room.store.add_student("alice", Decimal("1"), "USD")
        room.env(token)  # FAL_QUEUE_RUN_HOST, SSL_CERT_FILE, KLING_NB_PROFILE, FAL_KEY

or, from a shell: `kling-nb classroom serve --upstream qiniu --price "0.2 CNY"` (see
`kling-nb classroom --help` and docs/classroom.md). Students change nothing but two
variables (or call `kling_nb.connect(classroom=URL, token=…)`). Importing this package
starts nothing.
"""

from ._server import Classroom, Options, class_folder, start
from ._store import Job, Store, Student
from ._upstream import UpstreamSpec

__all__ = [
    "Classroom",
    "Job",
    "Options",
    "Store",
    "Student",
    "UpstreamSpec",
    "class_folder",
    "start",
]
