"""Seeding the shared claim from the image: ``python -m kedro_scanflow.backends.kubernetes.volume_seed``.

A pipeline's raw inputs live on the claim, which starts empty. Folders listed in
``backends.kubernetes.storage.seed`` (and baked into the image with
``backends.docker.include``) are copied onto it by a seed Job before the first task;
files already on the claim are never overwritten, so results and edits survive.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path


def seed(source_root: Path, target_root: Path, folders: list[str]) -> list[Path]:
    """Copy the files of ``folders`` (paths under ``data/``) from ``source_root`` to the
    same place under ``target_root`` (the claim, mounted as ``data/``) when absent.

    Returns:
        The files copied.

    Raises:
        FileNotFoundError: When a folder is not in the image.
    """
    copied = []
    for folder in folders:
        source = source_root / folder
        if not source.exists():
            raise FileNotFoundError(
                f"{folder} is not in the image: add it to backends.docker.include and "
                "rebuild with `kedro scanflow build`"
            )
        relative = Path(folder).relative_to("data")
        files = (
            [source] if source.is_file() else sorted(p for p in source.rglob("*") if p.is_file())
        )
        for path in files:
            target = target_root / relative / path.relative_to(source)
            if target.exists():
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
            copied.append(target)
    return copied


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m kedro_scanflow.backends.kubernetes.volume_seed"
    )
    parser.add_argument("--source", type=Path, required=True, help="The project in the image.")
    parser.add_argument("--target", type=Path, required=True, help="Where the claim is mounted.")
    parser.add_argument("--marker", type=Path, default=None, help="File written when done.")
    parser.add_argument("folders", nargs="+", help="Folders under data/ to copy.")
    args = parser.parse_args(argv)
    try:
        copied = seed(args.source, args.target, args.folders)
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)  # noqa: T201 - the seed pod's log
        return 1
    if args.marker is not None:
        args.marker.parent.mkdir(parents=True, exist_ok=True)
        args.marker.write_text("seeded\n", encoding="utf-8")
    print(f"seeded {len(copied)} file(s) onto the shared volume")  # noqa: T201
    return 0


if __name__ == "__main__":
    sys.exit(main())
