"""Deterministic prompt batches: a fresh seeded permutation each epoch, position kept as plain state."""
from __future__ import annotations

import random
from typing import Collection, Iterator, Sequence

from mixed_r1.data.schema import Sample, image_changed
from mixed_r1.errors import ConfigError, DataError

REPLACEMENT_TRIES = 16  # candidates tried for one skipped sample before the image store is called gone


class PromptSampler:
    """Yields lists of sample indices, ``batch_size`` at a time, forever.

    The order depends only on ``seed`` and the epoch, so a run is reproducible and its position
    (``epoch``, ``cursor``) is all a resume needs.
    """

    def __init__(self, num_samples: int, batch_size: int, seed: int) -> None:
        if batch_size > num_samples:
            raise ConfigError(f"a batch of {batch_size} prompts is larger than the dataset ({num_samples} samples): "
                              "lower the batch size or add data")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.epoch, self.cursor = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> list[int]:
        order = list(range(self.num_samples))
        random.Random(self.seed * 1_000_003 + self.epoch).shuffle(order)
        return order

    def next_batch(self) -> list[int]:
        if self.cursor + self.batch_size > self.num_samples:  # drop the ragged tail, start a new epoch
            self.epoch, self.cursor = self.epoch + 1, 0
            self._order = self._permutation()
        batch = self._order[self.cursor : self.cursor + self.batch_size]
        self.cursor += self.batch_size
        return batch

    def take(self, count: int) -> list[int]:
        """The next ``count`` indices of the same stream, across an epoch's end (DAPO's dynamic sampling refills a
        step's batch from it, so a resume draws the same prompts: the position is all the state there is)."""
        taken: list[int] = []
        while len(taken) < count:
            if self.cursor >= self.num_samples:
                self.epoch, self.cursor = self.epoch + 1, 0
                self._order = self._permutation()
            grab = min(count - len(taken), self.num_samples - self.cursor)
            taken += self._order[self.cursor : self.cursor + grab]
            self.cursor += grab
        return taken

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "cursor": self.cursor}

    def load_state_dict(self, state: dict[str, int]) -> None:
        self.epoch, self.cursor = state["epoch"], state["cursor"]
        self._order = self._permutation()

    def __iter__(self) -> Iterator[list[int]]:
        while True:
            yield self.next_batch()


def steps_for_epochs(epochs: float, num_samples: int, batch_size: int) -> int:
    """Training steps that make ``epochs`` passes over ``num_samples`` prompts in batches of ``batch_size``, as
    :class:`PromptSampler` serves them (each epoch drops its ragged tail: ``num_samples // batch_size`` batches)."""
    if epochs <= 0:
        raise ConfigError(f"trainer.epochs={epochs!r} must be > 0 (or set trainer.max_steps)")
    return max(1, round(epochs * (num_samples // batch_size)))


def with_readable_images(samples: Sequence[Sample], chosen: Sequence[int], avoid: Collection[int], key: str,
                         tries: int = REPLACEMENT_TRIES) -> tuple[list[Sample], list[str]]:
    """``chosen``'s samples with each one whose image changed since the data loaded (deleted, resized,
    no longer decodable) replaced by another sample: ``data.changed_images=skip``. The replacement comes from a
    stream seeded by ``key`` (seed, step, rank, position) and avoids ``avoid`` (the step's global batch), so a run
    and its resume pick the same one and the batch keeps its shape on every rank. Returns the batch and one
    message per skipped sample (sample id and why). When ``tries`` candidates in a row are unreadable too, the
    images are gone rather than changed: a :class:`DataError`."""
    batch: list[Sample] = []
    skipped: list[str] = []
    for position, index in enumerate(chosen):
        sample, why = samples[index], image_changed(samples[index])
        draw = random.Random(f"{key}:{position}")
        attempts = 0
        while why is not None:
            skipped.append(why)
            attempts += 1
            if attempts > tries:
                raise DataError(f"{attempts} images in a row changed since the data loaded (last: {why}); the image "
                                "folder looks gone or rewritten: check it, then resume")
            candidate = draw.randrange(len(samples))
            while candidate in avoid and len(avoid) < len(samples):
                candidate = draw.randrange(len(samples))
            sample, why = samples[candidate], image_changed(samples[candidate])
        batch.append(sample)
    return batch, skipped
