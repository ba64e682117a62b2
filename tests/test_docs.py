"""The examples in the public docstrings run and print what they show."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ["kanbio.models.factory", "kanbio.models.inference", "kanbio.models.kan",
           "kanbio.estimators", "kanbio.train", "kanbio.stages.prepare", "kanbio.stages.predict"]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
