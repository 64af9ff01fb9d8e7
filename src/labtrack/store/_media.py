"""Turning figures and images into files inside a run directory.

Imported only when a figure or image is logged: Pillow and cloudpickle load then, never at
``import labtrack``. Everything is done on the caller's thread, because matplotlib is not
thread-safe. A figure becomes, side by side (``<step>.<suffix>``):

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


def _write_gif(tag: str, frames: np.ndarray, fps: float, place: Callable[[str], Path]) -> Path:
    from PIL import Image

    if fps <= 0:
        raise ValueError(f"fps for tag {tag!r} must be > 0, got {fps}")
    images = [Image.fromarray(frame) for frame in frames]
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
