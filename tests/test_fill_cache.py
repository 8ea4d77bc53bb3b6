"""scripts/fill_cache.py collects exactly the runs a job's notebook trains."""

import subprocess
import sys
from pathlib import Path

import anchor

ROOT = Path(__file__).resolve().parents[1]


def test_fill_cache_lists_the_notebooks_configurations():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "fill_cache.py"), "--jobs", "scoring_rules_joint", "--dry"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout.splitlines()  # fmt: skip
    assert out[0].startswith("scoring_rules_joint: 21 runs")
    keys = [line.split()[0] for line in out[1:]]
    assert len(keys) == 21 == len(set(keys))
    # the same configurations the notebook builds: seven rules x three seeds, joint critic, 4,000 steps per level
    expected = anchor.staircase_configs("gaussian", ["anchor"], "joint", steps_per_level=4000, seeds=[0, 1, 2])
    assert [anchor.config_key(c) for c in expected] == keys[:3]
