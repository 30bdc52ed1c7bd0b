"""Answers are validated against their published models whenever tests build them (VALIDATE_VIEWS)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.domain.views import Counts, View


def test_the_test_run_validates_every_answer_it_builds():
    assert View.validated  # tests/conftest.py
    with pytest.raises(ValidationError):
        Counts.build(new=-1, saved=0, urgentNew=0, total=0)
    with pytest.raises(ValidationError):
        Counts.build(new=1, saved=0, urgentNew=0, total=1, unexpected=True)
    assert Counts.build(new=1, saved=0, urgentNew=0, total=1).as_json() == {"new": 1, "saved": 0, "urgentNew": 0,
                                                                           "total": 1}


def test_served_answers_are_built_without_validation(monkeypatch):
    monkeypatch.setattr(View, "validated", False)
    assert Counts.build(new=-1, saved=0, urgentNew=0, total=0).new == -1  # served as built, no cost
