"""Turning figures, images and videos into files inside a run directory.

Imported only when a figure, image or video is logged: Pillow and cloudpickle (and, for MP4,
imageio-ffmpeg) load then, never at ``import labtrack``. A video is ``<step>.mp4`` (H.264,
yuv420p, fast start: what browsers play) or ``<step>.gif``, beside a ``<step>.png`` poster; see
:func:`video_files`. A video encoded elsewhere (:func:`encode_video` in a process without the
run, such as a Ray worker) arrives as the file's bytes, is checked by its magic number and
stored as it is, without a poster (:func:`encoded_video_files`): decoding it to draw one would
cost what encoding on the worker saved. Everything is done on the caller's thread, because
matplotlib is not thread-safe. A figure becomes, side by side (``<step>.<suffix>``):

- ``.png``: what it looks like (for plotly figures only when kaleido is installed);
- ``.plotly.json``: what a viewer draws interactively: plotly's own JSON for plotly figures, and
  for matplotlib figures logged with ``interactive=True`` their conversion
  (:mod:`._figures`) when it succeeds; when it does not, the record carries ``static_reason``
  (why only the PNG can be shown, in words for users);
- ``.cpkl``: the figure object itself, for ``RunView.load_figure()`` only. Readers never
  unpickle to *show* a figure: unpickling runs code from the file, so it is for stores the
  user trusts, on request.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._files import write_atomic

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".webp")
log = logging.getLogger("labtrack")


def figure_files(
    tag: str, fig: Any, place: Callable[[str], Path], *, interactive: bool = True
) -> dict[str, Path | str | None]:
    """Write a figure's files (see the module docstring) and return the record's entries.

    Returns ``{"pickle", "png", "plotly": Path or None}``, plus ``"static_reason": str`` when a
    matplotlib figure logged with ``interactive`` could not be converted to plotly JSON.
    """
    import cloudpickle

    try:
        pickled = cloudpickle.dumps(fig)
    except Exception as exc:
        raise TypeError(f"figure for tag {tag!r} cannot be pickled: {exc}") from exc
    if type(fig).__module__.startswith("plotly"):
        plotly: bytes | None = fig.to_json().encode()
        png = _plotly_png(fig)
        reason = None
    elif hasattr(fig, "savefig"):
        buffer = io.BytesIO()
        fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
        png = buffer.getvalue()
        plotly, reason = _converted(tag, fig) if interactive else (None, None)
    else:
        raise TypeError(
            f"figure for tag {tag!r} must be a matplotlib or plotly figure, "
            f"got {type(fig).__name__}; use log_image() for arrays and image files"
        )
    files: dict[str, Path | str | None] = {}
    for key, suffix, data in (
        ("pickle", ".cpkl", pickled),
        ("png", ".png", png),
        ("plotly", ".plotly.json", plotly),
    ):
        path = None
        if data is not None:
            path = place(suffix)
            write_atomic(path, data)
        files[key] = path
    if reason is not None:
        files["static_reason"] = reason
    return files


def _converted(tag: str, fig: Any) -> tuple[bytes | None, str | None]:
    """Plotly JSON of a matplotlib figure, or None and why it cannot be drawn interactively."""
    from ._figures import NotConvertible, mpl_to_plotly

    try:
        converted = mpl_to_plotly(fig)
    except NotConvertible as exc:
        return None, f"{exc}; showing the PNG"
    except Exception as exc:  # a converter bug costs interactivity, never the logged figure
        log.warning("figure %r: converting it to an interactive figure failed", tag, exc_info=True)
        return None, f"converting it failed ({type(exc).__name__}); showing the PNG"
    return json.dumps(converted, separators=(",", ":"), allow_nan=False).encode(), None


def _plotly_png(fig: Any) -> bytes | None:
    try:  # needs kaleido, which is optional; the viewer draws plotly figures natively anyway
        data = fig.to_image(format="png")
    except Exception:
        return None
    return bytes(data)


def image_file(tag: str, image: Any, fps: float, place: Callable[[str], Path]) -> Path:
    """Write ``image`` as a PNG (or GIF for T×H×W×C frames, or a copy of an image file)."""
    if isinstance(image, str | os.PathLike):
        source = Path(image)
        if source.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(
                f"image file for tag {tag!r} must be one of {', '.join(IMAGE_SUFFIXES)}: {source}"
            )
        if not source.is_file():
            raise FileNotFoundError(f"image file for tag {tag!r} does not exist: {source}")
        dest = place(source.suffix.lower())
        shutil.copyfile(source, dest)
        return dest
    from PIL import Image

    if isinstance(image, Image.Image):
        pil = image
    else:
        array = _as_array(tag, image)
        if array.ndim == 4:
            return _write_gif(tag, array, fps, place)
        pil = Image.fromarray(array)
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    dest = place(".png")
    write_atomic(dest, buffer.getvalue())
    return dest


def _as_array(tag: str, image: Any) -> np.ndarray:
    if type(image).__module__.startswith("torch"):
        image = image.detach().cpu().numpy()
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image for tag {tag!r} must be a numpy array, a PIL image, a torch tensor or an "
            f"image file path, got {type(image).__name__}"
        )
    array = image
    if array.ndim == 3 and array.shape[0] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
        array = np.moveaxis(array, 0, -1)  # CxHxW -> HxWxC
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim not in (2, 3, 4) or (array.ndim >= 3 and array.shape[-1] not in (3, 4)):
        raise ValueError(
            f"image for tag {tag!r} must be HxW, HxWxC, CxHxW or TxHxWxC (C in 1, 3, 4), "
            f"got shape {image.shape}"
        )
    if array.dtype != np.uint8:
        if np.issubdtype(array.dtype, np.floating):
            array = np.clip(np.nan_to_num(array) * 255.0 + 0.5, 0, 255)
        array = np.clip(array, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(array)


def _write_gif(
    tag: str, frames: np.ndarray, fps: float, place: Callable[[str], Path], compact: bool = False
) -> Path:
    """An animated GIF; ``compact`` quantizes each frame without dithering (fast octree), which
    for rendered scenes and gradients is 3 to 4 times smaller than Pillow's default."""
    from PIL import Image

    if fps <= 0:
        raise ValueError(f"fps for tag {tag!r} must be > 0, got {fps}")
    images = [Image.fromarray(frame) for frame in frames]
    if compact:
        images = [
            im.quantize(256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
            for im in images
        ]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(1, round(1000 / fps)),
        loop=0,
    )
    dest = place(".gif")
    write_atomic(dest, buffer.getvalue())
    return dest


