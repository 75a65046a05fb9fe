"""The emulator's log lines speak the language of the process that runs it (kling_nb's
`set_language`, `KLING_NB_LANG`, the locale), or of the request (`Accept-Language`)."""

from __future__ import annotations

from typing import Any

import pytest

from kling_nb import _i18n

from .conftest import AUTH, SmallModel, body


def _messages(api: Any, sub: dict[str, Any], language: str | None = None) -> list[str]:
    headers = {**AUTH, **({"Accept-Language": language} if language else {})}
    answer = api.client.get(sub["status_url"], params={"logs": "true"}, headers=headers)
    return [entry["message"] for entry in answer.json()["logs"]]


def test_log_lines_follow_the_process_language(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    sub = api.submit(body())
    api.wait_state(sub, "COMPLETED")
    assert _messages(api, sub)[0] == "Runner 1 picked up the request (emulated Kling O1)."
    _i18n.set_language("zh")  # the `english` fixture sets it back afterwards
    chinese = _messages(api, sub)
    assert chinese[0] == "运行器 1 已接手该请求（模拟的 Kling O1）。"
    assert "风格：watercolor（模拟滤镜，并非 Kling）" in chinese
    assert chinese[-1] == "已保存 1 张图片；完成。"


@pytest.mark.parametrize(
    ("header", "first"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "运行器"),
        ("zh", "运行器"),
        ("en-US", "Runner"),
        ("fr", "运行器"),
    ],
)
def test_a_requests_accept_language_wins(make_api: Any, header: str, first: str) -> None:
    _i18n.set_language("zh")  # French asked: the process's language, Chinese here
    api = make_api(model=SmallModel())
    sub = api.submit(body())
    api.wait_state(sub, "COMPLETED")
    assert _messages(api, sub, header)[0].startswith(first)


def test_a_refused_input_is_logged_in_the_readers_language(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    sub = api.submit(body(num_images=12))
    api.wait_state(sub, "COMPLETED")
    english = [m for m in _messages(api, sub, "en") if "num_images" in m]
    chinese = [m for m in _messages(api, sub, "zh") if "num_images" in m]
    assert english and chinese and english != chinese
    assert "超出范围" in chinese[0]


def test_timestamps_and_levels_do_not_depend_on_the_language(make_api: Any) -> None:
    api = make_api(model=SmallModel())
    sub = api.submit(body())
    api.wait_state(sub, "COMPLETED")
    read = [
        api.client.get(
            sub["status_url"], params={"logs": "1"}, headers={**AUTH, "Accept-Language": lang}
        ).json()["logs"]
        for lang in ("en", "zh")
    ]
    assert [(e["level"], e["timestamp"]) for e in read[0]] == [
        (e["level"], e["timestamp"]) for e in read[1]
    ]
