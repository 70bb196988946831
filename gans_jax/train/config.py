"""Config validation: every field is checked before anything compiles.

A field states its check beside its default (:func:`section` of
:func:`field`\ s: type, range, choices); the command line runs those checks
(:func:`check_fields`), then the experiment's ``validate``, which holds only
the rules that tie fields together. A check that fails raises
:class:`ConfigError`, which names the field and says what is wrong in one
line; the command-line entry point turns it into exit code 2.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable, Collection, Iterator, Sequence

import ml_collections

# The largest integer a field may hold: the loop counts steps, and JAX
# computes, in 32-bit integers.
MAX_INT = 2**31 - 1


class ConfigError(ValueError):
  """A config field has a wrong name, type or value."""

  def __init__(self, field: str, message: str):
    self.field = field
    super().__init__(f"{field}: {message}")


def get(config: ml_collections.ConfigDict, field: str) -> Any:
  """Reads a dotted field, raising ConfigError when it does not exist."""
  node = config
  for part in field.split("."):
    if not isinstance(node, ml_collections.ConfigDict) or part not in node:
      raise ConfigError(field, "missing from the config")
    node = node[part]
  return node


def check(condition: bool, field: str, message: str) -> None:
  if not condition:
    raise ConfigError(field, message)


def _is_number(value) -> bool:
  return (isinstance(value, (int, float)) and not isinstance(value, bool)
          and math.isfinite(value))


def check_positive_int(config, field: str, *, allow_zero: bool = False) -> int:
  value = get(config, field)
  ok = isinstance(value, int) and not isinstance(value, bool)
  ok = ok and (value >= 0 if allow_zero else value > 0)
  bound = "a non-negative" if allow_zero else "a positive"
  check(ok, field, f"must be {bound} integer, got {value!r}")
  check(value <= MAX_INT, field, f"must be at most 2**31 - 1, got {value!r}")
  return value


def check_positive_ints(config, field: str) -> tuple[int, ...]:
  """A non-empty tuple of positive integers (layer widths)."""
  value = get(config, field)
  check(isinstance(value, tuple) and len(value) > 0 and all(
      isinstance(v, int) and not isinstance(v, bool) and 0 < v <= MAX_INT
      for v in value), field,
        f"must be a non-empty tuple of positive integers, got {value!r}")
  return value


def check_number(config, field: str) -> float:
  """Any finite number."""
  value = get(config, field)
  check(_is_number(value), field, f"must be a finite number, got {value!r}")
  return float(value)


def check_positive_float(config, field: str, *, allow_zero: bool = False) -> float:
  value = get(config, field)
  ok = _is_number(value) and (value >= 0 if allow_zero else value > 0)
  bound = "non-negative" if allow_zero else "positive"
  check(ok, field, f"must be a finite {bound} number, got {value!r}")
  return float(value)


def check_fraction(config, field: str) -> float:
  value = get(config, field)
  check(_is_number(value) and 0.0 <= value < 1.0, field,
        f"must be in [0, 1), got {value!r}")
  return float(value)


def check_choice(config, field: str, choices: Collection[Any]) -> Any:
  value = get(config, field)
  check(value in choices, field,
        f"must be one of {sorted(choices, key=str)}, got {value!r}")
  return value


# ----------------------------------------------------------- field checks --

Check = Callable[[Any], "str | None"]
"""What is wrong with a field's value (one line, e.g. ``'must be a positive
integer, got -1'``), or ``None`` when it is fine."""


def _message(test: Callable[[Any], bool], expected: str) -> Check:
  def check(value: Any) -> str | None:
    return None if test(value) else f"must be {expected}, got {value!r}"
  check.expected = expected
  return check


def _is_int(value) -> bool:
  return isinstance(value, int) and not isinstance(value, bool)


def _int_in_range(value, low: int) -> bool:
  return _is_int(value) and low <= value <= MAX_INT


positive_int = _message(lambda v: _int_in_range(v, 1),
                        "a positive integer (at most 2**31 - 1)")
non_negative_int = _message(lambda v: _int_in_range(v, 0),
                            "a non-negative integer (at most 2**31 - 1)")
positive_ints = _message(
    lambda v: isinstance(v, tuple) and len(v) > 0 and all(
        _int_in_range(x, 1) for x in v),
    "a non-empty tuple of positive integers")
finite = _message(lambda v: _is_number(v), "a finite number")
positive = _message(lambda v: _is_number(v) and v > 0, "a finite positive number")
non_negative = _message(lambda v: _is_number(v) and v >= 0,
                        "a finite non-negative number")
