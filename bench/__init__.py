"""fmbench: benchmark and report generator for Fashion-MNIST image classifiers."""

__version__ = "0.1.0"
