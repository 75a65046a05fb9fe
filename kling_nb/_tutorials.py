"""The tutorials that travel with kling_nb: where they are, a working copy, and JupyterLab.

A wheel carries them as `kling_nb/tutorials/` (copied from `notebooks/` at build time by
setup.py); a clone or an editable install reads `notebooks/` itself. `kling-nb lab` copies
them into a working folder the first time, refreshes the copies the user has not touched,
offers a newer packaged version beside a changed file (`NAME.new.ipynb`), and starts
JupyterLab on the chosen one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ._errors import KlingConfigError
from ._files import atomic_write_bytes, child_path
from ._i18n import message

DEFAULT_FOLDER = "kling_nb_tutorials"
ALIASES = {"zh": "kling_o1_image.ipynb", "en": "kling_o1_image_en.ipynb"}
MANIFEST = ".kling_nb_tutorials.json"  # what was copied: tells a user's change from ours


def packaged_folder() -> Path:
    """The folder holding the tutorials: in the package, else in this clone's notebooks/."""
    package = Path(__file__).resolve().parent
    for folder in (package / "tutorials", package.parent / "notebooks"):
        if any(folder.glob("*.ipynb")):
            return folder
    raise KlingConfigError(message("tutorials.missing", folder=package / "tutorials"))


def tutorial_names(source: Path | None = None) -> list[str]:
    """The file names of the tutorials, e.g. ['batch_grid.ipynb', …]."""
    return sorted(p.name for p in (source or packaged_folder()).glob("*.ipynb"))


def tutorial_name(name: str | None, source: Path | None = None) -> str:
    """The file name `name` stands for: 'zh' (default), 'en', or a tutorial with or without
    '.ipynb'; anything else is refused with the list of names."""
    names = tutorial_names(source)
    wanted = ALIASES.get((name or "zh").strip().lower(), (name or "").strip())
    for candidate in (wanted, f"{wanted}.ipynb"):
        if candidate in names:
            return candidate
    choices = ", ".join(["zh", "en", *(n.removesuffix(".ipynb") for n in names)])
    raise KlingConfigError(message("tutorials.unknown", value=name, names=choices))


@dataclass
class CopyReport:
    """What `copy_tutorials` did to each file name."""

    copied: list[str] = field(default_factory=list)
    offered: list[str] = field(default_factory=list)  # NAME.new.ipynb written beside NAME

    def lines(self, folder: Path) -> list[str]:
        """At most one line per kind of change, for the terminal."""
        out = []
        if self.copied:
            out.append(message("tutorials.copied", count=len(self.copied), folder=folder))
        if self.offered:
            out.append(message("tutorials.offered", names=", ".join(self.offered)))
        return out


def copy_tutorials(folder: Path, source: Path | None = None) -> CopyReport:
    """Copy the packaged tutorials into `folder`; a file the user changed is never overwritten.

    The manifest records what kling_nb wrote. A copy still as written follows the package;
    a changed one (or one that was there first) is kept, and a packaged version it has not
    seen yet is put beside it as `NAME.new.ipynb` — or `NAME.new-2.ipynb` when the user has
    changed that one too. A version already offered is not offered again."""
    source = source or packaged_folder()
    folder.mkdir(parents=True, exist_ok=True)
    record = _read_manifest(folder)
    report = CopyReport()
    for name in tutorial_names(source):
        data = (source / name).read_bytes()
        digest = _digest(data)
        target = child_path(folder, name)
        here = _digest(target.read_bytes()) if target.exists() else None
        if here == digest:
            record[name] = digest
        elif here is None or here == record.get(name):  # absent, or ours and untouched
            atomic_write_bytes(target, data)
            record[name] = digest
            report.copied.append(name)
        elif digest != record.get(name) and not _offered(name, digest, record):
            newer = _free_offer(folder, name, digest, record)
            atomic_write_bytes(newer, data)
            record[newer.name] = digest
            report.offered.append(newer.name)
    atomic_write_bytes(folder / MANIFEST, json.dumps(record, indent=1).encode())
    return report


def _offers(folder: Path, name: str) -> Iterator[Path]:
    """`NAME.new.ipynb`, `NAME.new-2.ipynb`, … : where newer versions of NAME are put."""
    stem = name.removesuffix(".ipynb")
    yield child_path(folder, f"{stem}.new.ipynb")
    for n in range(2, 1000):
        yield child_path(folder, f"{stem}.new-{n}.ipynb")


