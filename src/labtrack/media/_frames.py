"""Episode frames to RGB uint8 arrays, checked, as the document converts them.

The document's rules: a PIL image is converted to RGB; an array that is 2-D is grey (stacked to
three channels); any other dtype is clipped to 0..255 and cast (so floats are read as 0..255,
unlike ``Run.log_image``, which scales 0..1 floats). Beyond the document, a frame that is not an
image, or whose shape differs from the first frame's, raises ``ValueError`` naming its index.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np


def to_rgb(frame: object, index: int) -> np.ndarray:
    """One frame as an H×W×3 uint8 array (see the module docstring)."""
    if hasattr(frame, "convert") and hasattr(frame, "size"):  # a PIL image, without importing PIL
        return np.asarray(frame.convert("RGB"))
    if type(frame).__module__.startswith("torch"):
        frame = frame.detach().cpu().numpy()  # type: ignore[attr-defined]
    if not isinstance(frame, np.ndarray | list | tuple):
        raise ValueError(f"frame {index} is a {type(frame).__name__}, not an image array")
    try:
        array = np.asarray(frame)
    except ValueError as exc:  # a ragged list
        raise ValueError(f"frame {index} is not an image array: {exc}") from None
    if array.dtype.kind not in "biuf":
        raise ValueError(f"frame {index} holds {array.dtype} values, not pixel numbers")
    if array.ndim == 2:
        array = np.stack([array] * 3, axis=-1)
    if array.ndim == 3 and array.shape[-1] == 4:
        array = array[..., :3]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"frame {index} has shape {array.shape}; expected H×W, H×W×3 or H×W×4")
    if array.dtype != np.uint8:
        array = np.clip(np.nan_to_num(array), 0, 255).astype(np.uint8)
    return array


def to_rgb_frames(frames: Iterable[Any], max_frames: int | None) -> list[np.ndarray]:
    """At most ``max_frames`` (None or <= 0: all) frames of one shape, as RGB uint8 arrays."""
    out: list[np.ndarray] = []
    for index, frame in enumerate(frames):
        if max_frames is not None and max_frames > 0 and index >= max_frames:
            break
        array = to_rgb(frame, index)
        if out and array.shape != out[0].shape:
            raise ValueError(
                f"frame {index} has shape {array.shape} but frame 0 has {out[0].shape}; "
                "every frame of an episode must have one shape"
            )
        out.append(array)
    return out
