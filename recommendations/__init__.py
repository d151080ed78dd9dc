"""A drop-in Django app: explained product recommendations for any shop."""

__version__ = "0.2.0"
