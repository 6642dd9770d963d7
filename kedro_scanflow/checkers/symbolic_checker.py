"""``SymbolicChecker``: rule-based knowledge that tags observations ("a sensor cannot exceed 1000 degrees").

Some knowledge about the data needs no model: pixels lie in 0-255, a reading is never
NaN, an image is 28x28, a temperature stays below 1000 degrees. The Symbolic Checker
holds such knowledge as declarative rules, pydantic models that read straight from
``scanflow.yml``::

    rules:
      - {name: pixel_range, kind: range, min: 0, max: 255}
      - {name: no_nan, kind: nan}
      - {name: digit_size, kind: shape, shape: [28, 28]}
      - {name: pixel_type, kind: dtype, allowed: [uint8, floating]}
      - {name: not_blank, kind: fraction_nonzero, min: 0.02}

and applies them to a batch of observations (an array whose first axis runs over the
observations, an ``ImageSet``, or a list of arrays that may differ in shape and dtype).
:meth:`SymbolicChecker.check` tags every observation with the rules it breaks and counts
them per rule; :attr:`SymbolicCheckResult.flagged` is the mask of observations that
break any rule.

Each rule checks one thing: ``range`` ignores NaN (the ``nan`` rule is about NaN), and
the value rules (``range``, ``nan``, ``mean_range``, ``fraction_nonzero``) flag an
observation whose values are not real numbers at all (text, complex numbers, objects),
since nothing about its values can be trusted.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FiniteFloat,
    NonNegativeInt,
    ValidationError,
    field_validator,
    model_validator,
)

from kedro_scanflow.io.image_set import ImageSet

logger = logging.getLogger(__name__)

DTYPE_KINDS: Mapping[str, type] = {
    "bool": np.bool_,
    "integer": np.integer,
    "signedinteger": np.signedinteger,
    "unsignedinteger": np.unsignedinteger,
    "floating": np.floating,
    "complexfloating": np.complexfloating,
    "number": np.number,
}
"""Dtype kinds a ``dtype`` rule may allow besides exact dtype names (``uint8``, ``float32``)."""

_MAX_LISTED = 10


class SymbolicRuleError(ValueError):
    """Raised for malformed rules; the message names every bad rule and what is wrong with it."""


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, description="Name of the rule, used in tags and counts.")
    description: str | None = Field(default=None, description="What the rule stands for.")

    def violations(self, values: np.ndarray) -> np.ndarray:
        """Which observations of ``values`` (all of one shape and dtype, stacked) break the rule.

        Args:
            values: Observations stacked along the first axis, ``(k, ...)``.

        Returns:
            Boolean array ``(k,)``.
        """
        raise NotImplementedError


class _Bounds(_Rule):
    """A rule with optional inclusive bounds, at least one given, ``min <= max``."""

    min: FiniteFloat | None = None
    max: FiniteFloat | None = None

    @model_validator(mode="after")
    def _bounds_make_sense(self) -> _Bounds:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def _outside(self, statistic: np.ndarray) -> np.ndarray:
        outside = np.zeros(statistic.shape, dtype=bool)
        if self.min is not None:
            outside |= statistic < self.min
        if self.max is not None:
            outside |= statistic > self.max
        return outside


class RangeRule(_Bounds):
    """Every value of an observation lies in ``[min, max]`` (NaN is left to the ``nan`` rule)."""

    kind: Literal["range"] = "range"

    def violations(self, values: np.ndarray) -> np.ndarray:
        numbers = _real_values(values)
        if numbers is None:
            return np.ones(len(values), dtype=bool)
        return self._outside(numbers).any(axis=1)  # NaN compares false: never outside


class NanRule(_Rule):
    """No value of an observation is NaN (nor infinite, unless ``allow_inf``)."""

    kind: Literal["nan"] = "nan"
    allow_inf: bool = Field(default=False, description="Let +inf and -inf pass.")

    def violations(self, values: np.ndarray) -> np.ndarray:
        numbers = _real_values(values)
        if numbers is None:
            return np.ones(len(values), dtype=bool)
        bad = np.isnan(numbers) if self.allow_inf else ~np.isfinite(numbers)
        return bad.any(axis=1)


class ShapeRule(_Rule):
    """An observation has exactly this shape; ``null`` entries accept any length."""

    kind: Literal["shape"] = "shape"
    shape: list[NonNegativeInt | None] = Field(
        description="Shape of one observation, e.g. [28, 28]; [] for scalars."
    )

    def violations(self, values: np.ndarray) -> np.ndarray:
        shape = values.shape[1:]
        fits = len(shape) == len(self.shape) and all(
            expected is None or expected == actual
            for expected, actual in zip(self.shape, shape, strict=True)
        )
        return np.full(len(values), not fits, dtype=bool)


class DtypeRule(_Rule):
    """An observation's dtype is one of ``allowed``: dtype names or kinds (``floating``...)."""

    kind: Literal["dtype"] = "dtype"
    allowed: list[str] = Field(
        min_length=1,
        description=f"Dtype names (uint8, float32) or kinds ({', '.join(DTYPE_KINDS)}).",
    )

    @field_validator("allowed")
    @classmethod
    def _known_dtypes(cls, allowed: list[str]) -> list[str]:
        for entry in allowed:
            if entry in DTYPE_KINDS:
                continue
            try:
                np.dtype(entry)
            except TypeError:
                raise ValueError(
                    f"{entry!r} is neither a NumPy dtype name (uint8, float32...) nor a "
                    f"dtype kind ({', '.join(DTYPE_KINDS)})"
                ) from None
        return allowed

    def violations(self, values: np.ndarray) -> np.ndarray:
        dtype = values.dtype
        fits = any(
            np.issubdtype(dtype, DTYPE_KINDS[entry])
            if entry in DTYPE_KINDS
            else dtype == np.dtype(entry)
            for entry in self.allowed
        )
        return np.full(len(values), not fits, dtype=bool)


