"""kanbio: KANs and MLPs for protein site prediction, explained position by position."""

__version__ = "0.1.0"
