"""Asynchronous history pulls and pushes (GNNAutoScale's overlap of history I/O with compute).

:class:`Transfers` runs every pull and push of a model's histories, in the order they are
issued, on one worker thread, so a layer computes while the rows it will need next are gathered
(and, for host histories of a CUDA model, copied host -> device on a side CUDA stream from
page-locked buffers; pushes copy device -> host on the side stream and store on the worker).
Issue order is completion order: a pull issued after a push of the same rows sees them. The
caller waits on a pull's :class:`Pending` when it needs the rows, and :meth:`Transfers.wait_all`
before it reads a history directly.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import Tensor

from .history import History


class Pending:
    """A pull in flight: :meth:`wait` returns its float32 rows on the target device."""

    def __init__(self, future: Future) -> None:
        self.future = future

    def wait(self) -> Tensor:
        rows, event = self.future.result()
        if event is not None:  # copied on the side stream: order the compute stream after it
            stream = torch.cuda.current_stream(rows.device)
            stream.wait_event(event)
            rows.record_stream(stream)
        return rows


class Transfers:
    """The worker thread (and, for CUDA targets, the side stream) of one model's histories."""

    def __init__(self) -> None:
        self._executor: ThreadPoolExecutor | None = None
        self._streams: dict[torch.device, torch.cuda.Stream] = {}
        self._pushes: list[Future] = []

    def _submit(self, work) -> Future:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix="gas-history")
        return self._executor.submit(work)

    def _side_stream(self, device: torch.device) -> torch.cuda.Stream | None:
        if device.type != "cuda":
            return None
        if device not in self._streams:
            self._streams[device] = torch.cuda.Stream(device)
        return self._streams[device]

    def pull(self, history: History, n_id: Tensor, device: torch.device) -> Pending:
        """Rows ``n_id`` of ``history`` as float32 on ``device``, gathered ahead."""
        device = torch.device(device)
        history.check_ids(n_id)  # bad ids fail here, in the caller's thread
        stream = self._side_stream(device) if history.device != device else None

        def work() -> tuple[Tensor, torch.cuda.Event | None]:
            rows = history.pull(n_id)
            if stream is None:
                return rows.to(device), None
            with torch.cuda.stream(stream):
                out = rows.pin_memory().to(device, non_blocking=True)
                event = torch.cuda.Event()
                event.record(stream)
            return out, event

        return Pending(self._submit(work))

    def push_chunks(self, history: History, x: Tensor, offsets: Tensor, counts: Tensor) -> None:
        """Store ``x`` as ``history``'s chunks (``History.push_chunks``), asynchronously."""
        history.check_rows(x[:0], 0)  # a channel mismatch fails here, in the caller's thread
        x = x.detach()
        stream = self._side_stream(x.device) if history.device != x.device else None
        if stream is None:
            work = lambda: history.push_chunks(x, offsets, counts)  # noqa: E731
        else:
            ready = torch.cuda.Event()
            ready.record(torch.cuda.current_stream(x.device))
            with torch.cuda.stream(stream):
                stream.wait_event(ready)
                host = torch.empty(x.shape, dtype=x.dtype, pin_memory=True)
                host.copy_(x, non_blocking=True)
                x.record_stream(stream)
                done = torch.cuda.Event()
                done.record(stream)

            def work() -> None:
                done.synchronize()
                history.push_chunks(host, offsets, counts)

        for future in [f for f in self._pushes if f.done()]:
            future.result()  # re-raise a failed push's error
        self._pushes = [f for f in self._pushes if not f.done()] + [self._submit(work)]

    def wait_all(self) -> None:
        """Block until every issued push has landed (re-raising a failed one's error)."""
        pushes, self._pushes = self._pushes, []
        for future in pushes:
            future.result()
