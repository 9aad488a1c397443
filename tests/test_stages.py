"""twoface.stages: batches go through the stages in order, a stage may hold batches back and give
them at flush, a handoff stage never runs ahead of the next one, and a failure anywhere (a
stage, the source, Ctrl-C in the caller) stops every thread, aborts every stage and is raised
once, in the caller, with the stage's name."""

from __future__ import annotations

import threading
import time

import pytest

from twoface.stages import BaseStage, Batch, StageError, run_stages


def _source(n: int):
    for i in range(n):
        yield Batch([i])


class Double(BaseStage):
    name = "double"

    def __call__(self, batch):
        return (Batch([2 * x for x in batch.packets]),)


class Pairs(BaseStage):
    """Holds every other batch back and gives the two together; the odd one out at flush."""

    name = "pairs"

    def __init__(self):
        self.held = None

    def __call__(self, batch):
        if self.held is None:
            self.held = batch
            return ()
        out, self.held = Batch(self.held.packets + batch.packets), None
        return (out,)

    def flush(self):
        return (self.held,) if self.held is not None else ()


class Sink(BaseStage):
    name, depth = "sink", 1

    def __init__(self):
        self.got, self.closed, self.aborted = [], False, False

    def __call__(self, batch):
        self.got.extend(batch.packets)
        return ()

    def flush(self):
        self.closed = True
        return ()

    def abort(self):
        self.aborted = True


def test_batches_keep_their_order_through_held_back_stages():
    sink = Sink()
    run_stages(_source(7), [Double(), Pairs(), sink])
    assert sink.got == [0, 2, 4, 6, 8, 10, 12] and sink.closed and not sink.aborted


def test_a_handoff_stage_waits_for_the_next_one_to_take_each_batch():
    """At most one batch is begun and not yet taken: what a stage holding device buffers for
    the next batch needs (the swap stage of a video)."""
    state = {"begun": 0, "taken": 0, "most": 0}
    lock = threading.Lock()

    class Begin(BaseStage):
        name, depth = "begin", 0

        def __call__(self, batch):
            with lock:
                state["begun"] += 1
                state["most"] = max(state["most"], state["begun"] - state["taken"])
            return (batch,)

    class SlowTake(BaseStage):
        name, depth = "take", 1

        def __call__(self, batch):
            with lock:
                state["taken"] += 1
            time.sleep(0.01)
            return ()

    run_stages(_source(20), [Begin(), SlowTake()])
    assert state["begun"] == state["taken"] == 20
    assert state["most"] <= 2  # the batch being taken and the one begun meanwhile


def test_a_failing_stage_stops_all_aborts_all_and_is_raised_once_by_name():
    seen = []

    class Boom(BaseStage):
        name = "boom"

        def __call__(self, batch):
            seen.append(batch.packets[0])
            if batch.packets[0] == 6:  # the fourth batch, doubled
                raise ValueError("no face model")
            return (batch,)

    sink = Sink()
    started = time.monotonic()
    with pytest.raises(StageError) as e:
        run_stages(_source(10_000), [Double(), Boom(), sink])
    assert e.value.stage == "boom" and str(e.value.error) == "no face model"
    assert sink.aborted and not sink.closed  # a half-written output is dropped, never sealed
    assert 6 not in sink.got and seen[-1] == 6  # nothing after the failure is worked on
    assert time.monotonic() - started < 5
    assert not [t for t in threading.enumerate() if t.name.startswith("twoface-")]


def test_a_failing_source_and_a_failing_sink_are_named():
    def broken():
        yield Batch([1])
        raise OSError("corrupt frame")

    sink = Sink()
    with pytest.raises(StageError) as e:
        run_stages(broken(), [Double(), sink])
    assert e.value.stage == "source" and isinstance(e.value.error, OSError) and sink.aborted

    class FullDisk(Sink):
        name = "write"

        def __call__(self, batch):
            raise OSError(28, "No space left on device")

    with pytest.raises(StageError) as e:
        run_stages(_source(1000), [Double(), FullDisk()])
    assert e.value.stage == "write" and e.value.error.errno == 28


def test_ctrl_c_in_the_caller_stops_the_stages_and_is_raised_as_it_is():
    stopped = []

    class Slow(BaseStage):
        name = "slow"

        def __call__(self, batch):
            time.sleep(0.02)
            return (batch,)

    def interrupt_soon():
        for i, batch in enumerate(_source(10_000)):
            if i == 5:
                import _thread

                _thread.interrupt_main()
            yield batch

    sink = Sink()
    with pytest.raises(KeyboardInterrupt):
        run_stages(interrupt_soon(), [Slow(), sink], on_stop=lambda: stopped.append(True))
    assert stopped == [True] and sink.aborted and not sink.closed
    time.sleep(0.3)
    assert not [t for t in threading.enumerate() if t.name.startswith("twoface-")]
