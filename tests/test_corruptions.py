"""The MNIST-C corruptions: on real digits, each one changes images the way the benchmark says."""

from __future__ import annotations

import numpy as np
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.pipeline import node, pipeline
from kedro.runner import SequentialRunner
from scipy import ndimage
from skimage.transform import rotate as skimage_rotate
from sklearn.datasets import load_digits

from kedro_scanflow.corruptions import (
    CORRUPTIONS,
    corrupt,
    corrupt_dataset,
    corrupt_datasets,
    corrupt_image_set,
)
from kedro_scanflow.corruptions.plasma_fractal import plasma_fractal
from kedro_scanflow.io import IdxImageDataset, ImageSet

from .conftest import REPO_ROOT

MNIST_5K = REPO_ROOT / "data" / "01_raw" / "mnist_5k"
BENCHMARK_ORDER = [
    "shot_noise",
    "impulse_noise",
    "glass_blur",
    "motion_blur",
    "shear",
    "scale",
    "rotate",
    "brightness",
    "translate",
    "stripe",
    "fog",
    "spatter",
    "dotted_line",
    "zigzag",
    "canny_edges",
]
DETERMINISTIC = {"scale", "brightness", "stripe", "canny_edges"}
RANDOM = [name for name in BENCHMARK_ORDER if name not in DETERMINISTIC]
GAPS = [0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25]


@pytest.fixture(scope="module")
def mnist() -> ImageSet:
    """200 real MNIST digits, 20 of each class, uint8 28x28."""
    digits = IdxImageDataset(
        str(MNIST_5K / "images-idx3-ubyte.gz"), str(MNIST_5K / "labels-idx1-ubyte.gz")
    ).load()
    return digits.subset(np.arange(0, 5000, 25))


@pytest.fixture(scope="module")
def digits(mnist: ImageSet) -> np.ndarray:
    return mnist.images


@pytest.fixture(scope="module")
def corrupted(digits: np.ndarray) -> dict[str, np.ndarray]:
    """Every corruption of the same digits, seed 0."""
    return {name: corrupt(digits, name, seed=0) for name in CORRUPTIONS}


def _levels(images: np.ndarray) -> np.ndarray:
    return images.astype(np.float64)


def _gradient_energy(images: np.ndarray) -> np.ndarray:
    """Mean squared difference between neighbouring pixels, per image: sharpness."""
    values = _levels(images)
    rows = np.diff(values, axis=1) ** 2
    cols = np.diff(values, axis=2) ** 2
    return rows.mean(axis=(1, 2)) + cols.mean(axis=(1, 2))


def _centres_of_mass(images: np.ndarray) -> np.ndarray:
    return np.array([ndimage.center_of_mass(_levels(image)) for image in images])


def _box_sizes(images: np.ndarray, level: int = 128) -> np.ndarray:
    """Height and width of the box around the pixels brighter than ``level``."""
    sizes = []
    for image in images:
        rows, cols = np.nonzero(image > level)
        sizes.append((rows.max() - rows.min() + 1, cols.max() - cols.min() + 1))
    return np.array(sizes, dtype=np.float64)


def _slants(images: np.ndarray) -> np.ndarray:
    """How many columns each digit leans to the right per row downwards (regression slope)."""
    rows, cols = np.mgrid[: images.shape[1], : images.shape[2]]
    slants = []
    for image in _levels(images):
        weights = image / image.sum()
        mean_row, mean_col = (weights * rows).sum(), (weights * cols).sum()
        covariance = (weights * (rows - mean_row) * (cols - mean_col)).sum()
        slants.append(covariance / (weights * (rows - mean_row) ** 2).sum())
    return np.array(slants)


def _correlation(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.corrcoef(left.ravel(), right.ravel())[0, 1])


# Every corruption, on the same contract.


