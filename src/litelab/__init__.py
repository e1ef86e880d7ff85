"""litelab: small image classifiers from data to a microcontroller."""

from litelab.errors import LitelabError

__version__ = "0.1.0"

__all__ = ["LitelabError", "__version__"]
