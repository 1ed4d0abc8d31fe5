"""The benchmark suite's own moving parts that a full run reaches only at its end."""

from __future__ import annotations

import os

from bench.run import helper_rss


def test_helper_rss_stages_through_the_real_helper() -> None:
    rss = helper_rss(dict(os.environ), files=200)
    assert 1 << 20 < rss < 512 << 20  # a Python process staging small files, measured
