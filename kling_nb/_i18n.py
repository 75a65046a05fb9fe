"""Messages in Chinese and English.

The language comes from `set_language()`, else `KLING_NB_LANG`, else the locale
(`LANG`/`LC_ALL` starting with `zh`), else English. Every user-facing sentence lives
in `MESSAGES`; code refers to it by key so that both languages always exist.

A sentence whose hint names a Python call has a `KEY@cli` twin that names `kling-nb`
flags and verbs instead: `kling-nb` turns those on (`use_cli_words`), notebooks never do.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal

Language = Literal["zh", "en"]
LANGUAGES: tuple[Language, ...] = ("zh", "en")

_chosen: Language | None = None

MESSAGES: dict[str, dict[Language, str]] = {
    # --- input rules (kling_nb._rules) ---------------------------------------------------
    "rule.prompt_missing": {
        "en": 'prompt is empty. Describe the edit in words, e.g. "turn <<<image_1>>> into a watercolor".',
        "zh": "prompt 为空。请用文字描述要做的修改，例如 “将 <<<image_1>>> 转换为水彩画风格”。",
    },
    "rule.prompt_too_long": {
        "en": "prompt has {length} characters; the limit is {limit}. Shorten it by {excess} characters.",
        "zh": "prompt 有 {length} 个字符，上限为 {limit}。请删减 {excess} 个字符。",
    },
    "rule.images_missing": {
        "en": "image_urls is empty. Give at least one input image (a URL, a file path, a PIL image or bytes).",
        "zh": "image_urls 为空。请至少提供一张输入图片（URL、文件路径、PIL 图像或字节）。",
    },
    "rule.images_too_many": {
        "en": "image_urls has {count} images; the limit is {limit}. Remove {excess} of them.",
        "zh": "image_urls 有 {count} 张图片，上限为 {limit}。请移除 {excess} 张。",
    },
    "rule.image_url_scheme": {
        "en": "{field} = {value!r} is not an http(s) URL or a data: URI. Pass a URL, or a local path / PIL image and kling_nb will encode it.",
        "zh": "{field} = {value!r} 不是 http(s) URL 或 data: URI。请传入 URL，或传入本地路径 / PIL 图像，kling_nb 会自动编码。",
    },
    "rule.reference_out_of_range": {
        "en": "prompt refers to image {number}, but only {count} image(s) are given. Add an image or refer to <<<image_1>>> … <<<image_{count}>>>.",
        "zh": "prompt 引用了第 {number} 张图片，但只提供了 {count} 张。请添加图片，或只引用 <<<image_1>>> … <<<image_{count}>>>。",
    },
    "rule.reference_one_image": {
        "en": "prompt refers to image {number}, but only one image is given. Add an image, or refer to it as <<<image_1>>>.",
        "zh": "prompt 引用了第 {number} 张图片，但只提供了 1 张。请添加图片，或用 <<<image_1>>> 引用它。",
    },
    "rule.reference_zero": {
        "en": "prompt refers to image 0, but images are numbered from 1: the first is <<<image_1>>> (or @Image1).",
        "zh": "prompt 引用了第 0 张图片，但图片从 1 开始编号：第一张是 <<<image_1>>>（或 @Image1）。",
    },
    "rule.choice": {
        "en": "{field} = {value!r} is not allowed. Use one of: {allowed}.",
        "zh": "{field} = {value!r} 不是允许的取值。可选：{allowed}。",
    },
    "rule.num_images_range": {
        "en": "num_images = {value} is out of range; it must be a whole number from {low} to {high}.",
        "zh": "num_images = {value} 超出范围，必须是 {low} 到 {high} 之间的整数。",
    },
    "rule.unknown_field": {
        "en": "{field} is not a parameter of fal-ai/kling-image/o1. Remove it (parameters: prompt, image_urls, resolution, num_images, aspect_ratio, output_format).",
        "zh": "{field} 不是 fal-ai/kling-image/o1 的参数。请删除它（可用参数：prompt、image_urls、resolution、num_images、aspect_ratio、output_format）。",
    },
    "rule.image_too_many_bytes": {
        "en": "{field} is {size_mb} MB; the limit is {limit_mb} MB. Pass the image as a path or PIL image and kling_nb will shrink it.",
        "zh": "{field} 大小为 {size_mb} MB，上限为 {limit_mb} MB。请以路径或 PIL 图像传入，kling_nb 会自动压缩。",
    },
    "rule.image_bomb": {
        "en": "{field} declares {width}×{height} pixels, far beyond any real photo (a decompression bomb?). Use a normal image.",
        "zh": "{field} 声明的尺寸为 {width}×{height} 像素，远超正常照片（疑似解压炸弹）。请使用正常图片。",
    },
    "rule.image_truncated": {
        "en": "{field} is a truncated image file (the end is missing). Download or export it again.",
        "zh": "{field} 是不完整的图片文件（结尾缺失）。请重新下载或导出。",
    },
    "rule.image_undecodable": {
        "en": "{field} is not an image that can be decoded. Use a JPEG or PNG file.",
        "zh": "{field} 不是可解码的图片。请使用 JPEG 或 PNG 文件。",
    },
    "rule.image_format": {
        "en": "{field} is {format}; the service accepts JPEG or PNG. Pass it as a path or PIL image and kling_nb will convert it.",
        "zh": "{field} 的格式是 {format}，服务只接受 JPEG 或 PNG。请以路径或 PIL 图像传入，kling_nb 会自动转换。",
    },
    "rule.image_too_small": {
        "en": "{field} is {width}×{height} px; each side must be at least {limit} px. Use a larger image.",
        "zh": "{field} 尺寸为 {width}×{height} 像素，每边至少需要 {limit} 像素。请使用更大的图片。",
    },
    "rule.image_bad_ratio": {
        "en": "{field} is {width}×{height} px (ratio {ratio}:1); the ratio must be within 1:2.5 and 2.5:1. Crop it first.",
        "zh": "{field} 尺寸为 {width}×{height} 像素（宽高比 {ratio}:1），宽高比必须在 1:2.5 到 2.5:1 之间。请先裁剪。",
    },
    "rule.image_missing_file": {
        "en": "{field}: no file at {value!r}. Check the path (relative paths start from {cwd!r}).",
        "zh": "{field}：找不到文件 {value!r}。请检查路径（相对路径从 {cwd!r} 开始）。",
    },
    "rule.image_unsupported_type": {
        "en": "{field} is a {value}; pass a URL, a path, a PIL image, bytes or a numpy array.",
        "zh": "{field} 的类型是 {value}；请传入 URL、路径、PIL 图像、字节或 numpy 数组。",
    },
    "rule.image_not_remote": {
        "en": "{field} = {value!r}: the emulator fetches nothing from the network. Pass the image as a local path, PIL image or bytes (kling_nb sends it as a data: URI), or use a bundled sample URL.",
        "zh": "{field} = {value!r}：模拟器不会从网络下载任何内容。请以本地路径、PIL 图像或字节传入（kling_nb 会以 data: URI 发送），或使用内置示例图片 URL。",
    },
    "rule.image_too_many_pixels": {
        "en": "{field} declares {width}×{height} px ({megapixels} megapixels); the limit is {limit_mp} megapixels, checked before decoding to guard against decompression bombs. Downscale it in an image editor first, or use a normal photo.",
        "zh": "{field} 声明的尺寸为 {width}×{height} 像素（{megapixels} 百万像素），上限为 {limit_mp} 百万像素（解码前检查，以防解压炸弹）。请先用图片编辑器缩小，或使用正常照片。",
    },
    "rule.image_unreadable_file": {
        "en": "{field}: cannot read {value!r} ({reason}). Check that the path names an image file you may read.",
        "zh": "{field}：无法读取 {value!r}（{reason}）。请确认该路径指向一个有读取权限的图片文件。",
    },
    "rule.image_array_shape": {
        "en": "{field} is a numpy array of shape {shape} and dtype {dtype}; use H×W (grey), H×W×3 (RGB) or H×W×4 (RGBA) of uint8, uint16 or floats in 0..1. Channels go last: for C×H×W use array.transpose(1, 2, 0).",
        "zh": "{field} 是形状为 {shape}、dtype 为 {dtype} 的 numpy 数组；请使用 H×W（灰度）、H×W×3（RGB）或 H×W×4（RGBA），类型为 uint8、uint16 或 0..1 的浮点数。通道应在最后一维：C×H×W 数组请用 array.transpose(1, 2, 0)。",
    },
    "rule.image_array_range": {
        "en": "{field} is a {dtype} array with values from {low} to {high}; float arrays must hold 0..1 (divide by 255 if yours hold 0..255), integer arrays 0..255 (use uint16 for 16-bit data). Rescale it first.",
        "zh": "{field} 是 {dtype} 数组，取值范围为 {low} 到 {high}；浮点数组须在 0..1 之间（若为 0..255 请先除以 255），整数数组须在 0..255 之间（16 位数据请用 uint16）。请先缩放数值。",
    },
    "rule.image_remote": {
        "en": "{field} = {value!r} is a web address; kling_nb sends it to the service as it is and never downloads it. To open it here, download it first and pass the file.",
        "zh": "{field} = {value!r} 是网络地址；kling_nb 会原样发送给服务，不会下载它。如需在此打开，请先下载并传入文件。",
    },
    "rule.image_heif": {
        "en": "{field} is a HEIC/HEIF photo, which this Pillow cannot open. Run `pip install pillow-heif` and call pillow_heif.register_heif_opener(), or export it as JPEG.",
        "zh": "{field} 是 HEIC/HEIF 照片，当前 Pillow 无法打开。请运行 `pip install pillow-heif` 并调用 pillow_heif.register_heif_opener()，或先导出为 JPEG。",
    },
    "rule.image_not_found": {
        "en": "{field} = {value!r} points at the emulator, but it holds no such file (results are deleted when it stops, and the oldest are forgotten). Run that job again, or pass the image itself.",
        "zh": "{field} = {value!r} 指向模拟器，但模拟器中没有该文件（模拟器停止时会删除结果，最早的结果也会被清理）。请重新运行该任务，或直接传入图片。",
    },
    # --- configuration -------------------------------------------------------------------
    "config.backend_unknown": {
        "en": "{variable} = {value!r} is not a backend. Use one of: auto, emulator, qiniu, fal.",
        "zh": "{variable} = {value!r} 不是有效的后端。可选：auto、emulator、qiniu、fal。",
    },
    "config.key_missing": {
        "en": "No API key for {backend}. Set the environment variable {variable} (or pass key=...), or use backend='emulator' to run offline on the emulator.",
        "zh": "未找到 {backend} 的 API Key。请设置环境变量 {variable}（或传入 key=...），或使用 backend='emulator' 在本地模拟器上离线运行。",
    },
    "config.language_unknown": {
        "en": "{variable} = {value!r} is not a language. Use 'zh' or 'en'.",
        "zh": "{variable} = {value!r} 不是有效的语言。请使用 'zh' 或 'en'。",
    },
    "config.fal_client_internals": {
        "en": "This fal-client version ({version}) cannot be re-pointed to another host inside a running kernel. Restart the kernel and call connect() before importing fal_client.",
        "zh": "当前 fal-client 版本（{version}）无法在运行中的内核里切换服务地址。请重启内核，并在 import fal_client 之前调用 connect()。",
    },
    "config.host_mismatch": {
        "en": "fal_client now sends to {actual}, but kling_nb is connected to {expected}; nothing was sent. Call kling_nb.connect() again to choose the backend.",
        "zh": "fal_client 当前指向 {actual}，而 kling_nb 连接的是 {expected}；未发送任何请求。请重新调用 kling_nb.connect() 选择后端。",
    },
    "connect.qiniu": {
        "en": "kling_nb → Qiniu AIToken at {host} (real service, billed per image).",
        "zh": "kling_nb → 七牛 AIToken {host}（真实服务，按张计费）。",
    },
    "connect.fal": {
        "en": "kling_nb → fal.ai at {host} (real service, billed per image).",
        "zh": "kling_nb → fal.ai {host}（真实服务，按张计费）。",
    },
    "connect.custom": {
        "en": "kling_nb → the fal-compatible queue at {host} (from FAL_QUEUE_RUN_HOST).",
        "zh": "kling_nb → FAL_QUEUE_RUN_HOST 指定的 fal 兼容队列 {host}。",
    },
    # --- jobs ----------------------------------------------------------------------------
    "job.failed": {
        "en": "Job {request_id} on {endpoint} failed: {detail}",
        "zh": "任务 {request_id}（{endpoint}）失败：{detail}",
    },
    "job.cancelled": {
        "en": "Job {request_id} was cancelled on the server (you interrupted the wait). Nothing more will be billed for it.",
        "zh": "任务 {request_id} 已在服务端取消（你中断了等待）。该任务不会再产生费用。",
    },
    "job.cancel_failed": {
        "en": "You interrupted the wait, but cancelling job {request_id} failed ({detail}); it may still run and be billed. kling_nb.resume({request_id!r}) fetches it later.",
        "zh": "你中断了等待，但取消任务 {request_id} 失败（{detail}）；它可能仍在运行并计费。稍后可用 kling_nb.resume({request_id!r}) 取回结果。",
    },
    "job.cancel_too_late": {
        "en": "You interrupted the wait, but job {request_id} had already finished; its result is kept. kling_nb.resume({request_id!r}) returns it.",
        "zh": "你中断了等待，但任务 {request_id} 已经完成；结果已保留。可用 kling_nb.resume({request_id!r}) 取回。",
    },
    "job.timeout": {
        "en": "Job {request_id} did not finish within {timeout} s; it was cancelled on the server. Pass a larger timeout= for big jobs.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成，已在服务端取消。大任务请传入更大的 timeout=。",
    },
    "job.transport": {
        "en": "Could not reach {host}: {detail}. Check the network, or use backend='emulator' to work offline.",
        "zh": "无法连接 {host}：{detail}。请检查网络，或使用 backend='emulator' 离线运行。",
    },
    "job.auth": {
        "en": "{host} refused the API key (HTTP {status}): {detail}. Check the key in {variable}.",
        "zh": "{host} 拒绝了 API Key（HTTP {status}）：{detail}。请检查 {variable} 中的 Key。",
    },
    "job.rejected": {
        "en": "{host} rejected the submission (HTTP {status}): {detail}",
        "zh": "{host} 拒绝了提交（HTTP {status}）：{detail}",
    },
    "job.submit_unknown": {
        "en": "The submission to {host} was sent but its answer was lost ({detail}); the job may or may not exist. kling_nb did not resend it, to avoid paying twice. It is recorded in the journal: kling_nb.history(state='unknown').",
        "zh": "提交已发往 {host}，但响应丢失（{detail}）；任务可能已创建，也可能没有。为避免重复计费，kling_nb 没有重发。该记录已写入日志：kling_nb.history(state='unknown')。",
    },
    "job.not_found": {
        "en": "{host} no longer knows job {request_id} (HTTP 404): services keep a job and its result only for a limited time (fal about an hour, Qiniu 7 days), so its pictures cannot be recovered from the service, while the journal still has its prompt and parameters to run again with fresh=True (unless the job was sent to another backend).",
        "zh": "{host} 已不再知道任务 {request_id}（HTTP 404）：服务只在有限时间内保留任务及其结果（fal 约一小时，七牛 7 天），所以它的图片已无法从服务取回，但日志中仍保存了提示词和参数，可以用 fresh=True 重新运行（除非该任务是发往其他后端的）。",
    },
    "job.download_failed": {
        "en": "Job {request_id} finished, but downloading {url} failed: {detail}. The result is kept in the journal; kling_nb.resume({request_id!r}) tries again.",
        "zh": "任务 {request_id} 已完成，但下载 {url} 失败：{detail}。结果已记录在日志中；可用 kling_nb.resume({request_id!r}) 重试。",
    },
    "job.cancelled_by_call": {
        "en": "Cancelled on the server by Job.cancel(). Nothing more will be billed for it.",
        "zh": "已通过 Job.cancel() 在服务端取消。该任务不会再产生费用。",
    },
    # --- journal, history, resume, batches (kling_nb._journal, _resume, _batch) ----------
    "journal.unwritable": {
        "en": "Could not write the job journal {path} ({detail}); nothing was sent, nothing was billed. Set KLING_NB_HOME to a folder you may write to.",
        "zh": "无法写入任务日志 {path}（{detail}）；未发送任何请求，也不会计费。请把 KLING_NB_HOME 设为一个可写的文件夹。",
    },
    "journal.update_failed": {
        "en": "Could not update the job journal {path} ({detail}). The job goes on, but history() and resume() may show an older state of it; check the disk space and KLING_NB_HOME.",
        "zh": "无法更新任务日志 {path}（{detail}）。任务会继续，但 history() 和 resume() 可能显示旧的状态；请检查磁盘空间和 KLING_NB_HOME。",
    },
    "journal.state_unknown": {
        "en": "state = {value!r} is not a journal state. Use one of: {allowed}.",
        "zh": "state = {value!r} 不是有效的日志状态。可选：{allowed}。",
    },
    "journal.date_bad": {
        "en": "{name} = {value!r} is not a date. Use a datetime, a date, an ISO string such as '2025-01-31', or a timedelta (e.g. timedelta(days=1) for the last day).",
        "zh": "{name} = {value!r} 不是有效的日期。请使用 datetime、date、ISO 字符串（如 '2025-01-31'）或 timedelta（如 timedelta(days=1) 表示最近一天）。",
    },
    "history.columns": {
        "en": "#|created|state|backend|request id|images|prompt",
        "zh": "#|创建时间|状态|后端|请求 ID|图片|提示词",
    },
    "history.title": {
        "en": "{count} job(s) in the journal {path}",
        "zh": "任务日志 {path} 中有 {count} 个任务",
    },
    "history.unknown_hint": {
        "en": "{count} submit(s) in state 'unknown': each was sent but its answer was lost, so the job may exist and be billed without a request id to fetch it by. Check the provider's usage page before submitting again.",
        "zh": "有 {count} 次提交处于 'unknown' 状态：请求已发出但响应丢失，任务可能已创建并计费，却没有可用于取回的请求 ID。重新提交前请先查看服务商的用量页面。",
    },
    "resume.not_found": {
        "en": "The journal {path} has no job with request id {request_id!r}. kling_nb.history() lists the jobs it knows; check KLING_NB_HOME.",
        "zh": "任务日志 {path} 中没有请求 ID 为 {request_id!r} 的任务。kling_nb.history() 会列出已记录的任务；请检查 KLING_NB_HOME。",
    },
    "resume.no_request_id": {
        "en": "Journal row #{row} ({state}, written {created}) has no request id: its submit to {host} was sent but the answer never arrived, so it cannot be resumed. The job may exist and be billed; check the provider's usage page before submitting it again.",
        "zh": "日志第 #{row} 条（{state}，记录于 {created}）没有请求 ID：发往 {host} 的提交已发出但未收到响应，因此无法恢复。任务可能已创建并计费；重新提交前请先查看服务商的用量页面。",
    },
    "resume.no_key": {
        "en": "Job {request_id} lives on {host}, but no API key for that host is set in this process. Set {variable} (or call kling_nb.connect() for that backend), then resume again. Keys are never stored in the journal.",
        "zh": "任务 {request_id} 位于 {host}，但当前进程没有该服务的 API Key。请设置 {variable}（或对该后端调用 kling_nb.connect()）后再恢复。API Key 从不写入任务日志。",
    },
    "resume.ended": {
        "en": "Job {request_id} already ended as '{state}': {detail}",
        "zh": "任务 {request_id} 已经以 '{state}' 结束：{detail}",
    },
    "resume.emulator_gone": {
        "en": "Job {request_id} ran on an emulator at {host} that is no longer running; emulator jobs end with it. Run the edit again (it is free).",
        "zh": "任务 {request_id} 运行在 {host} 的模拟器上，而该模拟器已停止；模拟器的任务会随之消失。请重新运行该编辑（免费）。",
    },
    "resume.waited_elsewhere": {
        "en": "{count} unfinished job(s) skipped: another live process (pid {pids}) is still waiting for them. Pass the request id to resume one anyway.",
        "zh": "跳过了 {count} 个未完成的任务：另一个仍在运行的进程（pid {pids}）正在等待它们。如仍要恢复，请传入请求 ID。",
    },
    "batch.progress": {"en": "Kling O1 batch", "zh": "Kling O1 批量"},
    "batch.empty": {"en": "nothing to run or wait for", "zh": "没有需要运行或等待的任务"},
    "batch.counts": {
        "en": "running {running} · queued {queued}",
        "zh": "生成中 {running} · 排队中 {queued}",
    },
    "batch.summary": {
        "en": "{ok} of {total} succeeded · {failed} failed · {elapsed:.1f} s",
        "zh": "{total} 个中成功 {ok} 个 · 失败 {failed} 个 · 用时 {elapsed:.1f} 秒",
    },
    "batch.interrupted": {
        "en": "interrupted: {cancelled} pending job(s) were cancelled on the server; finished ones are kept",
        "zh": "已中断：{cancelled} 个未完成的任务已在服务端取消；已完成的结果均已保留",
    },
    "batch.not_sent": {
        "en": "Not sent: the batch was interrupted before item {index} was submitted. Nothing was billed for it.",
        "zh": "未发送：批量任务在第 {index} 项提交前被中断。该项不会计费。",
    },
    "batch.abandoned": {
        "en": "The batch was interrupted, but job {request_id} could not be confirmed cancelled and may still run and be billed. kling_nb.resume({request_id!r}) fetches it later.",
        "zh": "批量任务已中断，但无法确认任务 {request_id} 已取消，它可能仍在运行并计费。稍后可用 kling_nb.resume({request_id!r}) 取回。",
    },
    "batch.bad_item": {
        "en": "Batch item {index} is a {kind}; pass KlingO1Request objects or guide-style arguments dicts (prompt, image_urls, …).",
        "zh": "批量第 {index} 项的类型是 {kind}；请传入 KlingO1Request 对象或指南风格的参数字典（prompt、image_urls 等）。",
    },
    # --- progress ------------------------------------------------------------------------
    "progress.submitting": {"en": "submitting…", "zh": "正在提交…"},
    "progress.IN_QUEUE": {"en": "queued (position {position})", "zh": "排队中（第 {position} 位）"},
    "progress.IN_PROGRESS": {"en": "running", "zh": "生成中"},
    "progress.COMPLETED": {"en": "done", "zh": "完成"},
    "progress.FAILED": {"en": "failed", "zh": "失败"},
    "progress.CANCELLED": {"en": "cancelled", "zh": "已取消"},
    "progress.images": {"en": "{count} image(s)", "zh": "{count} 张图片"},
    "progress.request": {"en": "request {request_id}", "zh": "请求 {request_id}"},
    # --- results -------------------------------------------------------------------------
    "result.summary": {
        "en": "{count} image(s) from {endpoint} · {backend} · request {request_id}",
        "zh": "{count} 张图片，来自 {endpoint} · {backend} · 请求 {request_id}",
    },
    "result.emulated": {"en": "EMULATED", "zh": "模拟"},
    "result.inputs": {"en": "inputs", "zh": "输入"},
    "result.outputs": {"en": "outputs", "zh": "输出"},
    # --- EditPanel (kling_nb.panel) ------------------------------------------------------
    "panel.title": {"en": "Kling O1 · image edit", "zh": "Kling O1 · 图像编辑"},
    "panel.badge_emulated": {
        "en": "offline emulator · {profile} profile · pictures are not Kling's",
        "zh": "离线模拟器 · {profile} 规则 · 图片并非 Kling 生成",
    },
    "panel.badge_real": {"en": "{host} · billed per image", "zh": "{host} · 按张计费"},
    "panel.not_connected": {"en": "not connected", "zh": "未连接"},
    "panel.images": {"en": "Reference images", "zh": "参考图片"},
    "panel.images_hint": {
        "en": "{count} of {limit} · the prompt calls them <<<image_1>>> … (or @Image1 …)",
        "zh": "{count} / {limit} 张 · 在 prompt 中用 <<<image_1>>> …（或 @Image1 …）引用",
    },
    "panel.source_placeholder": {
        "en": "a file path or an http(s) URL",
        "zh": "文件路径或 http(s) URL",
    },
    "panel.add": {"en": "Add", "zh": "添加"},
    "panel.upload": {"en": "Upload", "zh": "上传"},
    "panel.upload_hint": {
        "en": "Upload button not working (e.g. in VS Code)? Type a path or URL instead.",
        "zh": "上传按钮不可用（例如在 VS Code 中）？请直接输入路径或 URL。",
    },
    "panel.no_images": {
        "en": "No images yet: add a path or URL, or upload photos.",
        "zh": "还没有图片：请添加路径或 URL，或上传照片。",
    },
    "panel.added": {"en": "Added {names}.", "zh": "已添加 {names}。"},
    "panel.full": {
        "en": "At most {limit} reference images; {names} not added.",
        "zh": "最多 {limit} 张参考图片；未添加 {names}。",
    },
    "panel.url_thumbnail": {"en": "web image (sent as its URL)", "zh": "网络图片（以 URL 发送）"},
    "panel.move_left": {"en": "Move earlier", "zh": "前移"},
    "panel.move_right": {"en": "Move later", "zh": "后移"},
    "panel.remove": {"en": "Remove", "zh": "移除"},
    "panel.insert": {"en": "Insert {token} into the prompt", "zh": "在 prompt 中插入 {token}"},
    "panel.prompt": {"en": "Prompt", "zh": "提示词"},
    "panel.prompt_placeholder": {
        "en": "Describe the edit, e.g. turn <<<image_1>>> into a watercolor painting",
        "zh": "描述要做的修改，例如：将 <<<image_1>>> 转换为水彩画风格",
    },
    "panel.count": {"en": "{count} / {limit} characters", "zh": "{count} / {limit} 字符"},
    "panel.count_over": {
        "en": "{count} / {limit} characters: {excess} too many",
        "zh": "{count} / {limit} 字符：超出 {excess} 个",
    },
    "panel.reference_past_end": {
        "en": "The prompt refers to image {numbers}, but there {count_words}. Add images or fix the reference.",
        "zh": "prompt 引用了第 {numbers} 张图片，但只有 {count} 张。请添加图片或修改引用。",
    },
    "panel.count_words_0": {"en": "are no images", "zh": "0"},
    "panel.count_words_1": {"en": "is only 1 image", "zh": "1"},
    "panel.count_words_n": {"en": "are only {count} images", "zh": "{count}"},
    "panel.parameters": {"en": "Parameters", "zh": "参数"},
    "panel.resolution": {"en": "Resolution", "zh": "分辨率"},
    "panel.aspect_ratio": {"en": "Aspect ratio", "zh": "宽高比"},
    "panel.num_images": {"en": "Images", "zh": "张数"},
    "panel.output_format": {"en": "Format", "zh": "格式"},
    "panel.format_default": {"en": "default", "zh": "默认"},
    "panel.run": {"en": "Run", "zh": "运行"},
    "panel.cancel": {"en": "Cancel", "zh": "取消"},
    "panel.show_code": {"en": "Show code", "zh": "显示代码"},
    "panel.hide_code": {"en": "Hide code", "zh": "隐藏代码"},
    "panel.ready": {"en": "Ready.", "zh": "就绪。"},
    "panel.busy": {
        "en": "Run #{number} is still going: wait for it or press Cancel, then run again.",
        "zh": "第 {number} 次运行尚未结束：请等待或点击取消后再运行。",
    },
    "panel.fetching": {"en": "fetching the images…", "zh": "正在获取图片…"},
    "panel.cancelling": {"en": "cancelling…", "zh": "正在取消…"},
    "panel.cancelled": {
        "en": "Run #{number} was cancelled{where}. Nothing more is billed for it.",
        "zh": "第 {number} 次运行已取消{where}。不会再为它计费。",
    },
    "panel.cancelled_remote": {
        "en": " on the server (request {request_id})",
        "zh": "（服务端请求 {request_id}）",
    },
    "panel.too_late": {
        "en": "Job {request_id} had already finished when Cancel arrived; its result is shown.",
        "zh": "取消请求到达时任务 {request_id} 已完成；结果已显示。",
    },
    "panel.done": {
        "en": "{count} image(s) in {elapsed:.1f} s · request {request_id}",
        "zh": "{count} 张图片，用时 {elapsed:.1f} 秒 · 请求 {request_id}",
    },
    "panel.unexpected": {
        "en": "Something unexpected went wrong ({kind}: {detail}). The panel still works; please report this with the steps that led to it.",
        "zh": "发生了意外错误（{kind}：{detail}）。面板仍可使用；请连同操作步骤一起报告此问题。",
    },
    "panel.results": {"en": "Results", "zh": "结果"},
    "panel.results_of": {"en": "Run #{number} · {summary}", "zh": "第 {number} 次运行 · {summary}"},
    "panel.no_results": {"en": "Results appear here.", "zh": "结果将显示在这里。"},
    "panel.save": {"en": "Save", "zh": "保存"},
    "panel.save_all": {"en": "Save all", "zh": "全部保存"},
    "panel.folder": {"en": "Folder", "zh": "文件夹"},
    "panel.saved": {"en": "Saved {paths}", "zh": "已保存 {paths}"},
    "panel.save_failed": {
        "en": "Could not save into {folder!r}: {detail}",
        "zh": "无法保存到 {folder!r}：{detail}",
    },
    "panel.use_as_input": {"en": "Use as input", "zh": "用作输入"},
    "panel.used_as_input": {
        "en": "Result #{index} is now image_{number}.",
        "zh": "结果 #{index} 现在是 image_{number}。",
    },
    "panel.compare": {"en": "Before / after", "zh": "前后对比"},
    "panel.hide_compare": {"en": "Hide comparison", "zh": "隐藏对比"},
    "panel.history": {"en": "This session's runs", "zh": "本次会话的运行记录"},
    "panel.no_history": {"en": "No runs yet.", "zh": "还没有运行记录。"},
    "panel.restore": {"en": "Restore", "zh": "恢复"},
    "panel.restored": {
        "en": "Restored the prompt, images and parameters of run #{number}.",
        "zh": "已恢复第 {number} 次运行的提示词、图片和参数。",
    },
    "panel.show": {"en": "Show", "zh": "查看"},
    "panel.state_running": {"en": "running", "zh": "运行中"},
    "panel.state_completed": {"en": "done", "zh": "完成"},
    "panel.state_failed": {"en": "failed", "zh": "失败"},
    "panel.state_cancelled": {"en": "cancelled", "zh": "已取消"},
    "panel.journal": {"en": "Earlier runs (journal)", "zh": "更早的运行（日志）"},
    "panel.journal_restored": {
        "en": "Restored the prompt and parameters of journal row {id}.",
        "zh": "已恢复日志第 {id} 条的提示词和参数。",
    },
    "panel.journal_missing": {
        "en": "{missing} of its input images were files or uploads, which the journal does not keep: add them again.",
        "zh": "其中 {missing} 张输入图片是文件或上传内容，日志不保存它们：请重新添加。",
    },
    "panel.code_intro": {"en": "The same request from code:", "zh": "用代码发出同样的请求："},
    # --- engine and progress (issue 12) ------------------------------------------------------
    "rule.engine_timeout": {
        "en": "{field} is {value!r}: it must be a positive number of seconds, or None to wait without a limit. Pass e.g. timeout=900.",
        "zh": "{field} 为 {value!r}：必须是正数（秒），或 None 表示不限时。例如传入 timeout=900。",
    },
    "engine.unreadable_status": {
        "en": "{host} answered the status request in a shape kling_nb does not know ({body}); it stopped waiting rather than retry forever.",
        "zh": "{host} 对状态查询的回答格式无法识别（{body}）；kling_nb 停止等待，而不是无限重试。",
    },
    "engine.deadline_uncancelled": {
        "en": "Job {request_id} did not finish within {timeout} s (deadline reached), and the server could not be reached to cancel it ({detail}); it may still run and be billed. kling_nb.resume({request_id!r}) fetches it later.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成（已到截止时间），且无法连接服务器取消它（{detail}）；它可能仍在运行并计费。稍后可用 kling_nb.resume({request_id!r}) 取回结果。",
    },
    "engine.deadline_too_late": {
        "en": "Job {request_id} did not finish within {timeout} s (deadline reached), but it had finished on the server by the time kling_nb cancelled it; its result is kept. kling_nb.resume({request_id!r}) returns it.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成（已到截止时间），但 kling_nb 取消时它已在服务端完成；结果已保留。可用 kling_nb.resume({request_id!r}) 取回。",
    },
    "engine.state.submitting": {"en": "submitting", "zh": "提交中"},
    "engine.state.queued": {"en": "queued", "zh": "排队中"},
    "engine.state.running": {"en": "running", "zh": "生成中"},
    "engine.state.downloading": {"en": "downloading", "zh": "下载中"},
    "engine.state.completed": {"en": "completed", "zh": "已完成"},
    "engine.state.failed": {"en": "failed", "zh": "失败"},
    "engine.state.cancelled": {"en": "cancelled", "zh": "已取消"},
    "engine.state.rejected": {"en": "rejected", "zh": "被拒绝"},
    "engine.state.unknown": {"en": "unknown", "zh": "未知"},
    "engine.prompt_label": {"en": "prompt", "zh": "提示词"},
    "engine.tb_hint": {
        "en": "(kling_nb shows its errors without internal frames: %tb prints the full traceback; kling_nb.plain_tracebacks() turns this off.)",
        "zh": "（kling_nb 显示错误时省略内部调用栈：%tb 可查看完整回溯；kling_nb.plain_tracebacks() 可关闭此显示。）",
    },
    "engine.result_expired": {
        "en": "Job {request_id} finished on {host}, but the service no longer keeps its result (HTTP 404: results expire, on fal after about an hour). The images cannot be recovered from the service; the journal still has the request (its prompt and parameters) to run again.",
        "zh": "任务 {request_id} 已在 {host} 上完成，但服务已不再保留其结果（HTTP 404：结果会过期，fal 约一小时）。图片无法再从服务取回；日志中仍保存了请求（提示词和参数），可以重新运行。",
    },
    "engine.malformed_submit": {
        "en": "{host} answered the submission in a shape kling_nb does not know ({detail})",
        "zh": "{host} 对提交的回答格式无法识别（{detail}）",
    },
    "engine.malformed_result": {
        "en": "{host} returned a result whose images are not a list of objects with a string url ({detail}); kling_nb cannot fetch them. Run the request again, or report the answer to the service.",
        "zh": "{host} 返回的结果中 images 不是含字符串 url 的对象列表（{detail}）；kling_nb 无法下载这些图片。请重新运行该请求，或将此回答报告给服务方。",
    },
    "batch.row_images": {"en": "{count} image(s)", "zh": "{count} 张图片"},
    "batch.row_request": {"en": "request {request_id}", "zh": "请求 {request_id}"},
    "batch.row_where": {"en": " (request {request_id})", "zh": "（请求 {request_id}）"},
    # --- service profiles, rules and emulator (issue 10) -------------------------------------
    "rule.resolution_4k": {
        "en": "resolution = {value!r} is not offered: Qiniu's guide lists 4K, but Kling's API, fal's schema and Qiniu's API reference list only 1K and 2K. Use '2K' (the largest), or upscale the result.",
        "zh": "不支持 resolution = {value!r}：七牛的指南列出了 4K，但 Kling 的 API、fal 的 schema 和七牛的 API 参考都只有 1K 和 2K。请改用 '2K'（最大），或对结果再放大。",
    },
    "rule.images_missing_fal": {
        "en": "image_urls is empty, and fal's kling-image/o1 needs at least one input image (text-to-image is documented for Qiniu only). Give an image, or connect to Qiniu.",
        "zh": "image_urls 为空，而 fal 的 kling-image/o1 至少需要一张输入图片（仅七牛文档支持文生图）。请提供图片，或连接七牛。",
    },
    "rule.prompt_not_text": {
        "en": "prompt must be text (str), not {value}. Pass a string, e.g. decode bytes with .decode('utf-8').",
        "zh": "prompt 必须是文本（str），而不是 {value}。请传入字符串，例如用 .decode('utf-8') 解码字节。",
    },
    "rule.prompt_surrogate": {
        "en": "prompt has a broken character (a lone UTF-16 surrogate) at position {position}; it cannot be sent as UTF-8. Retype or remove that character.",
        "zh": "prompt 第 {position} 个字符是损坏的字符（孤立的 UTF-16 代理项），无法以 UTF-8 发送。请重新输入或删除该字符。",
    },
    "rule.num_images_type": {
        "en": "num_images = {value} is a {type}, not a whole number; it must be an int from {low} to {high}, e.g. num_images=2.",
        "zh": "num_images = {value} 的类型是 {type}，不是整数；它必须是 {low} 到 {high} 之间的 int，例如 num_images=2。",
    },
    "rule.elements_unsupported": {
        "en": "elements is not accepted by the {profile} service (only fal's kling-image/o1 schema has it). Remove elements and pass the pictures as images, or connect to fal.",
        "zh": "{profile} 服务不接受 elements（只有 fal 的 kling-image/o1 schema 支持）。请去掉 elements，把图片作为 images 传入，或连接 fal。",
    },
    "rule.elements_type": {
        "en": "elements = {value} is not a list. Pass a list of dicts with frontal_image_url and/or reference_image_urls.",
        "zh": "elements = {value} 不是列表。请传入由含 frontal_image_url 和/或 reference_image_urls 的字典组成的列表。",
    },
    "rule.elements_too_many": {
        "en": "elements ({elements}) plus images ({images}) make more than {limit} inputs. Remove some, so that elements + images ≤ {limit}.",
        "zh": "elements（{elements} 个）加 images（{images} 张）超过 {limit} 个输入。请删减，使 elements + images ≤ {limit}。",
    },
    "rule.element_shape": {
        "en": "{field} = {value} is not an element. Use a dict with frontal_image_url (one image) and/or reference_image_urls (a list of up to 3 images).",
        "zh": "{field} = {value} 不是合法的 element。请使用含 frontal_image_url（一张图）和/或 reference_image_urls（最多 3 张图的列表）的字典。",
    },
    "rule.element_references": {
        "en": "{field} has {count} images; the limit is {limit} per element. Keep the {limit} best.",
        "zh": "{field} 有 {count} 张图片，每个 element 上限为 {limit}。请保留最好的 {limit} 张。",
    },
    "rule.element_out_of_range": {
        "en": "prompt refers to @Element{number}, but {count} element(s) are given. Refer to @Element1 … @Element{count}, or add elements.",
        "zh": "prompt 引用了 @Element{number}，但只提供了 {count} 个 element。请只引用 @Element1 … @Element{count}，或添加 element。",
    },
    "rule.reference_bare": {
        "en": "prompt uses a bare @Image, which names the only image, but {count} images are given. Write @Image1, @Image2 … instead.",
        "zh": "prompt 使用了不带编号的 @Image，它只在恰好一张图片时有效，但现在有 {count} 张。请改写为 @Image1、@Image2 …。",
    },
    "rule.reference_near_miss": {
        "en": "prompt contains {value!r}, which looks like an image reference but is not one: the model would read it as words. Write <<<image_1>>> or @Image1 exactly (case and underscore matter).",
        "zh": "prompt 中的 {value!r} 看起来像图片引用，但格式不对，模型会把它当作普通文字。请准确写成 <<<image_1>>> 或 @Image1（区分大小写和下划线）。",
    },
    "rule.body_too_large": {
        "en": "The request body is {size_mb} MB, above the cap of {limit_mb} MB for the whole body (all images together, even after shrinking). Use fewer or smaller images, or pass https URLs instead of files.",
        "zh": "请求体为 {size_mb} MB，超过整个请求体 {limit_mb} MB 的上限（所有图片合计，已尝试缩小）。请减少或缩小图片，或改用 https URL 代替文件。",
    },
    "rule.too_deep": {
        "en": "The request body nests deeper than {limit} levels. Send the model input as a flat JSON object.",
        "zh": "请求体嵌套超过 {limit} 层。请以扁平的 JSON 对象发送模型输入。",
    },
    # --- emulator log lines (issues 17, 18: kling_nb.emulator._logs) --------------------------
    "emulator.log.picked_up": {
        "en": "Runner {runner} picked up the request (emulated Kling O1).",
        "zh": "运行器 {runner} 已接手该请求（模拟的 Kling O1）。",
    },
    "emulator.log.decoded": {
        "en": "Decoded {count} input image(s): {summary}",
        "zh": "已解码 {count} 张输入图片：{summary}",
    },
    "emulator.log.style": {
        "en": "Style: {style} (emulated filters, not Kling)",
        "zh": "风格：{style}（模拟滤镜，并非 Kling）",
    },
    "emulator.log.plan": {
        "en": "Output: {count} × {width}×{height} {format} ({resolution}, aspect {aspect})",
        "zh": "输出：{count} × {width}×{height} {format}（{resolution}，宽高比 {aspect}）",
    },
    "emulator.log.rendering": {
        "en": "Rendering image {number}/{count}",
        "zh": "正在生成第 {number}/{count} 张图片",
    },
    "emulator.log.stored": {
        "en": "Stored {count} image(s); done.",
        "zh": "已保存 {count} 张图片；完成。",
    },
    "emulator.log.failed": {
        "en": "Request failed: {error}",
        "zh": "请求失败：{error}",
    },
    "emulator.log.cancel_stopped": {
        "en": "Cancellation requested; the request is stopped.",
        "zh": "已请求取消；该请求已停止。",
    },
    "emulator.log.cancel_signalled": {
        "en": "Cancellation requested while running: the runner was signalled, and this model app finishes the request anyway (it is billed).",
        "zh": "运行中收到取消请求：已通知运行器，但该模型应用仍会完成此请求（照常计费）。",
    },
    # --- hardening (issue 11) ----------------------------------------------------------------
    "config.key_bad_char": {
        "en": "{variable} has {char} at position {position}: an API key is printable ASCII without spaces or quotes (a copy from a web page or chat often adds such characters). Copy the key again as plain text.",
        "zh": "{variable} 在第 {position} 个字符处含有 {char}：API 密钥只能是可打印的 ASCII 字符，不含空格或引号（从网页或聊天复制时常会带入这类字符）。请以纯文本重新复制密钥。",
    },
    "config.host_changed": {
        "en": "kling_nb: the queue host changed from {old} to {new}, as asked.",
        "zh": "kling_nb：队列主机已按要求从 {old} 改为 {new}。",
    },
    "files.escape": {
        "en": "Refused a path outside {root}: {name!r} came from the server and would escape its folder. Nothing was written; report the server's answer to its operator.",
        "zh": "已拒绝 {root} 之外的路径：{name!r} 来自服务器，会逃出所在文件夹。未写入任何文件；请把服务器的回答报告给其运营方。",
    },
    "files.bad_request_id": {
        "en": "Refused to cache request id {value!r}: it is not a plain name (letters, digits, '._-', at most {limit} characters), so it cannot name a folder safely. The job's images were not cached; its journal row keeps the URLs.",
        "zh": "已拒绝缓存请求 ID {value!r}：它不是简单名称（仅字母、数字、'._-'，最多 {limit} 个字符），不能安全地用作文件夹名。该任务的图片未缓存；日志行仍保留其 URL。",
    },
    "files.not_image": {
        "en": "Output image {index} is not a valid {content_type} ({size} bytes, starting {head!r}); nothing was written. The server or its CDN sent something else; try resume() again later.",
        "zh": "输出图片 {index} 不是有效的 {content_type}（{size} 字节，开头为 {head!r}）；未写入任何文件。服务器或其 CDN 返回了其他内容；请稍后再次调用 resume()。",
    },
    "save.exists": {
        "en": "Refused to save: {path} already holds a different image. Choose another folder or stem, or remove that file.",
        "zh": "拒绝保存：{path} 已存在另一张不同的图片。请换一个文件夹或文件名前缀，或删除该文件。",
    },
    "save.bad_stem": {
        "en": "stem = {value!r} is not a plain file name (letters, digits, '._-'). Give a name without folders, e.g. stem=\"cat\".",
        "zh": "stem = {value!r} 不是简单文件名（仅字母、数字、'._-'）。请给出不含文件夹的名称，例如 stem=\"cat\"。",
    },
    "save.unwritable": {
        "en": "Could not save to {path}: {detail}. Choose a folder you can write to, with free space.",
        "zh": "无法保存到 {path}：{detail}。请选择可写且有剩余空间的文件夹。",
    },
    "rule.image_not_regular_file": {
        "en": "{field} = {value!r} is {kind}, not a regular file; reading it could hang or never end. Pass an image file.",
        "zh": "{field} = {value!r} 是{kind}，不是普通文件；读取它可能卡住或永不结束。请传入图片文件。",
    },
    "rule.image_file_too_large": {
        "en": "{field} = {value!r} is {size}; the limit for an input file is {limit}. Pass an image (not a video or archive), or shrink it first.",
        "zh": "{field} = {value!r} 大小为 {size}；输入文件上限为 {limit}。请传入图片（而非视频或压缩包），或先缩小它。",
    },
    "rule.image_name_not_utf8": {
        "en": "{field}: the file name {value!r} is not valid UTF-8 (bytes in another encoding). Rename the file to a UTF-8 name.",
        "zh": "{field}：文件名 {value!r} 不是有效的 UTF-8（含其他编码的字节）。请将文件重命名为 UTF-8 名称。",
    },
    "journal.corrupt": {
        "en": "The journal {path} could not be read ({detail}); it was moved aside to {moved} and a new one started. Old jobs are in the moved file.",
        "zh": "日志 {path} 无法读取（{detail}）；已移至 {moved} 并新建日志。旧任务记录在被移走的文件中。",
    },
    "journal.bad_rows": {
        "en": "{count} journal row(s) could not be read and were skipped.",
        "zh": "有 {count} 行日志无法读取，已跳过。",
    },
    "journal.unreadable": {
        "en": "The journal {path} could not be read: {detail}. Check the file's permissions, or set KLING_NB_HOME to another folder.",
        "zh": "无法读取日志 {path}：{detail}。请检查文件权限，或将 KLING_NB_HOME 设为其他文件夹。",
    },
    "journal.limit_bad": {
        "en": "limit = {value!r} is not a whole number of rows. Give an integer, e.g. limit=50, or None for every row.",
        "zh": "limit = {value!r} 不是整数行数。请给出整数，例如 limit=50，或用 None 表示全部。",
    },
    "cli.out_not_folder": {
        "en": "--out {path} cannot be a results folder: {reason}. Give a folder (it is created if missing); nothing was submitted.",
        "zh": "--out {path} 不能作为结果文件夹：{reason}。请给出文件夹（不存在时会创建）；未提交任何任务。",
    },
    # --- classroom gateway (issue 20) --------------------------------------------------------
    "classroom.auth_missing": {
        "en": "No classroom token: send 'Authorization: Key <your token>' (set FAL_KEY to the token your teacher gave you, knc_…).",
        "zh": "缺少课堂令牌：请发送 'Authorization: Key <你的令牌>'（把 FAL_KEY 设为老师发给你的令牌，knc_…）。",
    },
    "classroom.auth_bad": {
        "en": "This token is not one of this class's: check FAL_KEY against the token your teacher gave you (it starts with knc_).",
        "zh": "该令牌不属于本课堂：请核对 FAL_KEY 是否为老师发给你的令牌（以 knc_ 开头）。",
    },
    "classroom.auth_revoked": {
        "en": "Your token was revoked by your teacher; ask them for a new one. Nothing was sent.",
        "zh": "你的令牌已被老师吊销，请向老师索取新令牌。未发送任何请求。",
    },
    "classroom.guess_limited": {
        "en": "Too many wrong tokens from {address}: wait {seconds} s, then check FAL_KEY.",
        "zh": "来自 {address} 的错误令牌过多：请等待 {seconds} 秒，然后检查 FAL_KEY。",
    },
    "classroom.teacher_bad": {
        "en": "That is not this class's teacher token (the one `kling-nb classroom serve` printed).",
        "zh": "这不是本课堂的教师令牌（即 `kling-nb classroom serve` 打印的那个）。",
    },
    "classroom.endpoint_only": {
        "en": "{endpoint} is not served here: this classroom gateway serves fal-ai/kling-image/o1 only.",
        "zh": "此处不提供 {endpoint}：本课堂网关只提供 fal-ai/kling-image/o1。",
    },
    "classroom.bad_request_id": {
        "en": "'{value}' is not a request id this gateway issues (36 characters: hex digits and dashes).",
        "zh": "'{value}' 不是本网关签发的请求 id（36 个字符：十六进制数字和短横线）。",
    },
    "classroom.bad_path": {
        "en": "The path '{value}' is refused: no '..', encoded slashes or dots, and at most {limit} characters.",
        "zh": "路径 '{value}' 被拒绝：不允许 '..'、编码的斜杠或点，且最多 {limit} 个字符。",
    },
    "classroom.not_found": {
        "en": "Request {request_id} not found (unknown id, or not one of yours).",
        "zh": "未找到请求 {request_id}（id 未知，或不是你的请求）。",
    },
    "classroom.not_here": {
        "en": "Nothing at {path}: this is a kling_nb classroom gateway (the queue is under /queue, the teacher's dashboard at /).",
        "zh": "{path} 处没有内容：这是 kling_nb 课堂网关（队列在 /queue 下，教师面板在 /）。",
    },
    "classroom.no_file": {
        "en": "No such result file.",
        "zh": "没有这个结果文件。",
    },
    "classroom.no_bundle": {
        "en": "This gateway uses a certificate of its own choosing (--cert) or plain HTTP: there is no bundle to give students.",
        "zh": "本网关使用自备证书（--cert）或纯 HTTP：没有需要发给学生的证书包。",
    },
    "classroom.body_too_large": {
        "en": "The request body is larger than {limit_mb} MB, this class's limit. Shrink the images (kling_nb does it for you). Nothing was sent.",
        "zh": "请求体超过本课堂上限 {limit_mb} MB。请缩小图片（kling_nb 会自动处理）。未发送任何请求。",
    },
    "classroom.webhook": {
        "en": "fal_webhook is not forwarded by the classroom gateway: poll the status instead (kling_nb and fal_client do). Nothing was sent.",
        "zh": "课堂网关不转发 fal_webhook：请改为轮询状态（kling_nb 和 fal_client 都会这样做）。未发送任何请求。",
    },
    "classroom.budget": {
        "en": "This request costs {cost} {currency} ({images} image(s) at {price} {currency}), but your budget has {left} {currency} left of {budget} {currency}. Ask for fewer images, or ask your teacher for a top-up. Nothing was sent.",
        "zh": "该请求费用为 {cost} {currency}（{images} 张，每张 {price} {currency}），但你的预算 {budget} {currency} 只剩 {left} {currency}。请减少张数，或请老师充值。未发送任何请求。",
    },
    "classroom.price_unknown": {
        "en": "The price of one image is not known to this class and you have a budget: your teacher must start the gateway with --price. Nothing was sent.",
        "zh": "本课堂不知道每张图片的价格，而你有预算限制：老师需要用 --price 启动网关。未发送任何请求。",
    },
    "classroom.budget_currency": {
        "en": "Your budget is in {currency}, but this class's price is in {price_currency}: ask your teacher to give your budget in {price_currency}. Nothing was sent.",
        "zh": "你的预算以 {currency} 计，而本课堂的价格以 {price_currency} 计：请老师以 {price_currency} 设置你的预算。未发送任何请求。",
    },
    "classroom.too_many_jobs": {
        "en": "You have {active} job(s) running; the limit is {limit} per student. Wait for one to finish (or cancel it). Nothing was sent.",
        "zh": "你已有 {active} 个任务在运行，每名学生的上限为 {limit} 个。请等待其中一个完成（或取消它）。未发送任何请求。",
    },
    "classroom.upstream_unreachable": {
        "en": "The class's service ({upstream}) cannot be reached ({detail}); nothing was sent and nothing charged. Try again later, or tell your teacher.",
        "zh": "无法连接本课堂的服务（{upstream}）（{detail}）；未发送任何请求，也未计费。请稍后重试，或告诉老师。",
    },
    "classroom.upstream_key": {
        "en": "The class's service ({upstream}) refused the teacher's key (HTTP {status}); nothing was charged. Tell your teacher.",
        "zh": "本课堂的服务（{upstream}）拒绝了老师的 Key（HTTP {status}）；未计费。请告诉老师。",
    },
    "classroom.upstream_refused": {
        "en": "The class's service ({upstream}) refused the request (HTTP {status}): {detail}. Nothing was charged.",
        "zh": "本课堂的服务（{upstream}）拒绝了请求（HTTP {status}）：{detail}。未计费。",
    },
    "classroom.submit_unknown": {
        "en": "The class's service ({upstream}) was sent this job but its answer was lost ({detail}): the job may exist and be billed. It was not resent; it counts against your budget ({cost}) and your teacher sees it as 'unknown'.",
        "zh": "本课堂的服务（{upstream}）已收到该任务，但回复丢失（{detail}）：任务可能已创建并计费。网关没有重发；它计入你的预算（{cost}），老师会看到它标记为“未知”。",
    },
    "classroom.upstream_down": {
        "en": "The class's service ({upstream}) did not answer ({detail}). Try again in a moment.",
        "zh": "本课堂的服务（{upstream}）没有响应（{detail}）。请稍后再试。",
    },
    "classroom.lost": {
        "en": "The class's service ({upstream}) no longer knows this job (it answered 404: its result expired, or an emulator was restarted). It counts against your budget; tell your teacher.",
        "zh": "本课堂的服务（{upstream}）已不认识该任务（返回 404：结果已过期，或模拟器已重启）。它计入你的预算；请告诉老师。",
    },
    "classroom.not_yet": {
        "en": "Request {request_id} has no result yet: poll its status_url until COMPLETED, then fetch the result.",
        "zh": "请求 {request_id} 还没有结果：请轮询其 status_url 直到 COMPLETED，再获取结果。",
    },
    "classroom.cancel_unsupported": {
        "en": "The class's service ({upstream}) did not accept the cancel (HTTP {status}: {detail}): the job keeps running and is charged to your budget.",
        "zh": "本课堂的服务（{upstream}）没有接受取消（HTTP {status}：{detail}）：任务会继续运行，并计入你的预算。",
    },
    "classroom.internal": {
        "en": "The classroom gateway failed ({detail}); your teacher's log has the details.",
        "zh": "课堂网关出错（{detail}）；详情见老师的日志。",
    },
    "classroom.orphan_note": {
        "en": "the gateway stopped before this submit was answered: it may exist upstream and be billed; never resent",
        "zh": "网关在该提交得到回复前停止：它可能已在上游创建并计费；没有重发",
    },
    "classroom.bad_name": {
        "en": "'{name}' cannot be a student's name: use 1–{limit} letters, digits, '.', '-' or '_' (no spaces; it must not start with '-').",
        "zh": "'{name}' 不能作为学生姓名：请用 1–{limit} 个字母、数字、'.'、'-' 或 '_'（不能有空格，不能以 '-' 开头）。",
    },
    "classroom.name_taken": {
        "en": "The class already has a student called '{name}'; choose another name (or `kling-nb classroom revoke {name}` first, then add another name).",
        "zh": "本课堂已有名为 '{name}' 的学生；请换一个名字（或先执行 `kling-nb classroom revoke {name}` 再添加别的名字）。",
    },
    "classroom.no_such_student": {
        "en": "No student called '{name}' in this class (students: {known}). `kling-nb classroom list` shows them all.",
        "zh": "本课堂没有名为 '{name}' 的学生（学生：{known}）。`kling-nb classroom list` 可列出全部学生。",
    },
    "classroom.no_cap": {
        "en": "{name} has no budget cap, so there is nothing to top up.",
        "zh": "{name} 没有预算上限，无需充值。",
    },
    "classroom.currency_mismatch": {
        "en": "{name}'s budget is in {theirs} and part of it is spent: a top-up must be in {theirs} too, not {currency}.",
        "zh": "{name} 的预算以 {theirs} 计且已有花费：充值也必须以 {theirs} 计，而不是 {currency}。",
    },
    "classroom.bad_amount": {
        "en": "{variable} = '{value}' is not an amount: write it like '1 USD', '5 CNY', '$0.5'{none}.",
        "zh": "{variable} = '{value}' 不是金额：请写成 '1 USD'、'5 CNY'、'$0.5' 这样的形式{none}。",
    },
    "classroom.amount_none": {
        "en": " or 'none' (no cap)",
        "zh": "，或 'none'（不设上限）",
    },
    "classroom.amount_positive": {
        "en": "{variable} = '{value}' must be more than 0.",
        "zh": "{variable} = '{value}' 必须大于 0。",
    },
    "classroom.upstream_unknown": {
        "en": "--upstream {value} is not one this gateway knows: use one of {known}.",
        "zh": "网关不认识 --upstream {value}：请使用 {known} 之一。",
    },
    "classroom.key_missing": {
        "en": "The {kind} upstream needs the teacher's key in {variable}, which is not set. Set it in the shell that runs `serve` (it never reaches a student).",
        "zh": "{kind} 上游需要老师的 Key（{variable}），但它未设置。请在运行 `serve` 的终端中设置（它永远不会到达学生）。",
    },
    "classroom.price_needed": {
        "en": '{count} student(s) have a budget ({names}…) but the price of one image on this upstream is unknown: start with --price, e.g. --price "0.2 CNY" (your price per output image).',
        "zh": '有 {count} 名学生设有预算（{names}…），但该上游每张图片的价格未知：请用 --price 启动，例如 --price "0.2 CNY"（每张输出图片的价格）。',
    },
    "classroom.currency_start": {
        "en": '{count} student budget(s) are not in {currency}, the price\'s currency: {names}. Give them budgets in {currency} (`kling-nb classroom top-up NAME "5 {currency}"` replaces a budget nothing was spent from).',
        "zh": '有 {count} 名学生的预算不是以价格的币种 {currency} 计：{names}。请以 {currency} 设置预算（对尚无花费的学生，`kling-nb classroom top-up NAME "5 {currency}"` 会替换其预算）。',
    },
    "classroom.public_url": {
        "en": "--public-url {url} must be an https:// address (fal_client only speaks https): the address of your TLS reverse proxy.",
        "zh": "--public-url {url} 必须是 https:// 地址（fal_client 只支持 https）：即你的 TLS 反向代理的地址。",
    },
    "classroom.port_busy": {
        "en": "Cannot serve on {host}:{port} ({error}): another program uses that port, or the address is not this machine's. Choose another --port (0 picks a free one) or --host.",
        "zh": "无法在 {host}:{port} 上提供服务（{error}）：该端口已被其他程序占用，或该地址不属于本机。请换一个 --port（0 表示自动选择空闲端口）或 --host。",
    },
    "classroom.cert_pair": {
        "en": "--cert and --key go together: give both (your certificate and its private key), or neither (the gateway makes its own).",
        "zh": "--cert 与 --key 必须同时给出（你的证书及其私钥），或都不给（网关自行生成证书）。",
    },
    "classroom.cert_missing": {
        "en": "{path} is not a readable file; --cert and --key name PEM files.",
        "zh": "{path} 不是可读文件；--cert 和 --key 应指向 PEM 文件。",
    },
    "classroom.tls_renewed": {
        "en": "The gateway's addresses changed ({names}): it made a new certificate, so students need the new bundle (SSL_CERT_FILE).",
        "zh": "网关地址已变化（{names}）：已生成新证书，学生需要使用新的证书包（SSL_CERT_FILE）。",
    },
    "classroom.folder_busy": {
        "en": "Another classroom gateway is serving {folder} right now; stop it first, or give this one another --dir.",
        "zh": "另一个课堂网关正在使用 {folder}；请先停止它，或为本网关指定其他 --dir。",
    },
    "classroom.did_not_start": {
        "en": "The classroom gateway did not start (see the log above).",
        "zh": "课堂网关未能启动（见上方日志）。",
    },
    "classroom.serving": {
        "en": "kling_nb classroom: {students} student(s) in {folder}; upstream {upstream} at {host} (profile {profile}), {price}; at most {max_jobs} job(s) at once per student. Ctrl-C stops.",
        "zh": "kling_nb 课堂：{folder} 中有 {students} 名学生；上游 {upstream}，地址 {host}（profile {profile}），{price}；每名学生同时最多 {max_jobs} 个任务。按 Ctrl-C 停止。",
    },
    "classroom.price_line": {
        "en": "{amount} {currency} per output image ({source})",
        "zh": "每张输出图片 {amount} {currency}（{source}）",
    },
    "classroom.price_none": {
        "en": "price unknown (no budgets can be kept)",
        "zh": "价格未知（无法执行预算）",
    },
    "classroom.emulated_note": {
        "en": ", emulated: nothing is billed",
        "zh": "，模拟器：不产生任何费用",
    },
    "classroom.teacher_new": {
        "en": "Teacher dashboard (the token in this link is shown once; keep it): {url}",
        "zh": "教师面板（链接中的令牌只显示这一次，请妥善保存）：{url}",
    },
    "classroom.teacher_kept": {
        "en": "Teacher dashboard: {url} (with the teacher token printed when it was made; --new-teacher-token makes a new one).",
        "zh": "教师面板：{url}（使用创建时打印的教师令牌；--new-teacher-token 可生成新令牌）。",
    },
    "classroom.bundle_line": {
        "en": "Give students the CA bundle {bundle} (also at {url}/_classroom/bundle.pem) as SSL_CERT_FILE, with their token as FAL_KEY.",
        "zh": "请把 CA 证书包 {bundle}（也可从 {url}/_classroom/bundle.pem 下载）作为 SSL_CERT_FILE 发给学生，并把各自的令牌作为 FAL_KEY。",
    },
    "classroom.own_cert_line": {
        "en": "Students need only their token as FAL_KEY if your certificate is publicly trusted; otherwise give them your CA bundle as SSL_CERT_FILE.",
        "zh": "如果你的证书是公共受信任的，学生只需把令牌设为 FAL_KEY；否则还需把你的 CA 证书包作为 SSL_CERT_FILE 发给他们。",
    },
    "classroom.plain_http": {
        "en": "!!! PLAIN HTTP: nothing between students and this gateway is encrypted (tokens travel in clear), and fal_client only speaks https. Serve it only behind your own TLS reverse proxy on this machine, and give students the proxy's address (--public-url). !!!",
        "zh": "!!! 纯 HTTP：学生与本网关之间的通信未加密（令牌以明文传输），且 fal_client 只支持 https。请只在本机你自己的 TLS 反向代理之后使用，并把代理地址（--public-url）发给学生。!!!",
    },
    "classroom.orphans": {
        "en": "{count} submit(s) the last run left unanswered are now 'unknown' (never resent): see `kling-nb classroom report`.",
        "zh": "上次运行遗留的 {count} 个未获回复的提交现标记为“未知”（没有重发）：见 `kling-nb classroom report`。",
    },
    "classroom.added": {
        "en": "Added {count} student(s), budget {budget} each. Each token is shown only now: hand it to its student (as FAL_KEY).",
        "zh": "已添加 {count} 名学生，每人预算 {budget}。令牌只显示这一次：请发给对应学生（作为 FAL_KEY）。",
    },
    "classroom.no_budget": {
        "en": "no cap",
        "zh": "不设上限",
    },
    "classroom.student_line": {
        "en": "{name}: budget {budget}, spent {spent}, left {left}",
        "zh": "{name}：预算 {budget}，已花费 {spent}，剩余 {left}",
    },
    "classroom.revoked": {
        "en": "{name}: revoked; the token stops working with the next request.",
        "zh": "{name}：已吊销；从下一个请求起该令牌失效。",
    },
    "classroom.list_columns": {
        "en": "name|budget|spent|left|jobs|active|revoked",
        "zh": "姓名|预算|已花费|剩余|任务|进行中|已吊销",
    },
    "classroom.report_columns": {
        "en": "name|budget|spent|left|jobs|completed|unknown/lost|refusals|revoked",
        "zh": "姓名|预算|已花费|剩余|任务|已完成|未知/丢失|被拒绝|已吊销",
    },
    "classroom.report_total": {
        "en": "Total spent: {spent}; {jobs} job(s), {refusals} refusal(s).",
        "zh": "总花费：{spent}；任务 {jobs} 个，被拒绝 {refusals} 次。",
    },
    "classroom.report_unknown": {
        "en": "Jobs whose outcome is unknown (charged; check them with your provider): {ids}",
        "zh": "结果未知的任务（已计费；请向服务商核实）：{ids}",
    },
    "classroom.empty": {
        "en": 'The class at {folder} has no students yet: `kling-nb classroom add NAME… --budget "1 USD"`.',
        "zh": '{folder} 的课堂还没有学生：`kling-nb classroom add NAME… --budget "1 USD"`。',
    },
    "classroom.collected": {
        "en": "Collected {files} picture(s) of {jobs} job(s) into {out} (manifest.csv lists them).",
        "zh": "已将 {jobs} 个任务的 {files} 张图片收集到 {out}（manifest.csv 中有清单）。",
    },
    "classroom.join_http": {
        "en": "{url} is plain http, but fal_client only speaks https: use the https address your teacher gave you.",
        "zh": "{url} 是纯 http，而 fal_client 只支持 https：请使用老师给你的 https 地址。",
    },
    "classroom.join_url_missing": {
        "en": 'token= and ca_bundle= belong to a classroom: pass classroom= too (the gateway\'s address your teacher gave), e.g. connect(classroom="https://192.168.1.10:8443", token=…).',
        "zh": 'token= 和 ca_bundle= 用于课堂：请同时传入 classroom=（老师给的网关地址），例如 connect(classroom="https://192.168.1.10:8443", token=…)。',
    },
    "classroom.join_token": {
        "en": "connect(classroom=…) needs token= (the token your teacher gave you, knc_…), or FAL_KEY set to it.",
        "zh": "connect(classroom=…) 需要 token=（老师发给你的令牌，knc_…），或把 FAL_KEY 设为该令牌。",
    },
    "classroom.join_unreachable": {
        "en": "Cannot reach the classroom gateway at {url}: {detail}. Check the address your teacher gave (and that you are on the class network).",
        "zh": "无法连接课堂网关 {url}：{detail}。请检查老师给的地址（以及你是否在课堂网络中）。",
    },
    "classroom.join_tls": {
        "en": "The classroom gateway at {url} has a certificate this machine does not trust: pass ca_bundle= (or set SSL_CERT_FILE to) the bundle your teacher gave you.",
        "zh": "课堂网关 {url} 的证书不受本机信任：请传入 ca_bundle=（或把 SSL_CERT_FILE 设为）老师给你的证书包。",
    },
    "classroom.join_refused": {
        "en": "The classroom gateway at {url} refused the token (HTTP {status}): {detail}",
        "zh": "课堂网关 {url} 拒绝了该令牌（HTTP {status}）：{detail}",
    },
    "classroom.join_not_gateway": {
        "en": "{url} answered, but not as a kling_nb classroom gateway (HTTP {status}); check the address your teacher gave.",
        "zh": "{url} 有响应，但不是 kling_nb 课堂网关（HTTP {status}）；请检查老师给的地址。",
    },
    "connect.classroom": {
        "en": "kling_nb → classroom gateway {host} as {student} (upstream: {upstream}; {budget}).",
        "zh": "kling_nb → 课堂网关 {host}，身份 {student}（上游：{upstream}；{budget}）。",
    },
    "classroom.join_budget": {
        "en": "{left} {currency} of {budget} {currency} left",
        "zh": "预算 {budget} {currency}，剩余 {left} {currency}",
    },
    "classroom.join_no_budget": {
        "en": "no budget cap",
        "zh": "无预算上限",
    },
    # --- panel (issue 12) --------------------------------------------------------------------
    "rule.panel_not_text": {
        "en": "{field} = {value} is a {kind}; the panel needs text (a str). Give the prompt as a string.",
        "zh": "{field} = {value} 的类型是 {kind}；面板需要文本（str）。请以字符串给出提示词。",
    },
    "rule.panel_not_whole_number": {
        "en": "{field} = {value} is a {kind}; it must be a whole number (an int), e.g. 1. Give an int.",
        "zh": "{field} = {value} 的类型是 {kind}；它必须是整数（int），例如 1。请传入整数。",
    },
    "rule.panel_no_image": {
        "en": "{field} = {value!r}: the panel holds {count} image(s), numbered from 1. Use a number from 1 to {count}.",
        "zh": "{field} = {value!r}：面板中有 {count} 张图片，从 1 开始编号。请使用 1 到 {count} 之间的编号。",
    },
    "rule.panel_no_run": {
        "en": "{field} = {value!r}: this session has {count} run(s), numbered from 1 (panel.history lists them). Use one of those numbers.",
        "zh": "{field} = {value!r}：本次会话有 {count} 次运行，从 1 开始编号（panel.history 列出全部）。请使用其中的编号。",
    },
    "panel.inputs_count": {"en": "{count} input(s)", "zh": "{count} 张输入"},
    "panel.price": {"en": "≈ {price}", "zh": "约 {price}"},
    "panel.seconds": {"en": "{value:.1f} s", "zh": "{value:.1f} 秒"},
    "panel.backend_emulator": {"en": "emulator", "zh": "模拟器"},
    "panel.backend_Qiniu": {"en": "Qiniu", "zh": "七牛"},
    "panel.backend_fal": {"en": "fal", "zh": "fal"},
    "panel.backend_local": {"en": "emulator", "zh": "模拟器"},
    "panel.backend_qiniu": {"en": "Qiniu", "zh": "七牛"},
    "panel.repr": {
        "en": "<EditPanel {backend}: {images} image(s), {runs} run(s), {status}>",
        "zh": "<EditPanel {backend}：{images} 张图片，{runs} 次运行，{status}>",
    },
    "panel.wait_timeout": {
        "en": "Run #{number} is still going after {timeout} s. Call wait() again to keep waiting, or cancel() to stop it (on the server too).",
        "zh": "第 {number} 次运行在 {timeout} 秒后仍未结束。可再次调用 wait() 继续等待，或调用 cancel() 停止（服务端也会停止）。",
    },
    "panel.jstate_submitting": {"en": "submitting", "zh": "提交中"},
    "panel.jstate_queued": {"en": "queued", "zh": "排队中"},
    "panel.jstate_running": {"en": "running", "zh": "运行中"},
    "panel.jstate_downloading": {"en": "downloading", "zh": "下载中"},
    "panel.jstate_completed": {"en": "done", "zh": "完成"},
    "panel.jstate_failed": {"en": "failed", "zh": "失败"},
    "panel.jstate_cancelled": {"en": "cancelled", "zh": "已取消"},
    "panel.jstate_rejected": {"en": "rejected", "zh": "被拒绝"},
    "panel.jstate_unknown": {"en": "outcome unknown", "zh": "结果未知"},
    "panel.code_connect_auto": {
        "en": "auto: Qiniu if QINIU_API_KEY, fal if FAL_KEY, else emulator",
        "zh": "自动：有 QINIU_API_KEY 用七牛，有 FAL_KEY 用 fal，否则用模拟器",
    },
    "panel.code_connect_local": {
        "en": "the offline emulator: free, pictures are not Kling's",
        "zh": "离线模拟器：免费，图片并非 Kling 生成",
    },
    "panel.code_connect_qiniu": {
        "en": "key from QINIU_API_KEY; billed per image",
        "zh": "密钥取自 QINIU_API_KEY；按张计费",
    },
    "panel.code_connect_fal": {
        "en": "key from FAL_KEY; billed per image",
        "zh": "密钥取自 FAL_KEY；按张计费",
    },
    "panel.journal_no_row": {
        "en": "The journal has no row {id}. kling_nb.history() lists its rows.",
        "zh": "日志中没有第 {id} 行。kling_nb.history() 会列出所有记录。",
    },
    "panel.code_connect_custom": {
        "en": "the fal-compatible queue at FAL_QUEUE_RUN_HOST={host}",
        "zh": "FAL_QUEUE_RUN_HOST={host} 处的 fal 兼容队列",
    },
    "panel.code_add_image": {"en": "add an image", "zh": "请添加图片"},
    "panel.code_gallery": {
        "en": 'a gallery; result.save("kling_outputs")',
        "zh": '显示为图库；result.save("kling_outputs") 保存',
    },
    "panel.code_guide": {
        "en": "The same request as the guide writes it: a plain dict and run_fal_task.",
        "zh": "与指南写法相同的请求：普通字典加 run_fal_task。",
    },
    "panel.code_data_uri": {
        "en": "kling_nb sends local files as data: URIs",
        "zh": "kling_nb 会把本地文件以 data: URI 发送",
    },
    "panel.code_object": {
        "en": "{label}: an object given to the panel (pass the same object)",
        "zh": "{label}：交给面板的对象（请传入同一个对象）",
    },
    "config.profile_unknown": {
        "en": "{variable} = {value!r} is not a service profile. Use one of: {known} (qiniu for Qiniu's gateway, fal for fal's schema, plain for the protocol as written).",
        "zh": "{variable} = {value!r} 不是服务配置。请使用其中之一：{known}（qiniu 表示七牛网关，fal 表示 fal 的 schema，plain 表示协议本身）。",
    },
    # --- the panel: honest stops and collect, compare off the loop, a region's place (issues 21, 17, 19)
    "panel.stopped": {
        "en": "Run #{number}: the panel stopped waiting.",
        "zh": "第 {number} 次运行：面板已停止等待。",
    },
    "panel.stopped_requested": {
        "en": "stopped waiting — cancel asked, not confirmed: may still be billed",
        "zh": "已停止等待——已请求取消但未确认：仍可能计费",
    },
    "panel.stopped_unsupported": {
        "en": "stopped waiting — not cancelled (the service cannot): runs on, billed",
        "zh": "已停止等待——未取消（服务不支持取消）：任务继续运行并计费",
    },
    "panel.stopped_failed": {
        "en": "stopped waiting — the cancel did not get through: may still be billed",
        "zh": "已停止等待——取消请求未送达：仍可能计费",
    },
    "panel.stopped_too_late": {
        "en": "stopped waiting — it had already finished: billed, pictures kept",
        "zh": "已停止等待——任务已完成：已计费，图片已保留",
    },
    "panel.stopped_confirmed": {
        "en": "cancelled, not billed",
        "zh": "已取消，不计费",
    },
    "panel.state_collected": {"en": "done (collected)", "zh": "完成（已取回）"},
    "panel.collecting": {"en": "collecting…", "zh": "正在取回…"},
    "panel.collect": {"en": "Collect", "zh": "取回"},
    "panel.collect_tooltip": {
        "en": "Fetch the pictures of a run stopped without a confirmed cancel (kling_nb.resume), once its job finishes",
        "zh": "取回未确认取消的已停止运行的图片（kling_nb.resume），任务完成后即可取回",
    },
    "panel.collect_hint": {
        "en": "“Collect” (under this session's runs) fetches its pictures here.",
        "zh": "也可点击「本次会话的运行记录」下的「取回」，在这里取回图片。",
    },
    "panel.collect_started": {
        "en": "Collecting run #{number} (request {request_id}): its pictures appear here once the job finishes.",
        "zh": "正在取回第 {number} 次运行（请求 {request_id}）：任务完成后图片会显示在这里。",
    },
    "panel.collected": {
        "en": "Run #{number} collected: {count} picture(s), paid for and now on show.",
        "zh": "已取回第 {number} 次运行：{count} 张图片（已计费），现已显示。",
    },
    "panel.collect_failed": {
        "en": "Collecting run #{number} failed: {detail} It can be collected again later.",
        "zh": "取回第 {number} 次运行失败：{detail} 稍后可以再次取回。",
    },
    "panel.comparing": {
        "en": "Preparing the before/after picture…",
        "zh": "正在生成前后对比图…",
    },
    "panel.compare_failed": {
        "en": "The before/after picture could not be made: {detail}",
        "zh": "无法生成前后对比图：{detail}",
    },
    "panel.region": {"en": "Region of image 1", "zh": "图片 1 的编辑区域"},
    "panel.region_none": {
        "en": "No region: the whole picture is edited.",
        "zh": "未选区域：编辑整张图片。",
    },
    "panel.region_box": {
        "en": "Region {box} (left, top, right, bottom in image 1's pixels): only this part is edited.",
        "zh": "区域 {box}（图片 1 像素坐标：左、上、右、下）：只编辑这一部分。",
    },
    "panel.region_clear": {"en": "Clear region", "zh": "清除区域"},
    "panel.region_cleared": {
        "en": "The region was cleared: image 1 is another picture now.",
        "zh": "区域已清除：图片 1 已换成另一张图片。",
    },
    "panel.region_short": {"en": "region", "zh": "区域"},
    "panel.code_region": {
        "en": "left, top, right, bottom in image_1's pixels",
        "zh": "image_1 的像素坐标：左、上、右、下",
    },
    "panel.code_region_guide": {
        "en": "region= is kling_nb's own (crop, edit, paste back): this call edits the whole picture",
        "zh": "region= 是 kling_nb 自己的功能（裁剪、编辑、贴回）：下面的调用会编辑整张图片",
    },
    "rule.panel_region_shape": {
        "en": "{field} = {value}: give four whole numbers (left, top, right, bottom) in reference image 1's pixels, or None to edit the whole picture.",
        "zh": "{field} = {value}：请给出四个整数（左、上、右、下，参考图 1 的像素坐标），或 None 表示编辑整张图片。",
    },
    "rule.panel_region_no_image": {
        "en": "{field} = {value}: there is no reference image 1 to mark a region on yet. Add an image first.",
        "zh": "{field} = {value}：还没有参考图 1，无法标出区域。请先添加图片。",
    },
    "rule.panel_region_outside": {
        "en": "{field} = {value} is not a box inside image 1 ({width}×{height} px): it needs 0 ≤ left < right ≤ {width} and 0 ≤ top < bottom ≤ {height}.",
        "zh": "{field} = {value} 不是图片 1（{width}×{height} 像素）内的矩形：需要 0 ≤ 左 < 右 ≤ {width} 且 0 ≤ 上 < 下 ≤ {height}。",
    },
    "rule.panel_not_collectable": {
        "en": "{field} = {value}: that run has nothing to collect ({state}). Only a run stopped without a confirmed cancel can be collected.",
        "zh": "{field} = {value}：该运行没有可取回的内容（{state}）。只有未确认取消而停止的运行才能取回。",
    },
    # --- region edits and the drift meter (issue 19: _region, _photo, _drift, panel/region) ---
    "region.type": {
        "en": 'region = {value} is neither a box nor a mask. Pass (left, top, right, bottom) in pixels of the photo as shown, a PIL "L" image, or the path of a mask picture (white = edit).',
        "zh": 'region = {value} 既不是框也不是蒙版。请传入照片（按显示方向）中的像素坐标 (left, top, right, bottom)、PIL "L" 图像，或蒙版图片的路径（白色 = 要修改）。',
    },
    "region.box_length": {
        "en": "region has {count} numbers; a box has 4: (left, top, right, bottom) in pixels, e.g. region=(120, 80, 900, 640).",
        "zh": "region 有 {count} 个数，框需要 4 个：像素坐标 (left, top, right, bottom)，例如 region=(120, 80, 900, 640)。",
    },
    "region.box_number": {
        "en": "{field} = {value} is not a number of pixels. Use numbers, e.g. region=(120, 80, 900, 640).",
        "zh": "{field} = {value} 不是像素数。请使用数字，例如 region=(120, 80, 900, 640)。",
    },
    "region.box_negative": {
        "en": "{field} = {value} is negative; pixels count from 0 at the photo's top-left corner. Use 0 or more.",
        "zh": "{field} = {value} 为负数；像素从照片左上角的 0 开始计数。请使用 0 或更大的值。",
    },
    "region.box_inverted": {
        "en": "region has {low_name} = {low} and {high_name} = {high}: the box is empty or inverted ({low_name} must be less than {high_name}). Give (left, top, right, bottom), e.g. (120, 80, 900, 640).",
        "zh": "region 的 {low_name} = {low}、{high_name} = {high}：框为空或上下/左右颠倒（{low_name} 必须小于 {high_name}）。请按 (left, top, right, bottom) 给出，例如 (120, 80, 900, 640)。",
    },
    "region.box_outside": {
        "en": "region {box} reaches past the photo: {side} = {value}, but the photo is {width}×{height} as shown, so {side} can be at most {limit}. Keep the box within (0, 0, {width}, {height}).",
        "zh": "region {box} 超出了照片：{side} = {value}，而照片按显示方向为 {width}×{height}，{side} 最大为 {limit}。请让框位于 (0, 0, {width}, {height}) 之内。",
    },
    "region.box_outside_turned": {
        "en": "region {box} reaches past the photo: {side} = {value}, but the photo is {width}×{height} as shown (its EXIF orientation turns the stored picture), so {side} can be at most {limit}. Give the box in the photo as it is shown, after rotation.",
        "zh": "region {box} 超出了照片：{side} = {value}，而照片按显示方向为 {width}×{height}（EXIF 方向信息会旋转存储的图像），{side} 最大为 {limit}。请按旋转后显示的照片给出框的坐标。",
    },
    "region.mask_size": {
        "en": "the mask is {mask_w}×{mask_h} but the photo is {width}×{height} as shown. A mask must be the photo's full size (masks are never scaled): draw it on the photo itself.",
        "zh": "蒙版为 {mask_w}×{mask_h}，而照片按显示方向为 {width}×{height}。蒙版必须与照片同尺寸（不会被缩放）：请在照片本身上绘制。",
    },
    "region.mask_size_turned": {
        "en": "the mask is {mask_w}×{mask_h}, the photo's stored size, but the photo is shown {width}×{height} (its EXIF orientation turns it). Draw the mask on the photo as it is shown, after rotation.",
        "zh": "蒙版为 {mask_w}×{mask_h}，是照片存储时的尺寸，但照片显示为 {width}×{height}（EXIF 方向信息会旋转它）。请在旋转后显示的照片上绘制蒙版。",
    },
    "region.mask_empty": {
        "en": "the mask ({width}×{height}) is all black: nothing to edit. Paint the part to edit white (128 or brighter counts as white).",
        "zh": "蒙版（{width}×{height}）全黑：没有要修改的部分。请把要修改的部分涂成白色（亮度 128 及以上视为白色）。",
    },
    "region.mask_unreadable": {
        "en": 'the mask {value} cannot be read: {reason} Use a PNG or a PIL "L" image the size of the photo.',
        "zh": '无法读取蒙版 {value}：{reason} 请使用与照片同尺寸的 PNG 或 PIL "L" 图像。',
    },
    "region.plan_json": {
        "en": "this is not a region plan kling_nb recorded ({reason}). Plan the edit again from the photo and the region.",
        "zh": "这不是 kling_nb 记录的区域方案（{reason}）。请根据照片和区域重新规划。",
    },
    "region.photo_small": {
        "en": "the photo is {width}×{height}; the service needs at least {limit} px on each side and a region edit crops from the photo. Enlarge the photo first (e.g. image.resize), or edit it whole.",
        "zh": "照片为 {width}×{height}；服务要求每边至少 {limit} 像素，而区域编辑是从照片中裁剪的。请先放大照片（例如 image.resize），或编辑整张照片。",
    },
    "region.no_crop": {
        "en": "no crop around region {box} fits the service's rules in this {width}×{height} photo: the region is {ratio}:1 and the service takes ratios up to {limit}:1, but the photo has no room to widen it. Choose a less elongated region, or edit the whole photo.",
        "zh": "在这张 {width}×{height} 的照片中，无法为区域 {box} 找到符合服务规则的裁剪：区域宽高比为 {ratio}:1，服务最多接受 {limit}:1，而照片没有空间把它扩展开。请选择不那么狭长的区域，或编辑整张照片。",
    },
    "region.margin": {
        "en": "margin = {value} is out of range: it is the context kept around the box, as a fraction of its size on each side, from 0 to {limit} (default 0.25).",
        "zh": "margin = {value} 超出范围：它是框四周保留的上下文，按框尺寸的比例计算，取值 0 到 {limit}（默认 0.25）。",
    },
    "region.resolution": {
        "en": "resolution = {value} is not available for a region edit here. Use one of: {allowed}, or leave it out and kling_nb picks the one that does not shrink the crop.",
        "zh": "resolution = {value} 不能用于这里的区域编辑。可选：{allowed}；或不填写，由 kling_nb 选择不会缩小裁剪区域的分辨率。",
    },
    "region.feather": {
        "en": "feather = {value} is not a width in pixels from 0 to 1024. Leave it out for about 6 % of the region's shorter side.",
        "zh": "feather = {value} 不是 0 到 1024 之间的像素宽度。不填写时约为区域短边的 6%。",
    },
    "region.alpha": {
        "en": 'alpha = {value} is not allowed. Use "edit" (the region becomes opaque, as the model draws it) or "keep" (the photo\'s transparency is kept everywhere).',
        "zh": 'alpha = {value} 不是允许的取值。请使用 "edit"（区域变为不透明，与模型输出一致）或 "keep"（处处保留照片原有的透明度）。',
    },
    "region.photo_changed": {
        "en": "the photo is not the one this region edit was planned for: its sha256 starts {now}, the plan's {then}. Pass the original photo; the model's pictures are kept as they came (raw outputs).",
        "zh": "这张照片不是规划该区域编辑时所用的那张：其 sha256 以 {now} 开头，而方案记录的是 {then}。请传入原始照片；模型输出的图片已原样保留。",
    },
    "region.photo_changed_size": {
        "en": "the photo is {width}×{height} as shown, but this region edit was planned for {planned}. Pass the original photo.",
        "zh": "照片按显示方向为 {width}×{height}，但该区域编辑是按 {planned} 规划的。请传入原始照片。",
    },
    "region.output_unreadable": {
        "en": "a picture the model returned cannot be decoded ({reason}). It is kept as it came; run the edit again for a new one.",
        "zh": "模型返回的一张图片无法解码（{reason}）。它已原样保留；请重新编辑以获得新图片。",
    },
    "region.photo_mode": {
        "en": "{field} has pixel mode {mode}, which a region edit cannot keep exactly. Convert the photo to RGB (or 16-bit grey) first.",
        "zh": "{field} 的像素模式为 {mode}，区域编辑无法精确保留它。请先把照片转换为 RGB（或 16 位灰度）。",
    },
    "region.photo_tiff16": {
        "en": "{field} ({label}) is a 16-bit colour TIFF, which Pillow reads as 8-bit: its pixels could not be kept exactly. Save it as a 16-bit PNG (or an 8-bit TIFF) first.",
        "zh": "{field}（{label}）是 16 位彩色 TIFF，Pillow 会按 8 位读取，无法精确保留其像素。请先另存为 16 位 PNG（或 8 位 TIFF）。",
    },
    "region.plan_line": {
        "en": "region edit: crop {crop} at {at} sent at {resolution} {ratio}; feather {feather} px",
        "zh": "区域编辑：裁剪 {crop}（位于 {at}），以 {resolution} {ratio} 发送；羽化 {feather} 像素",
    },
    "drift.title": {"en": "drift of the whole picture", "zh": "整张图片的偏移"},
    "drift.title_region": {"en": "drift outside the region", "zh": "区域之外的偏移"},
    "drift.summary": {"en": "drift {delta_e:.1f} ΔE", "zh": "偏移 {delta_e:.1f} ΔE"},
    "drift.summary_region": {
        "en": "drift 0 px beyond the feather · {delta_e:.1f} ΔE outside",
        "zh": "羽化边缘之外 0 像素偏移 · 区域外 {delta_e:.1f} ΔE",
    },
    "drift.summary_leak": {
        "en": "drift {outside} px beyond the feather · {delta_e:.1f} ΔE outside",
        "zh": "羽化边缘之外 {outside} 像素偏移 · 区域外 {delta_e:.1f} ΔE",
    },
    "drift.line_outside": {
        "en": "pixels changed beyond the feather: {count} of {total} (exact, full resolution)",
        "zh": "羽化边缘之外被改变的像素：{total} 个中有 {count} 个（精确，全分辨率）",
    },
    "drift.line_ssim": {
        "en": "structural similarity (SSIM, luma): {ssim:.3f} (1 = unchanged)",
        "zh": "结构相似度（SSIM，亮度）：{ssim:.3f}（1 表示未改变）",
    },
    "drift.line_delta_e": {
        "en": "mean colour difference: {delta_e:.2f} ΔE00 (CIEDE2000; about 1 is just noticeable, above {threshold:g} is plain to see)",
        "zh": "平均色差：{delta_e:.2f} ΔE00（CIEDE2000；约 1 为刚可察觉，超过 {threshold:g} 一眼可见）",
    },
    "drift.line_changed": {
        "en": "visibly changed: {percent:.1f} % of the pixels",
        "zh": "明显改变：{percent:.1f}% 的像素",
    },
    "drift.line_stretched": {
        "en": "the input ({before}) was stretched to the output's frame ({after}) to compare: the figures include that reframing",
        "zh": "为便于比较，输入（{before}）被拉伸到输出的尺寸（{after}）：这些数字包含了这次重新取景",
    },
    "drift.line_frame": {
        "en": "colour measures taken at {frame} (reduced copies)",
        "zh": "色彩测量在 {frame} 的缩小副本上进行",
    },
    "drift.legend": {
        "en": "heat map: ΔE00 per pixel, dark = unchanged, light = {top:g} or more",
        "zh": "热力图：每个像素的 ΔE00，暗 = 未改变，亮 = {top:g} 及以上",
    },
    "region.widget_clear": {"en": "Clear", "zh": "清除"},
    "region.widget_empty": {
        "en": "no region: the whole picture is edited",
        "zh": "未选区域：将编辑整张图片",
    },
    "region.widget_hint": {
        "en": "Drag on the picture to draw the region to edit; drag inside it to move it, drag a handle to resize it.",
        "zh": "在图片上拖动以画出要修改的区域；在框内拖动可移动，拖动控制点可调整大小。",
    },
    "region.widget_fields_hint": {
        "en": "The region to edit, in pixels of the photo as shown: left, top, right, bottom (right and bottom excluded).",
        "zh": "要修改的区域，以照片（按显示方向）的像素计：left、top、right、bottom（不含 right 和 bottom）。",
    },
    # --- region edits in the pipeline, drift in results (issue 19, phase 2: _composites) ------
    "region.input_label": {
        "en": "{source} · {region}",
        "zh": "{source} · {region}",
    },
    "region.label_box": {"en": "region {box}", "zh": "区域 {box}"},
    "region.label_mask": {"en": "mask region in {box}", "zh": "蒙版区域（位于 {box}）"},
    "region.no_photo": {
        "en": 'a region edit changes part of image 1, but no image was given. Pass the photo as the first image: kling_nb.edit(prompt, "photo.jpg", region=(left, top, right, bottom)).',
        "zh": '区域编辑修改的是第 1 张图片的一部分，但没有提供图片。请把照片作为第一张图片传入：kling_nb.edit(prompt, "photo.jpg", region=(left, top, right, bottom))。',
    },
    "region.photo_array": {
        "en": "image 1 is a numpy array of shape {shape} that cannot be a photo for a region edit. Use H×W (grey) or H×W×3/4 (RGB/RGBA) uint8, or pass the photo's file.",
        "zh": "第 1 张图片是形状为 {shape} 的 numpy 数组，不能作为区域编辑的照片。请使用 uint8 的 H×W（灰度）或 H×W×3/4（RGB/RGBA），或直接传入照片文件。",
    },
    "region.original_gone": {
        "en": "the original photo of region edit {request_id} is no longer at {path} ({detail}), so its pictures cannot be pasted back; the model's pictures are kept in {folder}. Copy the same photo to {path} and call kling_nb.resume({request_id!r}).",
        "zh": "区域编辑 {request_id} 的原始照片已不在 {path}（{detail}），因此无法把结果贴回；模型生成的图片保存在 {folder}。请把同一张照片复制到 {path}，再调用 kling_nb.resume({request_id!r})。",
    },
    "region.original_gone@cli": {
        "en": "the original photo of region edit {request_id} is no longer at {path} ({detail}), so its pictures cannot be pasted back; the model's pictures are kept in {folder}. Copy the same photo to {path} and run `kling-nb resume {request_id}`.",
        "zh": "区域编辑 {request_id} 的原始照片已不在 {path}（{detail}），因此无法把结果贴回；模型生成的图片保存在 {folder}。请把同一张照片复制到 {path}，再运行 `kling-nb resume {request_id}`。",
    },
    "region.finish_failed": {
        "en": "job {request_id} finished, but pasting its pictures back into the photo failed: {detail} Nothing is lost: the model's pictures are cached and kling_nb.resume({request_id!r}) finishes it.",
        "zh": "任务 {request_id} 已完成，但把结果贴回照片时失败：{detail} 没有任何损失：模型生成的图片已缓存，kling_nb.resume({request_id!r}) 可以完成这一步。",
    },
    "region.finish_failed@cli": {
        "en": "job {request_id} finished, but pasting its pictures back into the photo failed: {detail} Nothing is lost: the model's pictures are cached and `kling-nb resume {request_id}` finishes it.",
        "zh": "任务 {request_id} 已完成，但把结果贴回照片时失败：{detail} 没有任何损失：模型生成的图片已缓存，`kling-nb resume {request_id}` 可以完成这一步。",
    },
    "region.saved_jpeg": {
        "en": "This JPEG was re-encoded as a whole (with the original's own quantization tables): JPEG cannot keep pixels as they were, so pixels may differ from the original by a few levels everywhere, also outside the region. save(..., lossless=True) writes a PNG whose pixels outside the region and its feather are the original's, bit for bit.",
        "zh": "该 JPEG 已整体重新编码（沿用原图的量化表）：JPEG 无法原样保留像素，因此各处像素（包括区域之外）都可能与原图相差几个色阶。save(..., lossless=True) 会写出 PNG，区域及其羽化边缘之外的像素与原图逐位相同。",
    },
    "region.saved_jpeg@cli": {
        "en": "This JPEG was re-encoded as a whole (with the original's own quantization tables): JPEG cannot keep pixels as they were, so pixels may differ from the original by a few levels everywhere, also outside the region. kling-nb edit --lossless writes a PNG whose pixels outside the region and its feather are the original's, bit for bit.",
        "zh": "该 JPEG 已整体重新编码（沿用原图的量化表）：JPEG 无法原样保留像素，因此各处像素（包括区域之外）都可能与原图相差几个色阶。kling-nb edit --lossless 会写出 PNG，区域及其羽化边缘之外的像素与原图逐位相同。",
    },
    "region.saved_lossy": {
        "en": "Saved as JPEG, which re-encodes the picture: pixels outside the region differ from the original by a few levels. Save it as .png to keep them bit for bit.",
        "zh": "已保存为 JPEG，这会重新编码图片：区域之外的像素会与原图相差几个色阶。保存为 .png 可逐位保留它们。",
    },
    "result.region": {
        "en": "{region} pasted back into the original · {drift}",
        "zh": "{region} 已贴回原图 · {drift}",
    },
    "result.region_drift": {
        "en": "drift outside it {values} ΔE, {leaked} px changed beyond the feather",
        "zh": "区域外偏移 {values} ΔE，羽化边缘之外改变了 {leaked} 个像素",
    },
    "drift.caption": {"en": "drift {delta_e:.1f} ΔE", "zh": "偏移 {delta_e:.1f} ΔE"},
    "drift.caption_leak": {
        "en": "drift {delta_e:.1f} ΔE · {outside} px leaked",
        "zh": "偏移 {delta_e:.1f} ΔE · 溢出 {outside} 像素",
    },
    "drift.caption_na": {"en": "drift n/a", "zh": "偏移 不可测"},
    "drift.caption_pending": {"en": "drift: measuring…", "zh": "偏移：测量中…"},
    "drift.no_input": {
        "en": "this edit had no input image: there is nothing to measure its drift against.",
        "zh": "这次编辑没有输入图片：没有可以对比偏移的对象。",
    },
    "drift.thumbnail_only": {
        "en": "this result was finished by resume(), and the journal keeps only a small thumbnail of input image 1: its drift cannot be measured faithfully. Measure it with result.drift() in the session that made it.",
        "zh": "该结果由 resume() 完成，日志中只保留了第 1 张输入图片的小缩略图：无法准确测量偏移。请在生成它的会话中用 result.drift() 测量。",
    },
    "drift.remote_input": {
        "en": "input image 1 is a web address ({url}), which kling_nb never downloads by itself: the drift cannot be measured offline. result.drift(fetch=True) fetches it once (and says so).",
        "zh": "第 1 张输入图片是网络地址（{url}），kling_nb 不会自行下载：无法离线测量偏移。result.drift(fetch=True) 会下载一次（并注明）。",
    },
    "drift.fetched": {
        "en": "input image 1 was fetched from {url} to be measured",
        "zh": "为测量而从 {url} 下载了第 1 张输入图片",
    },
    "region.widget_repr": {
        "en": "<region picker on a {width}×{height} photo: {box}>",
        "zh": "<区域选择器，照片 {width}×{height}：{box}>",
    },
    "region.widget_no_box": {"en": "no box drawn", "zh": "尚未画框"},
    "cli.region_bad": {
        "en": "{value!r} is not a region: give left,top,right,bottom in pixels of the photo as shown, e.g. --region 120,80,900,640",
        "zh": "{value!r} 不是有效区域：请按照片显示方向的像素给出 left,top,right,bottom，例如 --region 120,80,900,640",
    },
    # --- the EditPanel draws a region and shows drift (issue 19: panel/editor, views, runner) ---
    "panel.region_mark": {"en": "Mark a region on image 1", "zh": "在图片 1 上标出区域"},
    "panel.region_mark_tooltip": {
        "en": "Draw a box on image 1 with the mouse: only that part is edited, every other pixel is kept.",
        "zh": "用鼠标在图片 1 上画一个框：只编辑这一部分，其余像素保持不变。",
    },
    "panel.region_surface_preparing": {
        "en": "Preparing image 1 for drawing…",
        "zh": "正在准备图片 1 以便画框…",
    },
    "panel.region_surface_failed": {
        "en": "A region cannot be drawn on image 1: {detail}",
        "zh": "无法在图片 1 上画出区域：{detail}",
    },
    "panel.region_planning": {
        "en": "Working out what a Run will send…",
        "zh": "正在计算运行时将发送的内容…",
    },
    "panel.resolution_auto": {"en": "auto", "zh": "自动"},
    "panel.resolution_auto_tooltip": {
        "en": "auto: the region's plan picks the smallest resolution that does not shrink the crop (resolution=None).",
        "zh": "自动：由区域的方案选择不会缩小裁剪区域的最小分辨率（resolution=None）。",
    },
    "panel.drift_hint": {
        "en": "Drift: how much changed where the prompt did not ask (mean colour difference ΔE00 against image 1; for a region edit, outside the region). result.drift() gives the details.",
        "zh": "偏移：提示词没有要求的地方改变了多少（与图片 1 的平均色差 ΔE00；区域编辑则只算区域之外）。result.drift() 给出详细数字。",
    },
    # --- packaging and doctor (issues 14, 10) ------------------------------------------------
    "tutorials.missing": {
        "en": "The tutorials are not in this installation ({folder} is absent). Reinstall kling-nb from a wheel or the index (pip install kling-nb), or run from a clone of the repository.",
        "zh": "本次安装中没有教程（缺少 {folder}）。请从 wheel 或索引重新安装 kling-nb（pip install kling-nb），或在仓库的克隆中运行。",
    },
    "tutorials.unknown": {
        "en": "{value!r} is not a tutorial. Use one of: {names} (or the path of a .ipynb file).",
        "zh": "{value!r} 不是教程名。可选：{names}（或某个 .ipynb 文件的路径）。",
    },
    "tutorials.folder": {
        "en": "Cannot copy the tutorials into {folder}: {reason}. Choose a folder you can write to with --dir.",
        "zh": "无法把教程复制到 {folder}：{reason}。请用 --dir 选择一个可写的文件夹。",
    },
    "tutorials.copied": {
        "en": "kling_nb → {count} tutorial(s) copied to {folder}",
        "zh": "kling_nb → 已将 {count} 个教程复制到 {folder}",
    },
    "tutorials.offered": {
        "en": "kling_nb → you changed some tutorials, so they are kept; the packaged versions are beside them: {names}",
        "zh": "kling_nb → 你修改过的教程保持不变；新版教程放在旁边：{names}",
    },
    "tutorials.opening": {
        "en": "kling_nb → opening {notebook} from {folder} in JupyterLab; the address it prints opens the tutorial directly.",
        "zh": "kling_nb → 正在用 JupyterLab 打开 {folder} 中的 {notebook}；它打印的地址会直接打开该教程。",
    },
    "tutorials.no_jupyterlab": {
        "en": 'JupyterLab is not installed, so kling-nb lab cannot open the tutorials. Install it: pip install "kling-nb[lab]".',
        "zh": 'JupyterLab 未安装，kling-nb lab 无法打开教程。请安装：pip install "kling-nb[lab]"。',
    },
    "doctor.title": {
        "en": "kling_nb doctor · {backend} · {host}",
        "zh": "kling_nb 体检 · {backend} · {host}",
    },
    "doctor.no_key": {
        "en": "No key: set QINIU_API_KEY (Qiniu AIToken) or FAL_KEY (fal.ai), or pass key=. Without one kling_nb uses the offline emulator.",
        "zh": "没有密钥：请设置 QINIU_API_KEY（七牛 AIToken）或 FAL_KEY（fal.ai），或传入 key=。没有密钥时 kling_nb 使用离线模拟器。",
    },
    "doctor.reachable": {
        "en": "{netloc} reachable ({ms} ms).",
        "zh": "{netloc} 可以连通（{ms} ms）。",
    },
    "doctor.reachable_no_tls": {
        "en": "{netloc} answers, but the secure connection could not be set up.",
        "zh": "{netloc} 有应答，但无法建立安全连接。",
    },
    "doctor.unreachable": {
        "en": "Cannot reach {netloc}: {reason}. Check {origin}, the network and any proxy; kling_nb cannot submit until it answers.",
        "zh": "无法连接 {netloc}：{reason}。请检查{origin}、网络和代理；连通之前 kling_nb 无法提交任务。",
    },
    "doctor.no_answer": {
        "en": "{netloc} took the connection but did not answer within {seconds:g} s: the service or a gateway is overloaded or stuck. Try again later; kling_nb's waits end at their deadline either way.",
        "zh": "{netloc} 接受了连接但没有在 {seconds:g} 秒内应答：服务或网关过载或卡住。请稍后再试；kling_nb 的等待无论如何都会在截止时间结束。",
    },
    "doctor.tls_ok": {"en": "TLS certificate verified.", "zh": "TLS 证书验证通过。"},
    "doctor.tls_failed": {
        "en": "TLS failed: {reason}. If a proxy or private gateway uses its own CA, point SSL_CERT_FILE at a bundle holding it; kling_nb never turns verification off.",
        "zh": "TLS 失败：{reason}。如果代理或私有网关使用自己的 CA，请让 SSL_CERT_FILE 指向包含该 CA 的证书包；kling_nb 不会关闭证书验证。",
    },
    "doctor.key_ok": {
        "en": "Key accepted (a status call on a made-up request answered HTTP {status}; nothing was billed).",
        "zh": "密钥有效（对虚构请求的状态查询返回 HTTP {status}；未产生费用）。",
    },
    "doctor.key_refused": {
        "en": "Key refused (HTTP {status}: {detail}). Check {variable}: copy the key again from the service's console.",
        "zh": "密钥被拒绝（HTTP {status}：{detail}）。请检查 {variable}：从服务控制台重新复制密钥。",
    },
    "doctor.ua_refused": {
        "en": "The gateway's firewall refused this client (HTTP 403, error code: 1010) although kling_nb sends fal-client's user agent; try again later or from another network.",
        "zh": "网关防火墙拒绝了本客户端（HTTP 403，error code: 1010），尽管 kling_nb 发送的是 fal-client 的 User-Agent；请稍后或换个网络再试。",
    },
    "doctor.key_unclear": {
        "en": "The key check answered HTTP {status} ({detail}); kling_nb will try and report the service's own words.",
        "zh": "密钥检查返回 HTTP {status}（{detail}）；kling_nb 会照常尝试，并如实转告服务的原话。",
    },
    "doctor.stream_yes": {
        "en": "Status stream offered: kling_nb follows it for live progress.",
        "zh": "提供状态流：kling_nb 通过它实时显示进度。",
    },
    "doctor.stream_maybe": {
        "en": "Status stream path answers like the status call (HTTP {status}): kling_nb tries the stream first and polls if it is refused.",
        "zh": "状态流路径与状态查询的应答相同（HTTP {status}）：kling_nb 先尝试状态流，被拒绝时改为轮询。",
    },
    "doctor.stream_none": {
        "en": "No status stream ({status}): kling_nb polls.",
        "zh": "没有状态流（{status}）：kling_nb 改为轮询。",
    },
    "doctor.stream_unclear": {
        "en": "The status stream answered HTTP {status}: kling_nb tries it and polls if it fails.",
        "zh": "状态流返回 HTTP {status}：kling_nb 会尝试，失败时改为轮询。",
    },
    "doctor.cancel_ok": {
        "en": "Cancel path answers (HTTP {status}): kling_nb cancels at …/requests/{{id}}/cancel, also when a submit answers with an empty cancel_url.",
        "zh": "取消路径有应答（HTTP {status}）：kling_nb 通过 …/requests/{{id}}/cancel 取消任务，提交应答中 cancel_url 为空时也是如此。",
    },
    "doctor.cancel_missing": {
        "en": "Cancel path not offered ({status}): a deadline or Ctrl-C cannot stop a job on the service; kling_nb says so and keeps its request id in the journal.",
        "zh": "不提供取消路径（{status}）：截止时间或 Ctrl-C 无法停止服务端的任务；kling_nb 会明确提示，并在日志中保留其 request id。",
    },
    "doctor.clock_ok": {
        "en": "Clock within {limit:.0f} s of the server's.",
        "zh": "本机时钟与服务器相差不到 {limit:.0f} 秒。",
    },
    "doctor.clock_skew": {
        "en": "This machine's clock is {skew:+.0f} s off the server's: kling_nb times waits with a monotonic clock, so deadlines hold; fix the clock (NTP) for true times in the journal.",
        "zh": "本机时钟与服务器相差 {skew:+.0f} 秒：kling_nb 用单调时钟计时，截止时间不受影响；请校准时钟（NTP），以免日志中的时间有误。",
    },
    "doctor.clock_unknown": {
        "en": "The server sent no Date header: clock not checked.",
        "zh": "服务器未发送 Date 头：未检查时钟。",
    },
    "doctor.skipped": {
        "en": "{check}: not checked (an earlier check failed).",
        "zh": "{check}：未检查（前一项检查失败）。",
    },
    "doctor.usable": {
        "en": "Usable: kling_nb can work with this key and host.",
        "zh": "可用：kling_nb 可以使用此密钥和主机。",
    },
    "doctor.unusable": {
        "en": "Not usable yet: fix the ✗ lines above.",
        "zh": "暂不可用：请先解决上面标 ✗ 的问题。",
    },
    # --- a newcomer's first hour: CLI, doctor, history, tutorials (issues 18, 22) ------------
    "connect.emulator": {
        "en": "kling_nb → emulator at {host} (offline, free; pictures are classical filters badged EMULATED, not Kling).",
        "zh": "kling_nb → 本地模拟器 {host}（离线、免费；图片由经典滤镜生成并标注 EMULATED，并非 Kling 真实输出）。",
    },
    "connect.emulator_host": {
        "en": "kling_nb → emulator at {host} (from FAL_QUEUE_RUN_HOST; offline, free; pictures badged EMULATED, not Kling).",
        "zh": "kling_nb → FAL_QUEUE_RUN_HOST 指定的本地模拟器 {host}（离线、免费；图片标注 EMULATED，并非 Kling 真实输出）。",
    },
    "panel.code_connect_emulator": {
        "en": "the offline emulator: free, pictures are not Kling's",
        "zh": "离线模拟器：免费，图片并非 Kling 生成",
    },
    "cli.interrupted": {"en": "interrupted", "zh": "已中断"},
    "cli.interrupted_saving": {
        "en": "interrupted while saving to {out}: job {request_id} is done and its pictures are kept; kling-nb resume {request_id} --out {out} saves them (not billed again).",
        "zh": "保存到 {out} 时被中断：任务 {request_id} 已完成，图片已保留；kling-nb resume {request_id} --out {out} 可保存它们（不会再次计费）。",
    },
    "cli.out_not_storage": {
        "en": "it is under /proc or /sys, which show the kernel's state and keep no files",
        "zh": "它位于 /proc 或 /sys 之下，那里只反映内核状态，不能保存文件",
    },
    "cli.out_blocked": {
        "en": "{blocker} is {kind}, not a folder",
        "zh": "{blocker} 是{kind}，不是文件夹",
    },
    "cli.out_is": {"en": "it is {kind}, not a folder", "zh": "它是{kind}，不是文件夹"},
    "cli.out_readonly": {
        "en": "no file can be created in {folder} (no permission, or a read-only disk)",
        "zh": "无法在 {folder} 中创建文件（没有权限，或磁盘只读）",
    },
    "cli.out_exists": {
        "en": "a file of that name exists already, and a result never overwrites one; choose another name or a folder",
        "zh": "同名文件已存在，结果从不覆盖已有文件；请换一个文件名或给出文件夹",
    },
    "cli.kind_file": {"en": "a file", "zh": "文件"},
    "cli.kind_device": {"en": "a device", "zh": "设备"},
    "cli.kind_fifo": {"en": "a named pipe", "zh": "命名管道"},
    "cli.kind_socket": {"en": "a socket", "zh": "套接字"},
    "cli.kind_special": {"en": "a special file", "zh": "特殊文件"},
    "cli.kind_broken_link": {"en": "a broken link", "zh": "失效的链接"},
    "cli.estimate_replay": {
        "en": "An identical edit was made before (request {request_id}): kling-nb edit replays its pictures, not billed; --fresh pays for new ones.",
        "zh": "之前做过相同的编辑（请求 {request_id}）：kling-nb edit 会重放其图片，不计费；加 --fresh 则付费生成新图片。",
    },
    "cli.budget_both": {
        "en": "budget: give an amount or --off, not both.",
        "zh": "budget：请给出金额或 --off，不要同时给出。",
    },
    "cli.budget_words": {
        "en": "budget = {value!r} is not an amount with a currency: write e.g. kling-nb budget 5 USD, kling-nb budget 20 CNY or kling-nb budget '$5'; kling-nb budget --off lifts it.",
        "zh": "budget = {value!r} 不是带币种的金额：请写例如 kling-nb budget 5 USD、kling-nb budget 20 CNY 或 kling-nb budget '$5'；kling-nb budget --off 取消预算。",
    },
    "samples.unknown": {
        "en": "sample:{value} is not a bundled sample. Use one of: {names} (kling-nb samples lists them).",
        "zh": "sample:{value} 不是内置示例图片。可选：{names}（kling-nb samples 会列出它们）。",
    },
    "samples.hint": {
        "en": 'Use one as an input: kling-nb edit sample:running-man -p "watercolor of <<<image_1>>>". Sources and licences: {provenance}',
        "zh": '作为输入使用：kling-nb edit sample:running-man -p "将 <<<image_1>>> 转换为水彩画风格"。来源与许可：{provenance}',
    },
    "doctor.kind_emulator": {"en": "emulator", "zh": "模拟器"},
    "doctor.kind_qiniu": {"en": "Qiniu AIToken", "zh": "七牛 AIToken"},
    "doctor.kind_fal": {"en": "fal.ai", "zh": "fal.ai"},
    "doctor.kind_custom": {
        "en": "gateway (FAL_QUEUE_RUN_HOST)",
        "zh": "网关（FAL_QUEUE_RUN_HOST）",
    },
    "doctor.origin_given": {"en": "the host you gave (host=)", "zh": "你给出的主机（host=）"},
    "doctor.origin_given@cli": {"en": "the host you gave (--host)", "zh": "你给出的主机（--host）"},
    "doctor.origin_variable": {
        "en": "the host in FAL_QUEUE_RUN_HOST ({host})",
        "zh": "FAL_QUEUE_RUN_HOST 中的主机（{host}）",
    },
    "doctor.origin_emulator": {
        "en": "that the emulator started for this check still runs",
        "zh": "为本次检查启动的模拟器是否仍在运行",
    },
    "doctor.origin_qiniu": {
        "en": "that Qiniu's address {host} is reachable from here",
        "zh": "七牛的地址 {host} 能否从这里访问",
    },
    "doctor.origin_fal": {
        "en": "that fal.ai's address {host} is reachable from here",
        "zh": "fal.ai 的地址 {host} 能否从这里访问",
    },
    "doctor.host_ignored": {
        "en": "FAL_QUEUE_RUN_HOST={host} is set but not used by this backend: it checks {used}, as edit would.",
        "zh": "已设置 FAL_QUEUE_RUN_HOST={host}，但该后端不使用它：检查的是 {used}，与 edit 一致。",
    },
    "doctor.probe_late": {
        "en": "no answer within {seconds:g} s",
        "zh": "{seconds:g} 秒内没有应答",
    },
    "doctor.connect_slow": {
        "en": "no connection within {seconds:g} s",
        "zh": "{seconds:g} 秒内未能建立连接",
    },
    "doctor.tls_slow": {
        "en": "the secure connection was not set up within {seconds:g} s",
        "zh": "{seconds:g} 秒内未能建立安全连接",
    },
    "doctor.stream_slow": {
        "en": "no answer within {seconds:g} s",
        "zh": "{seconds:g} 秒内没有应答",
    },
    "doctor.cancel_slow": {
        "en": "no answer within {seconds:g} s",
        "zh": "{seconds:g} 秒内没有应答",
    },
    "doctor.key_emulator": {
        "en": "Any key is accepted by the emulator (it checks no keys; a status call on a made-up request answered HTTP {status}). Nothing is billed there.",
        "zh": "模拟器接受任何密钥（它不检查密钥；对虚构请求的状态查询返回 HTTP {status}）。模拟器不产生任何费用。",
    },
    "doctor.usable_emulator": {
        "en": "Usable: kling_nb works offline on the emulator (free; pictures badged EMULATED). Set QINIU_API_KEY or FAL_KEY for the real service.",
        "zh": "可用：kling_nb 可在模拟器上离线运行（免费；图片标注 EMULATED）。设置 QINIU_API_KEY 或 FAL_KEY 即可使用真实服务。",
    },
    "history.none_yet": {
        "en": "The journal {path} has no jobs yet. Every job appears here from its first submit.",
        "zh": "任务日志 {path} 中还没有任务。每个任务从第一次提交起就会出现在这里。",
    },
    "history.none_match": {
        "en": "No jobs in the journal {path} match these filters.",
        "zh": "任务日志 {path} 中没有符合这些条件的任务。",
    },
    "history.waited_hint": {
        "en": "{count} unfinished job(s) are being waited for by a live process (pid {pids}): they finish there.",
        "zh": "有 {count} 个未完成的任务正由一个仍在运行的进程（pid {pids}）等待：它们会在那里完成。",
    },
    "history.abandoned_hint": {
        "en": "{count} unfinished job(s) no live process is waiting for (the kernel or script that sent them stopped): kling_nb.resume() waits for them and fetches their images.",
        "zh": "有 {count} 个未完成的任务已没有进程在等待（发出它们的内核或脚本已停止）：kling_nb.resume() 会等待它们并下载图片。",
    },
    "history.abandoned_hint@cli": {
        "en": "{count} unfinished job(s) no live process is waiting for (the kernel or script that sent them stopped): kling-nb resume waits for them and saves their images.",
        "zh": "有 {count} 个未完成的任务已没有进程在等待（发出它们的内核或脚本已停止）：kling-nb resume 会等待它们并保存图片。",
    },
    "history.cost_emulated": {"en": "{cost} (emulated)", "zh": "{cost}（模拟）"},
    "history.days": {
        "en": "Estimated spend per day (rows shown; replays, refused submits and emulated jobs are not billed):",
        "zh": "每日预估花费（仅限所列任务；重放、被拒绝的提交和模拟器的任务均不计费）：",
    },
    "history.day": {"en": "  {day}: {amounts}", "zh": "  {day}：{amounts}"},
    "history.day_emulated": {
        "en": " (besides {amounts} emulated, not billed)",
        "zh": "（另有模拟的 {amounts}，未实际扣费）",
    },
    "tutorials.token_address": {
        "en": "kling_nb → open {url} and log in with the token you set in JUPYTER_TOKEN (JupyterLab hides it in the addresses it prints, so they carry none).",
        "zh": "kling_nb → 打开 {url}，用你在 JUPYTER_TOKEN 中设置的令牌登录（JupyterLab 打印地址时会隐去该令牌，所以地址中不带令牌）。",
    },
    "result.head": {
        "en": "EditResult: {summary}{tag}",
        "zh": "编辑结果（EditResult）：{summary}{tag}",
    },
    "result.backend_emulator": {"en": "emulator", "zh": "模拟器"},
    "result.backend_Qiniu": {"en": "Qiniu", "zh": "七牛"},
    "result.backend_fal": {"en": "fal", "zh": "fal"},
    "result.emulated_title": {"en": "EMULATED · kling_nb emulator", "zh": "模拟 · kling_nb 模拟器"},
    "images.fixed": {
        "en": "Inputs fixed to be accepted: {items}.",
        "zh": "为使输入被接受，已作如下处理：{items}。",
    },
    "images.fixed_one": {"en": "{label}: {fixes}", "zh": "{label}：{fixes}"},
    "images.fix.first_frame": {"en": "first frame of an animation", "zh": "取动画的第一帧"},
    "images.fix.exif_rotated": {"en": "turned upright (EXIF)", "zh": "按 EXIF 方向摆正"},
    "images.fix.cmyk_to_rgb": {"en": "CMYK → RGB", "zh": "CMYK 转为 RGB"},
    "images.fix.icc_to_srgb": {"en": "colour profile → sRGB", "zh": "色彩配置转为 sRGB"},
    "images.fix.16bit_to_8bit": {"en": "16-bit → 8-bit", "zh": "16 位转为 8 位"},
    "images.fix.float_to_8bit": {"en": "floating point → 8-bit", "zh": "浮点转为 8 位"},
    "images.fix.alpha_flattened": {
        "en": "transparency flattened on white",
        "zh": "透明部分以白色填充",
    },
    "images.fix.shrunk": {"en": "shrunk {size}", "zh": "缩小 {size}"},
    "images.fix.shrunk_body": {
        "en": "shrunk to {size} to fit the request body",
        "zh": "缩小到 {size} 以符合请求体大小",
    },
    "images.fix.format": {"en": "{old} → {new}", "zh": "{old} 转为 {new}"},
    "images.fix.quality": {"en": "JPEG quality {quality}", "zh": "JPEG 质量 {quality}"},
    "images.fix.compressed": {"en": "compressed {sizes}", "zh": "压缩 {sizes}"},
    # --- the same hints for the command line (chosen by `kling-nb`, see use_cli_words) ----
    "config.key_missing@cli": {
        "en": "No API key for {backend}. Set the environment variable {variable}, or use --backend emulator to run offline (free).",
        "zh": "未找到 {backend} 的 API Key。请设置环境变量 {variable}，或用 --backend emulator 离线运行（免费）。",
    },
    "job.cancel_failed@cli": {
        "en": "You interrupted the wait, but cancelling job {request_id} failed ({detail}); it may still run and be billed. kling-nb resume {request_id} fetches it later.",
        "zh": "你中断了等待，但取消任务 {request_id} 失败（{detail}）；它可能仍在运行并计费。稍后可用 kling-nb resume {request_id} 取回结果。",
    },
    "job.cancel_too_late@cli": {
        "en": "You interrupted the wait, but job {request_id} had already finished; its result is kept. kling-nb resume {request_id} saves it.",
        "zh": "你中断了等待，但任务 {request_id} 已经完成；结果已保留。可用 kling-nb resume {request_id} 保存。",
    },
    "job.timeout@cli": {
        "en": "Job {request_id} did not finish within {timeout} s; it was cancelled on the server. Give a larger --timeout for big jobs.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成，已在服务端取消。大任务请给出更大的 --timeout。",
    },
    "job.transport@cli": {
        "en": "Could not reach {host}: {detail}. Check the network, or use --backend emulator to work offline.",
        "zh": "无法连接 {host}：{detail}。请检查网络，或用 --backend emulator 离线运行。",
    },
    "job.submit_interrupted": {
        "en": "You interrupted the submission to {host} before its answer came: the job may or may not exist (if it does, it runs and is billed, and kling_nb cannot know its id to cancel it). kling_nb did not resend it. It is recorded in the journal: kling_nb.history(state='unknown').",
        "zh": "你在 {host} 回应之前中断了提交：任务可能已创建，也可能没有（若已创建，它会运行并计费，而 kling_nb 不知道它的 ID，无法取消）。kling_nb 没有重发。该记录已写入日志：kling_nb.history(state='unknown')。",
    },
    "job.submit_interrupted@cli": {
        "en": "You interrupted the submission to {host} before its answer came: the job may or may not exist (if it does, it runs and is billed, and kling_nb cannot know its id to cancel it). kling_nb did not resend it. It is recorded in the journal: kling-nb history --state unknown.",
        "zh": "你在 {host} 回应之前中断了提交：任务可能已创建，也可能没有（若已创建，它会运行并计费，而 kling_nb 不知道它的 ID，无法取消）。kling_nb 没有重发。该记录已写入日志：kling-nb history --state unknown。",
    },
    "job.submit_unknown@cli": {
        "en": "The submission to {host} was sent but its answer was lost ({detail}); the job may or may not exist. kling_nb did not resend it, to avoid paying twice. It is recorded in the journal: kling-nb history --state unknown.",
        "zh": "提交已发往 {host}，但响应丢失（{detail}）；任务可能已创建，也可能没有。为避免重复计费，kling_nb 没有重发。该记录已写入日志：kling-nb history --state unknown。",
    },
    "job.not_found@cli": {
        "en": "{host} no longer knows job {request_id} (HTTP 404): services keep a job and its result only for a limited time (fal about an hour, Qiniu 7 days), so its pictures cannot be recovered from the service; run the edit again with --fresh (kling-nb history shows its prompt and parameters).",
        "zh": "{host} 已不再知道任务 {request_id}（HTTP 404）：服务只在有限时间内保留任务及其结果（fal 约一小时，七牛 7 天），所以它的图片已无法从服务取回；请加 --fresh 重新运行该编辑（kling-nb history 会显示其提示词和参数）。",
    },
    "job.download_failed@cli": {
        "en": "Job {request_id} finished, but downloading {url} failed: {detail}. The result is kept in the journal; kling-nb resume {request_id} tries again.",
        "zh": "任务 {request_id} 已完成，但下载 {url} 失败：{detail}。结果已记录在日志中；可用 kling-nb resume {request_id} 重试。",
    },
    "journal.update_failed@cli": {
        "en": "Could not update the job journal {path} ({detail}). The job goes on, but kling-nb history and kling-nb resume may show an older state of it; check the disk space and KLING_NB_HOME.",
        "zh": "无法更新任务日志 {path}（{detail}）。任务会继续，但 kling-nb history 和 kling-nb resume 可能显示旧的状态；请检查磁盘空间和 KLING_NB_HOME。",
    },
    "journal.date_bad@cli": {
        "en": "{name} = {value!r} is not a date. Use an ISO date or time such as 2025-01-31 or 2025-01-31T18:00, or 'yesterday'.",
        "zh": "{name} = {value!r} 不是日期。请使用 ISO 日期或时间，例如 2025-01-31 或 2025-01-31T18:00，或 'yesterday'。",
    },
    "journal.limit_bad@cli": {
        "en": "--limit {value!r} is not a positive whole number of rows. Give e.g. --limit 50.",
        "zh": "--limit {value!r} 不是正整数行数。请给出例如 --limit 50。",
    },
    "resume.not_found@cli": {
        "en": "The journal {path} has no job with request id {request_id!r}. kling-nb history lists the jobs it knows; check KLING_NB_HOME.",
        "zh": "任务日志 {path} 中没有请求 ID 为 {request_id!r} 的任务。kling-nb history 会列出已记录的任务；请检查 KLING_NB_HOME。",
    },
    "resume.no_key@cli": {
        "en": "Job {request_id} lives on {host}, but no API key for that host is set. Set {variable}, then run kling-nb resume again. Keys are never stored in the journal.",
        "zh": "任务 {request_id} 位于 {host}，但没有设置该服务的 API Key。请设置 {variable} 后再运行 kling-nb resume。API Key 从不写入任务日志。",
    },
    "resume.waited_elsewhere@cli": {
        "en": "{count} unfinished job(s) skipped: another live process (pid {pids}) is still waiting for them. kling-nb resume REQUEST_ID resumes one anyway.",
        "zh": "跳过了 {count} 个未完成的任务：另一个仍在运行的进程（pid {pids}）正在等待它们。如仍要恢复，请运行 kling-nb resume 请求ID。",
    },
    "batch.abandoned@cli": {
        "en": "The batch was interrupted, but job {request_id} could not be confirmed cancelled and may still run and be billed. kling-nb resume {request_id} fetches it later.",
        "zh": "批量任务已中断，但无法确认任务 {request_id} 已取消，它可能仍在运行并计费。稍后可用 kling-nb resume {request_id} 取回。",
    },
    "engine.deadline_uncancelled@cli": {
        "en": "Job {request_id} did not finish within {timeout} s (deadline reached), and the server could not be reached to cancel it ({detail}); it may still run and be billed. kling-nb resume {request_id} fetches it later.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成（已到截止时间），且无法连接服务器取消它（{detail}）；它可能仍在运行并计费。稍后可用 kling-nb resume {request_id} 取回结果。",
    },
    "engine.deadline_too_late@cli": {
        "en": "Job {request_id} did not finish within {timeout} s (deadline reached), but it had finished on the server by the time kling_nb cancelled it; its result is kept. kling-nb resume {request_id} saves it.",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成（已到截止时间），但 kling_nb 取消时它已在服务端完成；结果已保留。可用 kling-nb resume {request_id} 保存。",
    },
    "files.not_image@cli": {
        "en": "Output image {index} is not a valid {content_type} ({size} bytes, starting {head!r}); nothing was written. The server or its CDN sent something else; run kling-nb resume again later.",
        "zh": "输出图片 {index} 不是有效的 {content_type}（{size} 字节，开头为 {head!r}）；未写入任何文件。服务器或其 CDN 返回了其他内容；请稍后再运行 kling-nb resume。",
    },
    "rule.image_url_scheme@cli": {
        "en": "{field} = {value!r} is not an http(s) URL. Give a file path, an http(s) URL or sample:NAME (kling-nb samples).",
        "zh": "{field} = {value!r} 不是 http(s) URL。请给出文件路径、http(s) URL 或 sample:名称（见 kling-nb samples）。",
    },
    "rule.image_heif@cli": {
        "en": "{field} is a HEIC/HEIF photo, which this Pillow cannot open. Export it as JPEG (or pip install pillow-heif and use kling_nb from Python).",
        "zh": "{field} 是 HEIC/HEIF 照片，当前的 Pillow 无法打开。请导出为 JPEG（或 pip install pillow-heif 后在 Python 中使用 kling_nb）。",
    },
    "doctor.no_key@cli": {
        "en": "No key: set QINIU_API_KEY (Qiniu AIToken) or FAL_KEY (fal.ai). Without one, kling-nb doctor checks the offline emulator.",
        "zh": "没有密钥：请设置 QINIU_API_KEY（七牛 AIToken）或 FAL_KEY（fal.ai）。没有密钥时，kling-nb doctor 检查离线模拟器。",
    },
    "money.price_unknown@cli": {
        "en": "unknown: no published price for this service; give yours with KLING_NB_PRICE='0.2 CNY'",
        "zh": "未知：该服务没有可引用的公开价格；请用 KLING_NB_PRICE='0.2 CNY' 给出您的价格",
    },
    "money.budget_amount_bad@cli": {
        "en": "budget amount = {value!r} is not an amount ≥ 0: write e.g. kling-nb budget 5 USD, or kling-nb budget --off to lift the budget.",
        "zh": "预算金额 = {value!r} 不是 ≥ 0 的数：请写例如 kling-nb budget 5 USD，或用 kling-nb budget --off 取消预算。",
    },
    "money.budget_currency_bad@cli": {
        "en": "budget currency = {value!r} is not a three-letter currency code: write e.g. kling-nb budget 5 USD or kling-nb budget 20 CNY.",
        "zh": "预算币种 = {value!r} 不是三个字母的币种代码：请写例如 kling-nb budget 5 USD 或 kling-nb budget 20 CNY。",
    },
    "money.over_budget@cli": {
        "en": "Not sent: this would cost {cost}, but only {left} is left of the budget of {amount} {currency}. Raise it with kling-nb budget AMOUNT CURRENCY (a new budget counts from now), lift it with kling-nb budget --off, or ask for fewer images (--num-images).",
        "zh": "未发送：这次需要 {cost}，但 {amount} {currency} 的预算只剩 {left}。可用 kling-nb budget 金额 币种 提高预算（新预算从现在起计），用 kling-nb budget --off 取消预算，或减少图片数量（--num-images）。",
    },
    "money.budget_unknown_cost@cli": {
        "en": "Not sent: a budget of {amount} {currency} is set (left: {left}), but this request costs {cost}, which cannot be checked against it. Give your price in {currency} with KLING_NB_PRICE (e.g. KLING_NB_PRICE='0.2 {currency}'), or lift the budget with kling-nb budget --off.",
        "zh": "未发送：已设置 {amount} {currency} 的预算（剩余 {left}），但这次请求的费用是 {cost}，无法与预算比较。请用 KLING_NB_PRICE 给出以 {currency} 计的价格（例如 KLING_NB_PRICE='0.2 {currency}'），或用 kling-nb budget --off 取消预算。",
    },
    "money.budget_none@cli": {
        "en": "No budget: kling-nb budget 5 USD caps the estimated spend from now on.",
        "zh": "未设置预算：kling-nb budget 5 USD 可限制从现在起的预估花费。",
    },
    "money.replay_cache@cli": {
        "en": "Replayed from request {request_id} (cached files), not billed; --fresh for new pictures.",
        "zh": "已从请求 {request_id} 重放（本地缓存文件），未计费；要新图片请加 --fresh。",
    },
    "money.replay_url@cli": {
        "en": "Can be replayed from request {request_id} by fetching its stored result URL (valid until about {until}), not billed; --fresh for new pictures.",
        "zh": "可从请求 {request_id} 重放：重新下载其保存的结果链接（约 {until} 前有效），不计费；要新图片请加 --fresh。",
    },
    "money.replay_expired@cli": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its result URL has expired: they must be paid again (--fresh).",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在、结果链接也已过期：需要重新付费生成（--fresh）。",
    },
    "money.replayed_url@cli": {
        "en": "Replayed from request {request_id} (fetched its stored result URL again), not billed; --fresh for new pictures.",
        "zh": "已从请求 {request_id} 重放（重新下载了其保存的结果链接），未计费；要新图片请加 --fresh。",
    },
    "money.replay_gone@cli": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its stored result URL could not be fetched ({detail}): they must be paid again. Nothing was sent; add --fresh to pay for new pictures.",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在，其保存的结果链接也无法下载（{detail}）：需要重新付费。尚未发送任何请求；要付费生成新图片请加 --fresh。",
    },
    "money.replay_expired_error@cli": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its result URL has expired: they must be paid again. Nothing was sent; add --fresh to pay for new pictures.",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在、结果链接也已过期：需要重新付费。尚未发送任何请求；要付费生成新图片请加 --fresh。",
    },
    # --- money (issue 13) --------------------------------------------------------------------
    "money.price": {
        "en": "{amount} {currency} per output image ({source}{as_of})",
        "zh": "每张输出图片 {amount} {currency}（{source}{as_of}）",
    },
    "money.price_unknown": {
        "en": "unknown: no published price for this service; give yours with KLING_NB_PRICE='0.2 CNY' or connect(price='0.2 CNY')",
        "zh": "未知：该服务没有可引用的公开价格；请用 KLING_NB_PRICE='0.2 CNY' 或 connect(price='0.2 CNY') 给出您的价格",
    },
    "money.emulated": {"en": "emulated, not billed", "zh": "模拟计费，未实际扣费"},
    "money.also": {"en": "; {note}", "zh": "；{note}"},
    "money.notes": {"en": " ({notes})", "zh": "（{notes}）"},
    "money.and": {"en": "; ", "zh": "；"},
    "money.replay_note": {"en": "replay, not billed", "zh": "重放，未计费"},
    "money.cost": {"en": "{cost} for {images} image(s)", "zh": "{images} 张图片共 {cost}"},
    "money.cost_unknown": {
        "en": "unknown price × {images} image(s)",
        "zh": "价格未知 × {images} 张图片",
    },
    "money.price_bad": {
        "en": "{variable} = {value!r} is not a price per output image: write an amount ≥ 0 with a currency, e.g. '0.2 CNY', '0.028 USD' or '$0.028'.",
        "zh": "{variable} = {value!r} 不是每张输出图片的价格：请写一个 ≥ 0 的金额和币种，例如 '0.2 CNY'、'0.028 USD' 或 '$0.028'。",
    },
    "money.budget_amount_bad": {
        "en": "set_budget amount = {value!r} is not an amount ≥ 0: write e.g. kling_nb.set_budget(5, 'USD'), or set_budget(None) to lift the budget.",
        "zh": "set_budget 的金额 = {value!r} 不是 ≥ 0 的数：请写例如 kling_nb.set_budget(5, 'USD')，或用 set_budget(None) 取消预算。",
    },
    "money.budget_currency_bad": {
        "en": "set_budget currency = {value!r} is not a three-letter currency code: write e.g. kling_nb.set_budget(5, 'USD') or set_budget(20, 'CNY').",
        "zh": "set_budget 的币种 = {value!r} 不是三个字母的币种代码：请写例如 kling_nb.set_budget(5, 'USD') 或 set_budget(20, 'CNY')。",
    },
    "money.over_budget": {
        "en": "Not sent: this would cost {cost}, but only {left} is left of the budget of {amount} {currency}. Raise it with kling_nb.set_budget(...) (a new budget counts from now), lift it with set_budget(None), or ask for fewer images.",
        "zh": "未发送：这次需要 {cost}，但 {amount} {currency} 的预算只剩 {left}。可用 kling_nb.set_budget(...) 提高预算（新预算从现在起计），用 set_budget(None) 取消预算，或减少图片数量。",
    },
    "money.budget_unknown_cost": {
        "en": "Not sent: a budget of {amount} {currency} is set (left: {left}), but this request costs {cost}, which cannot be checked against it. Give your price in {currency} with connect(price='…') or KLING_NB_PRICE, or lift the budget with kling_nb.set_budget(None).",
        "zh": "未发送：已设置 {amount} {currency} 的预算（剩余 {left}），但这次请求的费用是 {cost}，无法与预算比较。请用 connect(price='…') 或 KLING_NB_PRICE 给出以 {currency} 计的价格，或用 kling_nb.set_budget(None) 取消预算。",
    },
    "money.budget_none": {
        "en": "No budget: kling_nb.set_budget(5, 'USD') caps the estimated spend from now on.",
        "zh": "未设置预算：kling_nb.set_budget(5, 'USD') 可限制从现在起的预估花费。",
    },
    "money.budget": {
        "en": "Budget {amount} {currency} since {since}: spent {spent} {currency} (estimated; {emulated} of it emulated, not billed), left {left} {currency}.",
        "zh": "自 {since} 起预算 {amount} {currency}：已花费 {spent} {currency}（预估；其中 {emulated} 为模拟，未实际扣费），剩余 {left} {currency}。",
    },
    "money.estimate_head": {
        "en": "Estimate: {requests} request(s), {total}. Nothing was sent.",
        "zh": "预估：{requests} 个请求，{total}。尚未发送任何请求。",
    },
    "money.estimate_price": {"en": "Price: {price}", "zh": "价格：{price}"},
    "money.estimate_columns": {"en": "#|images|cost|request", "zh": "序号|图片数|费用|请求"},
    "money.invalid": {
        "en": "invalid, would not be sent: {error}",
        "zh": "无效，不会发送：{error}",
    },
    "money.replay_cache": {
        "en": "Replayed from request {request_id} (cached files), not billed; fresh=True for new pictures.",
        "zh": "已从请求 {request_id} 重放（本地缓存文件），未计费；要新图片请用 fresh=True。",
    },
    "money.replay_url": {
        "en": "Can be replayed from request {request_id} by fetching its stored result URL (valid until about {until}), not billed; fresh=True for new pictures.",
        "zh": "可从请求 {request_id} 重放：重新下载其保存的结果链接（约 {until} 前有效），不计费；要新图片请用 fresh=True。",
    },
    "money.replay_expired": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its result URL has expired: they must be paid again (fresh=True).",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在、结果链接也已过期：需要重新付费生成（fresh=True）。",
    },
    "money.replay_none": {
        "en": "No completed job made this request before: it must be paid for.",
        "zh": "之前没有完成过相同的请求：需要付费生成。",
    },
    "money.replayed_url": {
        "en": "Replayed from request {request_id} (fetched its stored result URL again), not billed; fresh=True for new pictures.",
        "zh": "已从请求 {request_id} 重放（重新下载了其保存的结果链接），未计费；要新图片请用 fresh=True。",
    },
    "money.replay_gone": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its stored result URL could not be fetched ({detail}): they must be paid again. Nothing was sent; pass fresh=True to pay for new pictures.",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在，其保存的结果链接也无法下载（{detail}）：需要重新付费。尚未发送任何请求；要付费生成新图片请用 fresh=True。",
    },
    "money.replay_expired_error": {
        "en": "Request {request_id} made these pictures, but its cached files are gone and its result URL has expired: they must be paid again. Nothing was sent; pass fresh=True to pay for new pictures.",
        "zh": "请求 {request_id} 曾生成这些图片，但缓存文件已不在、结果链接也已过期：需要重新付费。尚未发送任何请求；要付费生成新图片请用 fresh=True。",
    },
    "money.history_cost": {"en": "cost", "zh": "费用"},
    "money.history_replay": {"en": "{cost} (replay)", "zh": "{cost}（重放）"},
    "money.history_days": {
        "en": "Estimated spend per day (rows shown; replays and refused submits cost nothing; emulated rows are not billed):",
        "zh": "每日预估花费（仅限所列任务；重放和被拒绝的提交不计费；模拟器的任务不实际扣费）：",
    },
    "money.history_day": {"en": "  {day}: {amounts}", "zh": "  {day}：{amounts}"},
    "money.history_moved": {
        "en": "The journal file could not be read and was moved aside to {moved}; the jobs before that are in the moved file.",
        "zh": "日志文件无法读取，已移至 {moved}；在此之前的任务记录在被移走的文件中。",
    },
    "money.panel_unknown": {
        "en": "price unknown (set KLING_NB_PRICE, e.g. '0.2 CNY')",
        "zh": "价格未知（可设置 KLING_NB_PRICE，例如 '0.2 CNY'）",
    },
    "money.panel_emulated": {"en": " · emulated, not billed", "zh": " · 模拟计费，未实际扣费"},
    "money.panel_reuse": {
        "en": "reuse: replay an identical finished request (not billed)",
        "zh": "复用：相同请求已完成时直接重放（不计费）",
    },
    "rule.panel_not_bool": {
        "en": "{field} = {value} is a {kind}; it must be True or False. Give a bool.",
        "zh": "{field} = {value} 的类型是 {kind}；它必须是 True 或 False。请传入布尔值。",
    },
    "money.batch_replayed": {
        "en": "{count} replayed, not billed",
        "zh": "{count} 个为重放，未计费",
    },
    "money.batch_refused": {
        "en": "{count} refused by the budget, not sent",
        "zh": "{count} 个因预算被拒绝，未发送",
    },
    # --- one owner per concept; honest cancels (issues 21, 17, 22) ---------------------------
    "stop.interrupt": {
        "en": "You interrupted the wait for job {request_id}.",
        "zh": "你中断了对任务 {request_id} 的等待。",
    },
    "stop.deadline": {
        "en": "Job {request_id} did not finish within {timeout} s (deadline reached; pass a larger timeout= for big jobs).",
        "zh": "任务 {request_id} 未在 {timeout} 秒内完成（已到截止时间；大任务请传入更大的 timeout=）。",
    },
    "stop.call": {
        "en": "Cancel asked for job {request_id}.",
        "zh": "已请求取消任务 {request_id}。",
    },
    "cancel.confirmed": {
        "en": "{host} confirmed the job is cancelled: it will not run and will not be billed.",
        "zh": "{host} 已确认任务被取消：它不会运行，也不会计费。",
    },
    "cancel.requested": {
        "en": "kling_nb asked {host} to cancel it, but the service did not confirm that it stopped: it may still finish and be billed. Nothing paid for is lost: kling_nb.resume({request_id!r}) (or `kling-nb resume`) collects the pictures once it finishes.",
        "zh": "kling_nb 已请求 {host} 取消，但服务没有确认任务已停止：它可能仍会完成并计费。已付费的结果不会丢失：任务完成后，kling_nb.resume({request_id!r})（或 `kling-nb resume`）可取回图片。",
    },
    "cancel.unsupported": {
        "en": "{host} does not cancel jobs (its answer to the cancel: not supported or not found), so it keeps running and will be billed. Nothing paid for is lost: kling_nb.resume({request_id!r}) (or `kling-nb resume`) collects the pictures once it finishes.",
        "zh": "{host} 不支持取消任务（对取消请求的回答：不支持或未找到），因此任务会继续运行并计费。已付费的结果不会丢失：任务完成后，kling_nb.resume({request_id!r})（或 `kling-nb resume`）可取回图片。",
    },
    "cancel.failed": {
        "en": "The service could not be reached to cancel it, or refused the cancel ({detail}): it may still run and be billed. Nothing paid for is lost: kling_nb.resume({request_id!r}) (or `kling-nb resume`) collects the pictures once it finishes.",
        "zh": "无法连接服务来取消它，或服务拒绝了取消（{detail}）：它可能仍在运行并计费。已付费的结果不会丢失：任务完成后，kling_nb.resume({request_id!r})（或 `kling-nb resume`）可取回图片。",
    },
    "cancel.too_late": {
        "en": "It had already finished on {host} (and is paid for); its result is kept: kling_nb.resume({request_id!r}) (or `kling-nb resume`) returns it.",
        "zh": "它已在 {host} 上完成（已计费）；结果已保留：可用 kling_nb.resume({request_id!r})（或 `kling-nb resume`）取回。",
    },
    "job.repr": {
        "en": "<Job {request_id} {endpoint} on {where}: {state}>",
        "zh": "<任务 {request_id} {endpoint}，{where}：{state}>",
    },
    "job.state.SUBMITTED": {"en": "SUBMITTED", "zh": "已提交"},
    "job.state.IN_QUEUE": {"en": "IN_QUEUE", "zh": "排队中"},
    "job.state.IN_PROGRESS": {"en": "IN_PROGRESS", "zh": "生成中"},
    "job.state.COMPLETED": {"en": "COMPLETED", "zh": "已完成"},
    "download.failed": {
        "en": "downloading {url} failed: {detail}",
        "zh": "下载 {url} 失败：{detail}",
    },
    "journal.read_only": {
        "en": "The journal {path} cannot be written here ({detail}): kling_nb records every job before paying for it, so nothing was sent. Make the folder writable, or set KLING_NB_HOME to a writable folder.",
        "zh": "无法在此写入日志 {path}（{detail}）：kling_nb 在付费前会记录每个任务，因此没有发送任何请求。请让该文件夹可写，或将 KLING_NB_HOME 设为可写的文件夹。",
    },
    "journal.read_only_old": {
        "en": "The journal {path} was written by an older kling_nb and must be upgraded (to version {version}, nothing is dropped) before it can record jobs, but this folder is read-only ({detail}). Reading its history still works; to edit, make the folder writable, or set KLING_NB_HOME to a writable folder. Nothing was sent.",
        "zh": "日志 {path} 由旧版 kling_nb 写入，需要先升级（到第 {version} 版，不会删除任何内容）才能记录任务，但该文件夹是只读的（{detail}）。仍可查看历史记录；要编辑图片，请让该文件夹可写，或将 KLING_NB_HOME 设为可写的文件夹。没有发送任何请求。",
    },
    "money.budget_unsure": {
        "en": " Of the spend, {unsure} is for jobs whose billing the service does not tell (failed, not confirmed cancelled, or a lost submit answer): counted, to be safe.",
        "zh": "其中 {unsure} 属于服务未说明是否计费的任务（失败、未确认取消或提交响应丢失）：为稳妥起见计入。",
    },
    "config.upload_unknown": {
        "en": "{variable} = {value!r} is not a way to send local images. Use one of: {known}, or pass upload= a function (bytes, content_type) -> https URL.",
        "zh": "{variable} = {value!r} 不是发送本地图片的方式。可选：{known}，或向 upload= 传入函数 (bytes, content_type) -> https URL。",
    },
    "config.option_unknown": {
        "en": "connect() has no option {name!r}{hint}. Emulator options are the keywords of `python -m kling_nb.emulator --help` (service_time=, workers=, profile=, …).",
        "zh": "connect() 没有选项 {name!r}{hint}。模拟器选项即 `python -m kling_nb.emulator --help` 中的参数（service_time=、workers=、profile= 等）。",
    },
    "config.option_close": {"en": " (did you mean {close!r}?)", "zh": "（是不是 {close!r}？）"},
    "upload.fal_elsewhere": {
        "en": "upload='fal' sends local images to fal's storage with your key, but {host} is not fal: the key would travel to fal's hosts. Use upload='data', or a function (bytes, content_type) -> https URL that puts them in your own bucket.",
        "zh": "upload='fal' 会用你的 Key 把本地图片传到 fal 的存储，但 {host} 不是 fal：Key 会被发往 fal 的服务器。请使用 upload='data'，或传入一个函数 (bytes, content_type) -> https URL，把图片放到你自己的存储桶。",
    },
    "upload.fal_failed": {
        "en": "Uploading a local image to fal's storage (for {host}) failed: {detail}. Nothing was submitted; try again, or use upload='data'.",
        "zh": "把本地图片上传到 fal 存储（用于 {host}）失败：{detail}。没有提交任何任务；请重试，或使用 upload='data'。",
    },
    "upload.callable_failed": {
        "en": "Your uploader {name} failed: {detail}. Nothing was submitted.",
        "zh": "你的上传函数 {name} 出错：{detail}。没有提交任何任务。",
    },
    "upload.bad_url": {
        "en": "The uploader {source} returned {value}, not an https URL the service can fetch. Nothing was submitted.",
        "zh": "上传函数 {source} 返回了 {value}，不是服务能读取的 https URL。没有提交任何任务。",
    },
    "upload.data_refused": {
        "en": "{host} refused the local images as sent (data: URIs in image_urls): {detail} This service may take only URLs for them. Nothing was billed. Fix: connect(upload=my_uploader) with a function (bytes, content_type) -> https URL that puts each picture in your own bucket (on fal: upload='fal'); or pass the images as https URLs.",
        "zh": "{host} 拒绝了以 data: URI 发送的本地图片（image_urls）：{detail} 该服务可能只接受 URL。没有产生费用。解决：connect(upload=my_uploader)，传入函数 (bytes, content_type) -> https URL，把每张图片放到你自己的存储桶（在 fal 上可用 upload='fal'）；或直接以 https URL 传入图片。",
    },
    "upload.data_refused@cli": {
        "en": "{host} refused the local images as sent (data: URIs in image_urls): {detail} This service may take only URLs for them. Nothing was billed. Fix: pass the images as https URLs (on fal: KLING_NB_UPLOAD=fal).",
        "zh": "{host} 拒绝了以 data: URI 发送的本地图片（image_urls）：{detail} 该服务可能只接受 URL。没有产生费用。解决：以 https URL 传入图片（在 fal 上可设置 KLING_NB_UPLOAD=fal）。",
    },
    "upload.describe_data": {
        "en": "Local images are sent as data: URIs (upload='data'; Qiniu documents image_urls as URLs only: unverified whether it takes data URIs).",
        "zh": "本地图片以 data: URI 发送（upload='data'；七牛文档中 image_urls 只写了 URL：是否接受 data URI 尚未验证）。",
    },
    "upload.describe_fal": {
        "en": "Local images are uploaded to fal's storage with your key (upload='fal').",
        "zh": "本地图片会用你的 Key 上传到 fal 的存储（upload='fal'）。",
    },
    "upload.describe_auto_fal": {
        "en": "Local images are sent as data: URIs, and through fal's storage when a request passes {limit} MB (upload='auto').",
        "zh": "本地图片以 data: URI 发送；请求超过 {limit} MB 时改用 fal 存储上传（upload='auto'）。",
    },
    "upload.describe_callable": {
        "en": "Local images are put where your uploader {name} says (upload=function).",
        "zh": "本地图片由你的上传函数 {name} 存放（upload=函数）。",
    },
    "rule.image_empty_name": {
        "en": "{field} is an empty string, not an image. Pass a URL, a file path, a PIL image or bytes.",
        "zh": "{field} 是空字符串，不是图片。请传入 URL、文件路径、PIL 图像或字节。",
    },
    "probe.consent": {
        "en": "The probe asks {host} itself what it does, and is billed: up to {images} output images at 1K ({cost}): one job with a small local picture, one cancelled at once (billed if the service cannot cancel it), and one malformed request (refused by the service; fal says validation failures may be billed).",
        "zh": "探测会直接询问 {host} 的实际行为，并会计费：最多 {images} 张 1K 输出图片（{cost}）：一个使用本地小图的任务、一个立即取消的任务（若服务不能取消则会计费），以及一个格式错误的请求（会被服务拒绝；fal 说明校验失败可能计费）。",
    },
    "probe.ask": {"en": "Proceed and pay? [y/N] ", "zh": "继续并付费？[y/N] "},
    "probe.declined": {
        "en": "Probe not confirmed: nothing was sent, nothing billed.",
        "zh": "未确认探测：没有发送任何请求，也没有计费。",
    },
    "probe.title": {
        "en": "Probe of {host} (what the service answered):",
        "zh": "对 {host} 的探测（服务的实际回答）：",
    },
    "probe.yes": {"en": "yes", "zh": "是"},
    "probe.no": {"en": "no", "zh": "否"},
    "probe.transport": {
        "en": "  local images sent as: {transport}",
        "zh": "  本地图片发送方式：{transport}",
    },
    "probe.data_uris": {"en": "  data: URIs accepted: {value}", "zh": "  接受 data: URI：{value}"},
    "probe.submit_error": {
        "en": "  the submit was refused: {detail}",
        "zh": "  提交被拒绝：{detail}",
    },
    "probe.stream": {"en": "  status stream offered: {value}", "zh": "  提供状态流：{value}"},
    "probe.statuses": {"en": "  statuses seen: {value}", "zh": "  看到的状态：{value}"},
    "probe.images": {
        "en": "  images returned: {value} in {seconds} s",
        "zh": "  返回图片：{value} 张，用时 {seconds} 秒",
    },
    "probe.cancel": {"en": "  a cancel at once: {value}", "zh": "  立即取消的结果：{value}"},
    "probe.refusal": {
        "en": "  a malformed request: refused at the {at}, HTTP {value}",
        "zh": "  格式错误的请求：在 {at} 被拒绝，HTTP {value}",
    },
    "probe.saved": {"en": "  saved: {path}", "zh": "  已保存：{path}"},
    "price.source_fal": {
        "en": "fal.ai's model page for fal-ai/kling-image/o1, see docs/services.md",
        "zh": "fal.ai 上 fal-ai/kling-image/o1 的模型页面，见 docs/services.md",
    },
    "money.as_of": {"en": ", {date}", "zh": "，{date}"},
    "price.source_user": {
        "en": "your KLING_NB_PRICE or connect(price=...) setting",
        "zh": "你的 KLING_NB_PRICE 或 connect(price=...) 设置",
    },
    "price.source_teacher": {"en": "the teacher's --price", "zh": "老师设置的 --price"},
    "price.source_classroom": {"en": "the classroom gateway's", "zh": "课堂网关给出的"},
    "money.following": {
        "en": "An identical request ({request_id}) is already on its way: waiting for it instead of paying twice.",
        "zh": "相同的请求（{request_id}）已在进行中：等待它完成，而不是重复付费。",
    },
}


def language() -> Language:
    """The language messages are written in now (an unknown `KLING_NB_LANG` is ignored here).

    A message must always be writable, even the one refusing the variable: `connect()`
    refuses an unknown `KLING_NB_LANG` by name instead.
    """
    if _chosen is not None:
        return _chosen
    try:
        return language_from(os.environ)
    except ValueError:
        return language_from({k: v for k, v in os.environ.items() if k != "KLING_NB_LANG"})


def language_from(env: Mapping[str, str]) -> Language:
    """The language an environment asks for (`KLING_NB_LANG`, else the locale).

    An unknown name raises ValueError(variable, value): `_config` turns it into a
    KlingLanguageError (this module imports nothing of kling_nb's)."""
    value = env.get("KLING_NB_LANG", "").strip().lower()
    if value in LANGUAGES:
        return value
    if value:
        raise ValueError("KLING_NB_LANG", value)
    locale = env.get("LC_ALL") or env.get("LANG") or ""
    return "zh" if locale.lower().startswith("zh") else "en"


def set_language(lang: str | None) -> None:
    """Choose 'zh' or 'en' for every message from now on; None returns to the environment.

    An unknown name raises ValueError(variable, value), as `language_from` does."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        raise ValueError("language", lang)
    _chosen = lang


_cli_words = False  # set by `kling-nb` for its whole process: hints as flags and verbs


def use_cli_words(on: bool) -> bool:
    """Word hints for the `kling-nb` command line (True) or for Python; the old setting."""
    global _cli_words
    old, _cli_words = _cli_words, on
    return old


def message(key: str, lang: Language | None = None, /, **facts: object) -> str:
    """The sentence for `key` in `lang` (default: the current language), facts filled in."""
    entry = MESSAGES[key]
    if _cli_words:
        entry = MESSAGES.get(f"{key}@cli", entry)
    text = entry[lang or language()]
    return text.format(**facts)
