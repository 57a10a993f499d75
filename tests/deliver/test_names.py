"""Property tests (hypothesis) of safe track names."""

from __future__ import annotations

import os
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.deliver.names import MAX_NAME, MAX_NAME_BYTES, safe_name

# No example database: nothing is written into the repository.
SETTINGS = settings(max_examples=60, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])

# --- names ----------------------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF, blacklist_categories=()), max_size=400)
NASTY = st.lists(st.sampled_from(["/", "\\", "..", ".", " ", "\x00", "\x1b", "\n", "-", "_", "🎵", "caf\udce9",
                                  "𠀀", "ａ", "…", "½", "x" * 50]), max_size=30).map("".join)


@SETTINGS
@given(st.one_of(ANY_TEXT, NASTY))
def test_safe_name_properties(text):
    name = safe_name(text)
    assert name and "/" not in name and "\\" not in name and "\x00" not in name
    assert not name.startswith(".") and not name.startswith("-") and name not in (".", "..")
    assert ".." not in name
    assert len(name) <= MAX_NAME and len(name.encode("utf-8")) <= MAX_NAME_BYTES
    assert all(unicodedata.category(ch)[0] != "C" for ch in name)  # no control, surrogate, unassigned
    assert name == name.strip() and safe_name(name) == name  # idempotent
    assert os.path.basename(name) == name