def test_the_registry_lists_the_fifteen_mnist_c_corruptions_in_benchmark_order():
    assert list(CORRUPTIONS) == BENCHMARK_ORDER
    with pytest.raises(TypeError):
        CORRUPTIONS["mine"] = lambda images, rng: images  # type: ignore[index]


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_a_corruption_keeps_shape_dtype_and_range(name, digits, corrupted):
    result = corrupted[name]
    assert result.shape == digits.shape
    assert result.dtype == np.uint8
    assert result.min() >= 0 and result.max() <= 255


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_a_corruption_is_reproducible_for_a_seed(name, digits, corrupted):
    np.testing.assert_array_equal(corrupt(digits, name, seed=0), corrupted[name])


@pytest.mark.parametrize("name", RANDOM)
def test_a_random_corruption_draws_differently_for_another_seed(name, digits, corrupted):
    assert not np.array_equal(corrupt(digits, name, seed=1), corrupted[name])


@pytest.mark.parametrize("name", sorted(DETERMINISTIC))
def test_a_deterministic_corruption_ignores_the_seed(name, digits, corrupted):
    np.testing.assert_array_equal(corrupt(digits, name, seed=1), corrupted[name])


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_a_corruption_changes_every_digit(name, digits, corrupted):
    changed = np.any(corrupted[name] != digits, axis=(1, 2))
    assert changed.all(), f"{name} left {int((~changed).sum())} digits untouched"


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_float_images_in_the_unit_range_give_the_same_corruption(name, digits, corrupted):
    as_float = digits.astype(np.float32) / 255
    result = corrupt(as_float, name, seed=0)
    assert result.dtype == np.float32
    assert result.shape == digits.shape
    assert result.min() >= 0.0 and result.max() <= 1.0
    difference = np.abs(result * 255 - corrupted[name].astype(np.float32))
    assert np.mean(difference <= 1.0) > 0.99


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_the_published_channel_axis_is_kept(name, digits, corrupted):
    result = corrupt(digits[:16, :, :, np.newaxis], name, seed=0)
    assert result.shape == (16, 28, 28, 1)
    np.testing.assert_array_equal(result[..., 0], corrupt(digits[:16], name, seed=0))


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_an_empty_batch_stays_empty(name):
    result = corrupt(np.zeros((0, 28, 28), dtype=np.uint8), name)
    assert result.shape == (0, 28, 28) and result.dtype == np.uint8


@pytest.fixture(scope="module")
def small_digits() -> np.ndarray:
    """scikit-learn's real 8x8 digits as floats in [0, 1] (their levels run 0..16)."""
    return load_digits().images[:64] / 16.0


@pytest.fixture(scope="module")
def padded_digits(digits: np.ndarray) -> np.ndarray:
    """MNIST digits padded to 32x32 like LeNet's input."""
    return np.pad(digits[:64], ((0, 0), (2, 2), (2, 2)))


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_a_corruption_works_on_8x8_digits(name, small_digits):
    result = corrupt(small_digits, name, seed=0)
    assert result.shape == small_digits.shape and result.dtype == np.float64
    assert result.min() >= 0.0 and result.max() <= 1.0
    assert np.mean(np.any(np.abs(result - small_digits) > 1e-6, axis=(1, 2))) > 0.9


@pytest.mark.parametrize("name", BENCHMARK_ORDER)
def test_a_corruption_works_on_32x32_digits(name, padded_digits):
    result = corrupt(padded_digits, name, seed=0)
    assert result.shape == padded_digits.shape and result.dtype == np.uint8
    assert np.any(result != padded_digits, axis=(1, 2)).all()


# What each corruption does to a digit.


def test_shot_noise_counts_few_photons(digits, corrupted):
    noisy = corrupted["shot_noise"]
    assert set(np.unique(noisy)) <= {0, 85, 170, 255}
    background, strokes = digits == 0, digits > 0
    assert np.all(noisy[background] == 0)
    residual = _levels(noisy[strokes]) - _levels(digits[strokes])
    assert np.mean(residual != 0) > 0.5
    assert residual.std() > 50


