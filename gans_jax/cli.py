"""The command line every experiment shares.

Training, or running again in a workdir (see :mod:`gans_jax.train.rerun`)::

  python experiments/<paper>.py [--config=experiments/configs/<paper>.py[:preset]]
      [--config.a.b=value ...] [--workdir=DIR] [--allow_config_change | --start_over]

Using a trained run, from the config saved in its workdir::

  python experiments/<paper>.py --workdir=DIR [--sample=N] [--evaluate]
      [--draw=FIGURE] [--export] [--interpolate=N [--interpolation=lerp|slerp]]
      [--checkpoint=STEP] [--out=DIR]
  python experiments/{pix2pix,cyclegan}.py --workdir=DIR --translate=IN_DIR
      [--direction=AtoB|BtoA] [--checkpoint=STEP] [--out=DIR]

Every experiment (the contract: :mod:`gans_jax.train.experiment`) begins
with ``cli.script(__name__, __doc__)`` (:func:`script`), its whole command
line. ``--help`` prints the usage and the presets; ``--show_config`` the
resolved config, a line per field with its comment. Flags are parsed, the
config validated (each field's declared check, then the experiment's
``validate``), and only then is anything compiled. A bad flag or config field
exits with code 2 and one line naming it; a missing dataset likewise; a
NaN/Inf exits with code 1 after keeping the last good checkpoint; SIGTERM
saves a checkpoint and exits with code 0.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import importlib.util
import os
import sys
import types
from typing import Any, Callable, Sequence

import ml_collections

from gans_jax.train import config as config_lib
from gans_jax.train import experiment as experiment_lib

TrainFn = Callable[[ml_collections.ConfigDict, str], Any]

EXIT_BAD_INPUT = 2
# The sequences --sample prints of an experiment whose samples are token
# sequences (all of them go to the .txt file).
SHOWN_SEQUENCES = 10
HELP_FLAGS = ("-h", "--help", "-help", "--helpshort", "--helpfull")


def enable_compilation_cache(directory: str | None = None) -> None:
  """Turns on JAX's persistent compilation cache, so a second run of the same
  config skips compilation. It lives in ``$GANS_JAX_CACHE_DIR/xla`` (default
  ``~/.cache/gans_jax/xla``); ``GANS_JAX_COMPILATION_CACHE=0`` turns it off."""
  import jax

  if os.environ.get("GANS_JAX_COMPILATION_CACHE", "1") == "0":
    return
  if directory is None:
    root = os.environ.get("GANS_JAX_CACHE_DIR") or os.path.join(
        os.path.expanduser("~"), ".cache", "gans_jax")
    directory = os.path.join(root, "xla")
  jax.config.update("jax_compilation_cache_dir", directory)
  jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.1)
  jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> int:
  print(f"error: {message}", file=sys.stderr)
  return code


def _one_line(error: BaseException) -> str:
  text = " ".join(str(error).replace("\\n", " ").replace("\\'", "'").split())
  if len(text) > 1 and text[0] == text[-1] and text[0] in "'\"":
    text = text[1:-1]  # KeyError's quotes
  return text


# ------------------------------------------------------------------ help --

def _config_docstring(path: str) -> str:
  """The docstring of a config module, which imports no JAX."""
  try:
    return _import_file(path, "_gans_jax_config_help").__doc__ or ""
  except Exception:  # pylint: disable=broad-except  # --help still answers
    return ""


def _presets_block(config_doc: str) -> list[str]:
  """The indented block after the config docstring's ``Presets`` line."""
  lines = config_doc.splitlines()
  for i, line in enumerate(lines):
    if line.lower().startswith("presets"):
      block = []
      for following in lines[i + 1:]:
        if following.strip() and not following.startswith(" "):
          break
        block.append(following)
      while block and not block[-1].strip():
        block.pop()
      return block
  return []


