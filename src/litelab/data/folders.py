"""Image-folder datasets: find the layout, the classes and a fixed order of the files.

Two layouts, possibly under one top-level folder (``cifar10-jpeg/train/...``):
``train/<class>/*`` + ``test/<class>/*``, or a single root of ``<class>/*`` folders that is
split into train and test (stratified, seed 0). Folders have no natural order and the
validation split takes the end of the training set, so each split is put in a fixed
pseudo-random order (seed 0) of its sorted (class, file) list, which interleaves classes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from litelab.data.images import is_image_name
from litelab.data.splits import split_single_root
from litelab.errors import LitelabError


@dataclass
class FolderPlan:
    """Which file is which image: names and labels of each split, in their final order."""

    classes: list[str]
    train_names: list[str]
    train_labels: np.ndarray
    test_names: list[str]
    test_labels: np.ndarray
    skipped: list[str] = field(default_factory=list)  # files that are not images of a class
    all_jpeg: bool = False


def _root(paths: list[tuple[str, ...]], src: str) -> tuple[tuple[str, ...], bool]:
    """The folder holding the dataset and whether it has train/ and test/ folders."""
    prefix: tuple[str, ...] = ()
    while True:
        rel = [p[len(prefix) :] for p in paths if p[: len(prefix)] == prefix]
        dirs = {r[0] for r in rel if len(r) >= 2}
        if "train" in dirs and "test" in dirs:
            return prefix, True
        if "train" in dirs or "test" in dirs:
            have, lack = ("train", "test") if "train" in dirs else ("test", "train")
            raise LitelabError(
                f"{src} has a {have}/ folder but no {lack}/ folder beside it; add "
                f"{lack}/<class>/ folders, or pass a folder of class folders only"
            )
        if len(dirs) == 1 and any(len(r) >= 3 for r in rel):
            prefix = (*prefix, next(iter(dirs)))
            continue
        return prefix, False


def _order(names: list[str], labels: list[int]) -> tuple[list[str], np.ndarray]:
    """Sort by (class, name), then apply the fixed permutation (seed 0)."""
    pairs = sorted(zip(labels, names, strict=True))
    perm = np.random.default_rng(0).permutation(len(pairs))
    return [pairs[i][1] for i in perm], np.array([pairs[i][0] for i in perm], dtype=np.int64)


def _collect(
    rel: list[tuple[str, tuple[str, ...]]], src: str, where: str
) -> tuple[dict[str, list[str]], list[str]]:
    """``{class: [image names]}`` from paths relative to a folder of class folders."""
    by_class: dict[str, list[str]] = {}
    skipped = []
    for name, r in rel:
        if len(r) >= 2 and is_image_name(name):
            by_class.setdefault(r[0], []).append(name)
        else:
            skipped.append(name)
            if len(r) >= 2:
                by_class.setdefault(r[0], [])
    for cls, files in by_class.items():
        if not files:
            raise LitelabError(f"class folder {where}{cls} in {src} has no images")
    return by_class, skipped


def plan_folders(names: Sequence[str], src: str, test_fraction: float = 0.2) -> FolderPlan:
    """Work out the layout of image folders from the file names (hidden ones removed).

    ``test_fraction`` is used only for a single root of class folders.
    """
    paths = [tuple(n.split("/")) for n in names]
    if not paths:
        raise LitelabError(f"no images found in {src}")
    prefix, split = _root(paths, src)
    k = len(prefix)
    inside = [(n, p[k:]) for n, p in zip(names, paths, strict=True) if p[:k] == prefix]
    outside = [n for n, p in zip(names, paths, strict=True) if p[:k] != prefix]
    base = "/".join(prefix) + "/" if prefix else ""

    if split:
        train, skip_a = _collect(
            [(n, r[1:]) for n, r in inside if r[0] == "train"], src, base + "train/"
        )
        test, skip_b = _collect(
            [(n, r[1:]) for n, r in inside if r[0] == "test"], src, base + "test/"
        )
        skipped = skip_a + skip_b + [n for n, r in inside if r[0] not in ("train", "test")]
        if not train:
            raise LitelabError(f"no class folders with images in {src} ({base}train/)")
        if set(train) != set(test):
            only_train = sorted(set(train) - set(test)) or ["-"]
            only_test = sorted(set(test) - set(train)) or ["-"]
            raise LitelabError(
                f"train and test class folders differ in {src}: only in train: "
                f"{', '.join(only_train)}; only in test: {', '.join(only_test)}"
            )
        classes = sorted(train)
        index = {c: i for i, c in enumerate(classes)}
        tr = [(n, index[c]) for c in classes for n in train[c]]
        te = [(n, index[c]) for c in classes for n in test[c]]
    else:
        by_class, skipped = _collect(inside, src, base)
        if not by_class:
            raise LitelabError(f"no images found in {src} (expected class folders of images)")
        classes = sorted(by_class)
        index = {c: i for i, c in enumerate(classes)}
        every = sorted((index[c], n) for c in classes for n in by_class[c])
        labels = np.array([c for c, _ in every], dtype=np.int64)
        test_mask = split_single_root(labels, test_fraction)
        tr = [(n, c) for (c, n), t in zip(every, test_mask, strict=True) if not t]
        te = [(n, c) for (c, n), t in zip(every, test_mask, strict=True) if t]
    if len(classes) < 2:
        raise LitelabError(
            f"{src} has only one class folder ({base}{classes[0]}); a classifier needs two or more"
        )
    train_names, train_labels = _order([n for n, _ in tr], [c for _, c in tr])
    test_names, test_labels = _order([n for n, _ in te], [c for _, c in te])
    jpeg = all(n.lower().endswith((".jpg", ".jpeg")) for n in train_names + test_names)
    return FolderPlan(
        classes, train_names, train_labels, test_names, test_labels, outside + skipped, jpeg
    )
