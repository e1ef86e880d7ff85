"""Stratified subsets, the single-root train/test split and the validation split.

A limited load (``--train-limit``) picks a per-class proportional subset of the *candidate*
images (every file that looks like an image), so image folders can pick files before
decoding them, and a full cache yields exactly the same arrays as decoding the subset.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from litelab.errors import LitelabError


@dataclass
class Part:
    """The decoded images of one split, plus what is needed to take subsets of it.

    ``labels`` holds the label of every candidate (decodable or not), ``index`` the candidate
    number of each decoded row (increasing), so ``x[i]`` is candidate ``index[i]``.
    """

    x: np.ndarray
    y: np.ndarray
    index: np.ndarray
    labels: np.ndarray

    @classmethod
    def whole(cls, x: np.ndarray, y: np.ndarray) -> Part:
        """A split whose every candidate decoded (arrays, official batches)."""
        y = np.asarray(y, dtype=np.int64)
        return cls(x=x, y=y, index=np.arange(len(y), dtype=np.int64), labels=y)

    def take(self, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Images and labels of the given candidates that decoded, in source order."""
        if len(candidates) == len(self.labels):  # all of them: no copy
            return self.x, self.y
        rows = np.isin(self.index, candidates)
        return self.x[rows], self.y[rows]


def allocate(counts: np.ndarray, limit: int) -> np.ndarray:
    """Per-class quotas summing to ``limit``, proportional to ``counts`` (largest remainder).

    Every class gets at least one when ``limit`` allows it.
    """
    counts = np.asarray(counts, dtype=np.int64)
    quota = limit * counts / counts.sum()
    take = np.floor(quota).astype(np.int64)
    rest = limit - int(take.sum())
    order = np.argsort(-(quota - take), kind="stable")  # ties go to the earlier class
    take[order[:rest]] += 1
    if limit >= len(counts):
        for c in np.flatnonzero((take == 0) & (counts > 0)):
            take[int(np.argmax(take))] -= 1
            take[c] += 1
    return np.minimum(take, counts)


def stratified_subset(labels: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    """Sorted indices of a per-class proportional random subset of ``limit`` items."""
    labels = np.asarray(labels)
    if limit >= len(labels):
        return np.arange(len(labels))
    classes, counts = np.unique(labels, return_counts=True)
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=k, replace=False)
        for c, k in zip(classes, allocate(counts, limit), strict=True)
        if k
    ]
    return np.sort(np.concatenate(chosen)) if chosen else np.arange(0)


def limit_candidates(
    labels: np.ndarray, limit: int | None, seed: int, which: str, source: str
) -> np.ndarray:
    """The candidates a ``--train-limit`` / ``--test-limit`` keeps (all when None)."""
    n = len(labels)
    if limit is None:
        return np.arange(n)
    if limit > n:
        noun = "training" if which == "train" else "test"
        raise LitelabError(
            f"--{which}-limit {limit} is larger than the {n} {noun} images in {source}"
        )
    stream = 0 if which == "train" else 1
    return stratified_subset(labels, limit, np.random.default_rng([seed, stream]))


def split_single_root(labels: np.ndarray, fraction: float) -> np.ndarray:
    """Boolean test mask for a single root of class folders: stratified, fixed seed 0.

    Each class gives ``round(count * fraction)`` images to the test set, but keeps at least
    one for training and gives at least one to test when it has two or more.
    """
    rng = np.random.default_rng(0)
    test = np.zeros(len(labels), dtype=bool)
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        k = min(max(round(len(idx) * fraction), 1), len(idx) - 1)
        if k > 0:
            test[rng.choice(idx, size=k, replace=False)] = True
    return test


def validation_split(
    x: np.ndarray, y: np.ndarray, val_split: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The last ``round(val_split * N)`` images become the validation set."""
    n_val = round(val_split * len(x))
    if n_val and n_val >= len(x):
        raise LitelabError(
            f"--val-split {val_split} leaves no training images out of {len(x)}; "
            "lower it or load more images"
        )
    cut = len(x) - n_val
    return x[:cut], y[:cut], x[cut:], y[cut:]
