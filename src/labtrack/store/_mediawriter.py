"""The rarer kinds a run records: text, figures, images, videos and artifacts.

They are written by the caller's thread (figures must be rendered there: matplotlib is not
thread-safe), files first, under the run directory; each is then announced by a small JSON record
that :meth:`MediaWriter.take_records` hands to the next flush. Text has no file: its entries
travel in one record per flush.

Bad input (a wrong type, a missing source file) raises at the call, naming the tag. A file that
cannot be written (disk full, permissions) is reported once per outage and counted in
:attr:`MediaWriter.lost`; the call returns and training goes on.
"""

from __future__ import annotations

import math
import os
import shutil
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

from . import _records as rec
from ._datafile import Pending
from ._files import copy_hashing, is_inside, safe_name
from ._meta import ARTIFACTS_DIR, MEDIA_DIR, META_DIR
from ._outage import Outages
from ._values import check_tag, storable, to_step

ArtifactKind = Literal["model", "checkpoint", "data", "figure", "other"]
VideoFormat = Literal["mp4", "gif"]
ARTIFACT_KINDS: tuple[str, ...] = ("model", "checkpoint", "data", "figure", "other")


class MediaWriter:
    """Text, figure, image and artifact logging of one run (see the module docstring)."""

    def __init__(
        self,
        run_dir: Path,
        outages: Outages,
        text_steps: Mapping[str, int],
        media_steps: Mapping[tuple[str, str], int],
        on_files: Callable[[list[Path]], None] | None = None,
    ) -> None:
        self.dir = run_dir
        self._on_files = on_files  # told of each complete file before its record is queued
        self._outages = outages
        self._text: list[tuple[str, int, float, str]] = []
        self._text_steps = dict(text_steps)
        self._media_steps = dict(media_steps)
        self._events: list[tuple[int, dict[str, Any]]] = []  # (record kind, record)
        self.lost = 0  # media and artifact files that could not be written

    def log_text(
        self, tag: str, text: str, step: int | None = None, wall_time: float | None = None
    ) -> None:
        check_tag(tag)
        if not isinstance(text, str):
            raise TypeError(f"text for tag {tag!r} must be a str, got {type(text).__name__}")
        at = self._text_steps.get(tag, 0) if step is None else to_step(tag, step)
        self._text_steps[tag] = at + 1
        self._text.append((tag, at, _wall(tag, wall_time), text))

    def log_figure(self, tag: str, fig: Any, step: int | None, interactive: bool) -> None:
        from ._media import figure_files

        check_tag(tag)
        at = self._media_step("figure", tag, step)
        files = self._written(
            tag,
            lambda: figure_files(
                tag, fig, self._placer("figure", tag, at), interactive=interactive
            ),
        )
        if files is None:
            return
        self._media_steps[("figure", tag)] = at + 1
        record = {"kind": "figure", "tag": tag, "step": at, "wall": time.time()}
        record["interactive"] = bool(interactive)
        self._events.append((rec.KIND_MEDIA, {**record, **self._relative(files)}))

    def log_image(
        self, tag: str, image: Any, step: int | None, fps: float, wall_time: float | None = None
    ) -> None:
        from ._media import IMAGE_SUFFIXES, image_file

        check_tag(tag)
        if isinstance(image, str | os.PathLike):  # checked here: an OSError later is the disk's
            source = Path(image)
            if source.suffix.lower() not in IMAGE_SUFFIXES:
                raise ValueError(
                    f"image file for tag {tag!r} must be one of {', '.join(IMAGE_SUFFIXES)}: "
                    f"{source}"
                )
            if not source.is_file():
                raise FileNotFoundError(f"image file for tag {tag!r} does not exist: {source}")
        at = self._media_step("image", tag, step)
        path = self._written(
            tag, lambda: image_file(tag, image, fps, self._placer("image", tag, at))
        )
        if path is None:
            return
        self._media_steps[("image", tag)] = at + 1
        record = {"kind": "image", "tag": tag, "step": at, "wall": _wall(tag, wall_time)}
        self._events.append((rec.KIND_MEDIA, {**record, **self._relative({"path": path})}))

    def log_video(
        self,
        tag: str,
        frames: Any,
        step: int | None,
        fps: float,
        format: VideoFormat,
        max_frames: int,
        max_size: int | None,
    ) -> None:
        """Encode and record a video (``_media.video_files`` says how); bad arguments and frames
        raise here, naming the tag and the frame, before anything is written.

        ``frames`` may also be the bytes of an MP4 or GIF file encoded elsewhere (by
        ``_media.encode_video`` in a Ray worker): checked by magic number against ``format``
        and stored as they are (``_media.encoded_video_files``)."""
        from ._media import (
            ENCODED_TYPES,
            check_encoded,
            check_video_options,
            encoded_video_files,
            video_files,
        )

        check_tag(tag)
        check_video_options(tag, format, fps, max_frames, max_size)
        encoded = isinstance(frames, ENCODED_TYPES)
        if encoded:
            check_encoded(tag, frames, format)
        elif format == "mp4":
            from ..errors import require

            require("imageio_ffmpeg", "media", "MP4 video (Run.log_video)")
        at = self._media_step("video", tag, step)
        place = self._placer("video", tag, at)
        files = self._written(
            tag,
            lambda: (
                encoded_video_files(tag, frames, place, fmt=format)
                if encoded
                else video_files(
                    tag, frames, fps, place, fmt=format, max_frames=max_frames, max_size=max_size
                )
            ),
        )
        if files is None:
            return
        self._media_steps[("video", tag)] = at + 1
        record = {"kind": "video", "tag": tag, "step": at, "wall": time.time()}
        self._events.append((rec.KIND_MEDIA, {**record, **self._relative(files)}))

    def log_artifact(
        self,
        path: str | Path,
        name: str | None,
        kind: ArtifactKind,
        metadata: Mapping[str, Any] | None,
        step: int | None,
    ) -> Path:
        if kind not in ARTIFACT_KINDS:
            raise ValueError(f"artifact kind {kind!r} is not one of {', '.join(ARTIFACT_KINDS)}")
        source = Path(path)
        if not source.exists():
            raise FileNotFoundError(f"artifact path {str(path)!r} does not exist")
        if not os.access(source, os.R_OK):
            raise PermissionError(f"artifact path {str(path)!r} cannot be read")
        name = name or source.name
        check_tag(name, "artifact name")
        if Path(name).is_absolute() or ".." in Path(name).parts:
            raise ValueError(f"artifact name {name!r} must be a relative path inside the run")
        at = None if step is None else to_step(name, step)
        clean_meta = storable(dict(metadata or {}), "metadata")
        dest = self.dir / ARTIFACTS_DIR / name
        inside = is_inside(source.absolute(), self.dir)
        target = source.absolute() if inside else dest
        copied = self._written(name, lambda: _copy(source, dest, target, inside))
        if copied is None:
            return target
        size, digest = copied
        if self._on_files is not None:
            self._on_files(sorted(p for p in target.rglob("*") if p.is_file()) or [target])
        record = {"name": name, "kind": kind, "path": str(target.relative_to(self.dir))}
        record.update({"size": size, "sha256": digest, "metadata": clean_meta})
        self._events.append((rec.KIND_ARTIFACT, {**record, "step": at, "wall": time.time()}))
        return target

    def take_records(self) -> list[Pending]:
        """Frame what was logged since the last call (safe against concurrent logging)."""
        out: list[Pending] = []
        if self._text:
            count = len(self._text)
            texts = self._text[:count]
            del self._text[:count]
            out.append(Pending(rec.frame_json(rec.KIND_TEXT, texts), points=len(texts)))
        if self._events:
            count = len(self._events)
            events = self._events[:count]
            del self._events[:count]
            out.extend(Pending(rec.frame_json(k, item), droppable=False) for k, item in events)
        return out

    def _written(self, tag: str, write: Callable[[], Any]) -> Any:
        """``write()``'s result, or None when the file system refused it (reported, counted)."""
        try:
            result = write()
        except OSError as exc:
            self.lost += 1
            self._outages.failed(
                "media",
                f"cannot write the file for {tag!r} in {self.dir}: {exc}; not recorded",
                cause=exc.errno,
            )
            return None
        self._outages.ok("media")
        return result

    def _media_step(self, kind: str, tag: str, step: int | None) -> int:
        return self._media_steps.get((kind, tag), 0) if step is None else to_step(tag, step)

    def _placer(self, kind: str, tag: str, step: int) -> Callable[[str], Path]:
        def place(suffix: str) -> Path:
            folder = self.dir / META_DIR / MEDIA_DIR / kind / safe_name(tag)
            folder.mkdir(parents=True, exist_ok=True)
            return folder / f"{step}{suffix}"

        return place

    def _relative(self, files: Mapping[str, Any]) -> dict[str, Any]:
        if self._on_files is not None:
            self._on_files([v for v in files.values() if isinstance(v, Path)])
        return {
            k: (str(v.relative_to(self.dir)) if isinstance(v, Path) else v)
            for k, v in files.items()
        }


def _wall(tag: str, wall_time: float | None) -> float:
    """``wall_time`` checked (finite seconds since the epoch), or now."""
    if wall_time is None:
        return time.time()
    try:
        wall = float(wall_time)
    except (TypeError, ValueError):
        raise TypeError(f"wall_time for tag {tag!r} must be a number, got {wall_time!r}") from None
    if not math.isfinite(wall):
        raise ValueError(f"wall_time for tag {tag!r} must be finite, got {wall_time!r}")
    return wall


def _copy(source: Path, dest: Path, target: Path, inside: bool) -> tuple[int, str | None]:
    """Copy an artifact into the run (unless it is already inside); (size, sha256 of a file)."""
    if not inside:
        dest.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir():
        if not inside:
            shutil.copytree(source, dest, dirs_exist_ok=True)
        return sum(f.stat().st_size for f in target.rglob("*") if f.is_file()), None
    return copy_hashing(source, None if inside else dest)