fraction = _message(lambda v: _is_number(v) and 0.0 <= v < 1.0, "in [0, 1)")
unit_interval = _message(lambda v: _is_number(v) and 0.0 <= v <= 1.0, "in [0, 1]")
boolean = _message(lambda v: isinstance(v, bool), "True or False")
name = _message(lambda v: isinstance(v, str) and v.strip() != "", "a non-empty string")


def one_of(*choices: Any) -> Check:
  """The value is one of ``choices`` (``True`` is not ``1``)."""
  def test(value):
    return any(value == c and isinstance(value, bool) == isinstance(c, bool)
               for c in choices)
  return _message(test, f"one of {sorted(choices, key=str)}")


def tuple_of(check: Check, *, distinct: bool = False, min_size: int = 0) -> Check:
  """A tuple of ``min_size`` or more items each passing ``check``."""
  def test(value):
    return (isinstance(value, tuple) and len(value) >= min_size
            and (not distinct or len(set(value)) == len(value))
            and all(check(v) is None for v in value))
  expected = (f"a tuple of {'distinct ' if distinct else ''}items each "
              f"{check.expected}")
  return _message(test, expected)


@dataclasses.dataclass(frozen=True)
class Field:
  """A config field's default and the check its values must pass."""

  default: Any
  check: Check


def field(default: Any, check: Check) -> Field:
  """A field of a :func:`section`: ``latent_dim=field(100, positive_int)``."""
  problem = check(default)
  if problem is not None:
    raise ValueError(f"the default {default!r} fails its own check: {problem}")
  return Field(default, check)


# Sections made while get_config runs under declared_checks: id -> (section,
# {field name: check}).
_RECORDING: list[dict[int, tuple[ml_collections.ConfigDict, dict[str, Check]]]] = []


def section(**fields: Any) -> ml_collections.ConfigDict:
  """A config section: each keyword is a plain default or a :func:`field`
  carrying its check, found again by :func:`declared_checks`."""
  values = {k: f.default if isinstance(f, Field) else f for k, f in fields.items()}
  node = ml_collections.ConfigDict(values)
  checks = {k: f.check for k, f in fields.items() if isinstance(f, Field)}
  for recording in _RECORDING:
    recording[id(node)] = (node, checks)
  return node


def _sections(config: ml_collections.ConfigDict, prefix: str = ""
              ) -> Iterator[tuple[str, ml_collections.ConfigDict]]:
  yield prefix, config
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      yield from _sections(value, f"{prefix}{key}.")


def declared_checks(get_config: Callable[[], ml_collections.ConfigDict]
                    ) -> tuple[ml_collections.ConfigDict, dict[str, Check]]:
  """Calls ``get_config()``; returns its config and ``{dotted field: check}``
  of the fields its sections declared with :func:`field`."""
  recording: dict = {}
  _RECORDING.append(recording)
  try:
    config = get_config()
  finally:
    _RECORDING.remove(recording)
  checks = {}
  for prefix, node in _sections(config):
    found = recording.get(id(node))
    if found is not None and found[0] is node:
      checks.update({f"{prefix}{k}": c for k, c in found[1].items()})
  return config, checks


def check_fields(config: ml_collections.ConfigDict, checks: dict[str, Check]) -> None:
  """Runs each field's declared check, in the order of the config's fields.

  Raises:
    ConfigError: naming the first field whose value fails its check.
  """
  for dotted, value in flatten(config).items():
    check_fn = checks.get(dotted)
    if check_fn is not None:
      problem = check_fn(value)
      if problem is not None:
        raise ConfigError(dotted, problem)


def validate_train(config: ml_collections.ConfigDict, *,
                   device_count: int | None = None) -> None:
  """Checks the ``train`` section that :func:`gans_jax.train.fit` reads."""
  import jax

  get(config, "train")
  check_fields(config, {f"train.{name}": check for name, check
                        in declared_checks(train_defaults)[1].items()})
  for name in train_defaults():
    get(config, f"train.{name}")
  k = config.train.steps_per_call
  for field in ("train.log_every", "train.checkpoint_every"):
    check(get(config, field) % k == 0, field,
          f"must be a multiple of train.steps_per_call={k}")
  if config.train.sample_every:
    check(config.train.sample_every % k == 0, "train.sample_every",
          f"must be a multiple of train.steps_per_call={k}")
  devices = jax.device_count() if device_count is None else device_count
  check(config.train.batch_size % devices == 0, "train.batch_size",
        f"{config.train.batch_size} is not divisible by the {devices} devices "
        "it is sharded over")
  processes = jax.process_count()
  check(config.train.batch_size % processes == 0, "train.batch_size",
        f"{config.train.batch_size} is not divisible by the {processes} hosts")


