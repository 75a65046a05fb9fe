"""`EditResult`: the images of a finished job, cached at once, shown as a gallery, saved
with their metadata, and measured (`drift()`: how much changed where nobody asked).

Result URLs expire (Qiniu: after 7 days), so every image is downloaded into the cache
(`KLING_NB_HOME/cache/<request id>/`) the moment the job completes. Display does no I/O:
thumbnails and drift figures are made once, when the result is built. A region edit's
images are its composites (the original's size; the model's own pictures: `raw_images`).
"""

from __future__ import annotations

import contextlib
import io
import json
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageOps, PngImagePlugin

from ._errors import KlingConfigError, KlingError
from ._files import atomic_write_bytes, child_path, safe_name
from ._gallery import Cell, contact_sheet, mime_bundle
from ._i18n import MESSAGES, message
from ._text import clip

if TYPE_CHECKING:
    from ._config import Connection
    from ._drift import Drift
    from ._images import PreparedImage
    from ._request import KlingO1Request

METADATA_KEY = "kling_nb"
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}


@dataclass(frozen=True)
class ResultImage:
    """One output image: where it came from, and where it is cached."""

    url: str = field(repr=False)
    content_type: str
    width: int
    height: int
    path: Path
    index: int

    def pil(self) -> Image.Image:
        """The full-resolution image, loaded from the cache."""
        with Image.open(self.path) as img:
            img.load()
            loaded: Image.Image = img
            return loaded

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        with Image.open(self.path) as img:
            sheet = contact_sheet([Cell(img, self.caption())], cell_side=512)
        return mime_bundle(sheet, repr(self))

    def caption(self) -> str:
        kind = EXTENSIONS.get(self.content_type, "").lstrip(".").upper() or self.content_type
        return f"#{self.index + 1} · {self.width}×{self.height} {kind}"


