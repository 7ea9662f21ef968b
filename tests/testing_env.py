"""A pytest plugin (pyproject's addopts: `-p tests.testing_env`): marks the run as a test
run before pytest-django imports the settings, which read DJANGO_TESTING and nothing
else to know it (config/settings.py)."""

from __future__ import annotations

import os

os.environ.setdefault("DJANGO_TESTING", "1")