def usage(experiment_file: str, doc: str, *, figures: Sequence[str] = (),
          translates: bool = False) -> str:
  """The ``--help`` text of an experiment: its title from ``doc`` (the
  module's docstring), the presets from its config module's docstring (config
  modules import no JAX, so it prints before JAX loads)."""
  script = os.path.relpath(experiment_file)
  config_file = os.path.relpath(experiment_lib.config_file(experiment_file))
  title = " ".join((doc or "").strip().split("\n\n")[0].split())
  presets = _presets_block(_config_docstring(config_file)) or [
      f"  (see the docstring of {config_file})"]
  figures = list(figures)
  run = f"python {script}"
  lines = [
      f"{title}", "",
      "usage:",
      f"  {run} [--config={config_file}[:PRESET]] [--config.FIELD=VALUE ...] "
      "[--workdir=DIR]",
      f"  {run} [--config=...] [--config.FIELD=VALUE ...] --show_config",
      f"  {run} --workdir=DIR [--sample=N] [--evaluate] "
      + (f"[--draw={'|'.join(figures)}] " if figures else "") + "[--export]",
      f"  {' ' * len(run)} [--interpolate=N [--interpolation=lerp|slerp]]",
      f"  {' ' * len(run)} [--checkpoint=STEP] [--out=DIR] [--sample_seed=S]",
      *([f"  {run} --workdir=DIR --translate=IN_DIR [--direction=AtoB|BtoA] "
         "[--checkpoint=STEP] [--out=DIR]"] if translates else []), "",
      f"presets (--config={config_file}:PRESET):", *presets, "",
      "training:",
      f"  --config=FILE[:PRESET]  the config file and preset (default: {config_file})",
      "  --config.FIELD=VALUE    override a field, e.g. --config.train.num_steps=500;",
      "                          --show_config lists every field, its value and comment",
      "  --show_config           print the resolved config and exit",
      "  --workdir=DIR           where the run is written (default runs/<config.name>);",
      "                          the same command again resumes from its newest checkpoint",
      "  --allow_config_change   continue a run with a config that trains differently",
      "                          (the old config is kept as DIR/config.<step>.json)",
      "  --start_over            move the run in DIR to DIR/previous/<n> and train afresh",
      "",
      "using a trained run (its saved config; --config.eval.* may be overridden):",
      "  --sample=N              draw N samples: a PNG and an .npz",
      "  --evaluate              run the final evaluation again",
  ]
  if figures:
    lines.append(f"  --draw=NAME             draw a figure again: {', '.join(figures)}")
  lines += [
      "  --export                write the generator's weights and how to rebuild it",
      "                          (generator.npz, read by gans_jax.nn.Generator.load)",
      "  --interpolate=N         decode N paths between random pairs of latents (the VAE:",
      "                          of test images' codes; conditional: within one class):",
      "                          interpolation_N_<method>.png (a row per path) and .gif",
      "  --interpolation=lerp|slerp  straight line (default) or great circle",
  ]
  if translates:
    lines += [
        "  --translate=IN_DIR      translate every image under IN_DIR, one by one, into",
        "                          OUT/<its name>.png, with OUT/index.html showing them",
        "  --direction=AtoB|BtoA   in the dataset's A and B: the run's data.direction (the",
        "                          default; CycleGAN's G) or, CycleGAN only, the other (F)",
    ]
  lines += [
      "  --checkpoint=STEP       use checkpoint STEP (default: the newest)",
      "  --out=DIR               where to write (default: the workdir's step_<STEP>/;",
      "                          translations: step_<STEP>/translated_<DIRECTION>/)",
      "  --sample_seed=S         draw (or translate) with seed S, not the run's train.seed",
      "",
      "several hosts (TPU pods and SLURM need none of these):",
      "  --coordinator_address=HOST:PORT  --num_processes=N  --process_id=I",
      "",
      "exit codes: 0 done (or stopped by SIGTERM after a checkpoint), 1 NaN/Inf, "
      "2 a bad flag, config, dataset or workdir",
  ]
  return "\n".join(lines)


def _print(text: str) -> None:
  """Prints to stdout; a reader that stops early (``| head``) is no error."""
  try:
    print(text, flush=True)
  except BrokenPipeError:
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def asks_for_help(argv: Sequence[str]) -> bool:
  return any(arg in HELP_FLAGS for arg in argv[1:])


