"""LT-SFT end to end (mlm_jax/sparse_ft.py has the method): two runs of the same job in
WORKDIR/full and WORKDIR/sparse, the mask between them, the SFT after them. The job is the
config's own: a fine-tuning run (a task SFT) or continued MLM pre-training from
init_from.workdir (a language SFT). Each phase is an ordinary workdir, so an interrupted
procedure resumes by running it again.

Our reading: the norms train in the full phase (the authors freeze them in both phases); they
are reset and frozen in the sparse phase, so no SFT holds them either way."""
import copy
import os

import jax
import numpy as np

from mlm_jax import checkpointing, config_lib, fs, init_from, sparse_ft
from mlm_jax.config_lib import ConfigError

MASK, SFT = 'mask.npz', 'sft.npz'


def _run_job(config, workdir: str) -> dict:
  if config.finetune.task:
    from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
    return runner.run(config, workdir)
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  return train.run(config, workdir)


def _host(tree):
  return jax.tree.map(np.asarray, jax.device_get(tree))


def thetas(phase_dir: str) -> tuple[dict, dict]:
  """(theta_0, the run's latest parameters) of a phase workdir: theta_0 is its starting point
  (the pre-trained encoder; the task head as trained, since heads are not ranked)."""
  config = config_lib.load_run_config(phase_dir)
  if config.finetune.task:
    from mlm_jax.finetune import runner  # pylint: disable=g-import-not-at-top
    cfg, _, params, _ = runner.restore_finetuned(phase_dir)
    params = _host(params)
    _, _, load = runner.resolve_init(copy.deepcopy(cfg), cfg.finetune.method == 'generative')
    if load is None or not cfg.init_from.weights:
      raise ConfigError('LT-SFT needs a pre-trained encoder (init_from.workdir or hf_dir)')
    theta0 = load(params)
    if cfg.finetune.init_token_type_1_from_0:
      theta0 = runner.type_1_from_0(theta0)
    return theta0, params
  params, _ = checkpointing.restore_params(config, phase_dir)
  theta0, _ = init_from.load_params(config, _host(params))
  return theta0, _host(params)


def run(config, workdir: str, density: float) -> dict:
  """Both phases, the mask and the SFT; returns counts and each phase's final metrics."""
  if not 0 < density < 1:
    raise ConfigError(f'--density={density} must be in (0, 1)')
  if not config.finetune.task and not config.init_from.workdir:
    raise ConfigError('a language SFT continues pre-training: set init_from.workdir')
  if config.train.update_mask:
    raise ConfigError('train.update_mask is set by the LT-SFT procedure itself; leave it empty')
  fs.makedirs(workdir)
  full_dir, sparse_dir = os.path.join(workdir, 'full'), os.path.join(workdir, 'sparse')
  full = _run_job(copy.deepcopy(config), full_dir)
  theta0, theta1 = thetas(full_dir)
  mask = sparse_ft.select(theta0, theta1, density)
  sparse_ft.save_mask(mask, os.path.join(workdir, MASK))
  cfg2 = copy.deepcopy(config)
  cfg2.train.update_mask = os.path.join(workdir, MASK)
  sparse = _run_job(cfg2, sparse_dir)
  theta0, theta2 = thetas(sparse_dir)
  sft = sparse_ft.difference(theta0, theta2)
  sparse_ft.save(sft, os.path.join(workdir, SFT))
  eligible = sum(int(np.size(x)) for p, x in checkpointing.flat_paths(theta0)
                 if sparse_ft.eligible(p))
  selected = sum(int(m.sum()) for p, m in mask.items() if sparse_ft.eligible(p))
  return {'eligible': eligible, 'selected': selected, 'stored': sparse_ft.nonzero(sft),
          'full': full, 'sparse': sparse}


def language_diff_on(ft_config, lang_dir: str) -> dict:
  """A language SFT (LT-SFT workdir LANG_DIR) as a dense difference of the fine-tuning tree's
  backbone: its pre-training-tree entries mapped by the family's encoder_params."""
  from mlm_jax.finetune import encoders  # pylint: disable=g-import-not-at-top
  full = os.path.join(lang_dir, 'full')
  pre_cfg = config_lib.load_run_config(full)
  if pre_cfg.finetune.task:
    raise ConfigError(f'{lang_dir}: a task SFT; --add takes language SFTs (MLM runs)')
  zeros, _ = checkpointing.restore_params(pre_cfg, full)
  zeros = jax.tree.map(lambda x: np.zeros(np.shape(x), np.float32), _host(zeros))
  diff = sparse_ft.compose(zeros, [sparse_ft.load(os.path.join(lang_dir, SFT))], with_abs=False)
  return encoders.encoder_params(ft_config.model, diff, ft_config.finetune.method == 'generative',
                                 f'{lang_dir}')


def compose_backbone(ft_config, params: dict, lang_dirs: list[str]) -> dict:
  """PARAMS (a task SFT's fine-tuned tree: theta_0 + phi_task, its head) plus each language
  SFT, added to the backbone: theta_0 + phi_task + sum phi_language."""
  backbone = params['backbone']
  for lang_dir in lang_dirs:
    backbone = jax.tree.map(lambda a, d: (np.asarray(a, np.float32) + d).astype(np.asarray(a).dtype),
                            backbone, language_diff_on(ft_config, lang_dir))
  return {**params, 'backbone': backbone}
