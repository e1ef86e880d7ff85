"""Datasets for litelab: the official CIFAR-10, image folders and archives, ``.npz`` arrays.

``load_dataset(cfg)`` returns a :class:`Dataset` of uint8 NHWC images and int64 labels;
``load_image_files`` decodes single images (for ``litelab predict``) exactly the same way.
"""

from litelab.data.cifar import CIFAR10_CLASSES, CIFAR10_MD5, CIFAR10_URL
from litelab.data.dataset import Dataset, load_dataset
from litelab.data.images import load_image_files

__all__ = [
    "CIFAR10_CLASSES",
    "CIFAR10_MD5",
    "CIFAR10_URL",
    "Dataset",
    "load_dataset",
    "load_image_files",
]