def script(name: str, doc: str | None, *, figures: Sequence[str] = (),
           translates: bool = False) -> None:
  """The command line of ``python experiments/<paper>.py``; the first
  statement of every experiment: ``cli.script(__name__, __doc__)``.

  Imported as a module (``name`` is not ``'__main__'``) it does nothing. Run
  as a script it answers ``--help`` at once (``figures``, the names of the
  experiment's ``FIGURES``, and ``translates``, whether it defines
  ``translators``, are given here because nothing heavy has been imported
  yet), or else imports the file as the module ``experiments.<paper>`` (so
  that a run records, and reloads, its experiment by name), runs :func:`main`
  with it and exits with its code.
  """
  if name != "__main__":
    return
  path = os.path.abspath(sys.modules["__main__"].__file__)
  if asks_for_help(sys.argv):
    _print(usage(path, doc or "", figures=figures, translates=translates))
    sys.exit(0)
  module_name = experiment_lib.module_name(path)
  try:
    module = importlib.import_module(module_name)
  except ModuleNotFoundError as e:
    if e.name is None or not module_name.startswith(e.name):
      raise
    sys.exit(_fail(f"{module_name} cannot be imported: install the repository "
                   "(pip install -e .) or run from its root with PYTHONPATH=."))
  if not os.path.samefile(module.__file__, path):
    sys.exit(_fail(f"{module_name} is imported from {module.__file__}, not from "
                   f"{path}: install the repository it belongs to (pip install -e .)"))
  sys.exit(main(module))


# ----------------------------------------------------------------- flags --

@dataclasses.dataclass
class Command:
  """What the command line asks for."""

  config: ml_collections.ConfigDict
  workdir: str
  dist: dict[str, Any]
  spec: str
  config_sources: list[str]
  checks: dict[str, config_lib.Check] = dataclasses.field(default_factory=dict)
  show_config: bool = False
  sample: int | None = None
  evaluate: bool = False
  draw: str | None = None
  export: bool = False
  checkpoint: int | None = None
  out: str | None = None
  sample_seed: int | None = None
  translate: str | None = None
  direction: str | None = None
  interpolate: int | None = None
  interpolation: str = "lerp"
  allow_config_change: bool = False
  start_over: bool = False

  @property
  def uses_run(self) -> bool:
    """Whether it uses a trained run instead of training."""
    return bool(self.sample or self.evaluate or self.draw or self.export
                or self.translate or self.interpolate)


def _import_file(path: str, name: str) -> types.ModuleType:
  module_spec = importlib.util.spec_from_file_location(name, path)
  module = importlib.util.module_from_spec(module_spec)
  module_spec.loader.exec_module(module)
  return module


def _load_config(spec: str) -> tuple[ml_collections.ConfigDict, list[str],
                                     dict[str, config_lib.Check]]:
  """Imports a config file ``path[:preset]`` and calls its get_config;
  returns the config, the files its comments may be read from and the
  checks its fields declare."""
  path, _, preset = spec.partition(":")
  if not os.path.isfile(path):
    raise config_lib.ConfigError("--config", f"no config file {path!r}")
  try:
    module = _import_file(path, "_gans_jax_config")
    config, checks = config_lib.declared_checks(
        lambda: module.get_config(preset or None) if preset else module.get_config())
  except Exception as e:  # the config file's own error, e.g. an unknown preset
    raise config_lib.ConfigError(f"--config={spec}", _one_line(e)) from None
  sources = [path] + [
      value.__file__ for value in vars(module).values()
      if isinstance(value, types.ModuleType) and getattr(value, "__file__", None)
      and value.__name__.split(".")[0] in ("experiments", "gans_jax")]
  return config, sources, checks


def _check_overrides(config: ml_collections.ConfigDict, argv: Sequence[str]) -> None:
  """Names the first ``--config.a.b=value`` whose field or value is wrong."""
  import difflib

  for arg in argv:
    if not arg.startswith("--config."):
      continue
    field, _, value = arg[len("--config."):].partition("=")
    node = config
    parts = field.split(".")
    for i, part in enumerate(parts):
      if not isinstance(node, ml_collections.ConfigDict) or part not in node:
        keys = list(node.keys()) if isinstance(node, ml_collections.ConfigDict) else []
        close = difflib.get_close_matches(part, keys, n=1)
        hint = f"; did you mean {'.'.join(parts[:i] + close)}?" if close else ""
        raise config_lib.ConfigError(f"config.{field}", f"no such config field{hint}")
      node = node[part]
    expected = type(node)
    if expected in (int, float):
      try:
        expected(value)
      except ValueError:
        raise config_lib.ConfigError(
            f"config.{field}",
            f"{value!r} is not a valid {expected.__name__}") from None


