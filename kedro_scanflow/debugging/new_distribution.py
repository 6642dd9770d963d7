"""The data of a debugging experiment: what the model learnt from, and what it now meets.

For every seed, clean labelled images give three stratified parts: the *training* images
(the classifier and the drift detector learn them), the *test* images (never selected,
never learnt: the scores) and the *pool*, the images that arrive after deployment, from
which the checkers pick the ones a human answers for.

Where does the pool come from? In MNIST-C, the ``train`` split of a corruption is a
corrupted copy of MNIST's training set, image for image, and the ``test`` split a corrupted
copy of its test set; the paper's new data is the corrupted training split. So by default
(``pool_from="training"``) the pool is a stratified sample of the *training* images,
corrupted: the Human Finder can then recognise a critical image's own clean original among
the training images it is shown, as a human looking at MNIST-C could. With
``pool_from="held_out"`` the pool is made of images the classifier never saw: a stricter
setting, in which the finder can only propose look-alikes.

For every corruption, the pool and the test images are corrupted
(:func:`corrupt_new_distribution`) or taken from the published MNIST-C files
(:func:`sample_new_distribution`); the drift detector scores and encodes the pool once.
The resulting :class:`NewDistribution` is all a scenario needs besides the classifier and
its training images: no scenario loads the detector again.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np

from kedro_scanflow.corruptions import CORRUPTIONS, corrupt_image_set, corruption_named
from kedro_scanflow.io.image_set import ImageSet

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kedro_scanflow.checkers import DriftDetectorChecker

logger = logging.getLogger(__name__)

PoolOrigin = Literal["training", "held_out"]
_ROLES = ("pool", "test")
NOT_A_TRAINING_IMAGE = -1
"""``pool_origins`` value of a pool image that is not a copy of a training image."""


@dataclass(frozen=True, eq=False)
class NewDistribution:
    """One corruption's new data, ready for the scenarios.

    Attributes:
        corruption: The MNIST-C name of the corruption.
        pool: The corrupted images the checkers select from, with their true labels (only
            the simulated human reads them).
        test: The corrupted held-out images: the "corrupted" score.
        clean_test: The same held-out images, clean: the "clean" score.
        pool_scores: The drift detector's reconstruction error of every pool image.
        training_losses: The detector's errors on its training images (the thresholds of
            the Critical Point Selector come from them).
        pool_latent: The detector's latent code of every pool image.
        training_latent: The latent code of every training image: the Human Finder
            proposes the training images whose codes are nearest to a critical image's.
        pool_origins: For every pool image, the position in the training images of the
            clean image it is a corrupted copy of, or ``-1``.
    """

    corruption: str
    pool: ImageSet
    test: ImageSet
    clean_test: ImageSet
    pool_scores: np.ndarray
    training_losses: np.ndarray
    pool_latent: np.ndarray
    training_latent: np.ndarray
    pool_origins: np.ndarray


@dataclass(frozen=True)
class MnistCPositions:
    """Which images of the clean sets (and of their MNIST-C copies) a seed uses.

    Attributes:
        train: Positions in the clean training set of the training images.
        pool: Positions in the clean training set (and in every corruption's ``train``
            split) of the pool images.
        pool_origins: For every pool image, its position among the training images, or ``-1``.
        pool_labels: The clean labels of the pool images (to check the MNIST-C order).
        test: Positions in the clean test set (and every ``test`` split) of the test images.
    """

    train: np.ndarray
    pool: np.ndarray
    pool_origins: np.ndarray
    pool_labels: np.ndarray
    test: np.ndarray


def check_budgets(budgets: Sequence[int], pool_size: int, where: str = "") -> None:
    """Fail when a label budget asks for more images than the pool holds.

    Args:
        budgets: Label budgets (images a human answers for, per corruption).
        pool_size: Images in the pool the checkers select from.
        where: Which seed/corruption, for the message.

    Raises:
        ValueError: Naming the budget, the pool size and the parameters to change.
    """
    too_large = [int(budget) for budget in budgets if int(budget) > pool_size]
    if too_large:
        place = f" ({where})" if where else ""
        raise ValueError(
            f"Label budget {max(too_large)} is larger than the pool of {pool_size} new images "
            f"the checkers select from{place}. Lower debugging_grid.budgets or raise "
            f"debugging.data.pool_size."
        )


def labelled_image_set(value: ImageSet | np.ndarray, what: str) -> ImageSet:
    """``value`` as a labelled grayscale :class:`ImageSet`, or a clear error.

    Raises:
        ValueError: When the images are colour images, badly shaped, empty or unlabelled.
    """
    try:
        images = value if isinstance(value, ImageSet) else ImageSet(np.asarray(value))
    except ValueError as error:
        raise ValueError(f"The {what} are unusable: {error}") from None
    if images.labels is None:
        raise ValueError(f"The {what} have no labels; the experiment needs labelled images.")
    if len(images) == 0:
        raise ValueError(f"The {what} are empty.")
    return images


def split_clean_digits(
    digits: ImageSet,
    train_size: int,
    pool_size: int,
    test_size: int,
    seed: int,
    pool_from: PoolOrigin = "training",
) -> tuple[ImageSet, ImageSet, ImageSet, np.ndarray]:
    """Cut clean labelled images into stratified training, pool and test parts.

    Args:
        digits: Clean labelled images.
        train_size: Images for training.
        pool_size: Images for the pool.
        test_size: Images for testing (disjoint from the other two).
        seed: Seed of the random draws.
        pool_from: ``training``: the pool is a sample of the training images;
            ``held_out``: it is disjoint from them.

    Returns:
        ``(train, pool, test, pool_origins)``; the pool is still clean.

    Raises:
        ValueError: When the sizes ask for more images than there are.
    """
    _check_pool_from(pool_from)
    held_out = pool_from == "held_out"
    sizes = [train_size, pool_size, test_size] if held_out else [train_size, test_size]
    if sum(sizes) > len(digits):
        raise ValueError(
            f"debugging.data asks for {' + '.join(map(str, sizes))} = {sum(sizes)} images "
            f"(pool_from: {pool_from}) but the clean digits hold {len(digits)}."
        )
    if held_out:
        train, pool, test = stratified_parts(digits.labels, sizes, seed)
        origins = np.full(len(pool), NOT_A_TRAINING_IMAGE)
    else:
        train, test = stratified_parts(digits.labels, sizes, seed)
        origins = _pool_within(digits.labels[train], pool_size, seed)
        pool = train[origins]
    return digits.subset(train), digits.subset(pool), digits.subset(test), origins


def mnist_c_positions(
    train_labels: np.ndarray,
    test_labels: np.ndarray,
    train_size: int | None,
    pool_size: int,
    test_size: int | None,
    seed: int,
    pool_from: PoolOrigin = "training",
) -> MnistCPositions:
    """Which clean training and test images (and MNIST-C copies) a seed uses.

    Args:
        train_labels: Labels of the clean training set (MNIST's 60,000).
        test_labels: Labels of the clean test set (MNIST's 10,000).
        train_size: Training images; all that remain when ``None``.
        pool_size: Pool images.
        test_size: Test images; all when ``None``.
        seed: Seed of the random draws.
        pool_from: As :func:`split_clean_digits`.

    Raises:
        ValueError: When the sizes ask for more images than there are, or the test set
            has classes the training set lacks (the classifier could not learn them).
    """
    _check_pool_from(pool_from)
    unseen = np.setdiff1d(np.unique(test_labels), np.unique(train_labels))
    if unseen.size:
        raise ValueError(
            f"The clean test digits have classes {unseen.tolist()} that no clean training "
            "digit has, so the classifier could not learn them. Use training and test sets "
            "with the same classes (debugging_train_digits, debugging_test_digits)."
        )
    if pool_from == "held_out":
        [pool] = stratified_parts(train_labels, [pool_size], seed)
        rest = len(train_labels) - pool_size
        [train] = stratified_parts(train_labels, [train_size or rest], seed + 1, exclude=pool)
        origins = np.full(len(pool), NOT_A_TRAINING_IMAGE)
    else:
        [train] = stratified_parts(train_labels, [train_size or len(train_labels)], seed)
        origins = _pool_within(train_labels[train], pool_size, seed)
        pool = train[origins]
    [test] = stratified_parts(test_labels, [test_size or len(test_labels)], seed)
    return MnistCPositions(
        train=train, pool=pool, pool_origins=origins, pool_labels=train_labels[pool], test=test
    )


def _pool_within(train_labels: np.ndarray, pool_size: int, seed: int) -> np.ndarray:
    """Positions among the training images of a stratified pool sample."""
    if pool_size > len(train_labels):
        raise ValueError(
            f"debugging.data.pool_size ({pool_size}) cannot exceed train_size "
            f"({len(train_labels)}) when the pool is drawn from the training images."
        )
    [positions] = stratified_parts(train_labels, [pool_size], seed + 2)
    return positions


def _check_pool_from(pool_from: str) -> None:
    if pool_from not in ("training", "held_out"):
        raise ValueError(f"pool_from must be 'training' or 'held_out', got {pool_from!r}.")


def stratified_parts(
    labels: np.ndarray, sizes: Sequence[int], seed: int, exclude: np.ndarray | None = None
) -> list[np.ndarray]:
    """Disjoint random index sets of the given sizes, each with about the label mix of all.

    Args:
        labels: The label of every image.
        sizes: How many indices each part gets.
        seed: Seed of the draw.
        exclude: Indices no part may take.

    Returns:
        One sorted index array per size.

    Raises:
        ValueError: When the sizes ask for more indices than are left.
    """
    from sklearn.model_selection import train_test_split  # noqa: PLC0415 - cheap import

    available = np.arange(len(labels))
    if exclude is not None:
        available = np.setdiff1d(available, exclude)
    parts = []
    for position, size in enumerate(sizes):
        if size > len(available):
            raise ValueError(
                f"Cannot draw {size} images: only {len(available)} are left of {len(labels)}."
            )
        if size == len(available):
            taken, available = available, available[:0]
        else:
            state = int(np.random.SeedSequence([seed, position]).generate_state(1)[0])
            taken, available = train_test_split(
                available,
                train_size=size,
                stratify=_stratify(labels[available], size, len(available) - size),
                random_state=state,
            )
        parts.append(np.sort(taken))
    return parts


def _stratify(labels: np.ndarray, size: int, rest: int) -> np.ndarray | None:
    """``labels`` when a stratified split of them is possible, else ``None`` (plain random)."""
    counts = np.unique(labels, return_counts=True)[1]
    classes = len(counts)
    if counts.min() < 2 or size < classes or rest < classes:
        return None
    return labels


def corruption_seed(seed: int, corruption: str, role: str) -> int:
    """The seed of one corruption of one part (``pool`` or ``test``) for an experiment seed.

    Different corruptions and parts get unrelated random draws; the same arguments always
    give the same seed.
    """
    corruption_named(corruption)
    sequence = np.random.SeedSequence(
        [seed, list(CORRUPTIONS).index(corruption), _ROLES.index(role)]
    )
    return int(sequence.generate_state(1)[0])


def corrupt_new_distribution(
    pool: ImageSet,
    test: ImageSet,
    corruption: str,
    seed: int,
    detector: DriftDetectorChecker,
    train: ImageSet,
    pool_origins: np.ndarray,
) -> NewDistribution:
    """Corrupt the clean pool and test images and score the pool with the drift detector.

    Args:
        pool: Clean pool images (labelled).
        test: Clean test images (labelled); kept clean as well.
        corruption: MNIST-C name.
        seed: The experiment seed.
        detector: The drift detector fitted on the training images of this seed.
        train: Those training images (the Human Finder's references).
        pool_origins: Position in ``train`` of every pool image, or ``-1``.

    Raises:
        ValueError: When ``corruption`` is unknown or the images cannot be corrupted.
    """
    corrupted_pool = corrupt_image_set(pool, corruption, corruption_seed(seed, corruption, "pool"))
    corrupted_test = corrupt_image_set(test, corruption, corruption_seed(seed, corruption, "test"))
    return _scored(corruption, corrupted_pool, corrupted_test, test, detector, train, pool_origins)


def sample_new_distribution(
    corrupted_train_split: ImageSet,
    corrupted_test_split: ImageSet,
    positions: MnistCPositions,
    clean_test: ImageSet,
    corruption: str,
    detector: DriftDetectorChecker,
    train: ImageSet,
) -> NewDistribution:
    """Take the pool and the corrupted test images from published corrupted data (MNIST-C).

    Args:
        corrupted_train_split: The corruption's ``train`` split: corrupted copies of the
            clean training set, in its order.
        corrupted_test_split: The corruption's ``test`` split: corrupted copies of the
            clean test set, in its order.
        positions: The seed's positions (:func:`mnist_c_positions`).
        clean_test: The clean test images at ``positions.test``.
        corruption: The corruption's name (for the result and messages).
        detector: The drift detector of this seed.
        train: The training images of this seed (the Human Finder's references).

    Raises:
        ValueError: When the splits are shorter than the clean sets or their labels
            disagree (they are not copies in the same order).
    """
    for split, indices, what in [
        (corrupted_train_split, positions.pool, "training"),
        (corrupted_test_split, positions.test, "test"),
    ]:
        if len(indices) and int(np.max(indices)) >= len(split):
            raise ValueError(
                f"The MNIST-C {what} split of {corruption!r} holds {len(split)} images, fewer "
                f"than the clean {what} set it should be a corrupted copy of."
            )
    pool = corrupted_train_split.subset(positions.pool)
    test = corrupted_test_split.subset(positions.test)
    for corrupted, clean_labels, what in [
        (test, clean_test.labels, "test"),
        (pool, positions.pool_labels, "training"),
    ]:
        if not np.array_equal(corrupted.labels, clean_labels):
            raise ValueError(
                f"The labels of the MNIST-C {what} split of {corruption!r} differ from the "
                f"clean {what} labels: the corrupted images must be copies of the clean {what} "
                f"set, in its order."
            )
    return _scored(corruption, pool, test, clean_test, detector, train, positions.pool_origins)


def _scored(
    corruption: str,
    pool: ImageSet,
    test: ImageSet,
    clean_test: ImageSet,
    detector: DriftDetectorChecker,
    train: ImageSet,
    pool_origins: np.ndarray,
) -> NewDistribution:
    scores = detector.score(pool)
    logger.info(
        "%s: %d pool and %d test images; median reconstruction error of the pool %.4f "
        "(training images: %.4f).",
        corruption,
        len(pool),
        len(test),
        float(np.median(scores)),
        float(np.median(detector.training_losses)),
    )
    return NewDistribution(
        corruption=corruption,
        pool=pool,
        test=test,
        clean_test=clean_test,
        pool_scores=scores,
        training_losses=np.asarray(detector.training_losses),
        pool_latent=detector.embed(pool),
        training_latent=detector.embed(train),
        pool_origins=np.asarray(pool_origins, dtype=np.int64),
    )