def test_impulse_noise_flips_17_percent_of_pixels_to_black_or_white(digits, corrupted):
    noisy = corrupted["impulse_noise"]
    changed = noisy != digits
    assert set(np.unique(noisy[changed])) <= {0, 255}
    gray = (digits > 0) & (digits < 255)
    assert np.mean(changed[gray]) == pytest.approx(0.17, abs=0.01)
    assert np.mean(noisy[digits == 0] == 255) == pytest.approx(0.085, abs=0.005)


@pytest.mark.parametrize("name", ["glass_blur", "motion_blur"])
def test_blur_softens_edges_and_keeps_the_ink(name, digits, corrupted):
    blurred = corrupted[name]
    assert np.all(_gradient_energy(blurred) < 0.6 * _gradient_energy(digits))
    ink_ratio = _levels(blurred).sum(axis=(1, 2)) / _levels(digits).sum(axis=(1, 2))
    assert np.median(ink_ratio) == pytest.approx(1.0, abs=0.03)


def test_glass_blur_shuffles_pixels_beyond_a_plain_blur(digits):
    first, second = corrupt(digits, "glass_blur", seed=0), corrupt(digits, "glass_blur", seed=1)
    assert np.mean(first != second) > 0.1


def test_motion_blur_smears_each_digit_along_its_own_direction(digits, corrupted):
    blurred = _levels(corrupted["motion_blur"])
    clean = _levels(digits)
    # Each pixel averages the pixels ahead of it along an angle in [-45, 45] degrees
    # (a one-sided Gaussian, sigma 3): the ink of every digit drifts about
    # 3 * sqrt(2 / pi) * cos(angle) pixels to the left, and less up or down.
    shift = _centres_of_mass(blurred) - _centres_of_mass(clean)
    assert np.all((shift[:, 1] < -1.3) & (shift[:, 1] > -2.6))
    assert np.all(np.abs(shift[:, 0]) <= np.abs(shift[:, 1]) + 0.1)
    assert np.ptp(shift[:, 0]) > 2.0


def test_shear_slants_digits_by_the_sine_of_0_4_either_way(digits, corrupted):
    before, after = _slants(digits), _slants(corrupted["shear"])
    # Content at (x, y) moves to (x + tan(a) y, y / cos(a)): the slope becomes
    # cos(a) * slope + sin(a) for a = +-0.4.
    change = after - np.cos(0.4) * before
    assert np.median(np.abs(np.abs(change) - np.sin(0.4))) < 0.03
    assert 0.25 < np.mean(change > 0) < 0.75


def test_scale_shrinks_digits_to_70_percent_about_the_centre(digits, corrupted):
    ratio = _box_sizes(corrupted["scale"]) / _box_sizes(digits)
    assert np.median(ratio) == pytest.approx(0.7, abs=0.06)
    assert np.all(ratio < 0.9)
    ink_ratio = _levels(corrupted["scale"]).sum() / _levels(digits).sum()
    assert ink_ratio == pytest.approx(0.7**2, abs=0.05)
    centre = np.array([13.5, 13.5])
    offset_before = _centres_of_mass(digits) - centre
    offset_after = _centres_of_mass(corrupted["scale"]) - centre
    np.testing.assert_allclose(offset_after, 0.7 * offset_before, atol=0.3)


def test_rotate_turns_digits_by_0_4_radians_either_way_and_keeps_the_ink(digits, corrupted):
    rotated = _levels(corrupted["rotate"]) / 255
    clean = _levels(digits) / 255
    degrees = np.rad2deg(0.4)
    turned_back = []
    for image, original in zip(rotated, clean, strict=True):
        scores = [_correlation(skimage_rotate(image, d), original) for d in (degrees, -degrees)]
        assert max(scores) > 0.9
        assert max(scores) > _correlation(image, original) + 0.1
        turned_back.append(int(np.argmax(scores)))
    assert 0.25 < np.mean(turned_back) < 0.75
    ink_ratio = rotated.sum(axis=(1, 2)) / clean.sum(axis=(1, 2))
    np.testing.assert_allclose(ink_ratio, 1.0, atol=0.05)


