"""The image batch source: rows, epochs, dtype, exact state, and training from it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minigrad import Trainer
from minigrad.data.augment import Augmentation
from minigrad.data.batch_source import BatchSource, EvaluationRows
from minigrad.data.image_batches import ImageBatches
from minigrad.data.image_rows import ImageRows
from minigrad.data.normalize import Normalization
from minigrad.data.preprocess import split_cifar10
from minigrad.evaluation import accuracy
from minigrad.initializers import normal
from minigrad.models import two_layer_net
from minigrad.optim import ExponentialDecay, make_optimizer
from minigrad.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from minigrad.training.keep_best import KeepBest
from minigrad.training.trainer import evaluate_accuracy

SHAPE = (6, 6, 3)
D = 6 * 6 * 3


def _images(n: int, seed: int = 0, shape: tuple[int, ...] = SHAPE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, *shape), dtype=np.uint8)


def _source(
    images: np.ndarray, labels: np.ndarray, seed: int = 0, **options: object
) -> ImageBatches:
    rng = np.random.default_rng(seed)
    return ImageBatches(images, labels, rng=rng, **options)  # type: ignore[arg-type]


def test_it_is_a_batch_source_and_its_evaluation_rows_are_evaluation_rows() -> None:
    source = _source(_images(10), np.zeros(10, np.int64), batch_size=4)
    assert isinstance(source, BatchSource)
    assert isinstance(source.evaluation_rows(), EvaluationRows)
    assert (source.num_train, source.batch_size, source.num_features) == (10, 4, D)
    assert source.iterations_per_epoch == 2 and source.sampling == "shuffle"


@given(
    n=st.integers(1, 40), batch_size=st.integers(1, 12), epochs=st.integers(1, 3),
    flip=st.booleans(), translate=st.integers(0, 2), seed=st.integers(0, 2**32 - 1),
)
def test_every_training_row_is_used_exactly_once_per_shuffled_epoch(
    n: int, batch_size: int, epochs: int, flip: bool, translate: int, seed: int
) -> None:
    images = _images(n, seed % 1000)
    labels = np.arange(n)  # a label names its image
    source = _source(images, labels, seed, batch_size=batch_size, flip=flip, translate=translate)
    plain = Normalization.mean_image(images)
    per_epoch = int(source.iterations_per_epoch)
    for epoch in range(epochs):
        seen = []
        for it in range(epoch * per_epoch, (epoch + 1) * per_epoch):
            X, y = source.batch(it)
            assert source.is_epoch_end(it) == (it == (epoch + 1) * per_epoch - 1)
            assert X.shape == (len(y), D)
            seen.append(y.copy())
            if not (flip or translate):  # each row is its image, flattened HWC
                np.testing.assert_array_equal(X, images[y].reshape(len(y), -1).astype(np.float32))
        rows = np.concatenate(seen)
        # No image twice; all of them when B divides N (else N % B are left out each epoch).
        assert len(np.unique(rows)) == len(rows) == min(n, per_epoch * batch_size)
        if n % batch_size == 0:
            assert sorted(rows.tolist()) == list(range(n))
    assert plain.num_features == D


@given(dtype=st.sampled_from([np.float32, np.float64]),
       kind=st.sampled_from([None, "mean-image", "per-channel"]),
       sampling=st.sampled_from(["shuffle", "replacement"]), augment=st.booleans())
def test_the_dtype_is_kept(dtype: type, kind: str | None, sampling: str, augment: bool) -> None:
    images = _images(12)
    norm = None if kind is None else Normalization.fit(kind, images)
    source = _source(images, np.zeros(12, np.int64), batch_size=5, sampling=sampling,
                     dtype=dtype, normalization=norm, flip=augment, translate=2 * augment)
    for it in range(4):
        X, y = source.batch(it)
        assert X.dtype == dtype and X.shape == (5, D) and y.shape == (5,)
    for _, chunk in source.evaluation_rows(images[:7]).chunks(3):
        assert chunk.dtype == dtype


def test_rows_are_in_load_cifar10_splits_order_and_numbers() -> None:
    rng = np.random.default_rng(3)
    X_train = rng.integers(0, 256, (50, 32, 32, 3), dtype=np.uint8)
    X_test = rng.integers(0, 256, (10, 32, 32, 3), dtype=np.uint8)
    y_train = rng.integers(0, 10, 50)
    split = split_cifar10(X_train, y_train, X_test, y_train[:10], 40, 10, 10, dtype=np.float64)
    train = X_train[:40]
    source = ImageBatches(train, np.arange(40), batch_size=8, sampling="replacement",
                          rng=np.random.default_rng(0), dtype=np.float64,
                          normalization=Normalization.mean_image(train))
    for it in range(6):
        X, idx = source.batch(it)
        assert X.tobytes() == split.X_train[idx].tobytes()  # bit for bit at float64
    val = source.evaluation_rows(X_train[40:]).to_array()
    assert val.tobytes() == split.X_val.tobytes()


def test_the_workbook_sampling_draws_with_replacement_from_the_sources_generator() -> None:
    source = _source(_images(30), np.arange(30), seed=5, batch_size=7, sampling="replacement")
    expected = np.random.default_rng(5)
    for it in range(4):
        _, y = source.batch(it)
        np.testing.assert_array_equal(y, expected.integers(0, 30, size=7))
    assert [it for it in range(12) if source.is_epoch_end(it)] == [0]  # 30/7 iterations
    assert source.iterations_for_epochs(2) == 9


@pytest.mark.parametrize(("padding", "flip", "translate"),
                         [("reflect", True, 2), ("zero", True, 2), ("zero", False, 2),
                          ("zero", True, 0)])
def test_a_batch_is_the_augmentation_then_the_normalisation_of_its_images(
    padding: str, flip: bool, translate: int
) -> None:
    # Zero padding gathers the images already flipped and shifted (ShiftedGather): the
    # batches must still be the per-image steps', from the same draws.
    images = _images(20, 4)
    norm = Normalization.per_channel(images)
    source = _source(images, np.arange(20), seed=9, batch_size=5, normalization=norm,
                     flip=flip, translate=translate, padding=padding)
    # Replay the draws: the permutation, then per batch the flips and shifts.
    replay = np.random.default_rng(9)
    order = np.arange(20)
    replay.shuffle(order)
    augmentation = Augmentation(flip=flip, translate=translate, padding=padding)
    for it in range(4):
        X, y = source.batch(it)
        np.testing.assert_array_equal(y, order[it * 5 : (it + 1) * 5])
        augmented = augmentation.apply(images[y].copy(), replay)
        np.testing.assert_array_equal(X, norm.transform(augmented, np.float32))
    assert source.rng.bit_generator.state == replay.bit_generator.state  # nothing else drawn


def test_zero_padded_batches_of_cifar_shaped_images_include_the_first_and_last_image() -> None:
    images = _images(6, 7, shape=(32, 32, 3))  # rows of 96 bytes: the word-wise flip
    source = _source(images, np.arange(6), seed=2, batch_size=6, sampling="replacement",
                     flip=True, translate=2, dtype=np.float64)
    replay = np.random.default_rng(2)
    augmentation = Augmentation(flip=True, translate=2)
    for it in range(20):  # 120 draws from 6 images: the first and the last shifted outwards
        X, y = source.batch(it)
        np.testing.assert_array_equal(y, replay.integers(0, 6, size=6))
        expected = augmentation.apply(images[y].copy(), replay).reshape(6, -1)
        assert X.tobytes() == expected.astype(np.float64).tobytes()


@given(before=st.integers(0, 12), after=st.integers(1, 12), seed=st.integers(0, 2**32 - 1),
       sampling=st.sampled_from(["shuffle", "replacement"]))
def test_a_restored_source_yields_the_same_batches(
    before: int, after: int, seed: int, sampling: str
) -> None:
    images = _images(17)
    options = dict(batch_size=5, sampling=sampling, flip=True, translate=1)
    original = _source(images, np.arange(17), seed, **options)
    for it in range(before):
        original.batch(it)
    state = original.state_dict()
    expected = [tuple(a.copy() for a in original.batch(it)) for it in range(before, before + after)]
    resumed = _source(images, np.arange(17), seed + 1, **options)
    resumed.load_state_dict(state)
    for it, (X, y) in zip(range(before, before + after), expected, strict=True):
        X2, y2 = resumed.batch(it)
        assert X2.tobytes() == X.tobytes() and np.array_equal(y2, y)


@pytest.mark.parametrize(
    ("other", "message"),
    [
        ({"flip": False}, "saved with augmentation flip=True"),
        ({"translate": 2}, "translate=1"),
        ({"padding": "reflect"}, "padding='zero'"),
        ({"dtype": np.float64}, "saved from float32 batches"),
        ({"normalization": "per-channel"}, "saved with normalisation 'mean-image'"),
        ({"batch_size": 4}, "batch_size = 5"),
        ({"sampling": "replacement"}, "'shuffle' sampling"),
    ],
)
def test_a_state_of_another_setup_is_named_and_changes_nothing(
    other: dict[str, object], message: str
) -> None:
    images = _images(17)
    options: dict[str, object] = dict(batch_size=5, flip=True, translate=1, dtype=np.float32,
                                      normalization="mean-image")
    saved = _source(images, np.arange(17), **_built(options, images))
    saved.batch(0)
    target = _source(images, np.arange(17), 3, **_built({**options, **other}, images))
    before = target.state_dict()
    with pytest.raises(ValueError, match=message):
        target.load_state_dict(saved.state_dict())
    assert target.state_dict()["generator"] == before["generator"]


def _built(options: dict[str, object], images: np.ndarray) -> dict[str, object]:
    kind = options.get("normalization")
    if isinstance(kind, str):
        return {**options, "normalization": Normalization.fit(kind, images)}
    return options


def test_bad_arguments_are_named() -> None:
    images = _images(4)
    with pytest.raises(TypeError, match="rng must be a np.random.Generator"):
        ImageBatches(images, np.zeros(4, np.int64), rng=None)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="must be uint8 images"):
        _source(images.astype(np.float32), np.zeros(4, np.int64))
    with pytest.raises(ValueError, match="labels has 3 labels"):
        _source(images, np.zeros(3, np.int64))
    with pytest.raises(ValueError, match="translate must be <= 2"):
        _source(images, np.zeros(4, np.int64), translate=3)
    with pytest.raises(ValueError, match=r"for images of shape \(6, 6, 3\)"):
        _source(_images(4, shape=(5, 5, 3)), np.zeros(4, np.int64),
                normalization=Normalization.mean_image(images))


# ---------------------------------------------------------------------- training from it

N, CLASSES, BATCH = 44, 3, 10  # 4 iterations per shuffled epoch
TOTAL = 15


def _data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (N + 12, *SHAPE), dtype=np.uint8)
    labels = rng.integers(0, CLASSES, N + 12)
    return images[:N], labels[:N], images[N:], labels[N:]


def _trainer(images: np.ndarray, labels: np.ndarray, *, seed: int, bind: bool,
             padding: str = "zero", flip: bool = True) -> tuple[Trainer, ImageBatches]:
    source = ImageBatches(images, labels, batch_size=BATCH, rng=np.random.default_rng(seed),
                          normalization=Normalization.per_channel(images), flip=flip,
                          translate=2, padding=padding)
    model = two_layer_net(D, 12, CLASSES, weight_init=normal(0.1, np.random.default_rng(seed)),
                          dtype=np.float32)
    optimizer = make_optimizer("momentum", learning_rate=ExponentialDecay(0.05, 0.9))
    trainer = Trainer(model, optimizer, reg=1e-3, callbacks=[KeepBest()],
                      batches=source if bind else None)
    return trainer, source


def _assert_same(expected: Trainer, actual: Trainer) -> None:
    assert actual.iteration == expected.iteration == TOTAL
    for name, value in expected.model.state_dict().items():
        assert actual.model.state_dict()[name].tobytes() == value.tobytes(), name
    assert actual.history == expected.history
    want, got = expected.optimizer.state_dict(), actual.optimizer.state_dict()
    for key, slots in want["state"].items():
        for slot, value in slots.items():
            assert got["state"][key][slot].tobytes() == value.tobytes(), (key, slot)


@settings(max_examples=8)
@given(split_at=st.integers(1, TOTAL - 1), bind=st.booleans(),
       padding=st.sampled_from(["zero", "reflect"]))
def test_a_resumed_augmented_run_is_bit_identical_to_an_uninterrupted_one(
    tmp_path_factory: pytest.TempPathFactory, split_at: int, bind: bool, padding: str
) -> None:
    images, labels, val_images, val_labels = _data()
    uninterrupted, source = _trainer(images, labels, seed=0, bind=True, padding=padding)
    val = source.evaluation_rows(val_images)
    uninterrupted.fit(X_val=val, y_val=val_labels, num_iters=TOTAL)
    assert len(uninterrupted.history.val_acc) == TOTAL // 4  # epochs ended on the way

    first, source = _trainer(images, labels, seed=0, bind=bind, padding=padding)
    first.fit(source, X_val=source.evaluation_rows(val_images), y_val=val_labels,
              num_iters=split_at)
    path = tmp_path_factory.mktemp("ckpt") / "ckpt"
    save_checkpoint(path, first)
    # A fresh trainer and a fresh source whose generator starts elsewhere: the checkpoint
    # puts both back.
    resumed, fresh = _trainer(images, labels, seed=99, bind=bind, padding=padding)
    load_checkpoint(path, resumed)
    resumed.fit(fresh, X_val=fresh.evaluation_rows(val_images), y_val=val_labels,
                num_iters=TOTAL - split_at)
    _assert_same(uninterrupted, resumed)


def test_a_checkpoint_of_another_augmentation_does_not_load(tmp_path: Path) -> None:
    images, labels, _, _ = _data()
    trainer, source = _trainer(images, labels, seed=0, bind=True)
    trainer.fit(num_iters=3)
    save_checkpoint(tmp_path / "ckpt", trainer)
    other, _ = _trainer(images, labels, seed=0, bind=True, flip=False)
    with pytest.raises(CheckpointError, match="saved with augmentation flip=True"):
        load_checkpoint(tmp_path / "ckpt", other)
    assert other.iteration == 0
    # Not given at construction: the check happens at the fit, before anything changes.
    late, late_source = _trainer(images, labels, seed=0, bind=False, flip=False)
    load_checkpoint(tmp_path / "ckpt", late)
    with pytest.raises(ValueError, match="saved with augmentation flip=True"):
        late.fit(late_source, num_iters=1)
    assert late.batches is None and late.history.loss == trainer.history.loss


def test_arrays_and_batch_sources_do_not_mix(tmp_path: Path) -> None:
    images, labels, _, _ = _data()
    trainer, source = _trainer(images, labels, seed=0, bind=True)
    rows = images.reshape(N, -1).astype(np.float32)
    with pytest.raises(ValueError, match="trains from a batch source"):
        trainer.fit(rows, labels, num_iters=1)
    with pytest.raises(ValueError, match="another batch source"):
        trainer.fit(_trainer(images, labels, seed=0, bind=False)[1], num_iters=1)
    with pytest.raises(ValueError, match="are the batch source's settings"):
        Trainer(trainer.model, trainer.optimizer, batch_size=10, batches=source)
    arrays = Trainer(trainer.model, trainer.optimizer, reg=1e-3, rng=np.random.default_rng(0),
                     callbacks=[KeepBest()])
    arrays.fit(rows, labels, num_iters=2)
    with pytest.raises(ValueError, match="trained on arrays"):
        arrays.fit(source, num_iters=1)
    trainer.fit(num_iters=2)
    save_checkpoint(tmp_path / "images", trainer)
    with pytest.raises(CheckpointError, match="batch source of 'images'"):
        load_checkpoint(tmp_path / "images", arrays)
    save_checkpoint(tmp_path / "arrays", arrays)
    with pytest.raises(CheckpointError, match="saved by a run on arrays"):
        load_checkpoint(tmp_path / "arrays", _trainer(images, labels, seed=0, bind=True)[0])


def test_the_trainer_checks_a_sources_rows_against_the_model() -> None:
    images, labels, _, _ = _data()
    _, source = _trainer(images, labels, seed=0, bind=False)
    model64 = two_layer_net(D, 4, CLASSES)
    with pytest.raises(TypeError, match="batch source's dtype is float32 but the model's "
                                        "parameters are float64"):
        Trainer(model64, make_optimizer("sgd")).fit(source, num_iters=1)
    with pytest.raises(ValueError, match="has label 2, out of range for 2 classes"):
        Trainer(two_layer_net(D, 4, 2, dtype=np.float32), make_optimizer("sgd")).fit(source)
    wide = two_layer_net(D + 1, 4, CLASSES, dtype=np.float32)
    with pytest.raises(ValueError, match=f"{D} features, but the model expects {D + 1}"):
        Trainer(wide, make_optimizer("sgd")).fit(source)
    with pytest.raises(ValueError, match="give training data"):
        Trainer(model64, make_optimizer("sgd")).fit()


@given(chunk=st.integers(1, 20))
def test_accuracy_on_image_rows_is_accuracy_on_their_rows_in_any_chunks(chunk: int) -> None:
    images, labels, _, _ = _data()
    trainer, source = _trainer(images, labels, seed=0, bind=True)
    view = source.evaluation_rows()
    expected = accuracy(trainer.model, view.to_array(), labels)
    assert evaluate_accuracy(trainer.model, view, labels, chunk) == expected
    assert trainer.model.training  # evaluation ran in eval mode and switched back
    with pytest.raises(ValueError, match="has 43 labels but X has 44 rows"):
        evaluate_accuracy(trainer.model, view, labels[:-1], chunk)


def test_validation_on_image_rows_is_never_augmented() -> None:
    images, labels, val_images, val_labels = _data()
    trainer, source = _trainer(images, labels, seed=0, bind=True)
    val = source.evaluation_rows(val_images)
    trainer.fit(X_val=val, y_val=val_labels, num_iters=4)
    rows = ImageRows(val_images, source.normalization, np.float32).to_array()
    assert trainer.history.val_acc == [accuracy(trainer.model, rows, val_labels)]
