"""Figures and pictures: evaluation, track pictures, benchmarks."""
