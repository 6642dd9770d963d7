"""The Symbolic Checker: declarative rules that tag the observations breaking them.

What users rely on: rules written as in ``scanflow.yml`` tag exactly the observations
that break them (out-of-range pixels, NaN, wrong shape or dtype, blank or flooded images,
a sensor above 1000 degrees), the summary counts them per rule, the mask picks them out;
a malformed rule is refused with a message naming the rule and what is wrong; a batch
without an observation axis is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from kedro_scanflow.checkers.symbolic_checker import (
    RangeRule,
    SymbolicChecker,
    SymbolicCheckerConfig,
    SymbolicRuleError,
)
from kedro_scanflow.corruptions import corrupt
from kedro_scanflow.io import IdxImageDataset, ImageSet

REPO = Path(__file__).resolve().parents[1]
MNIST = REPO / "data" / "01_raw" / "mnist_5k"

IMAGE_RULES = """
rules:
  - {name: pixel_range, kind: range, min: 0.0, max: 1.0}
  - {name: no_nan, kind: nan}
  - {name: digit_size, kind: shape, shape: [28, 28]}
  - {name: pixel_type, kind: dtype, allowed: [floating]}
  - {name: not_blank, kind: mean_range, min: 0.01}
  - {name: not_flooded, kind: fraction_nonzero, max: 0.6}
