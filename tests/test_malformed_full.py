"""The whole malformed-input corpus through every entry point (test_malformed.py holds the
checks; this file only lets the test suite's workers run it beside the rest)."""

from __future__ import annotations

import pytest

from test_malformed import check_every_entry_point, corpus, show


@pytest.mark.slow
def test_bad_input_never_stops_a_batch_over_a_thousand_files(tmp_path_factory, fixtures,
                                                             tmp_path):
    folder, entries = corpus(tmp_path_factory, fixtures, None)
    assert len(entries) >= 1000
    show(check_every_entry_point(folder, entries, tmp_path, api_sample=None), "full")
