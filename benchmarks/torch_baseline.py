"""The PyTorch CPU baseline: the same net, loss, L2 and SGD, written the idiomatic way.

``nn.Sequential(Linear, ReLU, Linear)``, ``F.cross_entropy``, ``optim.SGD`` with
``weight_decay=reg`` on the weights only (the gradient of the workbook's
``0.5 * reg * |W|^2``; biases are not decayed), and the reported loss includes the penalty
like the workbook's (computed without autograd, one dot product per weight). Minibatches
are 200 rows drawn with replacement (``torch.randint``) and gathered from the same
(N, D) array, shared with NumPy without a copy. The loss is read back every iteration
(``.item()``), as a training loop that records its loss history does.

PyTorch is optional: :func:`make_torch_step` returns None when it is not installed.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

__all__ = ["make_torch_step", "torch_version"]


def torch_version() -> str | None:
    """PyTorch's version and thread count, or None if it cannot be imported."""
    try:
        import torch
    except ImportError:
        return None
    return f"PyTorch {torch.__version__}, intra-op threads={torch.get_num_threads()}"


def make_torch_step(
    X: np.ndarray,
    y: np.ndarray,
    hidden_size: int,
    num_classes: int,
    *,
    learning_rate: float,
    reg: float,
    batch_size: int,
    threads: int,
    seed: int = 0,
) -> Callable[[], float] | None:
    """A function running one training iteration in PyTorch, in ``X``'s dtype.

    Returns None when PyTorch is not importable.
    """
    try:
        import torch
        import torch.nn.functional as F
        from torch import nn
    except ImportError:
        return None
    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    dtype = torch.float32 if X.dtype == np.float32 else torch.float64
    model = nn.Sequential(
        nn.Linear(X.shape[1], hidden_size), nn.ReLU(), nn.Linear(hidden_size, num_classes)
    ).to(dtype)
    weights = [model[0].weight, model[2].weight]
    biases = [model[0].bias, model[2].bias]
    optimizer = torch.optim.SGD(
        [{"params": weights, "weight_decay": reg}, {"params": biases, "weight_decay": 0.0}],
        lr=learning_rate,
    )
    X_t = torch.from_numpy(X)  # shares memory with X
    y_t = torch.from_numpy(y.astype(np.int64, copy=False))
    generator = torch.Generator().manual_seed(seed)
    num_train = X.shape[0]

    def step() -> float:
        idx = torch.randint(0, num_train, (batch_size,), generator=generator)
        X_batch, y_batch = X_t[idx], y_t[idx]
        optimizer.zero_grad(set_to_none=True)
        data_loss = F.cross_entropy(model(X_batch), y_batch)
        data_loss.backward()
        with torch.no_grad():
            penalty = sum(float(torch.dot(w.view(-1), w.view(-1))) for w in weights)  # type: ignore[misc, operator]
        optimizer.step()
        return data_loss.item() + 0.5 * reg * penalty

    return step