def train_defaults(**overrides) -> ml_collections.ConfigDict:
  """The ``train`` section with its defaults; experiments override fields.

  ``steps_per_call`` is an upper bound, not a promise. One compiled call
  runs up to ``k = steps_per_call`` steps (a loop over ``k`` stacked
  batches; fewer dispatches for small, fast steps). The loop times one step
  (the second call of each phase; the first compiles) and then runs calls
  of ``L`` steps, ``L`` the largest divisor of ``k`` whose call takes at most
  2 s (``gans_jax.train.loop.CALL_SECONDS``), so that SIGTERM, read between
  calls, is answered within seconds whatever ``k`` says. Which ``L`` is
  chosen depends on the machine, yet:

  * the numbers do not: every call runs the same program (the loop for ``k``
    steps, stopped after ``L``), so a run and its restarts give the same
    state bit for bit;
  * logs, checkpoints and sample grids do not: calls end on multiples of
    ``L``, hence on every multiple of ``k``, which is why ``log_every``,
    ``checkpoint_every`` and ``sample_every`` must be multiples of
    ``steps_per_call``.

  When even one step takes longer than 2 s, the state is copied to the host
  before each call, and SIGTERM during a call checkpoints that copy (the
  step the call started from) without waiting for the call. Whatever
  happens, the process exits with code 0 within ``$GANS_JAX_SIGTERM_SECONDS``
  (default 25) of SIGTERM under the command line
  (:mod:`gans_jax.train.preemption`). With ``k > 1`` the step runs inside a
  loop, where XLA on a CPU runs convolution gradients many times slower
  (jax-ml/jax#12868): convolutional presets keep 1.
  """
  train = section(
      num_steps=field(1000, positive_int),  # calls of the step function
                                            # (generator updates)
      batch_size=field(64, positive_int),   # global batch, split over all
                                            # devices and hosts
      seed=field(0, non_negative_int),      # the one seed: init, data order and noise
      log_every=field(50, positive_int),    # steps between metrics.jsonl lines
      checkpoint_every=field(500, positive_int),  # steps between Orbax checkpoints
      keep_checkpoints=field(3, positive_int),    # the newest N checkpoints are kept
      sample_every=field(500, non_negative_int),  # steps between sample grids
                                                  # (0: only at the end)
      steps_per_call=field(1, positive_int),  # at most this many steps in one
                                              # compiled call
  )
  train.update(overrides)
  return train


# ------------------------------------------------------------ saved configs --

_LITERALS = (bool, int, float, str, type(None))


def _check_literal(value: Any, field: str) -> None:
  if isinstance(value, tuple):
    for i, item in enumerate(value):
      _check_literal(item, f"{field}[{i}]")
  elif isinstance(value, list):
    raise ConfigError(field, f"is a list ({value!r}); configs hold sequences as "
                      "tuples, so that a saved config reads back the same")
  elif not isinstance(value, _LITERALS):
    raise ConfigError(field, f"holds a {type(value).__name__} ({value!r}); "
                      "configs hold numbers, strings, booleans, None and tuples")


def flatten(config: ml_collections.ConfigDict, prefix: str = "") -> dict[str, Any]:
  """``{dotted field: value}`` for every leaf of ``config``."""
  out = {}
  for key, value in config.items():
    field = f"{prefix}{key}"
    if isinstance(value, ml_collections.ConfigDict):
      out.update(flatten(value, f"{field}."))
    else:
      out[field] = value
  return out


def to_json(config: ml_collections.ConfigDict) -> str:
  """The config as the JSON that ``config.json`` holds, read back exactly by
  :func:`from_json`: JSON keeps ints and floats apart, and arrays read back
  as tuples, so configs may hold literals and tuples but no lists.

  Raises:
    ConfigError: a field holds a list or a value JSON cannot represent.
  """
  for field, value in flatten(config).items():
    _check_literal(value, field)
  return config.to_json_best_effort(indent=2, sort_keys=True)


def _tuples(value: Any) -> Any:
  if isinstance(value, list):
    return tuple(_tuples(v) for v in value)
  if isinstance(value, dict):
    return {k: _tuples(v) for k, v in value.items()}
  return value


def from_json(text: str) -> ml_collections.ConfigDict:
  """The config that :func:`to_json` wrote, with its tuples, ints and floats."""
  import json
  return ml_collections.ConfigDict(_tuples(json.loads(text)))


MISSING = type("Missing", (), {"__repr__": lambda self: "(absent)"})()


def _same(a: Any, b: Any) -> bool:
  if isinstance(a, bool) != isinstance(b, bool):
    return False  # True == 1 in Python
  if isinstance(a, float) and isinstance(b, float) and a != a and b != b:
    return True  # both NaN
  return a == b


