"""The ``tf.data`` input pipeline: decode, resize exactly as prediction does, cache, shuffle, batch,
augment, prefetch.

Decoding goes through :func:`core.images.load_image` and :func:`core.images.resize_for_model`, so
training sees the very pixels prediction will see. Decoding runs on a small thread pool feeding a
generator, a bounded number of images ahead (PIL releases the GIL while decoding and resizing). This
keeps about 1.8 of 2 cores busy where ``map(tf.numpy_function, num_parallel_calls=2)`` measured ~1.1:
TensorFlow runs Python functions one at a time. The cache holds uint8 pixels (the resize produces
whole numbers, so nothing is lost and memory is a quarter of float32). Augmentation runs on whole batches,
in order, so a seed replays the same sequence (the first batch equals :func:`core.data.augment.augment`
on the same images with the same seed).
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from core.data.augment import AugmentSpec, apply_augmenter, build_augmenter
from core.data.dataset import Dataset
from core.data.splits import Item
from core.errors import ParameterError
from core.images import load_image, resize_for_model

_LOOKAHEAD = 32  # images decoded ahead of the consumer: bounds memory, keeps the workers fed


def load_for_model(path: str | os.PathLike, size: tuple[int, int]) -> np.ndarray:
    """One image as ``(H, W, 3)`` uint8 at the model's size, decoded and resized like prediction."""
    return resize_for_model(load_image(path), size).astype(np.uint8)


def load_batch(items: Sequence[Item], size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Images (float32 0..255, ``(N, H, W, 3)``) and labels for a few items, without TensorFlow."""
    images = np.stack([load_for_model(item.path, size) for item in items]).astype(np.float32)
    return images, np.array([item.label for item in items], dtype=np.int32)


def make_tf_dataset(
    items: Sequence[Item],
    image_size: tuple[int, int],
    batch_size: int = 32,
    shuffle: bool = False,
    seed: int = 0,
    augment: AugmentSpec | None = None,
    cache: bool | str = True,
    workers: int | None = None,
    drop_remainder: bool = False,
):
    """A ``tf.data.Dataset`` of ``(images float32 (B, H, W, 3) 0..255, labels int32 (B,))``.

    ``cache`` True caches decoded images in memory, a string caches them in that file, False not at
    all. ``workers`` (decoding threads) defaults to the number of CPU cores.
    """
    import tensorflow as tf

    if not items:
        raise ParameterError("items must contain at least one image.")
    if batch_size < 1:
        raise ParameterError(f"batch_size must be at least 1, got {batch_size}.")
    height, width = (int(image_size[0]), int(image_size[1]))
    if height < 1 or width < 1:
        raise ParameterError(f"image_size must be positive, got {image_size}.")

    paths = [os.fsdecode(item.path) for item in items]
    labels = [int(item.label) for item in items]
    workers = workers or os.cpu_count() or 2

    def decoded():  # called once per pass over the data (only once when cached)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="glasswing-decode") as pool:
            pending: deque = deque()
            for path, label in zip(paths, labels, strict=True):
                pending.append((pool.submit(load_for_model, path, (height, width)), label))
                if len(pending) >= _LOOKAHEAD:
                    future, lab = pending.popleft()
                    yield future.result(), lab
            while pending:
                future, lab = pending.popleft()
                yield future.result(), lab

    ds = tf.data.Dataset.from_generator(decoded, output_signature=(
        tf.TensorSpec((height, width, 3), tf.uint8), tf.TensorSpec((), tf.int32)))
    if cache:
        ds = ds.cache(cache if isinstance(cache, str) else "")
    if shuffle:
        ds = ds.shuffle(len(paths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    ds = ds.map(lambda x, y: (tf.cast(x, tf.float32), y))
    if augment is not None and not augment.is_identity:
        augmenter = build_augmenter(augment, seed)
        # Sequential on purpose: the layers' random state must advance in batch order.
        ds = ds.map(lambda x, y: (apply_augmenter(augmenter, x), y))
        ds._glasswing_augmenter = augmenter  # keep the layers (and their random state) alive
    return ds.prefetch(tf.data.AUTOTUNE)


def dataset_pipeline(
    dataset: Dataset,
    split: str,
    image_size: tuple[int, int],
    batch_size: int = 32,
    augment: AugmentSpec | None = None,
    seed: int = 0,
    shuffle: bool | None = None,
    cache: bool | str = True,
):
    """The pipeline for one split of a :class:`Dataset`; the train split is shuffled and augmented,
    others are neither unless asked."""
    is_train = split == "train"
    return make_tf_dataset(
        dataset.items(split), image_size, batch_size,
        shuffle=is_train if shuffle is None else shuffle, seed=seed,
        augment=augment if is_train else None, cache=cache,
    )
