"""Synthetic raw access logs shaped like a physics-data site cache (XCache) workload.

Datasets have ATLAS-like dot-separated names, a scope and a number of files; dataset popularity
follows a Zipf law, files inside a dataset are read with a skew, sizes are log-normal per dataset,
and accesses arrive as a Poisson process.  The output is a *raw* log (the pipeline's input), so the
bundled trace goes through the same processing as real data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from iroko_gym.errors import ConfigError

SCOPES = ("data18_13TeV", "data17_13TeV", "mc16_13TeV", "mc20_13TeV", "user", "group")
STREAMS = ("physics_Main", "PowhegPythia8EvtGen", "MadGraphPythia8", "Sherpa_221", "physics_Late")
FORMATS = ("DAOD_PHYS", "DAOD_EXOT12", "DAOD_SUSY5", "DAOD_TOPQ1", "AOD", "NTUP_PILEUP", "HITS")
STEPS = ("deriv", "recon", "merge", "simul")


@dataclass(frozen=True)
class SyntheticConfig:
    """Parameters of a synthetic log; the same config and seed give the same log."""

    accesses: int = 20_000
    datasets: int = 2_000
    files_per_dataset: float = 20.0  # mean; each dataset has 1 + Poisson(mean - 1) files
    dataset_zipf: float = 0.9  # popularity exponent over datasets (larger = more skewed)
    file_skew: float = 0.8  # within a dataset, file k is read with weight 1 / k**file_skew
    size_median_mb: float = 2000.0  # median file size
    size_sigma: float = 1.0  # log-normal shape of file sizes
    mean_interarrival_s: float = 2.0
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("accesses", "datasets"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
        for name in ("files_per_dataset", "size_median_mb", "mean_interarrival_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)!r}")
        if self.files_per_dataset < 1:
            raise ConfigError(f"files_per_dataset must be >= 1, got {self.files_per_dataset!r}")
        for name in ("dataset_zipf", "file_skew", "size_sigma"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)!r}")


def generate_log(config: SyntheticConfig) -> pd.DataFrame:
    """A raw log with columns time (s), scope, dataset, filename, filesize (bytes), sorted by time."""
    rng = np.random.default_rng(config.seed)
    n_ds = config.datasets
    scopes = rng.choice(len(SCOPES), size=n_ds)
    names = [_dataset_name(rng, SCOPES[s], d) for d, s in enumerate(scopes)]
    n_files = 1 + rng.poisson(config.files_per_dataset - 1, size=n_ds)
    ds_median = config.size_median_mb * 1e6 * rng.lognormal(0.0, config.size_sigma / 2, size=n_ds)

    ds_weight = 1.0 / np.arange(1, n_ds + 1) ** config.dataset_zipf
    ds = rng.choice(n_ds, size=config.accesses, p=ds_weight / ds_weight.sum())
    # file index inside the dataset: inverse-CDF sampling of the per-dataset skewed weights
    file_idx = np.empty(config.accesses, dtype=np.int64)
    u = rng.random(config.accesses)
    for d in np.unique(ds):
        cdf = np.cumsum(1.0 / np.arange(1, n_files[d] + 1) ** config.file_skew)
        rows = ds == d
        file_idx[rows] = np.searchsorted(cdf / cdf[-1], u[rows], side="right").clip(max=n_files[d] - 1)

    # one fixed size per file: derived from a per-file seed so it does not depend on access order
    size_noise = np.random.default_rng([config.seed, 1]).lognormal(
        0.0, config.size_sigma / 2, size=n_ds * int(n_files.max())
    )
    sizes = np.maximum(1024, ds_median[ds] * size_noise[ds * int(n_files.max()) + file_idx]).astype(np.int64)
    times = np.cumsum(rng.exponential(config.mean_interarrival_s, size=config.accesses))
    return pd.DataFrame(
        {
            "time": np.round(times, 3),
            "scope": [SCOPES[scopes[d]] for d in ds],
            "dataset": [names[d] for d in ds],
            "filename": [
                f"{names[d].rsplit('.', 1)[0]}._{k + 1:06d}.pool.root.1" for d, k in zip(ds, file_idx, strict=True)
            ],
            "filesize": sizes,
        }
    )


def _dataset_name(rng: np.random.Generator, scope: str, index: int) -> str:
    """An ATLAS-like name: scope.run.stream.step.format.tags (numbers and tags are pipeline noise)."""
    run = 300000 + index * 37 % 99991
    stream = STREAMS[rng.integers(len(STREAMS))]
    step = STEPS[rng.integers(len(STEPS))]
    fmt = FORMATS[rng.integers(len(FORMATS))]
    tags = "_".join(f"{c}{rng.integers(1000, 9999)}" for c in "ersp"[: 1 + rng.integers(4)])
    return f"{scope}.{run:08d}.{stream}.{step}.{fmt}.{tags}"
