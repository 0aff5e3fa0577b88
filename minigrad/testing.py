"""Hypothesis strategies for gradient-checking layers: ours and yours.

Importing this module needs Hypothesis (``pip install "minigrad[testing]"``).

Finite differences are only accurate where the function is smooth at the scale of the step
``h``, so the strategies keep inputs where that holds: off the kinks of ReLU and LeakyReLU
(:func:`kink_free_arrays`), off the hinge loss's kinks (:func:`hinge_loss_inputs`), and
well spread along the axis a normalisation layer divides by the standard deviation of
(:func:`batch_norm_inputs`, :func:`layer_norm_inputs`). :func:`catalogue_nets` draws random
stacks of every layer minigrad has.

Examples
--------
>>> from hypothesis import given
>>> from minigrad.testing import float64_arrays, batch_shapes
>>> @given(batch_shapes().flatmap(float64_arrays))
... def test_my_layer(x):
...     check_layer_gradients(MyLayer(), x, np.random.default_rng(0))
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from minigrad.activations import GELU, LeakyReLU, Sigmoid, Tanh
from minigrad.affine import Affine
from minigrad.batch_norm import BatchNorm1d
from minigrad.dropout import Dropout
from minigrad.initializers import normal
from minigrad.layer import Layer
from minigrad.layer_norm import LayerNorm
from minigrad.relu import ReLU
from minigrad.sequential import Sequential

__all__ = [
    "CATALOGUE",
    "batch_norm_inputs",
    "batch_shapes",
    "catalogue_nets",
    "float64_arrays",
    "hinge_loss_inputs",
    "kink_free_arrays",
    "kink_free_batches",
    "labels",
    "layer_norm_inputs",
    "min_abs_preactivation",
    "min_hinge_margin",
    "register_profiles",
    "sequential_nets",
    "spread_arrays",
]

SEEDS = st.integers(0, 2**32 - 1)


def batch_shapes(
    max_batch: int = 6, max_features: int = 8
) -> st.SearchStrategy[tuple[int, int]]:
    """Shapes ``(N, D)`` with ``1 <= N <= max_batch`` and ``1 <= D <= max_features``."""
    return st.tuples(st.integers(1, max_batch), st.integers(1, max_features))


def float64_arrays(
    shape: tuple[int, ...], bound: float = 1.0
) -> st.SearchStrategy[np.ndarray]:
    """Well-conditioned float64 arrays: finite, in ``[-bound, bound]``, no subnormals."""
    elements = st.floats(-bound, bound, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)
    return hnp.arrays(np.float64, shape, elements=elements)


def kink_free_arrays(
    shape: tuple[int, ...], margin: float = 1e-3, bound: float = 1.0
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays whose entries satisfy ``margin <= |x| <= bound``.

    Finite differences with step ``h < margin`` never cross ReLU's kink at 0.
    """
    magnitudes = st.floats(margin, bound, allow_nan=False, allow_infinity=False)
    elements = st.tuples(st.sampled_from([-1.0, 1.0]), magnitudes).map(lambda t: t[0] * t[1])
    return hnp.arrays(np.float64, shape, elements=elements)


def kink_free_batches(
    max_batch: int = 6, max_features: int = 8, margin: float = 1e-3, bound: float = 1.0
) -> st.SearchStrategy[np.ndarray]:
    """(N, D) :func:`kink_free_arrays` of random shape: inputs for ReLU and LeakyReLU."""
    return batch_shapes(max_batch, max_features).flatmap(
        lambda shape: kink_free_arrays(shape, margin, bound)
    )


@st.composite
def spread_arrays(
    draw: st.DrawFn, shape: tuple[int, int], axis: int, noise: float = 0.4
) -> np.ndarray:
    """float64 arrays whose entries along ``axis`` are well apart from each other.

    Along ``axis`` the entries are a shuffled ladder ``0, 1, ..., n-1`` (centred) plus
    noise in ``[-noise, noise]``, then scaled by a factor in ``[0.2, 3]`` and shifted by an
    offset in ``[-3, 3]``: any two differ by at least ``0.2 * (1 - 2 * noise)``, so the
    standard deviation a normalisation layer divides by is never near 0 (where its output
    turns sharply at the scale of ``sqrt(eps)`` and finite differences lose accuracy).
    """
    rng = np.random.default_rng(draw(SEEDS))
    n = shape[axis]
    ladder = np.argsort(rng.random(shape), axis=axis) - (n - 1) / 2.0
    jitter = draw(float64_arrays(shape, bound=noise))
    scale = draw(st.floats(0.2, 3.0))
    offset = draw(st.floats(-3.0, 3.0))
    return offset + scale * (ladder + jitter)


def batch_norm_inputs(max_batch: int = 6, max_features: int = 8) -> st.SearchStrategy[np.ndarray]:
    """(N, D) float64 inputs for batch norm: ``2 <= N``, each column well spread."""
    shapes = st.tuples(st.integers(2, max(2, max_batch)), st.integers(1, max_features))
    return shapes.flatmap(lambda shape: spread_arrays(shape, axis=0))


