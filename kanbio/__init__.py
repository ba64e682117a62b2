"""kanbio: Kolmogorov-Arnold Networks and MLPs for protein site prediction, explained per position."""

__version__ = "0.1.0"
