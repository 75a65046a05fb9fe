"""Failures keep their words on every profile (docs/services.md, "Failures"): Qiniu ends a
failed job as COMPLETED with the reason in `detail` (a string or an object) and answers
400/401 with `{"status": false, "message": …}`; fal and plain say `error` and `error_type`."""

from __future__ import annotations

from typing import Any

import fal_client
import pytest

from .conftest import AUTH, Api, SmallModel, body

APP = "fal-ai/kling-image/o1"


def _failed(api: Api, **fields: Any) -> tuple[dict[str, Any], Any]:
    """(final status, result response) of a job that fails."""
    sub = api.submit(body(**fields))
    result = api.result(sub)
    status = api.status(sub)
    assert status.status_code == 200
    return status.json(), result


def test_qiniu_failure_is_completed_with_the_reason_as_a_string_in_detail(make_api: Any) -> None:
    api = make_api(
        profile="qiniu", fail_rate=1.0, detail_shape="string", seed=3, model=SmallModel()
    )
    status, result = _failed(api)
    assert status["status"] == "COMPLETED"
    assert "error" not in status and "error_type" not in status and "result" not in status
    assert isinstance(status["detail"], str) and "injected failure" in status["detail"]
    assert result.status_code == 400  # no result exists; Qiniu's error body says why
    assert result.json() == {"status": False, "message": status["detail"]}
    (facts,) = api.queue.stats()["requests"].values()
    assert facts["billed_images"] == 0 and facts["error_type"] is not None


def test_qiniu_failure_detail_can_be_an_object_with_loc_msg_type_url(make_api: Any) -> None:
    api = make_api(profile="qiniu", detail_shape="object")
    status, _ = _failed(api, num_images=12)  # refused by the rules when it runs
    detail = status["detail"]
    assert set(detail) == {"loc", "msg", "type", "url"}
    assert detail["loc"] == ["body", "num_images"] and "num_images" in detail["msg"]


def test_mixed_detail_shapes_are_drawn_from_the_seed_reproducibly(make_api: Any) -> None:
    def shapes(seed: int) -> list[str]:
        api = make_api(profile="qiniu", fail_rate=1.0, seed=seed, model=SmallModel(), workers=4)
        subs = [api.submit(body(prompt=f"{i} <<<image_1>>>")) for i in range(8)]
        for sub in subs:
            api.wait_state(sub, "COMPLETED")
        return [type(api.status(sub).json()["detail"]).__name__ for sub in subs]

    first = shapes(11)
    assert set(first) == {"str", "dict"} and shapes(11) == first


def test_qiniu_success_says_detail_null_beside_the_result(make_api: Any) -> None:
    api = make_api(profile="qiniu", model=SmallModel())
    sub = api.submit(body())
    assert api.result(sub).status_code == 200
    status = api.status(sub).json()
    assert status["detail"] is None and status["result"]["images"]


def test_qiniu_failed_status_quirk_keeps_the_detail(make_api: Any) -> None:
    api = make_api(
        profile="qiniu",
        fail_rate=1.0,
        failed_status=True,
        detail_shape="string",
        model=SmallModel(),
    )
    status, _ = _failed(api)
    assert status["status"] == "FAILED" and isinstance(status["detail"], str)


@pytest.mark.parametrize("profile", ["plain", "fal"])
def test_fal_and_plain_failures_say_error_and_error_type(make_api: Any, profile: str) -> None:
    api = make_api(profile=profile, fail_rate=1.0, seed=3, model=SmallModel())
    status, result = _failed(api)
    assert status["error"] and status["error_type"] and "detail" not in status
    assert result.status_code in (422, 503, 504) and "detail" in result.json()


def test_qiniu_401_and_400_answers_carry_qinius_error_body(make_api: Any) -> None:
    api = make_api(profile="qiniu", service_time=5.0)
    secret = {"Authorization": "Key"}  # the scheme without a key
    refused = api.client.post(f"/queue/{APP}", json=body(), headers=secret)
    assert refused.status_code == 401
    assert refused.json()["status"] is False and "Authorization" in refused.json()["message"]
    sub = api.submit(body())
    early = api.client.get(sub["response_url"], headers=AUTH)  # not finished yet
    assert early.status_code == 400
    assert early.json()["status"] is False and "still" in early.json()["message"]


def test_other_profiles_keep_fals_detail_body_for_401(make_api: Any) -> None:
    api = make_api(profile="fal")
    refused = api.client.post(f"/queue/{APP}", json=body())
    assert refused.status_code == 401 and "detail" in refused.json()


def test_unmodified_fal_client_shows_qinius_error_body_raw(fal: Any) -> None:
    client, _ = fal(profile="qiniu", fail_rate=1.0, detail_shape="string", seed=3)
    handle = client.submit(APP, arguments=body())
    status = handle.status()
    while not isinstance(status, fal_client.Completed):
        status = handle.status()
    assert status.error is None  # fal_client reads `error`: the failure looks like success
    with pytest.raises(fal_client.client.FalClientHTTPError) as exc:
        handle.get()
    # fal_client looks for `detail`; without it the message is the raw JSON text, which is
    # why a client must read Qiniu's `message` itself.
    assert exc.value.status_code == 400 and exc.value.message.startswith('{"status":false')
