"""Features as a model reads them: numbers standardised, categories one-hot, fitted on the
training rows only and stored with the dataset, so prediction applies them unchanged.

Fitting on the training split alone matters: a mean or a category list taken over every row
would let the test rows leak into training, and the test score would flatter the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from dashcore.errors import UserError
from dashcore.tables.columns import CATEGORY, NUMBER, missing_mask, to_numbers

FILL, DROP = "fill", "drop"
MISSING_RULES = {
    FILL: "Fill them: a missing number becomes the training mean (0 after scaling); a "
          "missing category switches no category column on.",
    DROP: "Leave out every row that has a missing feature.",
}


@dataclass
class FeatureEncoding:
    """How one input column becomes model inputs."""

    name: str
    kind: str  # NUMBER (one standardised input) or CATEGORY (one 0/1 input per value)
    mean: float = 0.0  # training mean (numbers)
    std: float = 1.0  # training standard deviation (numbers; 1 where it was 0)
    categories: list[str] = field(default_factory=list)  # training values, in order

    @property
    def width(self) -> int:
        """Model inputs this column becomes."""
        return 1 if self.kind == NUMBER else len(self.categories)


@dataclass
class TableEncoder:
    """Every feature's encoding, in input order; JSON-ready through :meth:`to_dict`."""

    features: list[FeatureEncoding]

    @classmethod
    def fit(cls, train: pd.DataFrame, kinds: dict[str, str]) -> TableEncoder:
        """Statistics of the training rows only: means, deviations and category lists."""
        features: list[FeatureEncoding] = []
        for name, kind in kinds.items():
            values = train[name]
            if kind == NUMBER:
                numbers = to_numbers(values)
                numbers = numbers[np.isfinite(numbers)]
                mean = float(numbers.mean()) if len(numbers) else 0.0
                std = float(numbers.std()) if len(numbers) else 1.0
                features.append(FeatureEncoding(name, NUMBER, mean, std if std > 1e-12 else 1.0))
            elif kind == CATEGORY:
                filled = values[~missing_mask(values)].str.strip()
                categories = sorted(filled.unique().tolist(), key=str)
                if categories:
                    features.append(FeatureEncoding(name, CATEGORY, categories=categories))
        if not features:
            raise UserError("No feature column is usable (numbers or categories): add at least "
                            "one besides the target.")
        return cls(features)

    @property
    def width(self) -> int:
        """Length of one encoded row (the model's input size)."""
        return sum(f.width for f in self.features)

    def input_names(self) -> list[str]:
        """One name per model input: ``price`` or ``colour = red``."""
        names: list[str] = []
        for feature in self.features:
            if feature.kind == NUMBER:
                names.append(feature.name)
            else:
                names += [f"{feature.name} = {value}" for value in feature.categories]
        return names

    def missing_rows(self, frame: pd.DataFrame) -> np.ndarray:
        """True for each row with a missing feature value."""
        mask = np.zeros(len(frame), dtype=bool)
        for feature in self.features:
            mask |= missing_mask(frame[feature.name])
            if feature.kind == NUMBER:
                mask |= ~np.isfinite(to_numbers(frame[feature.name]))
        return mask

    def transform(self, frame: pd.DataFrame) -> np.ndarray:
        """float32 ``(rows, width)``: the same statistics for training, test and new rows.

        Raises:
            UserError: a feature column is absent, or a number column holds text.
        """
        absent = [f.name for f in self.features if f.name not in frame.columns]
        if absent:
            raise UserError(f"The rows lack the column(s) {', '.join(repr(a) for a in absent)}, "
                            "which the model reads: include every feature column.")
        out = np.zeros((len(frame), self.width), dtype=np.float32)
        start = 0
        for feature in self.features:
            values = frame[feature.name].astype(str)
            if feature.kind == NUMBER:
                numbers = to_numbers(values)
                bad = ~np.isfinite(numbers) & ~missing_mask(values)
                if bad.any():
                    row = int(np.flatnonzero(bad)[0])
                    raise UserError(f"Column {feature.name!r} holds {values.iloc[row]!r} in row "
                                    f"{row + 1}, which is not a number.")
                scaled = (numbers - feature.mean) / feature.std
                out[:, start] = np.where(np.isfinite(scaled), scaled, 0.0)  # missing → mean
            else:
                index = {value: i for i, value in enumerate(feature.categories)}
                codes = values.str.strip().map(index)  # unseen or missing → NaN → no column on
                for row in np.flatnonzero(codes.notna().to_numpy()):
                    out[row, start + int(codes.iloc[row])] = 1.0
            start += feature.width
        return out

    def to_dict(self) -> dict:
        """JSON-ready."""
        return {"features": [asdict(f) for f in self.features]}

    @classmethod
    def from_dict(cls, data: dict) -> TableEncoder:
        """Inverse of :meth:`to_dict`."""
        return cls([FeatureEncoding(**f) for f in data["features"]])
