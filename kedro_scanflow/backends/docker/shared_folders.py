"""Giving the shared folders to the containers' unprivileged user when the host user is root.

Containers never run as root. When the orchestrator runs as a normal user, the image's
user has that user's uid and writes the bind-mounted folders naturally. When it runs as
root (CI machines, some servers), the unprivileged container user cannot write root-owned
folders, so the writable shared folders (``data/`` and the run directory) are handed to
it; root keeps full access regardless.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from kedro_scanflow.backends.docker.container_plan import shared_mounts

logger = logging.getLogger(__name__)


def hand_over_shared_folders(project_path: Path, run_directory: Path, uid: int) -> None:
    """Make the writable shared folders belong to ``uid`` (only when running as root)."""
    if os.getuid() != 0 or uid == 0:
        return
    roots = [m.source for m in shared_mounts(project_path, run_directory) if not m.read_only]
    logger.info(
        "Running as root: giving %s to uid %d for the containers.", ", ".join(map(str, roots)), uid
    )
    for root in roots:
        _chown_tree(Path(root), uid)


def _chown_tree(root: Path, uid: int) -> None:
    for directory, folders, files in os.walk(root):
        for name in [directory, *(os.path.join(directory, f) for f in folders + files)]:
            with contextlib.suppress(FileNotFoundError):
                if os.lstat(name).st_uid != uid:
                    os.lchown(name, uid, uid)
