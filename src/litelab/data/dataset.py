"""``load_dataset``: any supported source to train/validation/test uint8 arrays.

Steps: resolve the source (``cifar10`` or a path), read it (from the cache when possible),
take the stratified ``--train-limit`` / ``--test-limit`` subsets, shuffle the training set
if asked, and cut the validation set from its end. The test set is never shuffled.
"""

from __future__ import annotations

import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from litelab.config import DatasetConfig
from litelab.data import cache, cifar
from litelab.data.archives import DirTree, Tree, is_ignored, open_tree, sniff
from litelab.data.folders import FolderPlan, plan_folders
from litelab.data.images import DecodePool, is_image_name, resize_images
from litelab.data.npz import load_npz
from litelab.data.splits import Part, limit_candidates, validation_split
from litelab.errors import LitelabError

_HOLD_BYTES = 512 << 20  # a limited load keeps archive members in memory up to this, else rereads


@dataclass
class Dataset:
    """Train/validation/test images (uint8, NHWC) with int64 labels and class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: list[str]
    source: str

    @property
    def num_classes(self) -> int:
        """How many classes (the width of the model's output)."""
        return len(self.classes)


def _tilde(path: Path) -> str:
    home = str(Path.home())
    text = str(path)
    return "~" + text[len(home) :] if home not in ("/", "") and text.startswith(home) else text


def _warn_skipped(count: int, example: str, src: str) -> None:
    if count:
        print(
            f"litelab: skipped {count} non-image files in {src} (e.g. {example})", file=sys.stderr
        )


def _label(kind: str, plan: FolderPlan | None) -> str:
    if kind == "python":
        return "CIFAR-10 (official, python version)"
    if kind == "binary":
        return "CIFAR-10 (official, binary version)"
    assert plan is not None
    if plan.classes == cifar.CIFAR10_CLASSES:
        return "CIFAR-10 (JPEG copy)" if plan.all_jpeg else "CIFAR-10 (image folders)"
    return f"image folders ({len(plan.classes)} classes)"


def _assemble(
    names: list[str],
    labels: np.ndarray,
    chosen: np.ndarray,
    decoded: tuple[np.ndarray, dict[str, int]],
) -> tuple[Part, list[str]]:
    """A Part from the decoded images of the chosen candidates; also the names that failed."""
    images, row_of = decoded
    rows = np.array([row_of[names[i]] for i in chosen], dtype=np.int64)
    good = rows >= 0
    index = np.asarray(chosen, dtype=np.int64)[good]
    failed = [names[i] for i in np.asarray(chosen)[~good]]
    return Part(images[rows[good]], labels[index], index, labels), failed


def _read_tree(
    tree: Tree, cfg: DatasetConfig, seed: int, progress: bool, src: str
) -> tuple[cache.Cached, bool]:
    """Read a folder or archive: official batches or image folders. True if fully decoded.

    A full load decodes every image while the archive streams past (one pass). A limited
    load lists the files, chooses the subset, then reads and decodes only those.
    """
    size = cfg.image_size
    full = cfg.train_limit is None and cfg.test_limit is None
    known = tree.known_names()
    total = sum(1 for n in known if is_image_name(n) and not is_ignored(n)) if known else None
    structural: dict[str, bytes] = {}
    held: dict[str, bytes] = {}
    hold = tree.sequential and not full
    held_bytes = 0
    names: list[str] = []

    def want(name: str) -> bool:
        if is_ignored(name):
            return False
        names.append(name)  # every file that counts, in scan order
        if name.rsplit("/", 1)[-1] in cifar.MEMBER_NAMES:
            return True
        return is_image_name(name) and (full or hold)

    with DecodePool(size, progress, total, desc="decoding images") as pool:
        for name, data in tree.scan(want):
            if data is None:
                continue
            if name.rsplit("/", 1)[-1] in cifar.MEMBER_NAMES:
                structural[name] = data
            elif full:
                pool.add(name, data)
            elif hold:
                held[name] = data
                held_bytes += len(data)
                if held_bytes > _HOLD_BYTES:  # too big to keep: read the chosen ones again
                    held.clear()
                    hold = False

        for kind, files in (("python", cifar.PYTHON_FILES), ("binary", cifar.BINARY_FILES)):
            prefix = cifar.find_batches(names, files)
            if prefix is not None:
                x_tr, y_tr, x_te, y_te, classes = cifar.parse_batches(
                    structural.__getitem__, tree.where, prefix, binary=kind == "binary"
                )
                if size != 32:
                    x_tr, x_te = resize_images(x_tr, size), resize_images(x_te, size)
                meta = {"kind": kind, "label": _label(kind, None), "skipped": 0, "example": ""}
                return cache.Cached(
                    Part.whole(x_tr, y_tr), Part.whole(x_te, y_te), classes, meta
                ), True

        if not any(is_image_name(n) for n in names):
            raise LitelabError(
                f"no images and no CIFAR-10 batches found in {src}; expected class folders of "
                "images, cifar-10-batches-py or cifar-10-batches-bin"
            )
        plan = plan_folders(names, src, cfg.test_fraction)
        if full:
            decoded = pool.finish()
            chosen_tr = np.arange(len(plan.train_names))
            chosen_te = np.arange(len(plan.test_names))
    if not full:
        chosen_tr = limit_candidates(plan.train_labels, cfg.train_limit, seed, "train", src)
        chosen_te = limit_candidates(plan.test_labels, cfg.test_limit, seed, "test", src)
        need = [plan.train_names[i] for i in chosen_tr] + [plan.test_names[i] for i in chosen_te]
        with DecodePool(size, progress, len(need), desc="decoding images") as pool:
            source = ((n, held[n]) for n in need) if hold else tree.read(need)
            for name, data in source:
                pool.add(name, data)
            decoded = pool.finish()

    train, bad_tr = _assemble(plan.train_names, plan.train_labels, chosen_tr, decoded)
    test, bad_te = _assemble(plan.test_names, plan.test_labels, chosen_te, decoded)
    if full:
        for part, which in ((train, "training"), (test, "test")):
            missing = sorted(set(part.labels.tolist()) - set(part.y.tolist()))
            if missing:
                raise LitelabError(
                    f"class {plan.classes[missing[0]]} has no readable {which} images in {src}"
                )
    skipped = plan.skipped + bad_tr + bad_te
    meta = {
        "kind": "folders",
        "label": _label("folders", plan),
        "skipped": len(skipped),
        "example": skipped[0] if skipped else "",
    }
    return cache.Cached(train, test, plan.classes, meta), full


def _resolve(source: str) -> tuple[Path, bool]:
    """The path to read and whether it is the official download (``cifar10``)."""
    if source.lower() in ("cifar10", "cifar-10"):
        found = cifar.find_cached_cifar10()
        return (found if found is not None else cifar.download_cifar10()), True
    path = Path(source).expanduser()
    if not path.exists():
        raise LitelabError(
            f"data source not found: {path} (pass cifar10, a dataset archive, an .npz file "
            "or a folder)"
        )
    return path, False


def _load_parts(
    cfg: DatasetConfig, seed: int, progress: bool
) -> tuple[Part, Part, list[str], str, Path]:
    """Both splits before limits, the class names, a description and the path read."""
    path, official = _resolve(cfg.source)
    if path.is_file() and (sniff(path) == "zip" or path.suffix.lower() == ".npz") and _is_npz(path):
        x_tr, y_tr, x_te, y_te, classes = load_npz(path, cfg.image_size)
        return Part.whole(x_tr, y_tr), Part.whole(x_te, y_te), classes, f"arrays from {path}", path

    tree = open_tree(path)
    src = str(path)
    try:
        cached, cfile = None, None
        if cfg.cache:
            files = tree.files() if isinstance(tree, DirTree) else None
            key = cache.cache_key(path, cfg.image_size, files)
            cfile = cache.cache_file(path, cfg.image_size, key)
            cached = cache.load(cfile, cfg.image_size)
        if cached is None:
            cached, complete = _read_tree(tree, cfg, seed, progress, src)
            if cfile is not None and complete:
                cache.save(cfile, cached)
    finally:
        tree.close()
    meta = cached.meta
    _warn_skipped(int(meta.get("skipped", 0)), str(meta.get("example", "")), src)
    if official:
        where = next((p for p in path.parents if p.name == "datasets"), path.parent)
        description = f"CIFAR-10 (official, {_tilde(where)})"
    else:
        description = f"{meta.get('label', 'dataset')} from {path}"
    return cached.train, cached.test, cached.classes, description, path


def _is_npz(path: Path) -> bool:
    """A zip of only ``.npy`` members (or a broken file named .npz: let numpy say why)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except (zipfile.BadZipFile, OSError):
        return path.suffix.lower() == ".npz"
    return bool(names) and all(n.endswith(".npy") for n in names)


def load_dataset(cfg: DatasetConfig, seed: int = 42, progress: bool = True) -> Dataset:
    """Load ``cfg.source`` as train/validation/test arrays (see the module docstring)."""
    train, test, classes, source, path = _load_parts(cfg, seed, progress)
    x_train, y_train = train.take(
        limit_candidates(train.labels, cfg.train_limit, seed, "train", str(path))
    )
    x_test, y_test = test.take(
        limit_candidates(test.labels, cfg.test_limit, seed, "test", str(path))
    )
    if cfg.shuffle:
        perm = np.random.default_rng(seed).permutation(len(x_train))
        x_train, y_train = x_train[perm], y_train[perm]
    if len(x_train) == 0:
        raise LitelabError(f"no training images in {source}")
    x_train, y_train, x_val, y_val = validation_split(x_train, y_train, cfg.val_split)
    return Dataset(
        x_train=np.ascontiguousarray(x_train),
        y_train=y_train.astype(np.int64),
        x_val=np.ascontiguousarray(x_val),
        y_val=y_val.astype(np.int64),
        x_test=np.ascontiguousarray(x_test),
        y_test=y_test.astype(np.int64),
        classes=list(classes),
        source=source,
    )
