"""The panel's "show code": the same request as `kling_nb.edit(...)` and guide-style code."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .._config import Connection
from .._i18n import Language, message
from .._wire import ENDPOINT
from .state import Box, PanelImage, is_web

OPTIONS = ("resolution", "num_images", "aspect_ratio", "output_format")


def edit_code(
    parameters: Mapping[str, Any],
    images: Sequence[PanelImage],
    conn: Connection | None,
    lang: Language | None = None,
    region: Box | None = None,
) -> str:
    """Python that sends the same request: with `kling_nb.edit`, then the guide's dict form.

    A region of image 1 is kling_nb's own (crop, edit, paste back): `kling_nb.edit` gets it
    as `region=(left, top, right, bottom)`; the guide's form, which sends the whole picture,
    says so in a comment."""

    def t(key: str, **facts: object) -> str:
        return message(key, lang, **facts)

    prompt = parameters.get("prompt", "")
    listing = [_source_literal(im, lang) for im in images] or [f"# {t('panel.code_add_image')}"]
    chosen = [(name, parameters[name]) for name in OPTIONS if parameters.get(name) is not None]
    lines = [
        "import kling_nb",
        "",
        _connect_line(conn, lang),
        "result = kling_nb.edit(",
        f"    {prompt!r},",
        "    [",
        *(f"        {item}" for item in listing),
        "    ],",
        *(f"    {name}={value!r}," for name, value in chosen),
        *([f"    region={tuple(region)!r},  # {t('panel.code_region')}"] if region else []),
        ")",
        f"result  # {t('panel.code_gallery')}",
        "",
        f"# {t('panel.code_guide')}",
        *([f"# {t('panel.code_region_guide')}"] if region else []),
        "output = kling_nb.run_fal_task(",
        f"    {ENDPOINT!r},",
        "    {",
        f"        'prompt': {prompt!r},",
        f"        'image_urls': [  # {t('panel.code_data_uri')}",
        *(f"            {item}" for item in listing),
        "        ],",
        *(f"        {name!r}: {value!r}," for name, value in chosen),
        "    },",
        ")",
        "output['images'][0]['url']",
    ]
    return "\n".join(lines)


def _source_literal(image: PanelImage, lang: Language | None) -> str:
    """One list item of `image_urls`: the source's literal and, if it helps, its name."""
    source = image.source
    if isinstance(source, str):
        named = image.label and not source.endswith(image.label) and not is_web(source)
        return f"{source!r},  # {_one_line(image.label)}" if named else f"{source!r},"
    words = message("panel.code_object", lang, label=_one_line(image.label))
    return f"...,  # {words}"


def _one_line(text: str) -> str:
    return " ".join(str(text).split())  # a label with a newline would end the comment early


def _connect_line(conn: Connection | None, lang: Language | None) -> str:
    if conn is None:
        return f"kling_nb.connect()  # {message('panel.code_connect_auto', lang)}"
    if conn.backend in ("emulator", "qiniu", "fal"):
        note = message(f"panel.code_connect_{conn.backend}", lang)
        return f"kling_nb.connect({conn.backend!r})  # {note}"
    note = message("panel.code_connect_custom", lang, host=_one_line(conn.host))
    return f"kling_nb.connect()  # {note}"