def _split_config_args(argv: Sequence[str], default_config: str
                       ) -> tuple[str, list[str], list[str]]:
  """``(spec, --config.* overrides, other arguments)``; ``--config PATH`` is
  read as ``--config=PATH``."""
  expects = (f"expects a config file, optionally with a preset: "
             f"--config={os.path.relpath(default_config)}[:PRESET] (--help lists "
             "the presets)")
  spec, overrides, rest = default_config, [], []
  args = list(argv)
  i = 0
  while i < len(args):
    arg = args[i]
    if arg == "--config":
      if i + 1 == len(args) or args[i + 1].startswith("-"):
        raise config_lib.ConfigError("--config", expects)
      spec, i = args[i + 1], i + 2
      continue
    if arg.startswith("--config="):
      spec = arg[len("--config="):]
      if not spec:
        raise config_lib.ConfigError("--config", expects)
    elif arg.startswith("--config."):
      overrides.append(arg)
    else:
      rest.append(arg)
    i += 1
  return spec, overrides, rest


def _define_flags(flag_values) -> None:
  from absl import flags
  define = dict(flag_values=flag_values)
  flags.DEFINE_string("workdir", None, "output directory; default runs/<config.name>",
                      **define)
  flags.DEFINE_string("coordinator_address", None,
                      "host:port of process 0 for a multi-host run", **define)
  flags.DEFINE_integer("num_processes", None, "processes in a multi-host run", **define)
  flags.DEFINE_integer("process_id", None, "this process's index", **define)
  flags.DEFINE_bool("show_config", False, "print the resolved config and exit",
                    **define)
  flags.DEFINE_bool("allow_config_change", False,
                    "continue a run with a config that trains differently", **define)
  flags.DEFINE_bool("start_over", False,
                    "move the workdir's run to DIR/previous/<n> and train afresh",
                    **define)
  flags.DEFINE_integer("sample", None, "draw N samples from a trained run",
                       lower_bound=1, **define)
  flags.DEFINE_bool("evaluate", False, "evaluate a trained run again", **define)
  flags.DEFINE_string("draw", None, "draw one of the experiment's figures again",
                      **define)
  flags.DEFINE_bool("export", False, "write the trained generator to generator.npz",
                    **define)
  flags.DEFINE_integer("interpolate", None,
                       "decode N latent paths of a trained run (grid PNG and GIF)",
                       lower_bound=1, **define)
  flags.DEFINE_enum("interpolation", None, ["lerp", "slerp"],
                    "the path of --interpolate (default lerp)", **define)
  flags.DEFINE_integer("checkpoint", None, "the checkpoint to use (default newest)",
                       lower_bound=0, **define)
  flags.DEFINE_string("out", None, "where to write (default WORKDIR/step_<STEP>)",
                      **define)
  flags.DEFINE_integer("sample_seed", None, "seed of the samples (default train.seed)",
                       **define)
  flags.DEFINE_string("translate", None,
                      "translate the images of this folder (pix2pix, CycleGAN)", **define)
  flags.DEFINE_enum("direction", None, ["AtoB", "BtoA"],
                    "the direction of --translate (default the run's data.direction)",
                    **define)