def test_translate_moves_each_digit_3_pixels_on_both_axes(digits, corrupted):
    moved = corrupted["translate"]
    seen = set()
    for image, original in zip(moved, digits, strict=True):
        matches = [
            (rows, cols)
            for rows in (-3, 3)
            for cols in (-3, 3)
            if np.array_equal(image, _shifted(original, rows, cols))
        ]
        assert len(matches) == 1
        seen.add(matches[0])
    assert seen == {(-3, -3), (-3, 3), (3, -3), (3, 3)}
    inside = digits[:, 3:-3, 3:-3].sum(axis=(1, 2), dtype=np.int64)
    kept = inside == digits.sum(axis=(1, 2), dtype=np.int64)
    np.testing.assert_array_equal(moved[kept].sum(axis=(1, 2), dtype=np.int64), inside[kept])


def _shifted(image: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``image`` moved down by ``rows`` and right by ``cols``, black where it uncovers."""
    height, width = image.shape
    moved = np.zeros_like(image)
    moved[max(rows, 0) : height + min(rows, 0), max(cols, 0) : width + min(cols, 0)] = image[
        max(-rows, 0) : height + min(-rows, 0), max(-cols, 0) : width + min(-cols, 0)
    ]
    return moved


def test_brightness_adds_half_the_range_to_every_pixel(digits, corrupted):
    bright = corrupted["brightness"]
    expected = np.minimum(digits.astype(np.int64) + 128, 255)
    assert np.all(np.abs(bright.astype(np.int64) - expected) <= 1)
    assert bright.mean() > digits.mean() + 100


@pytest.mark.parametrize(("width", "band"), [(28, 7), (32, 8), (8, 2)])
def test_stripe_inverts_exactly_the_outer_quarters(width, band, digits, padded_digits):
    images = {
        28: digits[:32],
        32: padded_digits[:32],
        8: np.rint(load_digits().images[:32] * 255 / 16).astype(np.uint8),
    }[width]
    striped = corrupt(images, "stripe")
    inverted = np.r_[0:band, width - band : width]
    kept = np.r_[band : width - band]
    np.testing.assert_array_equal(striped[:, :, inverted], 255 - images[:, :, inverted])
    np.testing.assert_array_equal(striped[:, :, kept], images[:, :, kept])


def test_fog_lays_a_smooth_gray_cloud_and_lowers_contrast(digits, corrupted):
    foggy = _levels(corrupted["fog"])
    clean = _levels(digits)
    background = digits == 0
    assert (
        np.median([image[empty].mean() for image, empty in zip(foggy, background, strict=True)])
        > 50
    )
    for image, original, empty in zip(foggy, clean, background, strict=True):
        sky = image[empty]
        assert sky.mean() > 10
        assert sky.std() > 3
        # Low-frequency: neighbours differ far less than distant pixels do.
        neighbour_step = np.abs(np.diff(image, axis=1))[empty[:, 1:] & empty[:, :-1]].mean()
        assert neighbour_step < 0.5 * sky.std()
        assert image.max() <= original.max()
        assert image[~empty].mean() - sky.mean() < 0.6 * original[~empty].mean()


def test_fog_differs_from_image_to_image(digits):
    blank = np.zeros((2, 28, 28), dtype=np.float64)
    blank[:, 0, 0] = 1.0
    clouds = corrupt(blank, "fog", seed=0)
    assert not np.allclose(clouds[0, 1:], clouds[1, 1:])


def test_spatter_splashes_dark_gray_mud_blobs(digits, corrupted):
    muddy = corrupted["spatter"]
    assert np.all(muddy <= np.maximum(digits, 63))
    mud = (digits == 0) & (muddy > 0)
    assert 0.01 < mud.mean() < 0.3
    labelled, blobs = ndimage.label(mud)
    sizes = np.bincount(labelled.ravel())[1:]
    assert blobs > len(digits)
    assert np.median(sizes) >= 3
    covered_strokes = (digits > 200) & (muddy < digits)
    assert covered_strokes.any()


def test_dotted_line_is_a_straight_dashed_stroke_across_the_image():
    blank = np.zeros((64, 28, 28), dtype=np.uint8)
    lines = corrupt(blank, "dotted_line", seed=0).astype(np.float64)
    assert np.all(lines[:, :, GAPS] == 0)
    dashes = [col for col in range(28) if col not in GAPS and col != 27]
    assert np.all(lines[:, :, dashes].max(axis=1) > 180)
    rows = np.arange(28)[:, None]
    for line in lines:
        centres = (line[:, dashes] * rows).sum(axis=0) / line[:, dashes].sum(axis=0)
        fit = np.polyval(np.polyfit(dashes, centres, 1), dashes)
        assert np.abs(centres - fit).max() < 0.6
        assert (line[:, dashes] > 0).sum(axis=0).max() <= 4


def test_zigzag_is_a_stroke_oscillating_about_a_line():
    blank = np.zeros((64, 28, 28), dtype=np.uint8)
    zigzags = corrupt(blank, "zigzag", seed=0).astype(np.float64)
    assert np.all(zigzags[:, :, [0, 27]] == 0)
    drawn_columns = (zigzags.sum(axis=1) > 0).sum(axis=1)
    # Zigzags start on a random row in 0..26, so some leave the image in places.
    assert np.mean(drawn_columns >= 22) > 0.8
    rows = np.arange(28)[:, None]
    for zigzag in zigzags[drawn_columns >= 22]:
        inner = np.flatnonzero(zigzag.sum(axis=0) > 0)[2:-2]
        centres = (zigzag[:, inner] * rows).sum(axis=0) / zigzag[:, inner].sum(axis=0)
        fit = np.polyval(np.polyfit(inner, centres, 1), inner)
        assert np.abs(centres - fit).max() > 1.0


@pytest.mark.parametrize("name", ["dotted_line", "zigzag"])
def test_strokes_only_add_ink(name, digits, corrupted):
    drawn = corrupted[name]
    assert np.all(drawn >= digits)
    added = (drawn > 0) & (digits == 0)
    assert np.all(added.any(axis=(1, 2)))


def test_canny_edges_outline_the_strokes_in_binary(digits, corrupted):
    edges = corrupted["canny_edges"]
    assert set(np.unique(edges)) == {0, 255}
    assert 0.03 < np.mean(edges == 255) < 0.3
    near_strokes = ndimage.binary_dilation(digits > 0, iterations=2)
    assert np.all(near_strokes[edges == 255])
    inside = ndimage.binary_erosion(digits > 200, iterations=2)
    assert np.mean(edges[inside] == 255) < 0.05
    assert np.all(corrupt(np.zeros((2, 28, 28), np.uint8), "canny_edges") == 0)


# Bad input.


def test_an_unknown_name_suggests_the_closest_and_lists_all():
    with pytest.raises(ValueError, match=r"Unknown corruption 'shotnoise'") as error:
        corrupt(np.zeros((1, 28, 28), np.uint8), "shotnoise")
    message = str(error.value)
    assert "Did you mean 'shot_noise'?" in message
    assert all(name in message for name in BENCHMARK_ORDER)


def test_colour_images_are_refused_with_a_hint():
    with pytest.raises(ValueError, match=r"grayscale.*colour images shaped \(4, 28, 28, 3\)"):
        corrupt(np.zeros((4, 28, 28, 3), np.uint8), "fog")


@pytest.mark.parametrize(
    ("shape", "hint"),
    [((28, 28), r"images\[np\.newaxis\]"), ((784,), "shaped"), ((2, 3, 28, 28), "shaped")],
)
def test_arrays_that_are_not_image_batches_are_refused(shape, hint):
    with pytest.raises(ValueError, match=hint):
        corrupt(np.zeros(shape, np.uint8), "rotate")


def test_nan_values_are_refused():
    images = np.zeros((2, 28, 28), np.float32)
    images[1, 3, 4] = np.nan
    with pytest.raises(ValueError, match=r"1 NaN"):
        corrupt(images, "shot_noise")


def test_float_images_on_the_0_255_scale_are_refused():
    with pytest.raises(ValueError, match=r"\[0, 1\].*divide 0\.\.255 images by 255"):
        corrupt(np.full((1, 28, 28), 255.0), "brightness")


@pytest.mark.parametrize(
    "images",
    [np.full((1, 8, 8), 300, np.int16), np.zeros((1, 8, 8), bool)],
    ids=["out-of-range", "boolean"],
)
def test_other_values_are_refused(images):
    with pytest.raises(ValueError, match=r"0\.\.255"):
        corrupt(images, "stripe")


def test_plasma_fractal_spans_the_unit_range_and_needs_a_power_of_two():
    maps = plasma_fractal(3, np.random.default_rng(0), map_size=64)
    assert maps.shape == (3, 64, 64)
    np.testing.assert_allclose(maps.min(axis=(1, 2)), 0.0)
    np.testing.assert_allclose(maps.max(axis=(1, 2)), 1.0)
    with pytest.raises(ValueError, match="power-of-two"):
        plasma_fractal(1, np.random.default_rng(0), map_size=100)


# Image sets and Kedro nodes.


def test_corrupting_an_image_set_keeps_its_labels(mnist):
    corrupted = corrupt_image_set(mnist, "zigzag", seed=3)
    np.testing.assert_array_equal(corrupted.labels, mnist.labels)
    np.testing.assert_array_equal(corrupted.images, corrupt(mnist.images, "zigzag", seed=3))


def test_several_corrupted_sets_are_made_at_once_in_the_order_asked(mnist):
    sets = corrupt_datasets(mnist.subset(range(16)), ["fog", "stripe"], seed=1)
    assert list(sets) == ["fog", "stripe"]
    np.testing.assert_array_equal(sets["fog"].images, corrupt(mnist.images[:16], "fog", seed=1))
    assert all(len(made) == 16 for made in sets.values())
    with pytest.raises(ValueError, match="Did you mean 'zigzag'"):
        corrupt_datasets(mnist, ["fog", "zig_zag"])


def test_all_fifteen_corrupted_sets_by_default(mnist):
    sets = corrupt_datasets(mnist.subset(range(8)))
    assert list(sets) == BENCHMARK_ORDER


def test_corrupt_dataset_runs_as_a_kedro_node(mnist):
    clean = mnist.subset(range(32))
    catalog = DataCatalog(
        {
            "mnist_test": MemoryDataset(clean),
            "params:corruption": MemoryDataset("rotate"),
            "params:seed": MemoryDataset(7),
            "mnist_c_rotate": MemoryDataset(),
            "mnist_c_fog": MemoryDataset(),
            "mnist_c_stripe": MemoryDataset(),
        }
    )
    flow = pipeline(
        [
            node(
                corrupt_dataset,
                ["mnist_test", "params:corruption", "params:seed"],
                "mnist_c_rotate",
                name="corrupt_rotate",
            ),
            node(
                lambda clean, seed: corrupt_datasets(clean, ["fog", "stripe"], seed),
                ["mnist_test", "params:seed"],
                {"fog": "mnist_c_fog", "stripe": "mnist_c_stripe"},
                name="corrupt_several",
            ),
        ]
    )
    SequentialRunner().run(flow, catalog)
    rotated = catalog.load("mnist_c_rotate")
    np.testing.assert_array_equal(rotated.images, corrupt(clean.images, "rotate", seed=7))
    np.testing.assert_array_equal(rotated.labels, clean.labels)
    np.testing.assert_array_equal(
        catalog.load("mnist_c_stripe").images, corrupt(clean.images, "stripe")
    )
