"""Deliver: the finished track as files (export, tags), its sidecar (replay) and its name (names)."""