def differences(old: ml_collections.ConfigDict, new: ml_collections.ConfigDict
                ) -> list[tuple[str, Any, Any]]:
  """``(field, old value, new value)`` for every dotted field that differs
  (:data:`MISSING` where a config lacks the field), sorted by field."""
  a, b = flatten(old), flatten(new)
  return [(f, a.get(f, MISSING), b.get(f, MISSING)) for f in sorted(set(a) | set(b))
          if f not in a or f not in b or not _same(a[f], b[f])]


# ------------------------------------------------------------- comments --

def field_comments(paths: Sequence[str]) -> dict[tuple[str | None, str], str]:
  """The comment written beside each ``name=value`` of config files.

  Reads every keyword argument of the files' calls (``dict(name=value,  #
  comment``): the comment on its line, continued by comment-only lines below
  it at the same column, or else the comment-only lines just above it at
  the field's column. Keys are ``(section, name)``, the
  section being the name the call is assigned to (``c.model = ...``,
  ``train = ...``, ``c.train.update(...)``; ``None`` at the top level), and
  ``("*", name)`` for a keyword in any section; the first comment found wins.
  """
  import ast
  import io
  import tokenize

  found: dict[tuple[str | None, str], str] = {}
  for path in paths:
    try:
      with open(path, encoding="utf-8") as f:
        source = f.read()
      tree = ast.parse(source)
      tokens = list(tokenize.generate_tokens(io.StringIO(source).readline))
    except (OSError, SyntaxError, tokenize.TokenError):
      continue
    code_lines = {t.start[0] for t in tokens if t.type not in (
        tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
        tokenize.DEDENT, tokenize.ENDMARKER)}
    comments = {t.start[0]: (t.start[1], t.string.lstrip("#").strip())
                for t in tokens if t.type == tokenize.COMMENT}
    first_column = {}
    for t in tokens:
      if t.start[0] in code_lines and t.type not in (tokenize.INDENT, tokenize.DEDENT):
        first_column.setdefault(t.start[0], t.start[1])

    def comment_at(line: int, first_line: int, column: int) -> str | None:
      if line in comments and line in code_lines:  # name=value,  # comment
        column, text = comments[line]
        parts, below = [text], line + 1
        while (below in comments and below not in code_lines
               and comments[below][0] == column):
          parts.append(comments[below][1])
          below += 1
        return " ".join(parts)
      if first_column.get(first_line) != column:
        return None  # not the first thing on its line
      parts, above = [], first_line - 1  # comment lines just above the field
      while (above in comments and above not in code_lines
             and comments[above][0] == column):
        parts.insert(0, comments[above][1])
        above -= 1
      return " ".join(parts) or None

    def section_of(statement) -> str | None:
      target = None
      if isinstance(statement, ast.Assign) and statement.targets:
        target = statement.targets[0]
      elif isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call):
        func = statement.value.func  # c.train.update(...)
        target = func.value if isinstance(func, ast.Attribute) else None
      if isinstance(target, ast.Attribute):
        return target.attr
      if isinstance(target, ast.Name):
        return target.id
      return None

    for statement in ast.walk(tree):
      if not isinstance(statement, (ast.Assign, ast.Expr)):
        continue
      section = section_of(statement)
      target = statement.targets[0] if isinstance(statement, ast.Assign) else None
      if isinstance(target, ast.Attribute):  # c.model.width = 64  # comment
        parent = target.value
        text = comment_at(statement.end_lineno, statement.lineno,
                          statement.col_offset)
        if text:
          found.setdefault(
              (parent.attr if isinstance(parent, ast.Attribute) else None,
               target.attr), text)
      for node in ast.walk(statement):
        if isinstance(node, ast.keyword) and node.arg is not None:
          text = comment_at(node.value.end_lineno, node.lineno, node.col_offset)
          if text:
            for key in ((section, node.arg), ("*", node.arg)):
              found.setdefault(key, text)
  return found


def format_config(config: ml_collections.ConfigDict,
                  comments: dict[tuple[str | None, str], str] | None = None) -> str:
  """One ``field = value  # comment`` line per field, in dotted form."""
  comments = comments or {}
  lines = []
  for field, value in flatten(config).items():
    parts = field.split(".")
    parent = parts[-2] if len(parts) > 1 else None
    text = comments.get((parent, parts[-1]))
    if text is None and parent is not None:
      text = comments.get(("*", parts[-1]))
    lines.append((f"{field} = {value!r}", text))
  width = min(max((len(left) for left, _ in lines), default=0), 48)
  return "\n".join(f"{left:<{width}}  # {text}" if text else left
                   for left, text in lines)
