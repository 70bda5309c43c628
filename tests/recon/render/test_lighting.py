"""Lighting set-ups: the fixed DISN-like rig and seeded random rigs."""

from __future__ import annotations

import numpy as np
import pytest

from recon.render.lighting import disn_lighting, lighting_for_view


def test_disn_rig_is_fixed_and_shadowless_from_two_sides():
    rig = lighting_for_view("disn", 0, "c", "s", 0)
    assert rig == lighting_for_view("disn", 5, "c", "t", 9) == disn_lighting()
    key, fill = rig["sun"]
    np.testing.assert_allclose(key["direction"], -np.asarray(fill["direction"]))
    assert fill["strength"] == pytest.approx(key["strength"] / 2) and rig["ambient"] == 0.5
    assert key["direction"][1] < 0  # the key light shines downward


def test_random_rigs_are_seeded_per_view_and_within_ranges():
    a = lighting_for_view("random", 0, "c", "s", 3)
    assert a == lighting_for_view("random", 0, "c", "s", 3)
    assert a != lighting_for_view("random", 0, "c", "s", 4)
    assert a != lighting_for_view("random", 1, "c", "s", 3)
    rigs = [lighting_for_view("random", 0, "c", "s", v) for v in range(300)]
    elevations = [np.degrees(np.arcsin(-r["sun"][0]["direction"][1])) for r in rigs]
    assert 15 <= min(elevations) < 20 and 70 < max(elevations) <= 75
    strengths = [r["sun"][0]["strength"] for r in rigs]
    assert min(strengths) >= 1.0 and max(strengths) <= 3.0
    for r in rigs:
        assert np.linalg.norm(r["sun"][0]["direction"]) == pytest.approx(1.0)
        assert 0.2 <= r["sun"][1]["strength"] / r["sun"][0]["strength"] <= 0.6
        assert 0.2 <= r["ambient"] <= 0.8


def test_unknown_lighting():
    with pytest.raises(ValueError, match="unknown lighting 'studio'"):
        lighting_for_view("studio", 0, "c", "s", 0)
