"""Acceptance: the workbook's toy cells, imports changed only, print the workbook's numbers.

``tests/workbook/toy_cells.py`` is the one copy of those cells that is checked against the
workbook; ``tests/test_packaging.py`` runs the same file against an installed wheel and
checks what it prints with :func:`printed_numbers` and :func:`check_workbook_numbers`.
"""

from __future__ import annotations

import contextlib
import io
import re
import runpy
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
import pytest

TOY_CELLS = Path(__file__).parent / "workbook" / "toy_cells.py"


@dataclass(frozen=True)
class ToyNumbers:
    """What the toy cells print, read back from their output."""

    score_difference: float
    loss: float
    relative_errors: dict[str, float]
    final_loss: float


def printed_numbers(printed: str) -> ToyNumbers:
    """Parse the toy cells' output (In [158]-[161])."""

    def number(pattern: str) -> float:
        match = re.search(pattern, printed, re.M)
        assert match is not None, f"no line matching {pattern!r} in:\n{printed}"
        return float(match.group(1))

    errors = re.findall(r"^(\w+) max relative error: (\S+)$", printed, re.M)
    return ToyNumbers(
        score_difference=number(r"^Difference between your scores and correct scores:\n(\S+)$"),
        loss=number(r"^Loss: (\S+)$"),
        relative_errors={name: float(value) for name, value in errors},
        final_loss=number(r"^Final training loss:\s+(\S+)$"),
    )


def check_workbook_numbers(numbers: ToyNumbers) -> None:
    """Acceptance 2: the seed workbook's numbers and tolerances."""
    assert numbers.score_difference < 1e-7
    assert abs(numbers.loss - 1.071696123862817) < 1e-12
    assert set(numbers.relative_errors) == {"W1", "b1", "W2", "b2"}
    for name, error in numbers.relative_errors.items():
        assert error < 1e-8, name
    assert abs(numbers.final_loss - 0.0144978645878) < 1e-10


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


def test_the_printed_numbers_are_the_workbooks(workbook: tuple[dict, str]) -> None:
    ns, printed = workbook
    numbers = printed_numbers(printed)
    check_workbook_numbers(numbers)
    assert numbers.final_loss == ns["stats"]["loss_history"][-1]
    assert numbers.score_difference == np.sum(np.abs(ns["scores"] - ns["correct_scores"]))


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