def parse(argv: Sequence[str], *, default_config: str) -> Command:
  """Parses ``argv`` into a :class:`Command`.

  Raises:
    config_lib.ConfigError: a flag, the config file, an override or the
      workdir of a trained run is wrong.
  """
  from absl import flags
  from ml_collections import config_flags
  from gans_jax.train import runs as runs_lib

  argv = list(argv)
  spec, overrides, rest = _split_config_args(argv[1:], default_config)
  options = flags.FlagValues()
  _define_flags(options)
  try:
    extra = options([argv[0], *rest])
  except Exception as e:  # absl raises several kinds
    raise config_lib.ConfigError("flags", f"{_one_line(e)}; --help lists them") from None
  if len(extra) > 1:
    raise config_lib.ConfigError("flags", f"unexpected arguments {extra[1:]}")
  command = Command(
      config=None, workdir=options.workdir, spec=spec, config_sources=[],
      dist=dict(coordinator_address=options.coordinator_address,
                num_processes=options.num_processes, process_id=options.process_id),
      show_config=options.show_config, sample=options.sample,
      evaluate=options.evaluate, draw=options.draw, export=options.export,
      checkpoint=options.checkpoint, out=options.out,
      sample_seed=options.sample_seed, translate=options.translate,
      direction=options.direction, interpolate=options.interpolate,
      interpolation=options.interpolation or "lerp",
      allow_config_change=options.allow_config_change, start_over=options.start_over)
  if command.uses_run and (command.allow_config_change or command.start_over):
    raise config_lib.ConfigError(
        "flags", "--allow_config_change and --start_over are for training, not "
        "with --sample, --evaluate, --draw, --export, --interpolate or --translate")
  if not command.uses_run:
    for name in ("checkpoint", "out", "sample_seed"):
      if getattr(command, name) is not None:
        raise config_lib.ConfigError(
            f"--{name}", "applies to --sample, --evaluate, --draw, --export, "
            "--interpolate and --translate")
  if command.direction is not None and not command.translate:
    raise config_lib.ConfigError("--direction", "applies to --translate")
  if options.interpolation is not None and not command.interpolate:
    raise config_lib.ConfigError("--interpolation", "applies to --interpolate")

  base, command.config_sources, command.checks = _load_config(spec)
  if os.path.abspath(spec.partition(":")[0]) != os.path.abspath(default_config):
    # A config file of one's own is held to the experiment's field checks too.
    command.checks = {**_load_config(default_config)[2], **command.checks}
  if command.uses_run:
    # The run's saved config is the source of truth; the spec only names the
    # default workdir.
    command.workdir = command.workdir or _default_workdir(base)
    for arg in overrides:
      field = arg[len("--config."):].partition("=")[0]
      if not (field.startswith("eval.") or field == "data.data_dir"):
        raise config_lib.ConfigError(
            f"config.{field}", f"a trained run is used with the config saved in "
            f"{command.workdir}; only eval.* and data.data_dir may be overridden")
    # The config that trained the checkpoint (the newest by default).
    steps = runs_lib.checkpoint_steps(command.workdir)
    step = command.checkpoint if command.checkpoint is not None else (
        steps[-1] if steps else None)
    saved = runs_lib.saved_config(command.workdir, step)
    if saved is None:
      raise config_lib.ConfigError(
          "--workdir", f"{command.workdir} holds no trained run (no config.json); "
          "give the --workdir of a run")
    base, define = saved, config_flags.DEFINE_config_dict
    args = dict(config=saved)
  else:
    define = config_flags.DEFINE_config_file
    args = dict(default=spec)
  _check_overrides(base, overrides)
  flag_values = flags.FlagValues()
  try:
    # The config flag reads its --config.* overrides from sys_argv when defined.
    define("config", **args, help_string="config file, optionally with :preset",
           flag_values=flag_values, lock_config=True,
           sys_argv=[argv[0], *overrides])
    flag_values([argv[0], *overrides])
    command.config = flag_values.config
  except Exception as e:  # absl and ml_collections raise many kinds
    raise config_lib.ConfigError("flags", _one_line(e)) from None
  command.workdir = command.workdir or _default_workdir(command.config)
  return command


def _default_workdir(config: ml_collections.ConfigDict) -> str:
  return os.path.join("runs", str(config.get("name", "run")).replace("/", "_"))


def show_config(command: Command) -> str:
  """The ``--show_config`` text: the config, a line per field with its comment."""
  path, _, preset = command.spec.partition(":")
  source = (f"the config saved in {command.workdir}" if command.uses_run
            else os.path.relpath(path) + (f":{preset}" if preset else ""))
  header = [f"# {source}", "# override a field with --config.FIELD=VALUE"]
  comments = config_lib.field_comments(command.config_sources)
  return "\n".join(header + [config_lib.format_config(command.config, comments)])


# --------------------------------------------------------- a trained run --