@dataclass
class EditResult:
    """The images of one finished job, with what made them."""

    images: list[ResultImage]
    request_id: str
    endpoint: str
    backend: str
    host: str
    emulated: bool
    parameters: dict[str, Any]
    inputs: list[str]
    created_at: str
    raw: dict[str, Any] = field(repr=False)
    _sheet: bytes = field(default=b"", repr=False)
    _cover: Image.Image | None = field(default=None, repr=False)  # image 1, small
    _input_urls: list[str] = field(default_factory=list, repr=False)
    # Called with (request id, paths) after a save: the job's owner records it in its journal;
    # a result built by hand (or loaded) saves without writing anything else.
    _on_saved: Callable[[str, list[Path]], None] | None = field(default=None, repr=False)
    # The model's outputs as received; for a whole-picture edit, the same as `images`.
    raw_images: list[ResultImage] = field(default_factory=list, repr=False)
    # A region edit's plan as its journal row keeps it (`_composites`); None otherwise.
    region: dict[str, Any] | None = field(default=None, repr=False)
    _home: Path | None = field(default=None, repr=False)  # where a region's original is kept
    _drifts: list[Any] | None = field(default=None, repr=False)
    _covers: list[Image.Image] = field(default_factory=list, repr=False)
    _exact_input: bool = field(default=True, repr=False)  # False: only a thumbnail is kept

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> ResultImage:
        return self.images[index]

    def __iter__(self) -> Iterator[ResultImage]:
        return iter(self.images)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{im.width}×{im.height}" for im in self.images)
        tag = f" · {message('result.emulated')}" if self.emulated else ""
        summary = message(
            "result.summary",
            count=len(self.images),
            endpoint=self.endpoint,
            backend=_backend_words(self.backend),
            request_id=self.request_id,
        )
        prompt = clip(self.parameters.get("prompt", ""))
        label = message("engine.prompt_label")
        head = message("result.head", summary=summary, tag=tag)
        text = f"{head}\n  {sizes}\n  {label}: {prompt}"
        if self.region is not None:
            from ._composites import label_of, plan_of

            plan = plan_of(self.region)
            drift = self._region_drift_words()
            text += "\n  " + message("result.region", region=label_of(plan), drift=drift)
        return text

    def _region_drift_words(self) -> str:
        """The drift figures measured when the result was built (no I/O here)."""
        if not self._drifts:
            return message("drift.caption_na")
        values = ", ".join(f"{d.delta_e:.1f}" for d in self._drifts)
        leaked = sum(d.outside_changed or 0 for d in self._drifts)
        return message("result.region_drift", values=values, leaked=leaked)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        finish_sheet(self)  # made when the result was built, unless the panel put it off
        return mime_bundle(self._sheet, repr(self))

    def pil(self, index: int | None = None) -> Any:
        """All images as PIL images, or the one at `index`."""
        return self.images[index].pil() if index is not None else [im.pil() for im in self.images]

    def drift(self, *, fetch: bool = False) -> list[Drift]:
        """How much each output changed where the prompt did not ask (a `Drift` each, in
        order): for a region edit, outside the region against the original photo (pixels
        beyond the feather counted exactly); else the whole picture against input image 1.

        An input given as a web address is not fetched unless `fetch` (once, then said)."""
        if self._drifts is None:
            paths = [im.path for im in self.images]
            if self.region is not None:
                from ._composites import region_drifts

                home = self._home or Path(".")
                self._drifts = region_drifts(home, self.region, paths, self.request_id)
            else:
                from ._drift import input_drifts

                first = self._input_urls[0] if self._input_urls else None
                self._drifts = input_drifts(first, self._exact_input, paths, fetch=fetch)
        return list(self._drifts)

    def _measure(self, pictures: list[Image.Image]) -> None:
        """The drift, measured once when the result is built (from the outputs already
        decoded, for a whole-picture edit); left for `drift()` to raise in words when it
        cannot be measured."""
        with contextlib.suppress(KlingError, OSError, ValueError):
            if self.region is not None:
                self.drift()
                return
            from ._drift import input_drifts

            first = self._input_urls[0] if self._input_urls else None
            self._drifts = input_drifts(first, self._exact_input, pictures)

    def _drift_words(self) -> list[str]:
        """One short drift figure per output ("drift 2.3 ΔE"), or "n/a" (no I/O here)."""
        if self._drifts is None:
            return [message("drift.caption_na")] * len(self.images)
        return [d.caption() for d in self._drifts]

    @property
    def paths(self) -> list[Path]:
        """The cached full-resolution files."""
        return [im.path for im in self.images]

    def metadata(self) -> dict[str, Any]:
        """What made these images (never the API key)."""
        return {
            "request_id": self.request_id,
            "endpoint": self.endpoint,
            "backend": self.backend,
            "host": self.host,
            "emulated": self.emulated,
            "created_at": self.created_at,
            **self.parameters,
            "inputs": self.inputs,
        }

    def save(
        self, folder: str | Path, stem: str | None = None, *, lossless: bool = False
    ) -> list[Path]:
        """Write the images with their metadata embedded (PNG text, JPEG EXIF) and beside
        them (JSON sidecars) into `folder`, or as the file it names ("out.png"); return paths.

        A region edit's composites are written in the original photo's format with its
        metadata; a JPEG is re-encoded (which changes its pixels a little everywhere, and
        its metadata says so): `lossless=True` writes PNG instead, every pixel outside the
        region and its feather the original's. Never overwrites another result's file: in a
        folder a `-2` suffix is added; a file name that holds another image is refused.
        """
        out, base, ext = _save_target(folder, stem, self.request_id)
        written: list[Path] = []
        try:
            out.mkdir(parents=True, exist_ok=True)
            for im in self.images:
                meta = {
                    **self.metadata(),
                    "image": im.index + 1,
                    "width": im.width,
                    "height": im.height,
                }
                name = base if ext and im.index == 0 else f"{base}_{im.index + 1}"
                if self.region is not None:
                    target = self._save_composite(im, out, name, ext, meta, lossless)
                else:
                    suffix = ext or EXTENSIONS.get(im.content_type, im.path.suffix)
                    target = _free_path(out, name, suffix, meta, refuse=bool(ext))
                    _write_with_metadata(im, target, meta)
                sidecar = json.dumps(meta, ensure_ascii=False, indent=2).encode("utf-8")
                atomic_write_bytes(target.with_suffix(target.suffix + ".json"), sidecar)
                written.append(target)
        except OSError as exc:
            raise KlingError(message("save.unwritable", path=out, detail=exc)) from None
        if self._on_saved is not None:
            self._on_saved(self.request_id, written)
        return written

    def _save_composite(
        self,
        im: ResultImage,
        out: Path,
        name: str,
        ext: str,
        meta: dict[str, Any],
        lossless: bool,
    ) -> Path:
        """Write one composite in the original's format (`meta` gains what it says)."""
        from ._composites import (
            SUFFIXES,
            composite_file,
            original_path,
            region_summary,
            save_format,
            save_notes,
        )
        from ._photo import open_photo

        assert self.region is not None
        wanted = _SAVE_FORMATS.get(ext, "")
        fmt = save_format(self.region, open_photo(im.path), lossless=lossless, wanted=wanted)
        original = (self.region.get("original") or {}).get("format")
        meta["region"] = {**region_summary(self.region), **save_notes(fmt, original)}
        target = _free_path(out, name, ext or SUFFIXES[fmt], meta, refuse=bool(ext))
        kept = original_path(self._home, self.region) if self._home is not None else None
        text = json.dumps(meta, ensure_ascii=False)
        data, _ = composite_file(im.path, kept, fmt, text)
        atomic_write_bytes(target, data)
        return target

    def compare(self) -> Comparison:
        """Inputs and outputs side by side (fetches input thumbnails if they are URLs); for a
        region edit, the original photo (the region outlined) before the composites."""
        from ._images import load_image

        before = []
        if self.region is not None and self._home is not None:
            before.append(self._original_cell())
        for i, url in enumerate(self._input_urls):
            try:
                before.append(Cell(load_image(_local_source(url), i), f"image_{i + 1}"))
            except (KlingError, OSError, ValueError):
                # A missing input thumbnail must not hide the outputs.
                before.append(
                    Cell(Image.new("RGB", (300, 300), (220, 220, 220)), f"image_{i + 1} (n/a)")
                )
        after = [Cell(im.pil(), im.caption()) for im in self.images]
        return Comparison(before, after, repr(self))

    def _original_cell(self) -> Cell:
        """The kept original, small, its region outlined; a grey tile if it is gone."""
        from PIL import ImageDraw

        from ._composites import label_of, original_path, plan_of

        assert self.region is not None and self._home is not None
        plan = plan_of(self.region)
        try:
            with Image.open(original_path(self._home, self.region)) as img:
                img.draft("RGB", (800, 800))
                picture = ImageOps.exif_transpose(img).convert("RGB")
        except OSError:
            return Cell(Image.new("RGB", (300, 300), (220, 220, 220)), "original (n/a)")
        sx, sy = picture.width / plan.original.width, picture.height / plan.original.height
        left, top, right, bottom = plan.region.box
        frame = (
            left * sx,
            top * sy,
            max(left * sx, right * sx - 1),
            max(top * sy, bottom * sy - 1),
        )
        ImageDraw.Draw(picture).rectangle(frame, outline=(0, 220, 255), width=3)
        return Cell(picture, label_of(plan))

    def _make_sheet(self) -> bytes:
        pictures = self._covers if len(self._covers) == len(self.images) else []
        if not pictures:  # decoded once, for the sheet and for the drift
            pictures = [_decoded(im.path) for im in self.images]
        if self._drifts is None:
            self._measure(pictures)
        words = self._drift_words()
        cells = [
            Cell(picture, f"{im.caption()} · {drift}")
            for im, picture, drift in zip(self.images, pictures, words, strict=True)
        ]
        if cells:
            self._cover = cells[0].image.copy()
            self._cover.thumbnail((400, 400))
        title = message("result.emulated_title") if self.emulated else ""
        return contact_sheet(cells, title=title)

    def cover(self) -> Image.Image | None:
        """A small copy of the first image, kept in memory (no I/O): for sheets of results."""
        return self._cover


