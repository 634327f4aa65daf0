"""Composable sparse fine-tuning, LT-SFT (Ansell et al., ACL 2022, "Composable Sparse
Fine-Tuning for Cross-Lingual Transfer"; the authors' code: cambridgeltl/composable-sft,
src/sft/lt_sft.py, trainer.py, sft.py). A lottery ticket of K entries per task or language:

1. full fine-tuning from theta_0 (the task loss, or MLM on a language's text): theta_1;
2. the K entries with the largest |theta_1 - theta_0|, one global ranking over the eligible
   parameters (ties at the threshold kept, as the authors' `abs_delta >= thresh`);
3. every parameter reset to theta_0 (the task head to its initialisation), a fresh optimizer,
   and the same training again with only those K entries (and the dense head) free: theta_2;
4. the SFT: phi = theta_2 - theta_0 on the eligible parameters, stored sparse (flat indices and
   values per tensor), plus the dense head ("abs" in the authors' files).
Composition is addition: theta = theta_0 + phi_language + phi_task (sft.py `apply`).

Eligible: the encoder (embeddings included), not the task or MLM head, and not the norms,
which stay frozen in both phases (the authors' scripts pass --freeze_layer_norm).
Our readings: updates outside the mask are zeroed after the optimizer (the authors zero the
gradients; with decoupled weight decay only ours keeps those entries exactly at theta_0); the
authors' optional L1 pull toward theta_0 (used for language SFTs) is not implemented.
"""
import io

import jax
import numpy as np

from mlm_jax import checkpointing, fs
from mlm_jax.config_lib import ConfigError

HEADS = ('head', 'mlm_head', 'generator_head', 'lm_head')  # subtrees trained dense


def _names(path: str) -> list[str]:
  return path.split('/')


def is_norm(path: str) -> bool:
  return any('norm' in n.lower() or n.lower().startswith('ln') for n in _names(path))


def is_head(path: str) -> bool:
  return any(n in HEADS for n in _names(path))


def eligible(path: str) -> bool:
  """Entries LT-SFT ranks and stores sparse: encoder parameters other than norms."""
  return not is_norm(path) and not is_head(path)


def phase1_mask(params) -> dict:
  """{path: bool array}: everything trains but the norms."""
  return {p: np.full(np.shape(x), not is_norm(p)) for p, x in checkpointing.flat_paths(params)}


def select(theta0, theta1, density: float) -> dict:
  """{path: bool array}: the top-DENSITY share of the eligible entries by |theta1 - theta0|
  (one global ranking), every head entry, no norm entry."""
  before = dict(checkpointing.flat_paths(theta0))
  deltas = {p: np.abs(np.asarray(x, np.float32) - np.asarray(before[p], np.float32))
            for p, x in checkpointing.flat_paths(theta1) if eligible(p)}
  total = sum(d.size for d in deltas.values())
  k = int(round(density * total))
  if not 0 < k <= total:
    raise ConfigError(f'density {density} keeps {k} of {total} eligible entries; choose a '
                      'density that keeps at least one')
  flat = np.concatenate([d.ravel() for d in deltas.values()])
  threshold = np.partition(flat, total - k)[total - k]
  out = {}
  for p, x in checkpointing.flat_paths(theta1):
    if p in deltas:
      out[p] = deltas[p] >= threshold
    else:
      out[p] = np.full(np.shape(x), is_head(p) and not is_norm(p))
  return out


def save_mask(mask: dict, path: str) -> None:
  buf = io.BytesIO()
  np.savez_compressed(buf, **{k.replace('/', '|'): v for k, v in mask.items()})
  with fs.open(path, 'wb') as f:
    f.write(buf.getvalue())


def load_mask(path: str, params, key: str = 'train.update_mask') -> dict:
  """The mask file as a tree shaped like PARAMS (numpy bools); a path or shape that differs is
  a one-line error naming KEY."""
  if not fs.exists(path):
    raise ConfigError(f'{key}={path}: no such file')
  with fs.open(path, 'rb') as f:
    with np.load(io.BytesIO(f.read())) as z:
      stored = {k.replace('|', '/'): z[k] for k in z.files}
  flat = checkpointing.flat_paths(params)
  for p, x in flat:
    if p not in stored or stored[p].shape != tuple(np.shape(x)):
      raise ConfigError(f'{key}={path}: tensor {p} is '
                        f'{stored[p].shape if p in stored else "missing"} there, '
                        f'{tuple(np.shape(x))} in this run')
  leaves = [stored[p].astype(bool) for p, _ in flat]
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(
      params, is_leaf=lambda x: hasattr(x, 'shape') and not isinstance(x, dict)), leaves)


