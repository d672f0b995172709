"""labelbay: label images with machine-learning models and review the labels as a team."""

__version__ = "0.1.0"