def use_run(experiment, command: Command) -> int:
  """Samples, draws, exports, translates with or evaluates a trained run;
  returns the exit code."""
  from gans_jax.data import DataError
  from gans_jax.eval import report
  from gans_jax.train import checkpoint as checkpoint_lib
  from gans_jax.train import keys
  from gans_jax.train import runs as runs_lib

  config, workdir = command.config, command.workdir
  figures = getattr(experiment, "FIGURES", {})
  if command.draw is not None and command.draw not in figures:
    return _fail(f"--draw={command.draw}: {runs_lib.experiment_name(experiment)} "
                 f"draws {', '.join(figures) or 'no figures'}")
  translators = None
  if command.translate:
    if not hasattr(experiment, "translators"):
      return _fail(f"--translate: only pix2pix and CycleGAN translate images, not "
                   f"{runs_lib.experiment_name(experiment)}")
    translators = experiment.translators(config)
    direction = command.direction or config.data.direction
    if direction not in translators:
      return _fail(f"--direction={direction}: this run translates only "
                   f"{', '.join(translators)} (its data.direction)")
  recorded = runs_lib.recorded_experiment(workdir)
  if recorded is not None and recorded != runs_lib.experiment_name(experiment):
    return _fail(f"{workdir} holds a run of {recorded}; use that experiment")
  try:
    step, state = runs_lib.restore(experiment, config, workdir, step=command.checkpoint)
    if (command.export or command.interpolate) and isinstance(state, dict):
      return _fail(f"{workdir} holds one run per {', '.join(state)}: "
                   f"{'export' if command.export else 'interpolate'} one of them, "
                   f"e.g. --workdir={os.path.join(workdir, next(iter(state)))}")
    generator = (runs_lib.generator(experiment, config, state, step=step)
                 if command.export or command.interpolate else None)
  except (runs_lib.RunError, checkpoint_lib.CheckpointError) as e:
    return _fail(_one_line(e))
  out = command.out or os.path.join(workdir, f"step_{step}")
  os.makedirs(out, exist_ok=True)
  seed = config.train.seed if command.sample_seed is None else command.sample_seed
  suffix = "" if command.sample_seed is None else f"_seed{seed}"
  if command.sample:
    samples = runs_lib.sample(experiment, config, state, command.sample,
                              key=keys.make_key(seed, "sample"))
    decode = getattr(experiment, "decode", None)
    paths = report.write_samples(
        samples, out, f"samples_{command.sample}{suffix}",
        f"{config.get('name', '')}, step {step}",
        decode=None if decode is None else functools.partial(decode, config))
    for path in paths:
      if path.endswith(".txt"):  # token sequences: show the first ones
        with open(path, encoding="utf-8") as f:
          print("".join(f.readlines()[:SHOWN_SEQUENCES]), end="")
    print(f"{command.sample} samples of checkpoint {step}: {', '.join(paths)}")
  if command.draw:
    path = figures[command.draw](config, state, out,
                                 key=keys.make_key(seed, command.draw))
    print(f"{command.draw} of checkpoint {step}: {path}")
  if command.interpolate:
    code = _interpolate(experiment, command, config, state, generator, out,
                        key=keys.make_key(seed, "interpolate"),
                        stem=f"interpolation_{command.interpolate}{suffix}", step=step)
    if code:
      return code
  if command.export:
    path = os.path.join(out, "generator.npz")
    generator.save(path)
    print(f"generator of checkpoint {step}: {path} "
          "(gans_jax.nn.Generator.load reads it)")
  if translators is not None:
    translated = command.out or os.path.join(out, f"translated_{direction}")
    try:
      paths = report.translate_folder(
          translators[direction], state, command.translate, translated,
          image_size=config.data.image_size, channels=config.data.channels,
          key=keys.make_key(seed, "translate"))
    except (DataError, runs_lib.RunError) as e:
      return _fail(_one_line(e))
    print(f"{len(paths)} images of {command.translate} translated {direction} by "
          f"checkpoint {step}: {translated} (index.html shows them)")
  if command.evaluate:
    experiment.evaluate(config, state, out, step=step)
  return 0


INTERPOLATION_STEPS = 10  # frames of each --interpolate path, ends included


