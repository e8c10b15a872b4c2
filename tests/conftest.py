"""Shared test setup: the Agg backend, figures closed after each test, and hypothesis profiles."""

import matplotlib
import pytest
from hypothesis import settings

matplotlib.use("Agg")

settings.register_profile("default", max_examples=60, deadline=None)
settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
settings.load_profile("ci" if __import__("os").environ.get("CI") else "default")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")
