"""Keep the GPU busy: batches are prepared by one thread, computed by the caller's thread, consumed by another.

Three stages connected by short queues:

1. *producer* (thread): reads windows from the memory-mapped dataset arrays, builds length-bucketed batches of
   uint8 token ids in pinned memory;
2. *compute* (calling thread): copies a batch to the GPU, runs the model and a small reduction (e.g. the four
   A/C/G/T probabilities per position), and starts an asynchronous copy of the result into pinned host memory;
3. *consumer* (thread): waits for that copy (a CUDA event, not a device-wide sync) and turns it into output
   (prediction arrays, embeddings).

The compute thread never waits for the host, so reading, tokenising and writing hide behind GPU work. Items that are
not batches (e.g. "a group of windows is complete") pass through stage 2 unchanged, in order.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

_END = object()


@dataclass
class Batch:
    ids: np.ndarray  # (rows, padded length) uint8 token ids
    rows: list[Any]  # what each row is, for the consumer
    extra: np.ndarray | None = None  # optional per-position float32 (rows, padded length), e.g. a pooling mask


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


class _Slot:
    """Pinned host buffers for one batch in flight, reused: allocating pinned memory for every new batch shape
    (cudaHostAlloc) is slow and can stall the GPU."""

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}

    def view(self, name: str, shape: tuple[int, ...], dtype: torch.dtype) -> torch.Tensor:
        size = int(np.prod(shape))
        buffer = self.buffers.get(name)
        if buffer is None or buffer.numel() < size or buffer.dtype != dtype:
            buffer = torch.empty(max(size, 2 * (0 if buffer is None else buffer.numel())), dtype=dtype, pin_memory=True)
            self.buffers[name] = buffer
        return buffer[:size].view(shape)


def run_pipeline(
    items: Iterable[Any],
    compute: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor],
    consume: Callable[[Any, np.ndarray | None], None],
    device: torch.device,
    depth: int = 3,
) -> None:
    """Run ``compute(ids, extra)`` on every :class:`Batch` of ``items`` (tensors on ``device``) and
    ``consume(batch, result)`` in item order; any other item reaches ``consume(item, None)`` in order. Errors in
    any stage are re-raised here."""
    cuda = device.type == "cuda"
    inbox: queue.Queue[Any] = queue.Queue(maxsize=depth)
    outbox: queue.Queue[Any] = queue.Queue(maxsize=depth)
    free: queue.Queue[_Slot] = queue.Queue()
    for _ in range(depth + 2):
        free.put(_Slot())
    stop = threading.Event()
    consumer_error: list[BaseException] = []

    def put(box: queue.Queue[Any], item: Any) -> bool:
        """Block until ``item`` is queued; give up once the pipeline is stopping or the consumer failed."""
        while not stop.is_set() and not consumer_error:
            try:
                box.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def take_slot() -> _Slot | None:
        while not consumer_error:
            try:
                return free.get(timeout=0.1)
            except queue.Empty:
                continue
        return None

    def produce() -> None:
        try:
            for item in items:
                if not put(inbox, item):
                    return
            put(inbox, _END)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            put(inbox, _Failure(error))

    def drain() -> None:
        try:
            while True:
                item = outbox.get()
                if item is _END:
                    return
                thing, host, event, slot = item
                if event is not None:
                    event.synchronize()
                consume(thing, None if host is None else host.numpy())
                if slot is not None:
                    free.put(slot)
        except BaseException as error:  # noqa: BLE001 - handed to the main thread
            consumer_error.append(error)

    def to_device(array: np.ndarray | None, slot: _Slot | None, name: str) -> torch.Tensor | None:
        if array is None:
            return None
        tensor = torch.from_numpy(array)
        if slot is None:
            return tensor.to(device)
        pinned = slot.view(name, tuple(array.shape), tensor.dtype)
        pinned.copy_(tensor)
        return pinned.to(device, non_blocking=True)

    producer = threading.Thread(target=produce, name="evo2-producer", daemon=True)
    consumer = threading.Thread(target=drain, name="evo2-consumer", daemon=True)
    producer.start()
    consumer.start()
    try:
        while not consumer_error:
            item = inbox.get()
            if item is _END:
                break
            if isinstance(item, _Failure):
                raise item.error
            if not isinstance(item, Batch):
                put(outbox, (item, None, None, None))
                continue
            slot = take_slot() if cuda else None
            if cuda and slot is None:
                break
            ids = to_device(item.ids, slot, "ids")
            assert ids is not None
            result = compute(ids, to_device(item.extra, slot, "extra"))
            if slot is not None:
                host = slot.view("result", tuple(result.shape), result.dtype)
                host.copy_(result, non_blocking=True)
                event = torch.cuda.Event()
                event.record()
            else:
                host, event = result.detach().cpu(), None
            del result
            put(outbox, (Batch(np.empty(0), item.rows), host, event, slot))
    finally:
        stop.set()  # the producer stops; the consumer finishes what it holds, then sees _END
        while consumer.is_alive():
            try:
                outbox.put(_END, timeout=0.1)
                break
            except queue.Full:
                continue
        consumer.join()
        producer.join(timeout=5)
    if consumer_error:
        raise consumer_error[0]
