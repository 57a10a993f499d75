"""Batch releases: planning, workers, originality, manifests, compliance, cover, titles, long mix."""