VIDEO_FORMATS = ("mp4", "gif")
_MP4_OPTIONS = ["-preset", "veryfast", "-crf", "28", "-movflags", "+faststart"]


def video_files(
    tag: str,
    frames: Any,
    fps: float,
    place: Callable[[str], Path],
    *,
    fmt: str,
    max_frames: int,
    max_size: int | None,
) -> dict[str, Any]:
    """Encode ``frames`` as ``<step>.mp4`` (H.264, yuv420p: what browsers play) or ``.gif``,
    plus a ``<step>.png`` poster (the first frame); return the record's entries.

    ``frames`` is a T×H×W[×C] array or an iterable of frames (arrays of any layout
    :func:`image_file` takes, or PIL images). Only the first ``max_frames`` are read (an
    iterable past that is not consumed); each is downscaled so that its longer side is at most
    ``max_size`` pixels (sides rounded down to even numbers, which H.264 needs). Frames of
    different shapes, or that are not images, raise ``ValueError``/``TypeError`` naming the
    frame; the encoder's own failures (a disk that refuses the file) are ``OSError``.
    """
    kept, total = _video_arrays(tag, frames, max_frames, max_size)
    height, width = kept[0].shape[:2]
    path = _encode(tag, kept, fps, fmt, place)
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(kept[0]).save(buffer, format="PNG")
    poster = place(".png")
    write_atomic(poster, buffer.getvalue())
    files: dict[str, Any] = {"path": path, "png": poster, "format": fmt, "fps": float(fps)}
    files.update({"frames": len(kept), "width": int(width), "height": int(height)})
    files["dropped"] = None if total is None else total - len(kept)
    return files