def make_result(
    output: dict[str, Any],
    images: list[ResultImage],
    *,
    request_id: str,
    endpoint: str,
    connection: Connection,
    request: KlingO1Request,
    inputs: list[PreparedImage],
    on_saved: Callable[[str, list[Path]], None] | None = None,
    raw_images: list[ResultImage] | None = None,
    region: dict[str, Any] | None = None,
    covers: list[Image.Image] | None = None,
    drifts: list[Any] | None = None,
    sheet: bool = True,
) -> EditResult:
    """The value of a finished edit whose images are cached: no network, no journal.

    A region edit passes its composites as `images`, the model's pictures as `raw_images`,
    its plan as `region`; `covers` and `drifts`, when given, spare decoding them again.
    `sheet=False` puts off the contact sheet and the drift (`finish_sheet`): the panel
    shows the pictures first, then measures."""
    parameters = request.parameters()
    if region is not None:  # as sent: the plan's resolution and ratio
        parameters.update(
            resolution=region.get("resolution"), aspect_ratio=region.get("aspect_ratio")
        )
    first = inputs[0] if inputs else None
    result = EditResult(
        images=images,
        request_id=request_id,
        endpoint=endpoint,
        backend=connection.label,
        host=connection.host,
        emulated=connection.emulated,
        parameters=parameters,
        inputs=[p.source_label for p in inputs],
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        raw=output,
        _input_urls=[p.url for p in inputs],
        _on_saved=on_saved,
        raw_images=list(raw_images if raw_images is not None else images),
        region=dict(region) if region is not None else None,
        _home=connection.home,
        _drifts=list(drifts) if drifts else None,
        _covers=list(covers or []),
        _exact_input=first is None or first.width is not None or not first.url.startswith("data:"),
    )
    if sheet:
        finish_sheet(result)
    return result


