"""Messages in Chinese and English.

The language comes from `set_language()`, else `KLING_NB_LANG`, else the locale
(`LANG`/`LC_ALL` starting with `zh`), else English. Every user-facing sentence lives
in `MESSAGES`; code refers to it by key so that both languages always exist.
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
    "rule.choice": {
        "en": "{field} = {value!r} is not allowed. Use one of: {allowed}.",
        "zh": "{field} = {value!r} 不是允许的取值。可选：{allowed}。",
    },
    "rule.resolution_4k_fal": {
        "en": "resolution = '4K' is not offered by fal.ai (its schema lists 1K and 2K; only Qiniu's guide lists 4K). Use '2K', or connect to Qiniu.",
        "zh": "fal.ai 不支持 resolution = '4K'（其 schema 只有 1K 和 2K，仅七牛的指南列出 4K）。请改用 '2K'，或连接七牛。",
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
        "en": "{variable} = {value!r} is not a backend. Use one of: auto, local, qiniu, fal.",
        "zh": "{variable} = {value!r} 不是有效的后端。可选：auto、local、qiniu、fal。",
    },
    "config.key_missing": {
        "en": "No API key for {backend}. Set the environment variable {variable} (or pass key=...), or use backend='local' to run offline on the emulator.",
        "zh": "未找到 {backend} 的 API Key。请设置环境变量 {variable}（或传入 key=...），或使用 backend='local' 在本地模拟器上离线运行。",
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
    "connect.local": {
        "en": "kling_nb → local emulator at {host} (offline, free; pictures are classical filters badged EMULATED, not Kling).",
        "zh": "kling_nb → 本地模拟器 {host}（离线、免费；图片由经典滤镜生成并标注 EMULATED，并非 Kling 真实输出）。",
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
        "en": "Could not reach {host}: {detail}. Check the network, or use backend='local' to work offline.",
        "zh": "无法连接 {host}：{detail}。请检查网络，或使用 backend='local' 离线运行。",
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
        "en": "{host} knows no job {request_id} (HTTP 404). It may have expired or belong to another backend.",
        "zh": "{host} 上不存在任务 {request_id}（HTTP 404）。它可能已过期或属于其他后端。",
    },
    "job.download_failed": {
        "en": "Job {request_id} finished, but downloading {url} failed: {detail}. The result is kept in the journal; kling_nb.resume({request_id!r}) tries again.",
        "zh": "任务 {request_id} 已完成，但下载 {url} 失败：{detail}。结果已记录在日志中；可用 kling_nb.resume({request_id!r}) 重试。",
    },
    # --- progress ------------------------------------------------------------------------
    "progress.submitting": {"en": "submitting…", "zh": "正在提交…"},
    "progress.IN_QUEUE": {"en": "queued (position {position})", "zh": "排队中（第 {position} 位）"},
    "progress.IN_PROGRESS": {"en": "running", "zh": "生成中"},
    "progress.COMPLETED": {"en": "done", "zh": "完成"},
    "progress.FAILED": {"en": "failed", "zh": "失败"},
    "progress.CANCELLED": {"en": "cancelled", "zh": "已取消"},
    # --- results -------------------------------------------------------------------------
    "result.summary": {
        "en": "{count} image(s) from {endpoint} · {backend} · request {request_id}",
        "zh": "{count} 张图片，来自 {endpoint} · {backend} · 请求 {request_id}",
    },
    "result.emulated": {"en": "EMULATED", "zh": "模拟"},
    "result.inputs": {"en": "inputs", "zh": "输入"},
    "result.outputs": {"en": "outputs", "zh": "输出"},
}


def language() -> Language:
    """The language messages are written in now."""
    if _chosen is not None:
        return _chosen
    return language_from(os.environ)


def language_from(env: Mapping[str, str]) -> Language:
    """The language an environment asks for (`KLING_NB_LANG`, else the locale)."""
    value = env.get("KLING_NB_LANG", "").strip().lower()
    if value in LANGUAGES:
        return value  # type: ignore[return-value]
    if value:
        from ._errors import KlingConfigError

        raise KlingConfigError(
            message("config.language_unknown", "en", variable="KLING_NB_LANG", value=value)
        )
    locale = env.get("LC_ALL") or env.get("LANG") or ""
    return "zh" if locale.lower().startswith("zh") else "en"


def set_language(lang: str | None) -> None:
    """Choose 'zh' or 'en' for every message from now on; None returns to the environment."""
    global _chosen
    if lang is not None and lang not in LANGUAGES:
        from ._errors import KlingConfigError

        raise KlingConfigError(message("config.language_unknown", variable="language", value=lang))
    _chosen = lang  # type: ignore[assignment]


def message(key: str, lang: Language | None = None, **facts: object) -> str:
    """The sentence for `key` in `lang` (default: the current language), facts filled in."""
    entry = MESSAGES[key]
    text = entry[lang or language()]
    return text.format(**facts)
