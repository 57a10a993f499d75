"""lofi: compose, render, produce and deliver lo-fi hip hop tracks."""

__version__ = "0.1.0"