def finish_sheet(result: EditResult) -> None:
    """Make `result`'s contact sheet (and measure its drift) if it was put off."""
    if not result._sheet:
        result._sheet = result._make_sheet()


@dataclass
class Comparison:
    """Before and after: shown in a notebook, and anywhere else a picture to save or open."""

    before: list[Cell]
    after: list[Cell]
    text: str

    def sheet(self) -> bytes:
        """Inputs above outputs, labelled in the interface language, as one JPEG."""
        width = max(len(self.before), len(self.after))
        pad = [Cell(Image.new("RGB", (8, 8), (246, 246, 244)))]
        cells = (
            self.before
            + pad * (width - len(self.before))
            + self.after
            + pad * (width - len(self.after))
        )
        titles = [message("result.inputs"), message("result.outputs")]
        return contact_sheet(cells, row_length=width, rows_titles=titles)

    def image(self) -> Image.Image:
        """The comparison as a PIL image (`.show()` opens it in the system's viewer)."""
        with Image.open(io.BytesIO(self.sheet())) as img:
            img.load()
            loaded: Image.Image = img
            return loaded

    def save(self, path: str | Path) -> Path:
        """Write the comparison as a picture: JPEG, or PNG/WebP by the suffix (another or no
        suffix gets ".jpg" added); its path."""
        target = Path(path).expanduser()
        fmt = _SAVE_FORMATS.get(target.suffix.lower())
        if fmt is None:
            target, fmt = target.with_name(target.name + ".jpg"), "JPEG"
        data = self.sheet()
        if fmt != "JPEG":
            buffer = io.BytesIO()
            self.image().save(buffer, fmt)
            data = buffer.getvalue()
        try:
            return atomic_write_bytes(target, data)
        except OSError as exc:
            raise KlingError(message("save.unwritable", path=target, detail=exc)) from None

    def __repr__(self) -> str:
        return (
            f"{self.text}\n  {message('result.inputs')}: {len(self.before)} · "
            f"{message('result.outputs')}: {len(self.after)}"
        )

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None) -> dict[str, str]:
        return mime_bundle(self.sheet(), repr(self))


