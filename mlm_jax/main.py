"""Entry point: python -m mlm_jax.main --config=configs/NAME.py[:variant] --workdir=DIR."""
import os
import sys

if __name__ == '__main__':  # first, so the imports below are not paid twice
  from mlm_jax import host_allocator
  host_allocator.maybe_reexec()

from absl import app, flags, logging  # noqa: E402
from ml_collections import config_flags  # noqa: E402

from mlm_jax import config_lib, cpu_schedule, quiet  # noqa: E402

quiet.import_tensorflow()  # before anything logs from C++: errors stay one line

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file (path[:variant]).',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Directory for checkpoints, metrics, vocabulary.')
_COORDINATOR = flags.DEFINE_string(
    'coordinator_address', None, 'host:port of process 0, for multi-process runs where JAX '
    'cannot detect the cluster itself (see --distributed).')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Processes in the job.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process, 0..num_processes-1.')
_DISTRIBUTED = flags.DEFINE_enum('distributed', 'auto', ['auto', 'on', 'off'],
                                 'on: JAX detects the cluster (Cloud TPU VM pod slices, GKE, '
                                 'SLURM, Open MPI) or takes the flags below; auto: only when '
                                 '--coordinator_address, SLURM/MPI tasks or GKE TPU hosts say so.')
_DRY_RUN = flags.DEFINE_bool('dry_run', False, 'Check the config, the workdir, the vocabulary and '
                             'one batch of data, then stop; the workdir is left as it was found.')
flags.mark_flags_as_required(['config', 'workdir'])


def _cluster_hint() -> bool:
  """A multi-process launcher announced itself: SLURM with several tasks, Open MPI, or a GKE
  TPU pod (several TPU_WORKER_HOSTNAMES). A Cloud TPU VM pod slice is found through its
  metadata server, which is only asked with --distributed=on (launch/tpu_vm.sh passes it):
  querying it elsewhere would stall start-up on every laptop and Colab."""
  return (int(os.environ.get('SLURM_NTASKS', '1')) > 1 or 'OMPI_MCA_orte_hnp_uri' in os.environ
          or ',' in os.environ.get('TPU_WORKER_HOSTNAMES', ''))


def init_distributed() -> None:
  """jax.distributed.initialize before any other JAX call, when this is a multi-process job:
  --coordinator_address/--num_processes/--process_id where given, JAX's cluster detection for
  the rest. It also starts JAX's preemption service (mlm_jax/preemption.py)."""
  import jax  # pylint: disable=g-import-not-at-top
  explicit = _COORDINATOR.value is not None
  if _DISTRIBUTED.value == 'off' or (_DISTRIBUTED.value == 'auto' and not explicit
                                     and not _cluster_hint()):
    return
  jax.config.update('jax_cpu_collectives_implementation', 'gloo')  # CPU devices only
  try:
    jax.distributed.initialize(coordinator_address=_COORDINATOR.value,
                               num_processes=_NUM_PROCESSES.value, process_id=_PROCESS_ID.value)
  except ValueError as e:  # JAX found no cluster and no flags named one
    _fail(f'--distributed={_DISTRIBUTED.value}: no cluster detected and no '
          f'--coordinator_address given ({e})')


def _fail(message: str) -> None:
  print(f'error: {message}', file=sys.stderr)
  sys.exit(2)


def _one_line(e: BaseException) -> str:
  text = e.args[0] if len(e.args) == 1 and isinstance(e.args[0], str) else str(e)
  text = text.replace('\\n', '\n').replace("\\'", "'")
  if 'Traceback' in text:  # config_flags wraps errors raised inside get_config
    text = [line for line in text.splitlines() if line.strip()][-1]
    text = text.split(': ', 1)[-1] if text.startswith(('mlm_jax.', 'ValueError')) else text
  return ' '.join(text.split()).replace("'", '').strip('"')


def parse_flags(argv):
  """absl's parser, but a bad override or config file is one line, not a traceback."""
  try:
    remaining = flags.FLAGS(argv)
    _ = _CONFIG.value.seed  # loads the config file now
    return remaining
  except flags.Error as e:
    _fail(_one_line(e))
  except (AttributeError, KeyError, TypeError, ValueError, OSError, ImportError,
          config_lib.ConfigError) as e:
    message = _one_line(e)
    config_args = [a for a in argv[1:] if a.startswith('--config')]
    named = [a for a in config_args if a.split('=')[0].split('.')[-1] in message]
    arg = (named or config_args or [''])[0]
    _fail(f'{arg}: {message}' if arg else message)


def config():
  """The parsed --config (tools that share these flags read it here)."""
  return _CONFIG.value


def workdir() -> str:
  return _WORKDIR.value


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)  # Orbax logs every save at INFO
  try:  # before any JAX call: XLA reads its flags once per process
    cpu_schedule.apply(_CONFIG.value.train.cpu_schedule)
  except config_lib.ConfigError as e:
    _fail(str(e))
  init_distributed()
  import jax  # pylint: disable=g-import-not-at-top
  from mlm_jax import train, validation  # pylint: disable=g-import-not-at-top
  from mlm_jax import workdir as workdir_lib  # pylint: disable=g-import-not-at-top
  try:
    validation.validate(_CONFIG.value, jax.device_count())
    workdir_lib.check(_WORKDIR.value, shared=jax.process_count() > 1)
    if _CONFIG.value.finetune.task:  # a labelled task: fine-tune and evaluate
      from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
      runner.run(_CONFIG.value, _WORKDIR.value, dry_run=_DRY_RUN.value)
    else:
      train.run(_CONFIG.value, _WORKDIR.value, dry_run=_DRY_RUN.value)
  except (config_lib.ConfigError, config_lib.RunError) as e:
    _fail(str(e))


def cli(argv: list[str]) -> None:
  """The command line in-process (tests): absl's flags are reset first, so earlier calls
  leave nothing behind; exits through SystemExit on errors as the command does."""
  flags.FLAGS.unparse_flags()
  for name in [n for n in flags.FLAGS if n.startswith('config.')]:  # a previous call's overrides
    delattr(flags.FLAGS, name)
  saved, sys.argv = sys.argv, ['mlm_jax.main', *argv]  # config_flags reads overrides there
  saved_xla_flags = os.environ.get('XLA_FLAGS')  # main() sets train.cpu_schedule's flag there
  try:
    main(parse_flags(sys.argv))
  finally:
    sys.argv = saved
    if saved_xla_flags is None:
      os.environ.pop('XLA_FLAGS', None)
    else:
      os.environ['XLA_FLAGS'] = saved_xla_flags


if __name__ == '__main__':
  app.run(main, flags_parser=parse_flags)
