"""paracycle: draft -> review -> revise cycles on a paper's abstract and introduction."""

__version__ = "0.1.0"
