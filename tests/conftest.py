"""Our own suite loads raftsim's hypothesis profiles (from its pytest plugin): CI runs are
derandomized, so a green run is reproducible; development explores new examples."""

from __future__ import annotations

import os

from hypothesis import settings

settings.load_profile(
    os.environ.get("HYPOTHESIS_PROFILE", "raftsim-ci" if os.environ.get("CI") else "raftsim-dev")
)
