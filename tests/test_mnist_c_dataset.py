"""``MnistCDataset``: reads the published MNIST-C folder layout into an ImageSet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError

from kedro_scanflow.corruptions import corrupt
from kedro_scanflow.io import IdxImageDataset, ImageSet
from kedro_scanflow.io.mnist_c_dataset import MnistCDataset

from .conftest import REPO_ROOT

MNIST_5K = REPO_ROOT / "data" / "01_raw" / "mnist_5k"


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    """60 real MNIST digits, 6 of each class."""
    digits = IdxImageDataset(
        str(MNIST_5K / "images-idx3-ubyte.gz"), str(MNIST_5K / "labels-idx1-ubyte.gz")
    ).load()
    return digits.subset(np.arange(0, 5000, 84)[:60])


@pytest.fixture
def mnist_c_root(tmp_path: Path, mnist: ImageSet) -> Path:
    """A small MNIST-C folder in the official layout: uint8 (n, 28, 28, 1) and uint8 labels."""
    root = tmp_path / "mnist_c"
    train, test = mnist.subset(range(40)), mnist.subset(range(40, 60))
    for corruption in ("identity", "fog"):
        folder = root / corruption
        folder.mkdir(parents=True)
        for split, images in (("train", train), ("test", test)):
            pixels = images.images if corruption == "identity" else corrupt(images.images, "fog")
            np.save(folder / f"{split}_images.npy", pixels[..., np.newaxis])
            np.save(folder / f"{split}_labels.npy", images.labels.astype(np.uint8))
    return root


def test_a_split_of_a_corruption_loads_as_an_image_set(mnist_c_root, mnist):
    loaded = MnistCDataset(str(mnist_c_root), "fog", split="test").load()
    assert isinstance(loaded, ImageSet)
    assert loaded.images.shape == (20, 28, 28) and loaded.images.dtype == np.uint8
    np.testing.assert_array_equal(loaded.labels, mnist.labels[40:60])
    np.testing.assert_array_equal(loaded.images, corrupt(mnist.images[40:60], "fog"))


def test_the_train_split_and_the_clean_identity_folder(mnist_c_root, mnist):
    loaded = MnistCDataset(str(mnist_c_root), "identity", split="train").load()
    np.testing.assert_array_equal(loaded.images, mnist.images[:40])
    np.testing.assert_array_equal(loaded.labels, mnist.labels[:40])


def test_the_split_defaults_to_test(mnist_c_root):
    assert len(MnistCDataset(str(mnist_c_root), "fog").load()) == 20


def test_exists_and_describe(mnist_c_root):
    present = MnistCDataset(str(mnist_c_root), "fog", split="train")
    assert present.exists()
    assert not MnistCDataset(str(mnist_c_root), "zigzag").exists()
    (mnist_c_root / "fog" / "test_labels.npy").unlink()
    assert not MnistCDataset(str(mnist_c_root), "fog").exists()
    assert "corruption='fog'" in str(present) and "split='train'" in str(present)


def test_a_missing_file_is_named(mnist_c_root):
    (mnist_c_root / "fog" / "test_labels.npy").unlink()
    with pytest.raises(DatasetError, match=r"MNIST-C file not found: .*fog/test_labels\.npy"):
        MnistCDataset(str(mnist_c_root), "fog").load()


def test_a_missing_corruption_folder_lists_the_ones_there(mnist_c_root):
    with pytest.raises(
        DatasetError, match=r"no corruption folder 'zigzag'; it holds fog, identity"
    ):
        MnistCDataset(str(mnist_c_root), "zigzag").load()


def test_a_missing_root_folder_is_named(tmp_path):
    with pytest.raises(DatasetError, match=r"MNIST-C folder .*nowhere does not exist"):
        MnistCDataset(str(tmp_path / "nowhere"), "fog").load()


def test_an_unknown_split_is_refused():
    with pytest.raises(DatasetError, match=r"split must be one of train, test, got 'validation'"):
        MnistCDataset("data/01_raw/mnist_c", "fog", split="validation")


def test_a_file_that_is_not_npy_is_reported(mnist_c_root):
    (mnist_c_root / "fog" / "test_images.npy").write_text("not numpy")
    with pytest.raises(DatasetError, match=r"test_images\.npy is not a NumPy \.npy file"):
        MnistCDataset(str(mnist_c_root), "fog").load()


def test_it_is_read_only(mnist_c_root, mnist):
    with pytest.raises(DatasetError, match="read-only"):
        MnistCDataset(str(mnist_c_root), "fog").save(mnist)


def test_a_catalog_entry_loads_it(mnist_c_root):
    catalog = DataCatalog.from_config(
        {
            "mnist_c_fog": {
                "type": "kedro_scanflow.io.mnist_c_dataset.MnistCDataset",
                "path": str(mnist_c_root),
                "corruption": "fog",
                "split": "test",
            }
        }
    )
    assert len(catalog.load("mnist_c_fog")) == 20
