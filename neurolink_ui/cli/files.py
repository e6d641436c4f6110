"""Where a generation's downloaded files are written: the names the output flags ask for, with the
bytes always under an extension that names them."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from ..modalities.common import InputProblem
from .console import Console


def _same_format(a: str, b: str) -> bool:
    aliases = {".jpeg": ".jpg", ".tif": ".tiff"}
    return aliases.get(a.lower(), a.lower()) == aliases.get(b.lower(), b.lower())


def output_paths(
    downloaded: Sequence[Path], requested: Path | None, default_stem: str
) -> list[Path]:
    """`panda.png` for the first file, `panda-2.png`, `panda-3.png` … for more; with no path
    requested, `<default_stem><extension of the file>` in the working directory."""
    paths: list[Path] = []
    for index, source in enumerate(downloaded):
        if requested is None:
            base = Path(f"{default_stem}{source.suffix}")
        elif not requested.suffix:
            base = requested.with_name(requested.name + source.suffix)
        else:
            base = requested
        paths.append(
            base if index == 0 else base.with_name(f"{base.stem}-{index + 1}{base.suffix}")
        )
    return paths


# Formats a still image is converted to without loss (Pillow), and the still formats it reads.
LOSSLESS_TARGETS = frozenset({".png", ".tiff"})
STILL_IMAGE_SOURCES = frozenset({".png", ".jpg", ".webp", ".gif", ".tiff", ".bmp"})


def _is_still_image(path: Path) -> bool:
    try:
        with Image.open(path) as picture:
            return not getattr(picture, "is_animated", False)
    except (OSError, ValueError):
        return False


def place_output(source: Path, target: Path) -> tuple[Path, str | None]:
    """Where a downloaded file goes and what to tell the person. The bytes always sit under an
    extension that names them: a still image asked for as PNG/TIFF is converted losslessly;
    anything else whose container differs from the name asked for (WebM bytes for `out.mp4`) is
    written under its own extension instead (`out.webm`)."""
    if not target.suffix or _same_format(source.suffix, target.suffix):
        return target, None
    wanted = target.suffix.lower()
    if (
        wanted in LOSSLESS_TARGETS
        and source.suffix.lower() in STILL_IMAGE_SOURCES
        and _is_still_image(source)
    ):
        return target, (
            f"the model returned {source.suffix[1:].upper()}; converted losslessly to "
            f"{wanted[1:].upper()} for {target}"
        )
    actual = target.with_suffix(source.suffix)
    return actual, (
        f"the model returned {source.suffix[1:].upper()}, not {wanted[1:].upper()}; written to "
        f"{actual} (not {target}) so the name matches the bytes"
    )


def save_outputs(
    downloaded: Sequence[Path], requested: Path | None, default_stem: str, console: Console
) -> list[Path]:
    saved: list[Path] = []
    for source, wanted in zip(
        downloaded, output_paths(downloaded, requested, default_stem), strict=True
    ):
        target, note = place_output(source, wanted)
        if note:
            console.note(note)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if _same_format(source.suffix, target.suffix):
                # A copy, not a move: the new file gets the umask's permissions, not the 0600 of
                # the private download directory.
                shutil.copyfile(source, target)
            else:
                with Image.open(source) as picture:
                    picture.save(target)
        except OSError as exc:
            raise InputProblem(f"could not write {target}: {exc.strerror or exc}") from None
        saved.append(target)
    return saved
