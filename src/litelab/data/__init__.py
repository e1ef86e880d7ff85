"""Datasets for litelab: the official CIFAR-10, image folders and archives, ``.npz`` arrays.

``load_dataset(cfg)`` returns a :class:`Dataset` of uint8 NHWC images and int64 labels;
``load_image_files`` decodes single images (for ``litelab predict``) exactly the same way.
The names load their modules on first use, so ``import litelab.data`` stays instant.
"""

from __future__ import annotations

from litelab.lazy import lazy_attributes

_LAZY = {
    "CIFAR10_CLASSES": "litelab.data.cifar",
    "CIFAR10_MD5": "litelab.data.cifar",
    "CIFAR10_URL": "litelab.data.cifar",
    "Dataset": "litelab.data.dataset",
    "load_dataset": "litelab.data.dataset",
    "load_image_files": "litelab.data.images",
}
__all__ = list(_LAZY)

__getattr__ = lazy_attributes(__name__, _LAZY)
