"""The settings of a CIFAR-10 training run: :class:`TrainConfig`, its presets and its limits.

>>> from minigrad.experiment.config import BEST
>>> BEST.replace(seed=3, optimizer="adam").to_dict()["optimizer"]
'adam'
>>> DEEP.hidden_dims, DEEP.normalization, DEEP.dropout
((512, 256), 'batchnorm', 0.1)

A config is a frozen dataclass of JSON values (scalars, and the hidden widths as a tuple),
checked on construction, so it can be written to ``config.json``, sent to a worker process
and compared for equality.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from minigrad.data.augment import PADDINGS, max_translation
from minigrad.data.cifar10 import IMAGE_SHAPE
from minigrad.data.normalize import NORMALIZATIONS as INPUT_NORMALIZATIONS
from minigrad.models import ACTIVATIONS, NORMALIZATIONS
from minigrad.optim import OPTIMIZERS
from minigrad.validation import (
    check_bool,
    check_choice,
    check_int,
    check_positive_int,
    check_real,
    describe,
)

__all__ = [
    "ACTIVATION_NAMES",
    "AUGMENTED",
    "AUGMENTED_EPOCHS",
    "BEST",
    "DEEP",
    "DEEP_EPOCHS",
    "DTYPES",
    "INPUT_NORMALIZATIONS",
    "LOSSES",
    "MAX_TRANSLATE",
    "MAX_HIDDEN_LAYERS",
    "NORMALIZATION_NAMES",
    "NUM_CLASSES",
    "PADDINGS",
    "PRESETS",
    "SAMPLINGS",
    "SCHEDULES",
    "SUBOPTIMAL",
    "WEIGHT_INITS",
    "WIDE",
    "WIDE_EPOCHS",
    "ConfigError",
    "TrainConfig",
]

NUM_CLASSES = 10  # CIFAR-10
DTYPES = ("float32", "float64")
SAMPLINGS = ("replacement", "shuffle")
NORMALIZATION_NAMES = ("none", *sorted(NORMALIZATIONS))
"""``"none"`` and the normalisation layers of ``minigrad.models.fully_connected_net``."""
ACTIVATION_NAMES = tuple(sorted(ACTIVATIONS))
"""The activations ``minigrad.models.fully_connected_net`` knows by name."""
LOSSES = ("softmax", "hinge")
"""Softmax cross-entropy (the workbook's) or the multiclass hinge (SVM) loss."""
WEIGHT_INITS = ("normal", "he")
"""``std * randn`` (the workbook's; ``std`` from the config) or He's ``sqrt(2/fan_in) * randn``."""
MAX_HIDDEN_LAYERS = 64
"""The most hidden layers a config may ask for (a config.json is read from disk)."""
SCHEDULES = ("exponential", "cosine")
"""``learning_rate * lr_decay ** epoch`` (the workbook's) or cosine annealing to 0 over the run."""
MAX_TRANSLATE = max_translation(IMAGE_SHAPE)
"""The largest random shift of a CIFAR-10 image, in pixels (15)."""

_WORKBOOK_HIDDEN_DIMS = (50,)


class ConfigError(ValueError):
    """A training setting is invalid; the message names the setting and the value."""


@dataclass(frozen=True)
class TrainConfig:
    """Every setting of a training run; the defaults are the workbook's best net.

    A plain frozen dataclass: picklable, hashable, comparable. Values are checked and
    normalised (ints stay ints, rates become floats, the hidden widths a tuple) on
    construction, so a bad setting fails here with :class:`ConfigError` naming it.

    Attributes
    ----------
    hidden_dims : widths of the hidden layers, in order; ``(50,)`` is the workbook's
        two-layer net, ``()`` a linear classifier.
    normalization : ``"none"``, ``"batchnorm"`` or ``"layernorm"``, after each hidden affine
        layer (CS231n's ``FullyConnectedNet`` order: affine, norm, activation, dropout).
    dropout : probability of dropping a hidden unit in training (PyTorch's convention), in
        [0, 1); 0 adds no dropout layers.
    activation : a name of :data:`ACTIVATION_NAMES` (``"relu"``, ``"gelu"`` ...).
    loss : ``"softmax"`` (cross-entropy, the workbook's) or ``"hinge"`` (CS231n's SVM loss).
    weight_init : ``"normal"``, ``std * randn`` (the workbook's), or ``"he"``,
        ``sqrt(2 / fan_in) * randn`` (``std`` is then unused).
    num_iters : training iterations (minibatch updates).
    batch_size : rows per minibatch.
    learning_rate : initial learning rate (> 0).
    lr_decay : factor applied to the rate after every epoch, in (0, 1].
    reg : L2 strength on the affine weights, the workbook's ``reg`` (>= 0).
    std : standard deviation of the initial weights with ``weight_init="normal"`` (>= 0).
    seed : seeds the initial weights, the dropout masks and the minibatch draws (>= 0).
    dtype : ``"float32"`` or ``"float64"``, for the data and the parameters.
    optimizer : a name known to ``minigrad.optim.make_optimizer`` (``"sgd"``, ``"adam"`` ...).
    sampling : ``"replacement"`` (the workbook's) or ``"shuffle"`` (epochs without
        replacement).
    schedule : ``"exponential"``, the rate ``learning_rate * lr_decay ** epoch`` (the
        workbook's), or ``"cosine"``, annealed from ``learning_rate`` to 0 over the run's
        epochs (``lr_decay`` is then unused).
    normalize : how input pixels are normalised, with statistics of the training split:
        ``"mean-image"`` (the workbook's: subtract the mean image) or ``"per-channel"``
        (subtract each colour channel's mean, divide by its standard deviation).
    flip : mirror each training image left-right with probability 1/2.
    translate : shift each training image by up to this many pixels in each direction, in
        [0, :data:`MAX_TRANSLATE`] (0: off).
    padding : ``"zero"`` or ``"reflect"``, the border a translation uncovers.
    num_training, num_validation, num_test : sizes of the CIFAR-10 splits.
    hidden_size : the two-layer shorthand, keyword only: ``hidden_size=H`` means
        ``hidden_dims=(H,)`` (given with any other ``hidden_dims`` it is an error). Read
        back, it is the one hidden width, or None for any other depth. It is not a
        setting of its own: equality, hashing and :meth:`to_dict` leave it out.
    """

    hidden_dims: tuple[int, ...] = _WORKBOOK_HIDDEN_DIMS
    normalization: str = "none"
    dropout: float = 0.0
    activation: str = "relu"
    loss: str = "softmax"
    weight_init: str = "normal"
    num_iters: int = 12000
    batch_size: int = 200
    learning_rate: float = 4e-4
    lr_decay: float = 0.95
    reg: float = 0.3
    std: float = 1e-4
    seed: int = 0
    dtype: str = "float32"
    optimizer: str = "sgd"
    sampling: str = "replacement"
    schedule: str = "exponential"
    normalize: str = "mean-image"
    flip: bool = False
    translate: int = 0
    padding: str = "zero"
    num_training: int = 49000
    num_validation: int = 1000
    num_test: int = 1000
    hidden_size: int | None = field(default=None, compare=False, repr=False, kw_only=True)

    def __post_init__(self) -> None:
        try:
            checked = self._checked_fields()
        except (TypeError, ValueError) as err:  # one error type for every bad setting
            raise ConfigError(str(err)) from None
        for name, value in checked.items():
            object.__setattr__(self, name, value)  # frozen: normalise in place once

    def _checked_fields(self) -> dict[str, Any]:
        """Every field checked and normalised (``TypeError`` / ``ValueError`` naming it)."""
        checked: dict[str, Any] = {
            name: check_positive_int(getattr(self, name), name)
            for name in ("num_iters", "batch_size", "num_training", "num_validation",
                         "num_test")
        }
        hidden_dims = _checked_hidden_dims(self.hidden_dims, self.hidden_size)
        checked.update(
            hidden_dims=hidden_dims,
            hidden_size=hidden_dims[0] if len(hidden_dims) == 1 else None,
            normalization=check_choice(self.normalization, "normalization",
                                       NORMALIZATION_NAMES),
            dropout=check_real(self.dropout, "dropout", low=0.0, high=1.0, high_open=True),
            activation=check_choice(self.activation, "activation", ACTIVATION_NAMES),
            loss=check_choice(self.loss, "loss", LOSSES),
            weight_init=check_choice(self.weight_init, "weight_init", WEIGHT_INITS),
            learning_rate=check_real(self.learning_rate, "learning_rate", low=0.0,
                                     low_open=True),
            lr_decay=check_real(self.lr_decay, "lr_decay", low=0.0, low_open=True, high=1.0),
            reg=check_real(self.reg, "reg", low=0.0),
            std=check_real(self.std, "std", low=0.0),
            seed=check_int(self.seed, "seed", low=0),
            dtype=check_choice(self.dtype, "dtype", DTYPES),
            optimizer=check_choice(self.optimizer, "optimizer", OPTIMIZERS),
            sampling=check_choice(self.sampling, "sampling", SAMPLINGS),
            schedule=check_choice(self.schedule, "schedule", SCHEDULES),
            normalize=check_choice(self.normalize, "normalize", INPUT_NORMALIZATIONS),
            flip=check_bool(self.flip, "flip"),
            translate=check_int(self.translate, "translate", low=0, high=MAX_TRANSLATE),
            padding=check_choice(self.padding, "padding", PADDINGS),
        )
        _check_combination(checked)
        return checked

    @property
    def is_two_layer_net(self) -> bool:
        """Whether the net is the workbook's ``Affine -> ReLU -> Affine`` (any H, any init)."""
        return (len(self.hidden_dims) == 1 and self.normalization == "none"
                and self.dropout == 0.0 and self.activation == "relu")

    @property
    def augments(self) -> bool:
        """Whether training images are randomly flipped or translated."""
        return self.flip or self.translate > 0

    @property
    def uses_image_pipeline(self) -> bool:
        """Whether the run trains from uint8 images (``minigrad.data.ImageBatches``).

        The workbook's data (mean image subtracted, no augmentation) is trained from float
        rows as ``get_cifar10_data`` makes them, so those runs keep the workbook's numbers
        exactly; any augmentation or per-channel normalisation uses the image pipeline,
        which converts each minibatch from uint8 (a quarter of the memory).
        """
        return self.augments or self.normalize != "mean-image"

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict (field order, ``hidden_dims`` as a list).

        The inverse of :meth:`from_dict`; ``hidden_size``, which only restates
        ``hidden_dims``, is left out.
        """
        values = asdict(self)
        del values["hidden_size"]
        values["hidden_dims"] = list(self.hidden_dims)
        return values

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        """Build from a dict such as ``to_dict()`` gave; missing keys take the defaults.

        A config.json from before ``hidden_dims`` existed holds ``hidden_size`` instead:
        it reads as ``hidden_dims=(hidden_size,)``.

        Raises
        ------
        ConfigError : unknown keys (e.g. a typo, or a config from a newer minigrad) or
            invalid values.
        """
        if not isinstance(data, Mapping):
            raise ConfigError(f"a config must be a mapping, got {type(data).__name__}")
        cls._check_keys(data)
        return cls(**data)

    def replace(self, **changes: Any) -> TrainConfig:
        """A copy with some settings changed (validated like the constructor).

        ``hidden_size=H`` replaces the hidden widths with ``(H,)``. (Use this method, not
        ``dataclasses.replace``, which would pass the old ``hidden_size`` along.)
        """
        self._check_keys(changes)
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "hidden_size"}
        if changes.get("hidden_size") is not None and "hidden_dims" not in changes:
            del values["hidden_dims"]  # the shorthand replaces the widths
        return type(self)(**{**values, **changes})

    @classmethod
    def _check_keys(cls, keys: Iterable[str]) -> None:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(keys) - known)
        if unknown:
            raise ConfigError(
                f"unknown config key(s) {', '.join(map(repr, unknown))}; "
                f"known keys: {', '.join(sorted(known))}"
            )


def _checked_hidden_dims(hidden_dims: object, hidden_size: object) -> tuple[int, ...]:
    """The hidden widths as a tuple of positive ints, ``hidden_size`` folded in."""
    if isinstance(hidden_dims, (str, bytes)) or not isinstance(hidden_dims, Sequence):
        raise TypeError(
            f"hidden_dims must be a sequence of positive integers, got {describe(hidden_dims)}"
        )
    if len(hidden_dims) > MAX_HIDDEN_LAYERS:
        raise ValueError(
            f"hidden_dims may list at most {MAX_HIDDEN_LAYERS} hidden layers, got "
            f"{len(hidden_dims)}"
        )
    dims = tuple(check_positive_int(width, f"hidden_dims[{i}]")
                 for i, width in enumerate(hidden_dims))
    if hidden_size is None:
        return dims
    size = check_positive_int(hidden_size, "hidden_size")
    if dims not in (_WORKBOOK_HIDDEN_DIMS, (size,)):
        raise ValueError(
            f"hidden_size={size} is the shorthand for hidden_dims=({size},), but "
            f"hidden_dims={dims} was given too; give one of them"
        )
    return (size,)


def _check_combination(checked: Mapping[str, Any]) -> None:
    """Settings that are each valid but do not work together."""
    if not checked["hidden_dims"]:
        unused = [f"{name}={checked[name]!r}" for name, default in
                  (("normalization", "none"), ("dropout", 0.0), ("activation", "relu"))
                  if checked[name] != default]
        if unused:
            verb = "acts" if len(unused) == 1 else "act"
            raise ValueError(
                f"{', '.join(unused)} {verb} on hidden layers, but hidden_dims is empty "
                "(a linear classifier)"
            )
    if checked["normalization"] == "batchnorm":
        rows = min(checked["batch_size"], checked["num_training"])
        if rows < 2:
            raise ValueError(
                f"normalization='batchnorm' needs minibatches of at least 2 rows (its "
                f"running variance divides by rows - 1), got {rows} "
                f"(batch_size={checked['batch_size']}, num_training={checked['num_training']})"
            )


BEST = TrainConfig()
"""The workbook's best net: H=50, 12000 iterations, batch 200, lr 4e-4, decay 0.95, reg 0.3."""

SUBOPTIMAL = TrainConfig(num_iters=1000, learning_rate=1e-4, reg=0.25)
"""The workbook's first, sub-optimal net (about 28% validation accuracy)."""

DEEP_EPOCHS = 10
"""Epochs of the :data:`DEEP` preset (245 iterations each on the workbook's 49,000 images)."""

DEEP = TrainConfig(
    hidden_dims=(512, 256), normalization="batchnorm", dropout=0.1, weight_init="he",
    optimizer="adam", learning_rate=2e-3, lr_decay=0.75, reg=1e-3, batch_size=200,
    sampling="shuffle", num_iters=DEEP_EPOCHS * (49000 // 200),
)
"""A deeper net: 3072 -> 512 -> 256 -> 10 with batch norm and dropout 0.1 after each
hidden layer, He initialisation, Adam at 2e-3 decayed by 0.75 per epoch, reg 1e-3,
shuffled epochs of 200-row batches, 10 epochs (2450 iterations). On CIFAR-10 it reaches
about 0.57-0.59 validation accuracy (seeds 0 and 1: 0.591, 0.572) in about 80 s of
training on 2 idle cores."""

_EPOCH = 49000 // 200  # iterations per shuffled epoch of the workbook's training split

AUGMENTED_EPOCHS = 200
"""Epochs of the :data:`AUGMENTED` preset."""

AUGMENTED = TrainConfig(
    hidden_dims=(50,), weight_init="he", optimizer="nesterov", learning_rate=0.02,
    schedule="cosine", reg=1e-4, batch_size=200, sampling="shuffle",
    num_iters=AUGMENTED_EPOCHS * _EPOCH, normalize="per-channel", flip=True, translate=2,
    padding="reflect",
)
"""The workbook's 3072 -> 50 -> 10 net on augmented images: each training image flipped
left-right with probability 1/2 and shifted by up to 2 pixels (reflected border), pixels
standardised per channel; He initialisation, Nesterov momentum at 0.02 annealed to 0 by a
cosine over 200 shuffled epochs of 200-row batches (49,000 iterations), reg 1e-4. From
``minigrad train`` on the 2-core machine (2 BLAS threads), seeds 0, 1, 2: test accuracy
0.5614, 0.5623, 0.5655 on all 10,000 test images (mean 0.5631), 1:40-1:55 wall each,
387 MB peak resident memory."""

WIDE_EPOCHS = 40
"""Epochs of the :data:`WIDE` preset."""

WIDE = TrainConfig(
    hidden_dims=(1024,), dropout=0.2, weight_init="he", optimizer="nesterov",
    learning_rate=0.02, schedule="cosine", reg=1e-4, batch_size=200, sampling="shuffle",
    num_iters=WIDE_EPOCHS * _EPOCH, normalize="per-channel", flip=True, translate=2,
    padding="reflect",
)
"""One hidden layer of 1024 ReLU units with dropout 0.2 (3072 -> 1024 -> 10), on the
augmented images of :data:`AUGMENTED`: He initialisation, Nesterov momentum at 0.02 with a
cosine over 40 shuffled epochs (9,800 iterations), reg 1e-4. Seed 0: test accuracy 0.6220
on all 10,000 test images in 3 min 40 s wall, 486 MB peak resident memory."""

PRESETS: dict[str, TrainConfig] = {
    "best": BEST, "suboptimal": SUBOPTIMAL, "deep": DEEP, "augmented": AUGMENTED, "wide": WIDE,
}
