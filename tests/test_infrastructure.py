"""The test suite's own setup: the Hypothesis profile CI runs with."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.parametrize(
    ("env", "profile_blob", "deadline_off"),
    [
        pytest.param({"CI": "true"}, True, True, id="ci"),
        pytest.param({}, True, False, id="dev"),
    ],
)
def test_hypothesis_profile_prints_the_reproduction_blob(
    env: dict[str, str], profile_blob: bool, deadline_off: bool
) -> None:
    """With CI set, conftest loads the ``ci`` profile: blob printed on failure, no deadline."""
    code = (
        "import tests.conftest; from hypothesis import settings; "
        "print(settings.default.print_blob, settings.default.deadline is None)"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("CI", "HYPOTHESIS_PROFILE")}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True
    ).stdout.split()
    assert out == [str(profile_blob), str(deadline_off)]