class MeanRangeRule(_Bounds):
    """The mean of an observation's values (NaN left out) lies in ``[min, max]``."""

    kind: Literal["mean_range"] = "mean_range"

    def violations(self, values: np.ndarray) -> np.ndarray:
        numbers = _real_values(values)
        if numbers is None:
            return np.ones(len(values), dtype=bool)
        present = ~np.isnan(numbers)
        counts = present.sum(axis=1)
        with np.errstate(invalid="ignore"):
            means = np.where(present, numbers, 0.0).sum(axis=1) / np.maximum(counts, 1)
        return self._outside(means) & (counts > 0)


class FractionNonzeroRule(_Bounds):
    """The share of an observation's values that are not zero lies in ``[min, max]``.

    For images: ``min`` catches blank images, ``max`` images flooded by noise or fog.
    NaN counts as non-zero.
    """

    kind: Literal["fraction_nonzero"] = "fraction_nonzero"
    min: FiniteFloat | None = Field(default=None, ge=0.0, le=1.0)
    max: FiniteFloat | None = Field(default=None, ge=0.0, le=1.0)

    def violations(self, values: np.ndarray) -> np.ndarray:
        numbers = _real_values(values)
        if numbers is None:
            return np.ones(len(values), dtype=bool)
        size = max(numbers.shape[1], 1)
        return self._outside((numbers != 0).sum(axis=1) / size)


SymbolicRule = Annotated[
    RangeRule | NanRule | ShapeRule | DtypeRule | MeanRangeRule | FractionNonzeroRule,
    Field(discriminator="kind"),
]
"""Any rule; its ``kind`` says which."""

RULE_KINDS = ("range", "nan", "shape", "dtype", "mean_range", "fraction_nonzero")


