"""The debugging experiment's building blocks (``kedro_scanflow.debugging``), without Kedro.

What users rely on: the grid refuses unknown corruptions and scenarios with the valid
names; a run cannot silently ask for another grid than the pipeline has; a label budget
larger than the pool, colour images or misaligned MNIST-C files stop with a message that
says what to change; the data parts are disjoint and stratified; every scenario runs on
real digits and the human-labelled ones beat the deployed model on corrupted data; the
tables average over corruptions then over seeds, as the paper does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kedro_scanflow.checkers import DriftDetectorChecker
from kedro_scanflow.debugging import (
    PAPER_TABLE_1,
    SCENARIOS,
    DebuggingGrid,
    DebuggingGridError,
    DebuggingSettings,
    NewDistribution,
    ScenarioResult,
    check_budgets,
    check_run_grid,
    corrupt_new_distribution,
    corruption_frame,
    labelled_image_set,
    markdown_report,
    mnist_c_positions,
    plot_accuracy_by_corruption,
    plot_accuracy_vs_labels,
    results_frame,
    run_scenario,
    sample_new_distribution,
    split_clean_digits,
    stratified_parts,
    summary_frame,
)
from kedro_scanflow.debugging.new_distribution import corruption_seed
from kedro_scanflow.io import IdxImageDataset, ImageSet

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "01_raw" / "mnist_5k"


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return IdxImageDataset(
        filepath=str(MNIST / "images-idx3-ubyte.gz"),
        labels_filepath=str(MNIST / "labels-idx1-ubyte.gz"),
    ).load()


# --- the grid ---------------------------------------------------------------------------


def test_the_default_grid_is_the_papers_full_grid():
    grid = DebuggingGrid.from_parameters({"corruptions": "all", "scenarios": "all"})
    assert len(grid.corruptions) == 15
    assert grid.scenarios == ("baseline", "naive", "ddc_hlc", "rnd_hlc", "mdwi_hfc")
    assert grid.seeds == (0, 1, 2)
    assert grid.budgets == (10, 25, 50, 100, 200, 500)
    assert [SCENARIOS[key].label for key in grid.scenarios] == [
        "Baseline",
        "Naive",
        "DDC+HLC",
        "RND+HLC",
        "MDWI+HFC",
    ]


def test_an_unknown_corruption_is_refused_with_the_closest_and_all_valid_names():
    with pytest.raises(DebuggingGridError) as error:
        DebuggingGrid.from_parameters({"corruptions": ["fog", "impluse_noise"]})
    message = str(error.value)
    assert "debugging_grid.corruptions" in message
    assert "'impluse_noise'" in message
    assert "Did you mean 'impulse_noise'" in message
    assert "canny_edges" in message  # the list of valid names


def test_unknown_scenarios_repeated_seeds_and_unknown_keys_are_refused_by_key():
    with pytest.raises(DebuggingGridError, match=r"debugging_grid.scenarios: unknown scenario"):
        DebuggingGrid.from_parameters({"scenarios": ["baseline", "ddc"]})
    with pytest.raises(
        DebuggingGridError, match=r"debugging_grid.seeds: each seed may appear once"
    ):
        DebuggingGrid.from_parameters({"seeds": [0, 0]})
    with pytest.raises(DebuggingGridError, match=r"debugging_grid.budget"):
        DebuggingGrid.from_parameters({"budget": [10]})
    with pytest.raises(DebuggingGridError, match=r"debugging_grid.budgets.0"):
        DebuggingGrid.from_parameters({"budgets": [0, 10]})


def test_budgets_are_sorted_and_a_run_asking_for_another_grid_is_stopped():
    grid = DebuggingGrid.from_parameters({"budgets": [100, 10], "seeds": [0]})
    assert grid.budgets == (10, 100)
    check_run_grid(grid, grid.as_parameters())  # the same grid: fine
    with pytest.raises(DebuggingGridError) as error:
        check_run_grid(grid, {**grid.as_parameters(), "data_source": "mnist_c"})
    message = str(error.value)
    assert "debugging_grid.data_source" in message and "'mnist_c'" in message
    assert "conf/local/parameters_debugging.yml" in message


def test_settings_name_the_bad_key():
    assert DebuggingSettings.from_parameters({}).model_trainer.epochs == 1
    with pytest.raises(ValueError, match=r"debugging.model_trainer.critical_share"):
        DebuggingSettings.from_parameters({"model_trainer": {"critical_share": 1.5}})
    with pytest.raises(ValueError, match=r"debugging.data.pool_sise"):
        DebuggingSettings.from_parameters({"data": {"pool_sise": 10}})
    with pytest.raises(ValueError, match=r"debugging.data.pool_from"):
        DebuggingSettings.from_parameters({"data": {"pool_from": "test"}})


# --- the data ---------------------------------------------------------------------------


def test_a_budget_larger_than_the_pool_names_both_and_what_to_change():
    check_budgets([10, 100], 100)
    with pytest.raises(ValueError) as error:
        check_budgets([10, 500, 200], 300, "seed 1, corruption fog")
    message = str(error.value)
    assert "500" in message and "pool of 300" in message and "seed 1, corruption fog" in message
    assert "debugging.data.pool_size" in message and "debugging_grid.budgets" in message


def test_colour_or_unlabelled_images_are_refused_clearly():
    with pytest.raises(ValueError, match=r"clean digits.*Colour images are not supported"):
        labelled_image_set(np.zeros((4, 28, 28, 3), np.uint8), "clean digits")
    with pytest.raises(ValueError, match=r"have no labels"):
        labelled_image_set(ImageSet(np.zeros((4, 28, 28), np.uint8)), "pool images")


def _rows_of(images: ImageSet) -> list[bytes]:
    return [row.tobytes() for row in images.images.reshape(len(images), -1)]


def test_the_pool_is_a_sample_of_the_training_digits_like_mnist_c(digits):
    train, pool, test, origins = split_clean_digits(digits, 2500, 1500, 1000, seed=3)
    assert (len(train), len(pool), len(test)) == (2500, 1500, 1000)
    for part in (train, pool, test):
        counts = np.bincount(part.labels, minlength=10) / len(part)
        assert np.allclose(counts, 0.1, atol=0.01)  # 500 digits of each class in the subset
    assert np.array_equal(train.images[origins], pool.images)  # copies of training digits
    assert len(set(origins)) == 1500
    assert not set(_rows_of(test)) & set(_rows_of(train))
    again = split_clean_digits(digits, 2500, 1500, 1000, seed=3)
    assert np.array_equal(again[1].images, pool.images)
    other = split_clean_digits(digits, 2500, 1500, 1000, seed=4)
    assert not np.array_equal(other[1].images, pool.images)
    with pytest.raises(ValueError, match=r"pool_size \(3000\) cannot exceed train_size \(2500\)"):
        split_clean_digits(digits, 2500, 3000, 1000, seed=3)


def test_a_held_out_pool_is_disjoint_from_training_and_test(digits):
    train, pool, test, origins = split_clean_digits(digits, 2500, 1500, 1000, 3, "held_out")
    assert (origins == -1).all()
    assert not set(_rows_of(pool)) & (set(_rows_of(train)) | set(_rows_of(test)))
    with pytest.raises(ValueError, match=r"2500 \+ 2000 \+ 1000 = 5500 images"):
        split_clean_digits(digits, 2500, 2000, 1000, 3, "held_out")


def test_stratified_parts_respect_exclusions():
    labels = np.repeat(np.arange(10), 20)
    [first] = stratified_parts(labels, [50], seed=0)
    [second] = stratified_parts(labels, [100], seed=0, exclude=first)
    assert not set(first) & set(second)
    with pytest.raises(ValueError, match="only 150 are left"):
        stratified_parts(labels, [151], seed=0, exclude=first)


def test_every_corruption_and_part_gets_its_own_reproducible_seed():
    seeds = {
        corruption_seed(0, name, role) for name in ("fog", "rotate") for role in ("pool", "test")
    }
    assert len(seeds) == 4
    assert corruption_seed(0, "fog", "pool") == corruption_seed(0, "fog", "pool")
    assert corruption_seed(0, "fog", "pool") != corruption_seed(1, "fog", "pool")
    with pytest.raises(ValueError, match="Unknown corruption 'fgo'"):
        corruption_seed(0, "fgo", "pool")


class _Detector:
    """Stands in for a fitted drift detector: errors grow with the ink of an image."""

    training_losses = np.linspace(0.1, 0.2, 50)

    def score(self, images: ImageSet) -> np.ndarray:
        return images.as_float().mean(axis=(1, 2))

    def embed(self, images: ImageSet | np.ndarray) -> np.ndarray:
        pixels = images.as_float() if isinstance(images, ImageSet) else images / 255.0
        return pixels.reshape(len(pixels), -1)[:, ::49]


def _mnist_like(digits: ImageSet) -> tuple[ImageSet, ImageSet]:
    """A clean training set of 4,000 and a test set of 1,000 digits, both with every digit.

    The 5k subset is sorted by digit: every fifth image is a test image.
    """
    test = np.arange(len(digits)) % 5 == 0
    return digits.subset(np.flatnonzero(~test)), digits.subset(np.flatnonzero(test))


def test_mnist_c_positions_follow_the_clean_sets(digits):
    clean_train, clean_test = _mnist_like(digits)
    positions = mnist_c_positions(clean_train.labels, clean_test.labels, 2000, 300, None, 7)
    assert (len(positions.train), len(positions.pool), len(positions.test)) == (2000, 300, 1000)
    assert np.array_equal(positions.train[positions.pool_origins], positions.pool)
    held_out = mnist_c_positions(
        clean_train.labels, clean_test.labels, None, 300, 500, 7, "held_out"
    )
    assert len(held_out.train) == 3700 and not set(held_out.train) & set(held_out.pool)


def test_a_test_set_with_classes_the_training_set_lacks_is_refused(digits):
    first, last = digits.subset(np.arange(4000)), digits.subset(np.arange(4000, 5000))
    with pytest.raises(ValueError, match=r"test digits have classes \[8, 9\] that no clean"):
        mnist_c_positions(first.labels, last.labels, 1000, 100, 50, 1)


def test_mnist_c_files_must_be_copies_of_the_clean_sets_in_order(digits):
    clean_train, clean_test = _mnist_like(digits)
    positions = mnist_c_positions(clean_train.labels, clean_test.labels, 1000, 100, 50, 1)
    train = clean_train.subset(positions.train)
    clean = clean_test.subset(positions.test)
    new = sample_new_distribution(
        clean_train, clean_test, positions, clean, "identity", _Detector(), train
    )
    assert (len(new.pool), len(new.test), new.pool_latent.shape) == (100, 50, (100, 16))
    assert np.array_equal(train.images[new.pool_origins], new.pool.images)
    shuffled = clean_test.subset(np.arange(999, -1, -1))
    with pytest.raises(ValueError, match=r"test split of 'identity' differ from the clean test"):
        sample_new_distribution(
            clean_train, shuffled, positions, clean, "identity", _Detector(), train
        )
    with pytest.raises(ValueError, match=r"holds 1000 images, fewer than the clean training set"):
        sample_new_distribution(
            clean_test, clean_test, positions, clean, "identity", _Detector(), train
        )


# --- the tables and plots ---------------------------------------------------------------


def _rows() -> list[ScenarioResult]:
    """Two seeds, two corruptions, two scenarios, two budgets, with known accuracies."""
    rows = []
    for seed in (0, 1):
        for corruption, shift in (("fog", 0.0), ("rotate", 0.1)):
            for budget in (10, 100):
                rows.append(
                    ScenarioResult(
                        seed, corruption, "baseline", budget, 0, 0, 0.95, 0.6 + shift, 0.1
                    )
                )
                corrupted = 0.7 + shift + budget / 1000 + seed / 100
                rows.append(
                    ScenarioResult(
                        seed, corruption, "ddc_hlc", budget, budget, budget, 0.96, corrupted, 1.0
                    )
                )
    return rows


def test_scores_are_averaged_over_corruptions_then_over_seeds():
    frame = results_frame(reversed(_rows()))
    assert list(frame["scenario"].unique()) == ["baseline", "ddc_hlc"]  # the paper's order
    summary = summary_frame(frame)
    ddc = summary[(summary["scenario"] == "ddc_hlc") & (summary["budget"] == 100)].iloc[0]
    # per seed: mean over fog and rotate = 0.75 + 0.1 + seed/100; over seeds 0.855 +- 0.00707
    assert ddc["corrupted_accuracy_mean"] == pytest.approx(0.855)
    assert ddc["corrupted_accuracy_std"] == pytest.approx(np.std([0.85, 0.86], ddof=1))
    assert ddc["average_accuracy_mean"] == pytest.approx((0.96 + 0.855) / 2)
    assert (ddc["n_seeds"], ddc["n_corruptions"]) == (2, 2)
    per_corruption = corruption_frame(frame)
    row = per_corruption[
        (per_corruption["scenario"] == "ddc_hlc") & (per_corruption["budget"] == 10)
    ]
    assert row["fog"].item() == pytest.approx(0.715) and row["mean"].item() == pytest.approx(0.765)


def test_the_markdown_report_lists_baseline_once_and_every_scenario_budget():
    text = markdown_report(results_frame(_rows()))
    lines = text.splitlines()
    assert sum(line.startswith("| Baseline |") for line in lines) == 2  # summary + per corruption
    assert "| DDC+HLC | 100 | 96.00 ± 0.00 | 85.50 ± 0.71 |" in text
    assert "| scenario | labels | fog | rotate | mean |" in text
    single_seed = markdown_report(results_frame(row for row in _rows() if row.seed == 0))
    assert "±" not in single_seed.split("Corrupted accuracy per corruption")[0].split("|---")[-1]


def test_a_seed_missing_a_corruption_is_refused():
    rows = [row for row in _rows() if not (row.seed == 1 and row.corruption == "rotate")]
    with pytest.raises(ValueError, match="do not all cover the same corruptions"):
        summary_frame(results_frame(rows))


def test_plots_show_one_line_per_scenario_and_one_panel_per_corruption():
    frame = results_frame(_rows())
    figure = plot_accuracy_vs_labels(frame, "corrupted_accuracy")
    [axes] = figure.axes
    assert [text.get_text() for text in axes.get_legend().get_texts()] == ["Baseline", "DDC+HLC"]
    assert "2 corruption(s), mean ± std over 2 seed(s)" in axes.get_title()
    grid = plot_accuracy_by_corruption(frame)
    assert [axes.get_title() for axes in grid.axes] == ["fog", "rotate"]
    with pytest.raises(ValueError, match="metric must be one of"):
        plot_accuracy_vs_labels(frame, "accuracy")


def test_the_papers_table_1_is_at_hand():
    assert PAPER_TABLE_1 == {
        "baseline": 88.78,
        "rnd_hlc": 91.33,
        "ddc_hlc": 91.97,
        "mdwi_hfc": 92.60,
    }


# --- the scenarios on real digits -------------------------------------------------------


@pytest.fixture(scope="module")
def deployed(digits) -> dict[str, Any]:
    """A small classifier and drift detector on 1,500 clean digits; impulse-noise new data."""
    import keras  # noqa: PLC0415 - keeps collecting the fast tests free of TensorFlow

    train, pool, test, origins = split_clean_digits(digits, 1500, 400, 500, seed=5)
    keras.utils.set_random_seed(5)
    classifier = keras.Sequential(  # the reference project's small CNN
        [
            keras.Input(shape=(28, 28, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.25),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    classifier.compile(
        optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"]
    )
    classifier.fit(train.as_float()[..., None], train.labels, epochs=5, batch_size=64, verbose=0)
    detector = DriftDetectorChecker(epochs=5, seed=5).fit(train)
    new = corrupt_new_distribution(pool, test, "impulse_noise", 5, detector, train, origins)
    return {"classifier": classifier, "train": train, "new": new}


@pytest.mark.slow
def test_every_scenario_runs_and_human_labels_beat_the_deployed_model(deployed):
    settings = DebuggingSettings.from_parameters({})
    results = {
        key: run_scenario(key, budgets=(20, 100), settings=settings, seed=5, **deployed)
        for key in SCENARIOS
    }
    for key, rows in results.items():
        assert [row.budget for row in rows] == [20, 100]
        for row in rows:
            assert (row.scenario, row.corruption, row.seed) == (key, "impulse_noise", 5)
            assert 0.0 <= row.clean_accuracy <= 1.0 and 0.0 <= row.corrupted_accuracy <= 1.0
            assert row.n_labels <= row.n_selected <= row.budget
    baseline = results["baseline"][0]
    assert {row.n_labels for row in results["baseline"]} == {0}
    for key in ("ddc_hlc", "rnd_hlc"):
        assert results[key][-1].n_labels == 100
        assert results[key][-1].corrupted_accuracy > baseline.corrupted_accuracy + 0.03, key
    again = run_scenario("ddc_hlc", budgets=(20,), settings=settings, seed=5, **deployed)
    assert again[0].corrupted_accuracy == results["ddc_hlc"][0].corrupted_accuracy


def test_a_scenario_refuses_a_budget_larger_than_the_pool_before_any_training(digits):
    pool = digits.subset(np.arange(400))
    new = NewDistribution(
        "fog",
        pool,
        pool,
        pool,
        np.zeros(400),
        np.zeros(9),
        np.zeros((400, 4)),
        np.zeros((9, 4)),
        np.arange(400),
    )
    settings = DebuggingSettings.from_parameters({})
    kwargs = {"classifier": None, "new": new, "settings": settings, "seed": 5, "train": pool}
    with pytest.raises(ValueError, match=r"Label budget 500 is larger than the pool of 400"):
        run_scenario("mdwi_hfc", budgets=(10, 500), **kwargs)
    with pytest.raises(ValueError, match=r"Unknown scenario 'ddc'"):
        run_scenario("ddc", budgets=(10,), **kwargs)