def _interpolate(experiment, command: Command, config, state, generator, out: str,
                 *, key, stem: str, step: int) -> int:
  """``--interpolate=N``: the experiment's own ``interpolate`` hook where it
  has one (the VAE: between encoder means of test images), else the generic
  path between latents drawn as its generator spec's ``inputs`` say
  (:func:`gans_jax.eval.report.interpolate_generator`)."""
  import numpy as np
  from gans_jax.eval import report
  from gans_jax.train import runs as runs_lib

  method, pairs = command.interpolation, command.interpolate
  labels = None
  if hasattr(experiment, "interpolate"):
    codes, frames = experiment.interpolate(config, state, key, pairs=pairs,
                                           steps=INTERPOLATION_STEPS, method=method)
  elif "latent_dim" not in generator.spec["inputs"]:
    return _fail(f"--interpolate: the generator of "
                 f"{runs_lib.experiment_name(experiment)} takes no latent codes")
  else:
    codes, labels, frames = report.interpolate_generator(
        generator, key, pairs=pairs, steps=INTERPOLATION_STEPS, method=method)
  stem = f"{stem}_{method}"
  paths = report.write_interpolation(np.asarray(frames), out, stem, codes=codes,
                                     labels=labels)
  print(f"{pairs} {method} interpolations of checkpoint {step}: {', '.join(paths)}")
  return 0


# ------------------------------------------------------------------ main --

def main(experiment: experiment_lib.Experiment, argv: Sequence[str] | None = None,
         *, train: TrainFn | None = None) -> int:
  """Runs an experiment module from the command line; returns the exit code.

  ``experiment`` meets the contract of :mod:`gans_jax.train.experiment`; its
  config file is ``experiments/configs/<paper>.py``. ``train`` replaces its
  ``train_and_evaluate`` (tests).
  """
  argv = sys.argv if argv is None else argv
  experiment_lib.check(experiment)
  if asks_for_help(argv):
    _print(usage(experiment.__file__, experiment.__doc__,
                 figures=tuple(getattr(experiment, "FIGURES", {})),
                 translates=hasattr(experiment, "translators")))
    return 0
  default_config = experiment_lib.config_file(experiment.__file__)
  train = train or experiment.train_and_evaluate
  from absl import logging as absl_logging
  # Libraries (TFDS, Orbax) log routine notes through absl; keep errors only.
  absl_logging.set_verbosity(absl_logging.ERROR)
  try:
    command = parse(argv, default_config=default_config)
  except config_lib.ConfigError as e:
    return _fail(str(e))
  if command.show_config:
    _print(show_config(command))
    return 0
  config, workdir = command.config, command.workdir

  from gans_jax.train import distributed
  from gans_jax.train import loop
  from gans_jax.train import rerun
  from gans_jax.train import runs as runs_lib

  enable_compilation_cache()
  distributed.initialize(**command.dist)
  if command.uses_run:
    return use_run(experiment, command)
  try:
    config_lib.check_fields(config, command.checks)
    experiment.validate(config)
    config_lib.to_json(config)  # a config that config.json cannot hold exactly
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")
  try:
    notes = rerun.check(experiment, config, workdir,
                        allow_change=command.allow_config_change,
                        start_again=command.start_over)
  except rerun.ConfigChangeError as e:
    return _fail(str(e))
  for note in notes:
    print(note, file=sys.stderr)
  steps = runs_lib.checkpoint_steps(workdir)
  runs_lib.record_command(workdir, experiment, list(argv),
                          step=steps[-1] if steps else 0)

  from gans_jax.data import DataError
  from gans_jax.train import preemption
  from gans_jax.train.checkpoint import CheckpointError
  try:
    with preemption.guard():  # SIGTERM: exit 0 within its grace period
      train(config, workdir)
  except (DataError, CheckpointError) as e:
    return _fail(str(e))
  except config_lib.ConfigError as e:
    return _fail(f"config field {e}")
  except loop.NonFiniteError as e:
    return _fail(str(e), code=1)
  except loop.Interrupted as e:
    print(str(e), file=sys.stderr)
    distributed.finish()
    return 0
  except loop.HostLost as e:
    _fail(str(e), code=1)
    # JAX's shutdown would wait for the lost process, then abort.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)  # pylint: disable=protected-access
  distributed.finish()  # process 0 may still be writing results
  return 0