class SymbolicCheckerConfig(BaseModel):
    """The rules of a Symbolic Checker, as they appear in ``scanflow.yml``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[SymbolicRule] = Field(min_length=1, description="The rules, at least one.")

    @field_validator("rules")
    @classmethod
    def _unique_names(cls, rules: list[Any]) -> list[Any]:
        names = [rule.name for rule in rules]
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"rule names must be unique; repeated: {repeated}")
        return rules


@dataclass(frozen=True)
class SymbolicCheckResult:
    """Which observations of a batch break which rules.

    Attributes:
        rule_names: The rules, in the checker's order.
        violations: Boolean array ``(n_observations, n_rules)``: observation ``i`` breaks
            rule ``j``.
    """

    rule_names: tuple[str, ...]
    violations: np.ndarray

    @property
    def n_observations(self) -> int:
        return len(self.violations)

    @property
    def flagged(self) -> np.ndarray:
        """Boolean mask ``(n_observations,)``: the observation breaks at least one rule."""
        return self.violations.any(axis=1)

    @property
    def flagged_indices(self) -> np.ndarray:
        """Positions of the flagged observations, in batch order."""
        return np.flatnonzero(self.flagged)

    @property
    def counts(self) -> dict[str, int]:
        """How many observations break each rule."""
        totals = self.violations.sum(axis=0)
        return {name: int(total) for name, total in zip(self.rule_names, totals, strict=True)}

    @property
    def per_observation(self) -> list[list[str]]:
        """For every observation, the names of the rules it breaks (empty when none)."""
        return [self.violated_rules(index) for index in range(self.n_observations)]

    def violated_rules(self, index: int) -> list[str]:
        """Names of the rules observation ``index`` breaks."""
        row = self.violations[index]
        return [name for name, broken in zip(self.rule_names, row, strict=True) if broken]

    def summary(self) -> dict[str, Any]:
        """Observations, flagged observations, and violations per rule."""
        return {
            "n_observations": self.n_observations,
            "n_flagged": int(self.flagged.sum()),
            "violations": self.counts,
        }

    def as_dict(self) -> dict[str, Any]:
        """:meth:`summary` plus the broken rules of every flagged observation, by position."""
        return {
            **self.summary(),
            "flagged": {
                str(index): self.violated_rules(index) for index in self.flagged_indices.tolist()
            },
        }


class SymbolicChecker:
    """Applies declarative rules to a batch of observations and tags those that break them.

    Example::

        checker = SymbolicChecker([
            {"name": "temperature", "kind": "range", "max": 1000},
            {"name": "no_nan", "kind": "nan"},
        ])
        result = checker.check(readings)      # readings: (n,) or (n, sensors)
        result.counts                         # {"temperature": 3, "no_nan": 1}
        suspicious = readings[result.flagged]
    """

    def __init__(self, rules: SymbolicCheckerConfig | Sequence[Mapping[str, Any] | Any]):
        """Validate the rules.

        Args:
            rules: A :class:`SymbolicCheckerConfig`, or a list of rules: mappings as in
                ``scanflow.yml`` or rule models.

        Raises:
            SymbolicRuleError: When a rule is malformed (unknown kind, missing or unknown
                key, ``min > max``, unknown dtype, repeated name); the message names the rule.
        """
        if isinstance(rules, SymbolicCheckerConfig):
            self.config = rules
            return
        if isinstance(rules, (str, bytes, Mapping)) or not isinstance(rules, Sequence):
            raise SymbolicRuleError(
                f"SymbolicChecker takes a list of rules, got {type(rules).__name__}; e.g. "
                "[{'name': 'pixel_range', 'kind': 'range', 'min': 0, 'max': 255}]."
            )
        raw = [rule.model_dump() if isinstance(rule, BaseModel) else rule for rule in rules]
        try:
            self.config = SymbolicCheckerConfig(rules=raw)
        except ValidationError as error:
            raise SymbolicRuleError(_rule_errors(error, raw)) from None

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> SymbolicChecker:
        """A checker from the mapping ``{"rules": [...]}`` of ``scanflow.yml``.

        Raises:
            SymbolicRuleError: When the mapping has other keys than ``rules``, or as
                :class:`SymbolicChecker`.
        """
        if not isinstance(config, Mapping) or set(config) != {"rules"}:
            keys = sorted(config) if isinstance(config, Mapping) else type(config).__name__
            raise SymbolicRuleError(
                f"A symbolic checker configuration has exactly one key, 'rules'; got {keys}."
            )
        return cls(config["rules"])

    @property
    def rules(self) -> tuple[Any, ...]:
        """The validated rules, in order."""
        return tuple(self.config.rules)

    def check(self, batch: ImageSet | np.ndarray | Sequence[Any]) -> SymbolicCheckResult:
        """Tag every observation of ``batch`` with the rules it breaks.

        Args:
            batch: An array whose first axis runs over the observations (``(n,)`` scalar
                readings, ``(n, h, w)`` images...), an ``ImageSet``, or a list of
                observations (arrays or numbers), which may differ in shape and dtype.

        Returns:
            The per-observation violations, with counts and the flagged mask.

        Raises:
            ValueError: When ``batch`` has no observation axis (a 0-d array or a single
                number) or is not an array, ``ImageSet`` or list.
        """
        groups, n_observations = _observation_groups(batch)
        violations = np.zeros((n_observations, len(self.config.rules)), dtype=bool)
        for positions, values in groups:
            for column, rule in enumerate(self.config.rules):
                violations[positions, column] = rule.violations(values)
        result = SymbolicCheckResult(tuple(rule.name for rule in self.config.rules), violations)
        logger.info(
            "Symbolic checker: %d of %d observations break a rule %s.",
            int(result.flagged.sum()),
            n_observations,
            result.counts,
        )
        return result


def _observation_groups(batch: Any) -> tuple[list[tuple[np.ndarray, np.ndarray]], int]:
    """The observations of ``batch`` grouped by shape and dtype, each group stacked.

    Returns:
        ``([(positions, values), ...], n_observations)``.
    """
    if isinstance(batch, ImageSet):
        batch = batch.images
    elif isinstance(batch, (np.generic, int, float, complex, bool)):
        batch = np.asarray(batch)
    if isinstance(batch, np.ndarray) and batch.dtype != object:
        if batch.ndim == 0:
            raise ValueError(
                f"A batch needs an observation axis: got a 0-d array ({batch!r}); wrap a "
                "single observation in a list or give an array shaped (n, ...)."
            )
        return ([(np.arange(len(batch)), batch)] if len(batch) else []), len(batch)
    if isinstance(batch, (str, bytes, Mapping)) or not isinstance(batch, (Sequence, np.ndarray)):
        raise ValueError(
            "A batch must be an array whose first axis runs over the observations, an "
            f"ImageSet, or a list of observations; got {type(batch).__name__}."
        )
    observations = [np.asarray(observation) for observation in batch]
    groups: dict[tuple[tuple[int, ...], str], list[int]] = {}
    for position, observation in enumerate(observations):
        groups.setdefault((observation.shape, observation.dtype.str), []).append(position)
    stacked = [
        (np.asarray(positions), np.stack([observations[i] for i in positions]))
        for positions in groups.values()
    ]
    return stacked, len(observations)


def _real_values(values: np.ndarray) -> np.ndarray | None:
    """Observations flattened to ``(k, size)`` real numbers, or ``None`` when they are not numbers."""
    flat = values.reshape(len(values), -1)
    if flat.dtype == np.bool_ or np.issubdtype(flat.dtype, np.integer):
        return flat
    if np.issubdtype(flat.dtype, np.floating):
        return flat
    if flat.dtype == object:
        try:
            return flat.astype(np.float64)
        except (TypeError, ValueError):
            return None
    return None


def _rule_errors(error: ValidationError, raw: list[Any]) -> str:
    """One message for every problem pydantic found, each naming the rule it is about."""
    lines = []
    for problem in error.errors():
        location = problem["loc"]
        if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
            index = location[1]
            rule = raw[index] if index < len(raw) else None
            name = rule.get("name") if isinstance(rule, Mapping) else None
            kind = rule.get("kind") if isinstance(rule, Mapping) else None
            where = f"rules[{index}], kind {kind!r}" if kind in RULE_KINDS else f"rules[{index}]"
            who = f"rule {name!r} ({where})" if name else f"unnamed rule ({where})"
            key = ".".join(str(part) for part in location[3:])
            lines.append(f"{who}: {_problem_text(problem, key)}")
        else:
            lines.append(f"rules: {_problem_text(problem, '')}")
    listed = lines[:_MAX_LISTED]
    if len(lines) > _MAX_LISTED:
        listed.append(f"... and {len(lines) - _MAX_LISTED} more")
    return "Invalid symbolic checker rules:\n" + "\n".join(f"  - {line}" for line in listed)


def _problem_text(problem: Mapping[str, Any], key: str) -> str:
    kinds = ", ".join(RULE_KINDS)
    tag = problem.get("ctx", {}).get("tag")
    texts = {
        "union_tag_invalid": f"unknown kind {tag!r}; valid kinds: {kinds}",
        "union_tag_not_found": f"no 'kind'; valid kinds: {kinds}",
        "extra_forbidden": f"unknown key {key!r}",
        "missing": f"missing key {key!r}",
    }
    if not key:
        not_a_rule = f"a rule must be a mapping with a name and a kind, got {problem['input']!r}"
        texts.update(
            model_type=not_a_rule,
            model_attributes_type=not_a_rule,
            too_short="there are no rules: give at least one",
        )
    if problem["type"] in texts:
        return texts[problem["type"]]
    message = problem["msg"].removeprefix("Value error, ")
    return f"{key}: {message} (got {problem['input']!r})" if key else message
