"""The source guide's own `run_fal_task`, verbatim (Qiniu's "Kling O1 Image-to-Image API
使用指南", section 2), kept in one place for the benchmarks and tests that compare against it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

SOURCE = '''
import time

def run_fal_task(endpoint, arguments, poll_interval=5):
    """提交任务并轮询等待结果返回"""
    # 步骤 1：提交请求
    handler = fal_client.submit(endpoint, arguments=arguments)
    request_id = handler.request_id
    print(f"请求已提交，request_id: {request_id}")

    # 步骤 2：轮询任务状态
    while True:
        status = fal_client.status(endpoint, request_id, with_logs=True)
        print(f"当前状态: {type(status).__name__}")

        if isinstance(status, fal_client.Completed):
            print("任务完成!")
            break

        if hasattr(status, "logs") and status.logs:
            for log in status.logs:
                print(log["message"])

        time.sleep(poll_interval)

    # 步骤 3：获取结果
    return fal_client.result(endpoint, request_id)
'''


def load(*, quiet: bool = True) -> Callable[..., Any]:
    """The guide's helper as a function (its prints silenced when `quiet`)."""
    import fal_client

    namespace: dict[str, Any] = {"fal_client": fal_client}
    if quiet:
        namespace["print"] = lambda *args, **kwargs: None
    exec(SOURCE, namespace)
    return namespace["run_fal_task"]  # type: ignore[no-any-return]
