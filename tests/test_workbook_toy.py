"""Acceptance: the workbook's toy cells, imports changed only, print the workbook's numbers."""

from __future__ import annotations

import contextlib
import io
import re
import runpy
from pathlib import Path

import matplotlib
import numpy as np
import pytest

TOY_CELLS = Path(__file__).parent / "workbook" / "toy_cells.py"


@pytest.fixture(scope="module")
def workbook() -> tuple[dict, str]:
    """Run the cells once; return their globals and everything they printed."""
    matplotlib.use("Agg")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        namespace = runpy.run_path(str(TOY_CELLS), run_name="workbook")
    return namespace, out.getvalue()


def test_scores_match_the_workbook(workbook: tuple[dict, str]) -> None:
    ns, _ = workbook
    difference = np.sum(np.abs(ns["scores"] - ns["correct_scores"]))
    assert difference < 1e-7


def test_loss_matches_the_workbook(workbook: tuple[dict, str]) -> None:
    ns, printed = workbook
    first_loss = float(re.search(r"^Loss: (\S+)$", printed, re.M).group(1))  # type: ignore[union-attr]
    assert abs(first_loss - 1.071696123862817) < 1e-12


def test_every_gradient_matches_numerical(workbook: tuple[dict, str]) -> None:
    _, printed = workbook
    errors = dict(re.findall(r"^(\w+) max relative error: (\S+)$", printed, re.M))
    assert set(errors) == {"W1", "b1", "W2", "b2"}
    for name, error in errors.items():
        assert float(error) < 1e-8, name


def test_toy_training_final_loss(workbook: tuple[dict, str]) -> None:
    ns, _ = workbook
    assert abs(ns["stats"]["loss_history"][-1] - 0.0144978645878) < 1e-10
    assert len(ns["stats"]["loss_history"]) == 100


def test_params_are_the_layers_arrays() -> None:
    from minigrad.models import TwoLayerNet

    np.random.seed(0)
    net = TwoLayerNet(4, 10, 3, std=1e-1)
    first_affine = net.model[0]
    assert net.params["W1"] is first_affine.params["W"]
    assert net.params["b2"] is net.model[2].params["b"]
    before = net.params["W1"].copy()
    X = np.random.default_rng(0).standard_normal((5, 4))
    y = np.array([0, 1, 2, 2, 1])
    net.train(X, y, X, y, learning_rate=1e-1, num_iters=1)
    assert not np.array_equal(net.params["W1"], before)
    assert net.params["W1"] is first_affine.params["W"]
    np.testing.assert_array_equal(first_affine.params["W"], net.params["W1"])