def layer_norm_inputs(max_batch: int = 6, max_features: int = 8) -> st.SearchStrategy[np.ndarray]:
    """(N, D) float64 inputs for layer norm: each row well spread over its features."""
    return batch_shapes(max_batch, max_features).flatmap(lambda shape: spread_arrays(shape, axis=1))


@st.composite
def hinge_loss_inputs(
    draw: st.DrawFn,
    max_batch: int = 6,
    max_classes: int = 6,
    margin: float = 1.0,
    kink_margin: float = 1e-3,
    bound: float = 2.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Scores (N, C) and labels (N,) whose hinge terms stay off their kinks.

    Every ``s_ij - s_iy + margin`` (``j != y_i``) satisfies ``kink_margin <= |.| <= bound``,
    so a finite-difference step ``h < kink_margin`` never switches a term on or off.

    Returns
    -------
    (scores float64 (N, C), y int64 (N,)), ``1 <= N <= max_batch``, ``2 <= C <= max_classes``
    """
    n = draw(st.integers(1, max_batch))
    c = draw(st.integers(2, max(2, max_classes)))
    y = draw(labels(n, c))
    correct = draw(float64_arrays((n,), bound))
    slack = draw(kink_free_arrays((n, c), kink_margin, bound))  # s_j - s_y + margin
    scores = correct[:, None] - margin + slack
    scores[np.arange(n), y] = correct
    return scores, y


def min_hinge_margin(scores: np.ndarray, y: np.ndarray, margin: float = 1.0) -> float:
    """Smallest ``|s_ij - s_iy + margin|`` over ``j != y_i`` (inf if C = 1).

    Use it with ``hypothesis.assume`` to keep finite differences off the hinge's kinks.
    """
    rows = np.arange(scores.shape[0])
    terms = np.abs(scores - scores[rows, y][:, None] + margin)
    terms[rows, y] = np.inf
    return float(np.min(terms)) if terms.size else np.inf


def labels(num_samples: int, num_classes: int) -> st.SearchStrategy[np.ndarray]:
    """int64 labels of shape (num_samples,) in ``[0, num_classes)``."""
    return hnp.arrays(np.int64, (num_samples,), elements=st.integers(0, num_classes - 1))


@st.composite
def sequential_nets(
    draw: st.DrawFn,
    max_depth: int = 4,
    max_width: int = 8,
    max_batch: int = 6,
    max_classes: int = 5,
) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """A float64 ``Affine -> ReLU -> ... -> Affine`` net with a batch and labels.

    Depth (number of Affine layers) is in ``[1, max_depth]``, hidden widths in
    ``[1, max_width]``, the batch in ``[1, max_batch]`` rows.

    Returns
    -------
    (model, X of shape (N, D), y of shape (N,))
    """
    depth = draw(st.integers(1, max_depth))
    widths = draw(st.lists(st.integers(1, max_width), min_size=depth, max_size=depth))
    num_classes = draw(st.integers(2, max_classes))
    batch = draw(st.integers(1, max_batch))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    sizes = [*widths, num_classes]
    layers: list[Layer] = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        if i:
            layers.append(ReLU())
        layers.append(Affine(fan_in, fan_out, normal(1.0 / np.sqrt(fan_in), rng)))
    for layer in layers:  # non-zero biases so their gradients are exercised
        if "b" in layer.params:
            layer.params["b"][...] = 0.1 * rng.standard_normal(layer.params["b"].shape)
    X = draw(float64_arrays((batch, sizes[0])))
    y = draw(labels(batch, num_classes))
    return Sequential(*layers), X, y


def min_abs_preactivation(model: Layer, X: np.ndarray, ignore_zeros: bool = False) -> float:
    """Smallest ``|input|`` any ReLU or LeakyReLU of ``model`` sees for batch ``X``.

    Use it with ``hypothesis.assume`` to keep finite differences off the kink (inf if the
    model has no kinked layer). Nested Sequentials are walked; the model runs in its
    current mode, its buffers are put back afterwards, and a Dropout draws a new mask unless
    its mask is fixed: call it inside ``minigrad.gradcheck.fixed_masks(model)`` together
    with the gradient check, so both see the same masks.

    Parameters
    ----------
    ignore_zeros : skip entries that are exactly 0. In a check of the *parameter*
        gradients those are a dropped unit, a dead ReLU's output or the data itself, which
        the finite differences do not move; a moving value that is exactly 0 is a
        coincidence of measure zero.
    """
    saved = {name: array.copy() for name, array in model.buffers.items()}
    try:
        return _min_abs_preactivation(model, X, ignore_zeros)[1]
    finally:
        for name, array in model.buffers.items():
            np.copyto(array, saved[name])


def _min_abs_preactivation(
    layer: Layer, x: np.ndarray, ignore_zeros: bool
) -> tuple[np.ndarray, float]:
    if isinstance(layer, Sequential):
        smallest = np.inf
        for inner in layer:
            x, found = _min_abs_preactivation(inner, x, ignore_zeros)
            smallest = min(smallest, found)
        return x, smallest
    smallest = np.inf
    if isinstance(layer, (ReLU, LeakyReLU)):
        magnitudes = np.abs(x)
        if ignore_zeros:
            magnitudes = magnitudes[magnitudes > 0]
        if magnitudes.size:
            smallest = float(np.min(magnitudes))
    return layer.forward(x), smallest


CATALOGUE = (
    "affine",
    "relu",
    "leaky_relu",
    "tanh",
    "sigmoid",
    "gelu",
    "gelu_tanh",
    "batchnorm",
    "layernorm",
    "dropout",
)
"""The kinds of layer :func:`catalogue_nets` draws from: every layer of minigrad."""


def _catalogue_layer(
    draw: st.DrawFn, kind: str, width: int, max_width: int, rng: np.random.Generator
) -> tuple[Layer, int]:
    """One layer of ``kind`` taking ``width`` features, with random parameters and state."""
    layer: Layer
    if kind == "affine":
        out = draw(st.integers(1, max_width))
        layer = Affine(width, out, normal(1.0 / np.sqrt(width), rng))
        layer.params["b"][...] = 0.1 * rng.standard_normal(out)
        return layer, out
    if kind == "relu":
        layer = ReLU()
    elif kind == "leaky_relu":
        layer = LeakyReLU(draw(st.sampled_from([0.01, 0.1, 0.5])))
    elif kind == "tanh":
        layer = Tanh()
    elif kind == "sigmoid":
        layer = Sigmoid()
    elif kind in ("gelu", "gelu_tanh"):
        layer = GELU("none" if kind == "gelu" else "tanh")
    elif kind in ("batchnorm", "layernorm"):
        layer = BatchNorm1d(width) if kind == "batchnorm" else LayerNorm(width)
        layer.params["gamma"][...] = rng.uniform(0.5, 1.5, width)
        layer.params["beta"][...] = 0.1 * rng.standard_normal(width)
        if kind == "batchnorm":  # eval mode uses these
            layer.buffers["running_mean"][...] = 0.5 * rng.standard_normal(width)
            layer.buffers["running_var"][...] = rng.uniform(0.5, 2.0, width)
    elif kind == "dropout":
        p = draw(st.sampled_from([0.0, 0.2, 0.5, 0.8]))
        layer = Dropout(p, rng=np.random.default_rng(rng.integers(2**63)))
    else:
        raise ValueError(f"unknown layer kind {kind!r}; choose from {', '.join(CATALOGUE)}")
    return layer, width


@st.composite
def catalogue_nets(
    draw: st.DrawFn,
    max_depth: int = 5,
    max_width: int = 8,
    max_batch: int = 6,
    max_classes: int = 5,
    kinds: tuple[str, ...] = CATALOGUE,
) -> tuple[Sequential, np.ndarray, np.ndarray]:
    """A random float64 stack of 1 to ``max_depth`` layers drawn from ``kinds``, then an
    ``Affine`` head to the classes, with a batch and labels.

    Weights are ``randn / sqrt(fan_in)``, biases, ``gamma`` and ``beta`` random too, and a
    BatchNorm1d gets random running statistics (for eval mode). The batch has at least 2
    rows when the stack holds a BatchNorm1d (train mode refuses one). The model is in train
    mode; call ``model.eval()`` for the other.

    Returns
    -------
    (model, X of shape (N, D), y of shape (N,))
    """
    depth = draw(st.integers(1, max_depth))
    chosen = draw(st.lists(st.sampled_from(kinds), min_size=depth, max_size=depth))
    rng = np.random.default_rng(draw(SEEDS))
    input_width = width = draw(st.integers(1, max_width))
    layers: list[Layer] = []
    for kind in chosen:
        layer, width = _catalogue_layer(draw, kind, width, max_width, rng)
        layers.append(layer)
    num_classes = draw(st.integers(2, max_classes))
    head = Affine(width, num_classes, normal(1.0 / np.sqrt(width), rng))
    head.params["b"][...] = 0.1 * rng.standard_normal(num_classes)
    layers.append(head)
    min_batch = 2 if "batchnorm" in chosen else 1
    batch = draw(st.integers(min_batch, max(min_batch, max_batch)))
    X = draw(float64_arrays((batch, input_width)))
    y = draw(labels(batch, num_classes))
    return Sequential(*layers), X, y


def register_profiles() -> None:
    """Register ``"ci"`` (bounded, deterministic, no deadline) and ``"dev"`` profiles."""
    settings.register_profile(
        "ci",
        max_examples=30,
        deadline=None,
        derandomize=True,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    settings.register_profile("dev", max_examples=100, deadline=None)
