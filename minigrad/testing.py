"""Hypothesis strategies for gradient-checking layers: ours and yours.

Importing this module needs Hypothesis (``pip install "minigrad[testing]"``).

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

from minigrad.affine import Affine
from minigrad.initializers import normal
from minigrad.layer import Layer
from minigrad.relu import ReLU
from minigrad.sequential import Sequential

__all__ = [
    "batch_shapes",
    "float64_arrays",
    "kink_free_arrays",
    "labels",
    "sequential_nets",
    "min_abs_preactivation",
    "register_profiles",
]


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


def min_abs_preactivation(model: Sequential, X: np.ndarray) -> float:
    """Smallest ``|input|`` any ReLU of ``model`` sees for batch ``X`` (inf if none).

    Use it with ``hypothesis.assume`` to keep finite differences off the kink.
    """
    smallest = np.inf
    x = X
    for layer in model:
        if isinstance(layer, ReLU):
            smallest = min(smallest, float(np.min(np.abs(x))))
        x = layer.forward(x)
    return smallest


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