def _offered(name: str, digest: str, record: dict[str, str]) -> bool:
    """True when this packaged version of `name` was put beside it already."""
    offer = re.compile(re.escape(name.removesuffix(".ipynb")) + r"\.new(-\d+)?\.ipynb")
    return any(value == digest and offer.fullmatch(key) for key, value in record.items())


def _free_offer(folder: Path, name: str, digest: str, record: dict[str, str]) -> Path:
    """The first offer path that is absent or holds an offer the user left untouched."""
    for path in _offers(folder, name):
        if not path.exists() or _digest(path.read_bytes()) in (record.get(path.name), digest):
            return path
    raise KlingConfigError(message("tutorials.folder", folder=folder, reason="1000 offers"))


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_manifest(folder: Path) -> dict[str, str]:
    try:
        record = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}  # none yet, or damaged: every differing file counts as the user's
    return {str(k): str(v) for k, v in record.items()} if isinstance(record, dict) else {}


def lab_command(notebook: str, extra: Sequence[str], euid: int) -> list[str]:
    """The JupyterLab command that lands on `notebook` (a path relative to the folder it
    serves) instead of the Launcher: the URLs it prints, and the browser it opens, go there."""
    command = [
        sys.executable,
        "-m",
        "jupyterlab",
        f"--LabApp.default_url=/lab/tree/{notebook}",
        *extra,
    ]
    if euid == 0 and "--allow-root" not in extra:
        command.append("--allow-root")  # containers and cloud VMs run as root
    return command


def prepare_lab(name: str | None, folder: Path) -> tuple[Path, str]:
    """(folder to serve, notebook in it) for `kling-nb lab NAME`, copying the tutorials first.

    A NAME that is an existing .ipynb file opens that file where it is, copying nothing.
    """
    if name and name.endswith(".ipynb") and Path(name).is_file():
        path = Path(name).resolve()
        return path.parent, path.name
    source = packaged_folder()
    chosen = tutorial_name(name, source)
    try:
        report = copy_tutorials(folder, source)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise KlingConfigError(message("tutorials.folder", folder=folder, reason=reason)) from None
    for line in report.lines(folder):
        print(line, file=sys.stderr)
    return folder, chosen


def open_lab(name: str | None, folder: str | None, extra: Sequence[str]) -> int:
    """Copy the tutorials, then run JupyterLab serving them: in place of this process, or
    (when the user chose the token) as a child whose printed address is made usable."""
    import importlib.util

    if importlib.util.find_spec("jupyterlab") is None:
        raise KlingConfigError(message("tutorials.no_jupyterlab"))
    root, notebook = prepare_lab(name, Path(folder or DEFAULT_FOLDER).expanduser().resolve())
    print(message("tutorials.opening", notebook=notebook, folder=root), file=sys.stderr)
    command = lab_command(notebook, extra, os.geteuid() if hasattr(os, "geteuid") else -1)
    if os.environ.get("JUPYTER_TOKEN") or any("token" in arg.lower() for arg in extra):
        return _serve(root, command)
    return _exec(root, command)


# JupyterLab prints a token the user chose as "token=...": that is not an address.
MASKED_TOKEN = re.compile(r"(https?://[^\s?]+)\?token=\.\.\.")


def _serve(folder: Path, command: list[str]) -> int:
    """Run JupyterLab as a child, passing its log on with the masked token dropped from the
    addresses (they then work: JupyterLab asks for the token there) and saying so once."""
    import signal
    import subprocess

    child = subprocess.Popen(
        command, cwd=folder, stderr=subprocess.PIPE, text=True, errors="replace"
    )
    assert child.stderr is not None
    # The terminal's Ctrl-C reaches JupyterLab itself (same process group), which asks to
    # confirm on this terminal; a SIGTERM sent to kling-nb is passed on to it.
    interrupt = signal.signal(signal.SIGINT, signal.SIG_IGN)
    terminate = signal.signal(signal.SIGTERM, lambda signum, _: child.send_signal(signum))
    told = False
    try:
        for line in child.stderr:
            found = MASKED_TOKEN.search(line)
            sys.stderr.write(MASKED_TOKEN.sub(r"\1", line))
            if found and not told:
                print(message("tutorials.token_address", url=found.group(1)), file=sys.stderr)
                told = True
            sys.stderr.flush()
        return child.wait()
    finally:
        signal.signal(signal.SIGINT, interrupt)
        signal.signal(signal.SIGTERM, terminate)


def _exec(folder: Path, command: list[str]) -> int:
    """Replace this process with `command` run in `folder` (JupyterLab: Ctrl-C and all)."""
    os.chdir(folder)
    sys.stderr.flush()
    os.execv(command[0], command)
    return 0  # not reached