def check_video_options(
    tag: str, fmt: object, fps: object, max_frames: object, max_size: object
) -> None:
    """``ValueError`` naming the tag unless the options of a video are valid."""
    if fmt not in VIDEO_FORMATS:
        raise ValueError(f"video format for tag {tag!r} must be 'mp4' or 'gif', got {fmt!r}")
    if not isinstance(fps, int | float) or not (0 < fps < float("inf")):
        raise ValueError(f"fps for video {tag!r} must be a number > 0, got {fps!r}")
    if not isinstance(max_frames, int) or max_frames < 1:
        raise ValueError(f"max_frames for video {tag!r} must be an int >= 1, got {max_frames!r}")
    if max_size is not None and (not isinstance(max_size, int) or max_size < 2):
        raise ValueError(f"max_size for video {tag!r} must be None or an int >= 2")


def encode_video(
    tag: str,
    frames: Any,
    fps: float,
    *,
    fmt: str = "mp4",
    max_frames: int = 1000,
    max_size: int | None = 320,
) -> bytes:
    """The bytes of the MP4 (or GIF) file :func:`video_files` would write for ``frames``.

    For a process that has frames but not the run (a Ray worker: ``TrackerClient.log_video``
    encodes there and sends kilobytes instead of megabytes of frames); the run stores the bytes
    with :func:`encoded_video_files`. Arguments and errors are those of :func:`video_files`.
    """
    check_video_options(tag, fmt, fps, max_frames, max_size)
    kept, _ = _video_arrays(tag, frames, max_frames, max_size)
    with tempfile.TemporaryDirectory(prefix="labtrack-video-") as tmp:
        return _encode(tag, kept, fps, fmt, lambda suffix: Path(tmp, "video" + suffix)).read_bytes()


ENCODED_TYPES = (bytes, bytearray, memoryview)


def encoded_format(data: bytes | bytearray | memoryview) -> str | None:
    """``"mp4"`` or ``"gif"`` by the file's magic number, else None.

    An MP4 is an ISO base media file that opens with its ``ftyp`` box: a 4-byte big-endian size
    (at least 16: the type, a major brand and a minor version) and then ``ftyp``. A GIF opens
    with ``GIF87a`` or ``GIF89a``.

    >>> encoded_format(b"GIF89a" + bytes(20))
    'gif'
    >>> encoded_format((24).to_bytes(4, "big") + b"ftypisom" + bytes(16))
    'mp4'
    >>> encoded_format(b"\\x89PNG\\r\\n\\x1a\\n") is None
    True
    """
    head = bytes(data[:12])
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    box = int.from_bytes(head[:4], "big")
    if len(head) == 12 and head[4:8] == b"ftyp" and 16 <= box <= len(data):
        return "mp4"
    return None


def check_encoded(tag: str, data: bytes | bytearray | memoryview, fmt: str) -> None:
    """``ValueError`` naming the tag unless ``data`` is the bytes of a ``fmt`` file."""
    found = encoded_format(data)
    if found is None:
        raise ValueError(
            f"video bytes for tag {tag!r} are not an MP4 or GIF file (they start with "
            f"{bytes(data[:12])!r}); log an MP4/GIF file's bytes or T×H×W×C frames"
        )
    if found != fmt:
        raise ValueError(
            f"video bytes for tag {tag!r} are a {found.upper()} file, not {fmt!r}: "
            f"log them with format={found!r}"
        )


def encoded_video_files(
    tag: str, data: bytes | bytearray | memoryview, place: Callable[[str], Path], *, fmt: str
) -> dict[str, Any]:
    """Store an already-encoded video as ``<step>.mp4``/``.gif``; return the record's entries.

    The bytes are checked (:func:`check_encoded`) and written whole or not at all, as they are:
    no poster (the viewer shows the video's first frame once it loads) and no frame count, as
    finding them would mean decoding the file.
    """
    check_encoded(tag, data, fmt)
    dest = place(f".{fmt}")
    write_atomic(dest, bytes(data))
    return {"path": dest, "format": fmt, "encoded": True, "bytes": len(data)}