def step_args(path: str, abstract_params, params_shardings, replicated):
  """(args, in_shardings, abstract args) for train_step's (frozen, update_mask) positions, in
  both loops: the mask file placed like the parameters, no frozen model beside it."""
  mask = load_mask(path, abstract_params)
  abstract = jax.tree.map(lambda x, s: jax.ShapeDtypeStruct(x.shape, bool, sharding=s), mask,
                          params_shardings)
  return ((None, jax.device_put(mask, params_shardings)), (replicated, params_shardings),
          (None, abstract))


def difference(theta0, theta2, eps: float = 1e-7) -> dict:
  """The SFT: {'diff': {path: (flat indices, values)}, 'abs': {path: dense head array}}."""
  before = dict(checkpointing.flat_paths(theta0))
  diff, dense = {}, {}
  for p, x in checkpointing.flat_paths(theta2):
    x = np.asarray(x, np.float32)
    if eligible(p):
      d = (x - np.asarray(before[p], np.float32)).ravel()
      idx = np.flatnonzero(np.abs(d) > eps)
      diff[p] = (idx.astype(np.int64), d[idx], x.shape)
    elif is_head(p):
      dense[p] = x
  return {'diff': diff, 'abs': dense}


def save(sft: dict, path: str) -> None:
  arrays = {}
  for p, (idx, values, shape) in sft['diff'].items():
    arrays[f'diff|{p.replace("/", "|")}|indices'] = idx
    arrays[f'diff|{p.replace("/", "|")}|values'] = values
    arrays[f'diff|{p.replace("/", "|")}|shape'] = np.asarray(shape, np.int64)
  for p, x in sft['abs'].items():
    arrays[f'abs|{p.replace("/", "|")}'] = x
  buf = io.BytesIO()
  np.savez_compressed(buf, **arrays)
  with fs.open(path, 'wb') as f:
    f.write(buf.getvalue())


def load(path: str, key: str = 'sft') -> dict:
  if not fs.exists(path):
    raise ConfigError(f'{key}={path}: no such file')
  with fs.open(path, 'rb') as f:
    with np.load(io.BytesIO(f.read())) as z:
      arrays = {k: z[k] for k in z.files}
  sft = {'diff': {}, 'abs': {}}
  for k, v in arrays.items():
    kind, *mid, last = k.split('|')
    if kind == 'diff' and last == 'indices':
      p = '/'.join(mid)
      sft['diff'][p] = (v, arrays[k[:-len('indices')] + 'values'],
                        tuple(arrays[k[:-len('indices')] + 'shape']))
    elif kind == 'abs':
      sft['abs']['/'.join(mid + [last])] = v
  return sft


def nonzero(sft: dict) -> int:
  return sum(len(idx) for idx, _, _ in sft['diff'].values())


def compose(params, sfts: list[dict], rename=lambda p: p, with_abs: bool = True):
  """PARAMS + the sum of the SFTs' sparse differences (the authors' `apply`); each SFT's dense
  head values replace PARAMS' when WITH_ABS. RENAME maps an SFT's paths onto PARAMS' (a
  language SFT of the pre-training tree onto a fine-tuning tree's backbone); a path it maps to
  None is skipped (heads of another tree)."""
  flat = {p: np.array(x, np.float32, copy=True) for p, x in checkpointing.flat_paths(params)}
  dtypes = {p: np.asarray(x).dtype for p, x in checkpointing.flat_paths(params)}
  for sft in sfts:
    for p, (idx, values, shape) in sft['diff'].items():
      target = rename(p)
      if target is None:
        continue
      if target not in flat or flat[target].shape != tuple(shape):
        raise ConfigError(f'SFT tensor {p} {tuple(shape)} has no match in the model '
                          f'({target}: {flat[target].shape if target in flat else "missing"})')
      np.add.at(flat[target].reshape(-1), idx, values)
    if with_abs:
      for p, x in sft['abs'].items():
        if rename(p) in flat:
          flat[rename(p)] = np.asarray(x, np.float32)
  leaves = [flat[p].astype(dtypes[p]) for p, _ in checkpointing.flat_paths(params)]
  return jax.tree_util.tree_unflatten(jax.tree_util.tree_structure(
      params, is_leaf=lambda x: hasattr(x, 'shape') and not isinstance(x, dict)), leaves)
