"""The backbone bench: every option frozen as served, timed in the same run as Lite0 at 224 px, its ratio to it."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from scripts import bench_backbones

pytestmark = pytest.mark.slow


def test_every_option_is_timed_beside_the_shipped_backbone(tmp_path: Path) -> None:
    figures = bench_backbones.main(["--rounds", "1", "--json", str(tmp_path / "backbones.json")])
    names = {f"{label}/fp32" for label, _, _ in bench_backbones.OPTIONS}
    for batch in ("batch_1", "batch_8"):
        assert set(figures["latency_ms"][batch]) == names and all(ms > 0 for ms in figures["latency_ms"][batch].values())
        assert figures["ratio_to_lite0_224_fp32"][batch]["lite0-224/fp32"] == 1.0
    assert json.loads((tmp_path / "backbones.json").read_text()) == figures
