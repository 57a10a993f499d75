"""Batch pools for the drums (issue 17): 'generated' in --beats (the default pool), --drum-kits dealt
to the generated tracks only, every kit checked before anything is made."""

from __future__ import annotations

import pytest

from app.errors import BadValueError
from app.release.plan import plan_release
from app.release.records import Release
from app.release.request import BatchRequest, validate_request
from app.release.track import _spec_for


def _plans(**options):
    req = validate_request(BatchRequest(count=6, seed=1, **options))
    return req, plan_release(req, 1, [f"Song {i}" for i in range(6)])


def test_the_default_beat_pool_is_the_generated_drums():
    req, plans = _plans()
    assert {p.beat for p in plans} == {"generated"} and {p.drum_kit for p in plans} == {None}
    assert "drum_kits" not in req.identity()  # releases made before the option keep their identity


def test_kits_are_dealt_to_the_generated_tracks_only():
    _, plans = _plans(beats=("Generated", "boombap_80bpm", "none"), drum_kits=("Jazz", "Brush"))
    release = Release("a", "b", 1, 6, ["wav"], "f", "c")
    assert {p.beat for p in plans} == {"generated", "boombap_80bpm", "none"}
    for plan in plans:
        spec = _spec_for(plan, plan.seed, release)
        if plan.beat == "generated":
            assert plan.drum_kit in ("Jazz", "Brush") and spec.drum_kit == plan.drum_kit
        else:
            assert plan.drum_kit is None and spec.drum_kit is None


@pytest.mark.parametrize("options, message", [
    ({"drum_kits": ("No Such Kit",)}, "unknown drum kit"),
    ({"drum_kits": ("Vibraphone",)}, "not a drum kit"),
    ({"beats": ("boombap_80bpm",), "drum_kits": ("Jazz",)}, "add 'generated'"),
])
def test_bad_kit_pools_are_refused(options, message):
    with pytest.raises(BadValueError, match=message):
        validate_request(BatchRequest(count=2, **options))