def _encode(
    tag: str, kept: list[np.ndarray], fps: float, fmt: str, place: Callable[[str], Path]
) -> Path:
    if fmt == "gif":
        return _write_gif(tag, np.stack(kept), fps, place, compact=True)
    return _write_mp4(kept, fps, place(".mp4"))


def _video_arrays(
    tag: str, frames: Any, max_frames: int, max_size: int | None
) -> tuple[list[np.ndarray], int | None]:
    """At most ``max_frames`` RGB uint8 frames of one shape, downscaled; and how many there were
    (None when ``frames`` is an iterable without a length)."""
    from PIL import Image

    if isinstance(frames, np.ndarray) and frames.ndim not in (3, 4):
        raise ValueError(
            f"video for tag {tag!r} must be T×H×W or T×H×W×C frames, got shape {frames.shape}"
        )
    total = len(frames) if hasattr(frames, "__len__") else None
    out: list[np.ndarray] = []
    first: tuple[int, ...] | None = None
    size: tuple[int, int] | None = None
    for index, frame in enumerate(frames):
        if index >= max_frames:
            break
        if isinstance(frame, Image.Image):
            array = np.asarray(frame.convert("RGB"))
        else:
            try:
                array = _as_array(tag, frame)
            except TypeError:
                raise TypeError(
                    f"frame {index} of video {tag!r} is a {type(frame).__name__}, not an image "
                    "(a numpy array, a PIL image or a torch tensor)"
                ) from None
            except ValueError as exc:
                raise ValueError(f"frame {index} of video {tag!r}: {exc}") from None
            if array.ndim == 4:
                raise ValueError(f"frame {index} of video {tag!r} has 4 dimensions {array.shape}")
        if first is None:
            first = array.shape
        elif array.shape != first:
            raise ValueError(
                f"frame {index} of video {tag!r} has shape {array.shape}, frame 0 has {first}; "
                "every frame of a video must have one shape"
            )
        if array.ndim == 2 or array.shape[-1] != 3:
            array = np.asarray(Image.fromarray(array).convert("RGB"))
        if size is None:
            size = _scaled((array.shape[1], array.shape[0]), max_size)
        if (array.shape[1], array.shape[0]) != size:  # BOX: area averaging, the fast good shrink
            array = np.asarray(Image.fromarray(array).resize(size, Image.Resampling.BOX))
        out.append(array)
    if not out:
        raise ValueError(f"video for tag {tag!r} has no frames")
    return out, total


def _scaled(size: tuple[int, int], max_size: int | None) -> tuple[int, int]:
    """(width, height) with the longer side at most ``max_size``, both even and >= 2."""
    width, height = size
    if max_size is not None and max(width, height) > max_size:
        factor = max_size / max(width, height)
        width, height = round(width * factor), round(height * factor)
    return max(2, width - width % 2), max(2, height - height % 2)


def _write_mp4(frames: list[np.ndarray], fps: float, dest: Path) -> Path:
    """H.264 through the ffmpeg that ``imageio-ffmpeg``'s wheel ships; written beside ``dest``
    and renamed, so a reader never sees half a file."""
    from ..errors import require

    imageio_ffmpeg: Any = require("imageio_ffmpeg", "media", "MP4 video (Run.log_video)")
    height, width = frames[0].shape[:2]
    partial = dest.with_name(f"{dest.stem}.partial.mp4")
    writer = imageio_ffmpeg.write_frames(
        str(partial),
        (width, height),
        fps=fps,
        codec="libx264",
        quality=None,
        macro_block_size=1,
        ffmpeg_log_level="error",
        output_params=_MP4_OPTIONS,
    )
    try:
        writer.send(None)
        for frame in frames:
            writer.send(np.ascontiguousarray(frame).tobytes())
        writer.close()
    except (BrokenPipeError, RuntimeError) as exc:  # ffmpeg died: a full disk, a bad path
        partial.unlink(missing_ok=True)
        raise OSError(f"ffmpeg could not write {dest.name}: {exc}") from exc
    os.replace(partial, dest)
    return dest
