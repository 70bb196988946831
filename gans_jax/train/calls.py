"""Which steps each compiled call of the training loop runs, and their batches.

The loop runs up to ``train.steps_per_call`` (``k``) steps inside one compiled
call, with calls short enough to answer SIGTERM within seconds: the first
:data:`PROBE_CALLS` calls of a phase run one step each, and the last one's
time sets the phase's call length, the largest divisor of ``k`` whose calls
take at most :data:`CALL_SECONDS`. A call of length ``L`` ends on the next
multiple of ``L`` or at its phase's end; since every ``L`` divides ``k``,
every multiple of ``k`` (where logs, checkpoints and hooks fall) ends a call.

:class:`CallPlan` generates the calls as they are needed and
:class:`Prefetcher` loads their batches on a background thread.
"""

from __future__ import annotations

import dataclasses
import queue
import threading
from typing import Any, Callable, Iterable, Sequence

import jax
import numpy as np

# A compiled call runs this long at most (as measured on the phase's last
# probe call), so that SIGTERM is answered within a few seconds.
CALL_SECONDS = 2.0
# Calls of one step at the start of each phase: the first compiles, the
# second is timed.
PROBE_CALLS = 2


@dataclasses.dataclass(frozen=True)
class Call:
  """One compiled call: ``length`` steps of phase ``phase`` from ``first``;
  ``probe`` counts the one-step calls that time a phase (0: not one)."""

  phase: int
  first: int
  length: int
  probe: int = 0

  @property
  def end(self) -> int:
    return self.first + self.length


def phase_at(phase_ends: Sequence[int], step: int) -> int:
  """Index of the phase that step ``step`` belongs to (the last one at the end)."""
  for index, end in enumerate(phase_ends):
    if step < end:
      return index
  return len(phase_ends) - 1


def divisor_within(k: int, seconds_per_step: float, budget: float) -> int:
  """The largest divisor of ``k`` whose calls take at most ``budget``."""
  fits = [d for d in range(1, k + 1) if k % d == 0 and d * seconds_per_step <= budget]
  return max(fits, default=1)


class CallPlan:
  """The calls of a run, generated as they are needed.

  Each phase (entered or resumed) starts with ``probes`` one-step calls;
  :meth:`decide` then sets its call length from the time the last of them
  took, and the plan waits for that before going on.
  """

  def __init__(self, phase_ends: Sequence[int], start: int, k: int, *,
               probes: int = PROBE_CALLS, lengths: dict[int, int] | None = None):
    self.phase_ends, self.start, self.k = list(phase_ends), start, k
    self.probes = probes
    self.lengths = dict(lengths or {})
    self._decided = threading.Condition()
    self._cancelled = False

  def _length(self, phase: int) -> int | None:
    with self._decided:
      while phase not in self.lengths and not self._cancelled:
        self._decided.wait(0.1)
      return self.lengths.get(phase)

  def __iter__(self):
    step = self.start
    for index, end in enumerate(self.phase_ends):
      probe = 0
      while step < end:
        if probe < self.probes:
          probe += 1
          yield Call(index, step, 1, probe)
          step += 1
          continue
        length = self._length(index)
        if length is None:  # cancelled
          return
        stop = min(end, (step // length + 1) * length)
        yield Call(index, step, stop - step)
        step = stop

  def is_last_probe(self, call: Call) -> bool:
    return call.probe == self.probes and call.probe > 0

  def decide(self, phase: int, seconds_per_step: float) -> int:
    """Sets (and returns) the call length of ``phase`` from the time of one
    step; process 0's choice on every process."""
    length = divisor_within(self.k, seconds_per_step, CALL_SECONDS)
    if jax.process_count() > 1:
      from jax.experimental import multihost_utils
      length = int(multihost_utils.broadcast_one_to_all(np.int32(length)))
    with self._decided:
      self.lengths[phase] = length
      self._decided.notify_all()
    return length

  def cancel(self) -> None:
    with self._decided:
      self._cancelled = True
      self._decided.notify_all()


def plan_calls(phase_ends: Sequence[int], start: int, k: int) -> list[Call]:
  """The calls from step ``start`` to the end: at most ``k`` steps each,
  ending on multiples of ``k``, at phase ends and at the last step."""
  return list(CallPlan(phase_ends, start, k, probes=0, lengths={
      i: k for i in range(len(phase_ends))}))


class Prefetcher:
  """Loads and places the batches of upcoming calls on a background thread
  (``calls`` is iterated there, so a plan may wait for its next length)."""

  def __init__(self, load: Callable[[Any], Any], calls: Iterable[Any], depth: int = 2):
    self._queue: queue.Queue = queue.Queue(maxsize=depth)
    self._stop = threading.Event()

    def work():
      try:
        for call in calls:
          item = (call, load(call))
          while not self._stop.is_set():
            try:
              self._queue.put(item, timeout=0.1)
              break
            except queue.Full:
              continue
          if self._stop.is_set():
            return
      except BaseException as e:  # surfaced in the training thread
        self._queue.put((None, e))

    self._thread = threading.Thread(target=work, daemon=True)
    self._thread.start()

  def get(self):
    call, item = self._queue.get()
    if call is None:
      raise item
    return call, item

  def close(self):
    self._stop.set()
    self._thread.join(timeout=5)
