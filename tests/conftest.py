import os
import tempfile

# Keep the tests' preprocessing cache apart from the user's (.cache/ at the repo root).
os.environ.setdefault("LOFI_CACHE_DIR", tempfile.mkdtemp(prefix="lofi-test-cache-"))
os.environ.setdefault("MPLBACKEND", "Agg")

import pytest


@pytest.fixture(scope="session")
def models():
    """The shipped models' numpy sampling weights, loaded once for the whole run."""
    from app.music.compose import load_models

    return load_models()
