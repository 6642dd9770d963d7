"""``BaseImageBuilder``: a Python base image made on a host that cannot pull images.

Air-gapped HPC and enterprise hosts, and this project's CI, reach a Debian mirror but no
container registry. ``debootstrap --variant=minbase`` installs a minimal Debian with
Python into a folder, and ``docker import`` turns the folder into an image. An image that
already exists is kept: building it again takes a minute or two for nothing.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kedro_scanflow.images.docker_engine import DockerEngineError, docker_client

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger(__name__)

DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = ("python3", "python3-venv", "python3-pip", "ca-certificates")
SOURCES_FILE = Path("/etc/apt/sources.list.d/debian.sources")


class BaseImageError(RuntimeError):
    """The base image cannot be made on this host."""


@dataclass(frozen=True)
class BaseImageResult:
    """What :meth:`BaseImageBuilder.build` did."""

    tag: str
    image_id: str
    built: bool
    python_version: str


class BaseImageBuilder:
    """Makes ``tag`` from a Debian suite with debootstrap, unless it exists already."""

    def __init__(self, tag: str, suite: str = "bookworm", mirror: str | None = None):
        """Create the builder.

        Args:
            tag: The image to make, e.g. ``scanflow-base:bookworm``.
            suite: Debian suite to bootstrap; its Python must match the host's.
            mirror: Debian mirror; default: the host's apt source, else deb.debian.org.
        """
        self.tag = tag
        self.suite = suite
        self.mirror = mirror or host_debian_mirror()

    def build(
        self, force: bool = False, say: Callable[[str], None] = logger.info
    ) -> BaseImageResult:
        """Make the image (or keep the existing one) and report its Python version.

        Raises:
            BaseImageError: When debootstrap is missing, not run as root, or fails.
            DockerEngineError: When no Docker engine answers.
        """
        client = docker_client()
        if not force:
            existing = _existing_image(client, self.tag)
            if existing is not None:
                say(
                    f"{self.tag} exists ({existing.short_id}); nothing to do (use --force to rebuild)."
                )
                return BaseImageResult(self.tag, existing.id, False, image_python_version(self.tag))
        debootstrap = shutil.which("debootstrap")
        if debootstrap is None:
            raise BaseImageError(
                "debootstrap is not installed; on Debian or Ubuntu: apt-get install debootstrap."
            )
        with tempfile.TemporaryDirectory(prefix="scanflow-rootfs-") as folder:
            rootfs = Path(folder) / "rootfs"
            say(f"debootstrap {self.suite} from {self.mirror} (about a minute)...")
            command = [
                debootstrap,
                "--variant=minbase",
                f"--include={','.join(PACKAGES)}",
                self.suite,
                str(rootfs),
                self.mirror,
            ]
            completed = subprocess.run(command, capture_output=True, text=True, check=False)
            if completed.returncode != 0:
                tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
                hint = " (debootstrap needs root)" if "root" in tail.lower() else ""
                raise BaseImageError(f"debootstrap failed{hint}:\n{tail}")
            say("docker import ...")
            repository, _, version = self.tag.partition(":")
            tar = subprocess.Popen(  # noqa: S603 - fixed command on our own folder
                ["tar", "--numeric-owner", "-C", str(rootfs), "-c", "."],  # noqa: S607
                stdout=subprocess.PIPE,
            )
            try:
                client.api.import_image_from_stream(
                    tar.stdout,
                    repository=repository,
                    tag=version or "latest",
                    changes=["ENV LANG=C.UTF-8", 'CMD ["python3"]'],
                )
            finally:
                if tar.wait() != 0:
                    raise BaseImageError("tar of the bootstrapped folder failed.")
        image = client.images.get(self.tag)
        version = image_python_version(self.tag)
        say(f"Built {self.tag} ({image.short_id}) with Python {version}.")
        return BaseImageResult(self.tag, image.id, True, version)


def _existing_image(client: object, tag: str) -> object | None:
    import docker.errors  # noqa: PLC0415

    try:
        return client.images.get(tag)  # type: ignore[attr-defined]
    except docker.errors.ImageNotFound:
        return None


def image_python_version(tag: str) -> str:
    """``major.minor`` of ``python3`` (or ``/opt/venv/bin/python``) in image ``tag``."""
    client = docker_client()
    output = client.containers.run(
        tag,
        [
            "sh",
            "-c",
            "exec $(command -v python || command -v python3) -c "
            "'import sys; print(\"%d.%d\" % sys.version_info[:2])'",
        ],
        remove=True,
        network_mode="none",
    )
    return output.decode().strip()


def host_debian_mirror() -> str:
    """The Debian mirror the host's apt uses, so debootstrap goes where apt can go."""
    try:
        text = SOURCES_FILE.read_text(encoding="utf-8")
    except OSError:
        return DEFAULT_MIRROR
    for line in text.splitlines():
        if line.startswith("URIs:"):
            for uri in line.split()[1:]:
                if "security" not in uri:
                    return uri
    return DEFAULT_MIRROR


__all__ = ["BaseImageBuilder", "BaseImageError", "BaseImageResult", "DockerEngineError"]
