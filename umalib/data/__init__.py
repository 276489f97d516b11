"""Data: on-disk readers of the real datasets (:mod:`.readers`) and the seeded splits, forget
sets and batch loaders built on them (:mod:`.splits`)."""

from .readers import DATASETS, RawDataset, fingerprint, load_raw
from .splits import (SCENARIOS, BatchLoader, Scenario, ScenarioData, Splits, load_splits,
                     make_scenario, to_float)

__all__ = ["DATASETS", "RawDataset", "fingerprint", "load_raw", "SCENARIOS", "BatchLoader",
           "Scenario", "ScenarioData", "Splits", "load_splits", "make_scenario", "to_float"]