"""


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return IdxImageDataset(
        str(MNIST / "images-idx3-ubyte.gz"), str(MNIST / "labels-idx1-ubyte.gz")
    ).load()


@pytest.fixture
def image_checker() -> SymbolicChecker:
    return SymbolicChecker.from_config(yaml.safe_load(IMAGE_RULES))


def test_a_sensor_cannot_exceed_1000_degrees() -> None:
    checker = SymbolicChecker(
        [
            {"name": "max_temperature", "kind": "range", "min": -273.15, "max": 1000},
            {"name": "reading_present", "kind": "nan"},
        ]
    )
    readings = np.array([20.5, 999.9, 1000.0, 1000.1, np.nan, -300.0, np.inf])

    result = checker.check(readings)

    assert result.per_observation == [
        [],
        [],
        [],
        ["max_temperature"],
        ["reading_present"],  # NaN is the nan rule's business, not the range rule's
        ["max_temperature"],
        ["max_temperature", "reading_present"],
    ]
    assert result.counts == {"max_temperature": 3, "reading_present": 2}
    np.testing.assert_array_equal(result.flagged_indices, [3, 4, 5, 6])


def test_rules_tag_exactly_the_broken_digits(
    digits: ImageSet, image_checker: SymbolicChecker
) -> None:
    images = list(digits.as_float()[:12])
    images[1] = images[1] * 1.5  # strokes above 1.0
    images[3] = images[3].copy()
    images[3][10, 10] = np.nan
    images[5] = images[5][:27, :27]  # cropped
    images[7] = digits.images[7]  # uint8, not floating
    images[9] = np.zeros((28, 28), np.float32)  # blank
    images[11] = corrupt(images[11][None], "fog", seed=0)[0]  # fog fills the background

    result = image_checker.check(images)

    assert result.violated_rules(1) == ["pixel_range"]
    assert result.violated_rules(3) == ["no_nan"]
    assert result.violated_rules(5) == ["digit_size"]
    assert result.violated_rules(7) == ["pixel_range", "pixel_type"]  # 0-255 is out of [0, 1]
    assert result.violated_rules(9) == ["not_blank"]
    assert result.violated_rules(11) == ["not_flooded"]
    np.testing.assert_array_equal(result.flagged_indices, [1, 3, 5, 7, 9, 11])
    assert result.summary() == {
        "n_observations": 12,
        "n_flagged": 6,
        "violations": {
            "pixel_range": 2,
            "no_nan": 1,
            "digit_size": 1,
            "pixel_type": 1,
            "not_blank": 1,
            "not_flooded": 1,
        },
    }
    assert result.as_dict()["flagged"]["7"] == ["pixel_range", "pixel_type"]


def test_clean_digits_break_no_rule_and_fog_floods_them(digits: ImageSet) -> None:
    checker = SymbolicChecker(
        [
            {"name": "pixels", "kind": "range", "min": 0, "max": 255},
            {"name": "size", "kind": "shape", "shape": [28, 28]},
            {"name": "uint8", "kind": "dtype", "allowed": ["uint8"]},
            {"name": "ink", "kind": "fraction_nonzero", "min": 0.05, "max": 0.6},
        ]
    )
    clean = digits.subset(np.arange(500))
    foggy = ImageSet(corrupt(clean.images, "fog", seed=1), clean.labels)

    assert not checker.check(clean).flagged.any()
    flooded = checker.check(foggy)
    assert flooded.counts["ink"] >= 495
    assert flooded.counts["pixels"] == flooded.counts["size"] == flooded.counts["uint8"] == 0


def test_a_uniform_batch_of_the_wrong_shape_or_dtype_is_tagged_whole() -> None:
    checker = SymbolicChecker(
        [
            {"name": "size", "kind": "shape", "shape": [28, None]},
            {"name": "kind", "kind": "dtype", "allowed": ["integer", "float32"]},
        ]
    )

    assert checker.check(np.zeros((4, 28, 30), np.uint8)).counts == {"size": 0, "kind": 0}
    assert checker.check(np.zeros((4, 32, 32), np.float64)).counts == {"size": 4, "kind": 4}
    assert checker.check(np.zeros((4, 28), np.float32)).counts == {"size": 4, "kind": 0}


def test_observations_that_are_not_numbers_break_the_value_rules() -> None:
    checker = SymbolicChecker(
        [
            {"name": "range", "kind": "range", "max": 10},
            {"name": "nan", "kind": "nan", "allow_inf": True},
            {"name": "numbers", "kind": "dtype", "allowed": ["number"]},
        ]
    )

    result = checker.check([np.array([1.0, -np.inf]), "hot", np.array([3, 4]), 11])

    assert result.per_observation == [[], ["range", "nan", "numbers"], [], ["range"]]


def test_an_empty_batch_breaks_nothing(image_checker: SymbolicChecker) -> None:
    result = image_checker.check(np.zeros((0, 28, 28), np.float32))

    assert result.n_observations == 0
    assert result.summary()["n_flagged"] == 0
    assert set(result.counts.values()) == {0}


@pytest.mark.parametrize(
    ("batch", "message"),
    [
        (np.float64(3.0), "needs an observation axis"),
        (np.array(3.0), "needs an observation axis"),
        (5, "needs an observation axis"),
        ("readings", "a list of observations; got str"),
        ({"a": 1}, "a list of observations; got dict"),
    ],
)
def test_a_batch_without_observations_is_refused(batch: object, message: str) -> None:
    checker = SymbolicChecker([{"name": "hot", "kind": "range", "max": 1000}])
    with pytest.raises(ValueError, match=message):
        checker.check(batch)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (
            [{"name": "pixels", "kind": "ranges", "max": 1}],
            r"rule 'pixels' \(rules\[0\]\): unknown kind 'ranges'; valid kinds: range, nan",
        ),
        (
            [
                {"name": "ok", "kind": "nan"},
                {"name": "pixels", "kind": "range", "min": 2, "max": 1},
            ],
            r"rule 'pixels' \(rules\[1\], kind 'range'\): min \(2.0\) is greater than max \(1.0\)",
        ),
        ([{"name": "pixels", "kind": "range"}], "rule 'pixels'.*give min, max or both"),
        ([{"name": "pixels", "kind": "range", "maximum": 1}], "unknown key 'maximum'"),
        ([{"name": "size", "kind": "shape"}], r"rule 'size'.*missing key 'shape'"),
        ([{"kind": "nan"}], r"unnamed rule \(rules\[0\], kind 'nan'\): missing key 'name'"),
        ([{"name": "pixels"}], "rule 'pixels' \\(rules\\[0\\]\\): no 'kind'"),
        (
            [{"name": "type", "kind": "dtype", "allowed": ["float33"]}],
            "rule 'type'.*'float33' is neither a NumPy dtype name",
        ),
        (
            [{"name": "ink", "kind": "fraction_nonzero", "max": 2}],
            "rule 'ink'.*max: Input should be less than or equal to 1",
        ),
        ([{"name": "hot", "kind": "range", "max": "hot"}], "rule 'hot'.*max: .*got 'hot'"),
        ([{"name": "x", "kind": "nan"}, {"name": "x", "kind": "nan"}], r"repeated: \['x'\]"),
        ([], "there are no rules"),
        (["range"], "a rule must be a mapping with a name and a kind"),
        ({"name": "x", "kind": "nan"}, "takes a list of rules, got dict"),
    ],
)
def test_malformed_rules_are_refused_naming_the_rule(rules: object, message: str) -> None:
    with pytest.raises(SymbolicRuleError, match=message):
        SymbolicChecker(rules)


def test_a_configuration_has_only_rules() -> None:
    with pytest.raises(SymbolicRuleError, match=r"exactly one key, 'rules'; got \['rule'\]"):
        SymbolicChecker.from_config({"rule": []})


def test_rules_can_be_models_or_a_validated_configuration() -> None:
    rule = RangeRule(name="hot", max=1000)
    from_models = SymbolicChecker([rule])
    from_config = SymbolicChecker(SymbolicCheckerConfig.model_validate({"rules": [rule]}))

    for checker in (from_models, from_config):
        assert checker.rules == (rule,)
        assert checker.check(np.array([999.0, 1001.0])).flagged.tolist() == [False, True]
    assert SymbolicCheckerConfig.model_json_schema()["properties"]["rules"]["minItems"] == 1
