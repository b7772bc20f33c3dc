"""obs-support: the support system an astronomical observatory gives its clients."""

__version__ = "0.1.0"