def _decoded(path: Path) -> Image.Image:
    with Image.open(path) as img:
        img.load()
        picture: Image.Image = img
        return picture


def _backend_words(label: str) -> str:
    """A backend label (emulator, Qiniu, fal, or a host) in the interface language."""
    key = f"result.backend_{label}"
    return message(key) if key in MESSAGES else label


_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}


def _save_target(folder: str | Path, stem: str | None, request_id: str) -> tuple[Path, str, str]:
    """(folder, base name, forced suffix or "") for save(); a stem must be a plain name."""
    path = Path(folder).expanduser()
    if stem is not None and (not isinstance(stem, str) or safe_name(stem, "") != stem):
        raise KlingConfigError(message("save.bad_stem", value=stem))
    if path.suffix.lower() in _SAVE_FORMATS and not path.is_dir():
        return path.parent, stem or path.stem, path.suffix.lower()
    return path, stem or f"kling_{safe_name(request_id, 'result')[:8]}", ""


def _free_path(folder: Path, name: str, suffix: str, meta: dict[str, Any], refuse: bool) -> Path:
    """`folder/name+suffix`, or the first `name-N+suffix` not holding another result's image."""
    for n in range(1, 1000):
        leaf = f"{name}{suffix}" if n == 1 else f"{name}-{n}{suffix}"
        child_path(folder, leaf)  # refuses a name that would leave the folder
        target = folder / leaf  # as the caller named the folder: relative stays relative
        if not target.exists() or _same_image(target, meta):
            return target
        if refuse:
            break
    raise KlingError(message("save.exists", path=target))


def _same_image(target: Path, meta: dict[str, Any]) -> bool:
    """True when `target` was saved from this very result image (saving again is harmless)."""
    try:
        old = json.loads(target.with_suffix(target.suffix + ".json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(old, dict)
        and old.get("request_id") == meta["request_id"]
        and old.get("image") == meta["image"]
    )


def _write_with_metadata(im: ResultImage, target: Path, meta: dict[str, Any]) -> None:
    """Write `im` to `target` (in the format its suffix names) whole or not at all."""
    text = json.dumps(meta, ensure_ascii=False)
    fmt = _SAVE_FORMATS.get(target.suffix.lower(), "")
    same = EXTENSIONS.get(im.content_type) == {"JPEG": ".jpg"}.get(fmt, f".{fmt.lower()}")
    if same and fmt == "JPEG":
        data = _jpeg_with_exif(im.path.read_bytes(), text)
    elif same and fmt == "WEBP" or not fmt:
        data = im.path.read_bytes()
    else:
        buffer = io.BytesIO()
        with Image.open(im.path) as img:
            if fmt == "PNG":
                info = PngImagePlugin.PngInfo()
                info.add_itxt(METADATA_KEY, text)
                img.save(buffer, "PNG", pnginfo=info, compress_level=6)  # lossless
            elif fmt == "JPEG":
                exif = Image.Exif()
                exif[0x010E] = text  # ImageDescription
                img.convert("RGB").save(buffer, "JPEG", quality=95, exif=exif.tobytes())
            else:
                img.save(buffer, fmt, lossless=True)
        data = buffer.getvalue()
    atomic_write_bytes(target, data)


def _jpeg_with_exif(data: bytes, text: str) -> bytes:
    """Insert an EXIF segment (ImageDescription + UserComment) without re-encoding."""
    exif = Image.Exif()
    exif[0x010E] = text  # ImageDescription
    payload = exif.tobytes()
    if len(payload) + 2 > 0xFFFF:
        return data
    segment = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    return data[:2] + segment + data[2:]


def _local_source(url: str) -> Any:
    """An input URL as something load_image can open without the network, where possible."""
    if url.startswith("data:"):
        from ._wire import decode_data_uri

        return decode_data_uri(url)[1]
    try:
        from ._samples import sample_bytes

        found = sample_bytes(url)
    except ImportError:
        found = None
    if found is not None:
        return found
    from ._transport import fetch_public

    return fetch_public(url)
