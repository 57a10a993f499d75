import os
import tempfile

# Keep the tests' preprocessing cache apart from the user's (.cache/ at the repo root).
os.environ.setdefault("LOFI_CACHE_DIR", tempfile.mkdtemp(prefix="lofi-test-cache-"))
os.environ.setdefault("MPLBACKEND", "Agg")
