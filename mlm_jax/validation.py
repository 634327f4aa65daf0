"""Every check that needs neither data nor compilation, before anything is written. Each
package validates its own section; this module only runs them in order."""
import importlib.util
import os

import jax

from mlm_jax import config_lib, cpu_schedule, fs, models, objectives, optim, sharding
from mlm_jax.config_lib import require
from mlm_jax.data import checks as data_checks
from mlm_jax.data import taggers as data_taggers
from mlm_jax.models import splash



def validate(config, num_devices: int) -> None:
  """One-line ConfigError naming the first key at fault."""
  pre = config.init_from.workdir
  require(not (pre and config.init_from.hf_dir),
          'init_from.workdir and init_from.hf_dir are exclusive')
  require(not pre or fs.isfile(os.path.join(pre, config_lib.RUN_CONFIG)),
          f'init_from.workdir={pre}: no {config_lib.RUN_CONFIG} there (not an mlm_jax run)')
  models.validate(config.model)
  require(config.model.attention_impl != 'splash' or config.data.seq_len % splash.BLOCK == 0,
          f'model.attention_impl=splash needs rows of a multiple of {splash.BLOCK} tokens, not '
          f'data.seq_len={config.data.seq_len}')
  # The data section first: the objective's checks take data.seq_len as sound.
  data_checks.validate(config.data, config.model.max_positions, config.model.vocab_size,
                       config.init_from.hf_dir)
  objectives.validate(config.objective, config.model, config.data.seq_len)
  optim.validate(config.train)
  tagger, scheme = config.data.tagger, config.objective.masking
  require(not tagger or tagger in data_taggers.NAMES,
          f'data.tagger={tagger!r} must be one of {list(data_taggers.NAMES)} (or empty)')
  require(bool(tagger) == (scheme == 'tagged'),
          f'objective.masking={scheme!r} with data.tagger={tagger!r}: tagged masking and a '
          'tagger go together (the tagger marks the units tagged masking takes first)')
  e, t = config.eval, config.train
  require(not t.get('wandb_project') or importlib.util.find_spec('wandb') is not None,
          f'train.wandb_project={t.get("wandb_project")!r}: wandb is not installed '
          '(pip install wandb), or leave the key empty')
  require(e.steps > 0 or jax.process_count() == 1,
           'eval.steps must be positive in a multi-process run (hosts run equal eval steps)')
  require(e.every_steps >= 0, f'eval.every_steps={e.every_steps} must be >= 0')
  require(e.early_every_steps >= 0 and e.early_until_step >= 0,
          f'eval.early_every_steps={e.early_every_steps} and eval.early_until_step='
          f'{e.early_until_step} must be >= 0')
  if e.extra_sets:
    data_checks.parse_eval_sets(e.extra_sets)
  require(config.checkpoint.every_steps > 0,
           f'checkpoint.every_steps={config.checkpoint.every_steps} must be positive')
  require(config.checkpoint.keep > 0, f'checkpoint.keep={config.checkpoint.keep} must be positive')
  mesh_shape = sharding.mesh_shape(config.mesh, num_devices)
  dp = mesh_shape[0] * mesh_shape[1]
  cpu_schedule.check(t.cpu_schedule)
  micro = t.batch_size // t.micro_batches
  require(micro % dp == 0,
           f'train.batch_size={t.batch_size} / train.micro_batches={t.micro_batches} = {micro} '
           f'is not divisible by the data-parallel size {dp} (mesh.data x mesh.fsdp)')
  require(e.batch_size % dp == 0,
           f'eval.batch_size={e.batch_size} is not divisible by the data-parallel size {dp}')
