"""SIGTERM answered within a bounded time, whatever the process is doing.

Cloud preemption notices give about 30 s between SIGTERM and SIGKILL. A
Python signal handler only runs when the main thread returns to Python, which
it does not do while a compiled call (or a compilation) runs, so the command
line installs a :func:`guard` for the whole run: the signal's handler writes
to a pipe (``signal.set_wakeup_fd``) that a watcher thread reads at once.

* While :func:`gans_jax.train.fit` trains, the loop reads the flag after every
  call, saves a checkpoint and raises :class:`~gans_jax.train.Interrupted`;
  its calls are kept short (``train.steps_per_call`` is an upper bound, see
  :func:`gans_jax.train.config.train_defaults`) so it gets there in seconds.
  If it has not saved within the grace period (``$GANS_JAX_SIGTERM_SECONDS``,
  default 25; a call that takes longer), the watcher ends the process with
  exit code 0 and one line naming the newest checkpoint, which the next run
  resumes from. Before the run's first call has ended (while it compiles)
  there is nothing new to save, and the process exits at once.
* Outside training (before it starts, between runs, during the final
  evaluation) there is nothing new to save: the watcher prints one line and
  the process exits with code 0 at once. After training, that line says the
  next run will evaluate.

Without a guard (``fit`` called from Python) the loop installs a plain flag
handler while it trains (:class:`TrainingStop` is the loop's view of both). With several processes JAX's preemption
service owns SIGTERM and the guard does nothing.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from typing import Iterator

DEFAULT_GRACE_SECONDS = 25.0


def grace_seconds() -> float:
  """Seconds from SIGTERM to exit at most: ``$GANS_JAX_SIGTERM_SECONDS``
  (default 25, within the 30 s cloud preemption notices give)."""
  try:
    return float(os.environ.get("GANS_JAX_SIGTERM_SECONDS", DEFAULT_GRACE_SECONDS))
  except ValueError:
    return DEFAULT_GRACE_SECONDS


def newest_checkpoint(directory: str | None) -> str:
  """'the newest checkpoint is step N in DIR', read from the directory's
  names alone (no Orbax, no collectives)."""
  steps = []
  if directory and os.path.isdir(directory):
    steps = sorted(int(n) for n in os.listdir(directory) if n.isdigit())
  if not steps:
    return "no checkpoint has been saved yet"
  return f"the newest checkpoint is step {steps[-1]} in {directory}"


class Watch:
  """The watcher :func:`guard` installs; :func:`current` returns it.

  The training loop tells it when it trains (:meth:`training`), how far it
  got, and when it has saved and is on its way out (:meth:`handled`).
  """

  def __init__(self, grace: float):
    self.grace = grace
    self.received = threading.Event()
    self._lock = threading.Condition()
    self._directory: str | None = None   # checkpoints of the run training now
    self._training = False
    self._clean = True  # no call has finished since training (re)started
    self._handled = False
    self._trained: tuple[int, str] | None = None  # (step, checkpoints) of the last finished run
    self._read, self._write = os.pipe()
    os.set_blocking(self._write, False)
    self._thread = threading.Thread(target=self._watch, daemon=True,
                                    name="gans_jax_sigterm")
    self._closed = False

  # ------------------------------------------------- the training loop --

  @contextlib.contextmanager
  def training(self, directory: str) -> Iterator[None]:
    """Marks a stretch of training that saves its checkpoints in ``directory``."""
    with self._lock:
      self._training, self._directory, self._clean = True, directory, True
      self._lock.notify_all()
    try:
      yield
    finally:
      with self._lock:
        self._training = False
        self._lock.notify_all()

  def progressed(self) -> None:
    """A call has finished: from now on there is training to save."""
    with self._lock:
      self._clean = False

  def finished(self, step: int, directory: str) -> None:
    """Training reached its last step, saved in ``directory``."""
    with self._lock:
      self._trained = (step, directory)

  def handled(self) -> None:
    """SIGTERM was answered: the checkpoint is saved and the process exits."""
    with self._lock:
      self._handled = True
      self._lock.notify_all()

  def exit_now(self, message: str) -> None:
    """Ends the process with code 0 after printing ``message`` (the loop,
    once it has saved, when a running call would hold up the exit)."""
    with self._lock:
      self._exit(message, new_line=False)

  # ------------------------------------------------------------ watcher --

  def _on_signal(self, signum, frame) -> None:
    del signum, frame
    self.received.set()

  def _exit(self, message: str | None, *, new_line: bool = True) -> None:
    if message:
      # A new line first: a progress bar may be half-way through its own.
      sys.stderr.write(("\n" if new_line else "") + message + "\n")
    sys.stderr.flush()
    sys.stdout.flush()
    os._exit(0)  # pylint: disable=protected-access

  def _outside_training(self) -> str:
    if self._trained is None:
      return ("interrupted by SIGTERM before training started: nothing new "
              "to save; run the same command again")
    step, directory = self._trained
    return (f"interrupted by SIGTERM after training (its final checkpoint, "
            f"step {step}, is saved in {directory}); run the same command "
            "again to evaluate")

  def _nothing_trained(self) -> str:
    return ("interrupted by SIGTERM before the first compiled call ended: "
            f"nothing new to save; {newest_checkpoint(self._directory)}; run "
            "the same command again")

  def _deadline_passed(self) -> str:
    return (f"interrupted by SIGTERM: the running compiled call (or its "
            f"compilation) did not end within {self.grace:.0f} s, so the "
            f"current step is not saved; {newest_checkpoint(self._directory)};"
            " run the same command again")

  def _watch(self) -> None:
    while True:
      try:
        data = os.read(self._read, 64)
      except OSError:
        return
      if not data:  # closed by close()
        return
      if signal.SIGTERM in data:
        break
    self.received.set()
    deadline = time.monotonic() + self.grace
    with self._lock:
      while not self._closed:
        left = deadline - time.monotonic()
        if self._handled:
          # The loop saved and printed its line; the process is on its way
          # out, and is ended here only if that takes past the deadline.
          if left <= 0:
            self._exit(None)
        elif not self._training:
          self._exit(self._outside_training())
        elif self._clean:
          self._exit(self._nothing_trained())
        elif left <= 0:
          self._exit(self._deadline_passed())
        self._lock.wait(max(left, 0.01))

  def start(self) -> None:
    self._previous_fd = signal.set_wakeup_fd(self._write, warn_on_full_buffer=False)
    self._previous_handler = signal.signal(signal.SIGTERM, self._on_signal)
    self._thread.start()

  def close(self) -> None:
    with self._lock:
      if self._closed:
        return
      self._closed = True
      self._lock.notify_all()
    signal.signal(signal.SIGTERM, self._previous_handler)
    signal.set_wakeup_fd(self._previous_fd)
    os.close(self._write)  # ends the watcher's read
    self._thread.join(timeout=1)
    os.close(self._read)


_CURRENT: Watch | None = None


def current() -> Watch | None:
  """The installed watcher, or None."""
  return _CURRENT


@contextlib.contextmanager
def guard() -> Iterator[Watch | None]:
  """Answers SIGTERM within :func:`grace_seconds` while the block runs.

  Does nothing (yields None) off the main thread, with several processes
  (JAX's preemption service handles SIGTERM there), or inside another guard.
  """
  import jax

  global _CURRENT
  if (_CURRENT is not None or jax.process_count() > 1
      or threading.current_thread() is not threading.main_thread()):
    yield None
    return
  watch = Watch(grace_seconds())
  watch.start()
  _CURRENT = watch
  try:
    yield watch
  finally:
    _CURRENT = None
    watch.close()


class _SignalFlag:
  """A SIGTERM handler that only records that the signal came."""

  def __init__(self):
    self.raised = False

  def __call__(self, signum, frame):
    del signum, frame
    self.raised = True


class TrainingStop:
  """Whether the training loop is to stop and checkpoint now.

  One process: SIGTERM sets a flag, read after every call; under the command
  line's :func:`guard` its watcher also bounds the time to exit. Several
  processes: JAX's preemption service (which catches SIGTERM itself) agrees
  on a call at which every process stops, without a collective per call.
  """

  def __init__(self, directory: str):
    import jax

    self.multi = jax.process_count() > 1
    self._flag = _SignalFlag()
    self._previous = None
    self._calls = 0
    self.watch = None if self.multi else current()
    self._training = None
    if self.watch is not None:
      self._training = self.watch.training(directory)
      self._training.__enter__()
    elif not self.multi and threading.current_thread() is threading.main_thread():
      self._previous = signal.signal(signal.SIGTERM, self._flag)

  def requested(self) -> bool:
    """SIGTERM has arrived (one process; for several, see :meth:`reached`)."""
    if self.watch is not None:
      return self.watch.received.is_set()
    return self._flag.raised

  def reached(self) -> bool:
    """Whether to stop after this call (counted: call it once per call)."""
    self._calls += 1
    if not self.multi:
      return self.requested()
    from jax.experimental import multihost_utils
    return multihost_utils.reached_preemption_sync_point(self._calls)

  def progressed(self) -> None:
    if self.watch is not None:
      self.watch.progressed()

  def handled(self) -> None:
    if self.watch is not None:
      self.watch.handled()

  def close(self) -> None:
    if self._training is not None:
      self._training.__exit__(None, None, None)
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)
