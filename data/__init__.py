"""Data sets: CIFAR-10 (locate, download, verify, load, split) and small toy sets."""

from data.toy import init_toy_data, make_spiral

__all__ = ["init_toy_data", "make_spiral"]
