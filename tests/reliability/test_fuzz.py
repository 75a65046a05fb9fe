"""Fuzz: whatever a user passes, kling_nb answers with a KlingValidationError or success —
never another exception (hypothesis over request fields and image bytes)."""

from __future__ import annotations

import io

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from PIL import Image

from kling_nb import KlingO1Request, KlingValidationError
from kling_nb._images import prepare_image
from kling_nb._rules import check_image_bytes, check_input


def _jpeg(w: int = 400, h: int = 320) -> bytes:
    buf = io.BytesIO()
    Image.linear_gradient("L").resize((w, h)).convert("RGB").save(buf, "JPEG", quality=80)
    return buf.getvalue()


def _png(w: int = 320, h: int = 400) -> bytes:
    buf = io.BytesIO()
    Image.radial_gradient("L").resize((w, h)).save(buf, "PNG")
    return buf.getvalue()


SEEDS = [_jpeg(), _png()]
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 20),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)
url = st.one_of(
    st.just("https://example.com/a.jpg"),
    st.just("data:image/png;base64,iVBORw0KGgo="),
    st.text(max_size=30),
    st.just("ftp://x/y.png"),
)


@st.composite
def mutated_image(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(SEEDS)))
    cut = draw(st.integers(0, len(data)))
    if draw(st.booleans()):
        data = data[:cut]
    for _ in range(draw(st.integers(0, 8))):
        if data:
            i = draw(st.integers(0, len(data) - 1))
            data[i] = draw(st.integers(0, 255))
    return bytes(data)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    prompt=st.one_of(st.text(max_size=60), st.text(min_size=2490, max_size=2510), anything),
    images=st.lists(url, max_size=12),
    resolution=st.one_of(st.sampled_from(["1K", "2K", "4K", "8K", ""]), anything),
    num_images=anything,
    aspect_ratio=st.one_of(st.sampled_from(["auto", "16:9", "5:4"]), anything),
    output_format=st.one_of(st.none(), st.sampled_from(["png", "jpeg", "gif"]), anything),
    profile=st.sampled_from(["qiniu", "fal"]),
)
def test_any_request_fields_validate_or_raise_validation_error(
    prompt, images, resolution, num_images, aspect_ratio, output_format, profile
) -> None:  # type: ignore[no-untyped-def]
    req = KlingO1Request(prompt, images, resolution, num_images, aspect_ratio, output_format)
    try:
        req.validate(profile)
    except KlingValidationError as exc:
        assert exc.violations and str(exc)
    body = {"prompt": prompt, "image_urls": images, "num_images": num_images}
    assert all(v.field for v in check_input(body, profile))  # the emulator's view, too


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.one_of(mutated_image(), st.binary(max_size=2048)))
def test_any_image_bytes_prepare_or_raise_validation_error(data: bytes) -> None:
    try:
        prepared = prepare_image(data, 0)
    except KlingValidationError as exc:
        assert "image_urls[0]" in str(exc)
    else:
        assert prepared.url.startswith("data:image/")
    assert isinstance(check_image_bytes(data), list)


# --- the CLI: whatever argv, one line and a status, never a traceback --------------------------

_word = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
_number = st.one_of(
    st.integers(-(10**30), 10**30).map(str), st.sampled_from(["nan", "inf", "-0", "1e309", "x"])
)


@st.composite
def cli_argv(draw: st.DrawFn) -> list[str]:
    """`edit` with inputs refused before anything is sent, or `history` with any filters."""
    if draw(st.booleans()):
        images = draw(
            st.lists(
                st.sampled_from(["/nonexistent/a.png", "/dev/zero", "/", "ftp://x/y.png", "-"]),
                min_size=1,
                max_size=3,
            )
        )
        argv = ["edit", *images, "-p", draw(_word)]
        for flag, value in (
            ("--num-images", _number),
            ("--timeout", _number),
            ("--out", st.sampled_from([".", "/dev/null", "/proc/version/x", "out.png"])),
            ("--resolution", st.sampled_from(["1K", "4K", ""])),
        ):
            if draw(st.booleans()):
                argv += [flag, draw(value)]
        return argv
    argv = ["history"]
    for flag, value in (
        ("--since", st.one_of(_word, st.sampled_from(["yesterday", "2025-01-31", "2025-13-99"]))),
        ("--until", _word),
        ("--state", st.sampled_from(["pending", "completed", "finished", ""])),
        ("--limit", _number),
    ):
        if draw(st.booleans()):
            argv += [flag, draw(value)]
    if draw(st.booleans()):
        argv.insert(0, draw(st.sampled_from(["--lang", "--bogus"])))
        if argv[0] == "--lang":
            argv.insert(1, draw(st.sampled_from(["zh", "en", "fr"])))
    return argv


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(argv=cli_argv())
# Found by hypothesis 6.170 on a fresh machine: a file name for --out made a list of every
# file name num_images pictures would take, before num_images was checked (MemoryError).
@example(
    argv=[
        "edit",
        "/nonexistent/a.png",
        "-p",
        "",
        "--num-images",
        "114642796539",
        "--out",
        "out.png",
    ]
)
def test_any_cli_arguments_end_in_one_line_and_a_status(
    argv: list[str],
    home,
    capsys,  # type: ignore[no-untyped-def]
) -> None:
    from kling_nb import _i18n
    from kling_nb.cli import main

    try:
        status = main(argv)
    finally:
        _i18n.set_language("en")
    out, err = capsys.readouterr()
    failures = [line for line in err.splitlines() if line.startswith("kling-nb: ")]
    assert "Traceback" not in err
    if status == 0:
        assert not failures and "history" in argv  # no edit here may reach a submit
    else:
        assert status == 2 and len(failures) == 1, (argv, err)
