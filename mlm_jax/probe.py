"""A masked-token probe on a frozen encoder: the same yardstick for every pre-training objective.

Each objective leaves an encoder for downstream use (its model family's `encode`: the BERT
encoder, ELECTRA's discriminator, the token detector's encoder). The probe freezes it, puts a fresh
linear MLM head on its hidden states (LayerNorm + Dense to the vocabulary), trains only the head
with Adam to predict [MASK]ed tokens on train-split batches, and reports held-out accuracy on the
validation split with fixed masks. No labelled data is involved, and every encoder gets the same
probe budget, masks and batches.
"""
import dataclasses
import itertools
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, models
from mlm_jax.data import pipeline
from mlm_jax.objectives import masking

@dataclasses.dataclass(frozen=True)
class ProbeSpec:
  steps: int = 300  # Adam steps on the head
  batch_size: int = 32  # rows per step (and per eval batch)
  learning_rate: float = 3e-3
  eval_batches: int = 0  # validation batches in all; 0: every batch of every pass
  eval_passes: int = 3  # passes over the validation split, each with its own fixed masks
  mask_rate: float = 0.15
  max_predictions: int = 0  # 0: what a full row needs at mask_rate
  seed: int = 0  # masks and batch order: the same for every encoder


def encoder_fn(model_cfg) -> Callable[..., jax.Array]:
  """encode(params, input_ids, segment_ids, positions) -> hidden (B, L, D) of the family's
  downstream encoder (models/family.py: the same entry point fine-tuning and export use)."""
  encode = models.encode_fn(models.family(model_cfg), model_cfg)

  def apply(params, input_ids_BL, segment_ids_BL, positions_BL):
    return encode(params, {'input_ids': input_ids_BL, 'segment_ids': segment_ids_BL,
                           'positions': positions_BL})

  return apply


class ProbeHead(nn.Module):
  """LayerNorm + Dense(vocab) on hidden states gathered at the masked positions."""
  vocab_size: int

  @nn.compact
  def __call__(self, h_BPD):
    h_BPD = nn.LayerNorm(epsilon=1e-12)(h_BPD.astype(jnp.float32))
    return nn.Dense(self.vocab_size)(h_BPD)


def probe_masking(spec: ProbeSpec) -> masking.MaskingSpec:
  """Every chosen token becomes [MASK]: the head must recover it from context alone."""
  return masking.MaskingSpec(spec.mask_rate, spec.max_predictions, mask_token_fraction=1.0,
                             random_token_fraction=0.0)


def _masked_features(encode, enc_params, batch, rng, tokens, mspec):
  m = masking.mask_batch(rng, batch['input_ids'], batch['segment_ids'], tokens, mspec)
  hidden_BLD = jax.lax.stop_gradient(
      encode(enc_params, m['input_ids'], batch['segment_ids'], batch['positions']))
  h_BPD = jnp.take_along_axis(hidden_BLD, m['masked_positions'][..., None], axis=1)
  return h_BPD, m['masked_ids'], m['masked_weights']


def _head_loss(head, head_params, h_BPD, targets_BP, weights_BP):
  logits_BPV = head.apply({'params': head_params}, h_BPD)
  xent_BP = optax.softmax_cross_entropy_with_integer_labels(logits_BPV, targets_BP)
  total = weights_BP.sum()
  correct = ((logits_BPV.argmax(-1) == targets_BP) * weights_BP).sum()
  return (xent_BP * weights_BP).sum() / jnp.maximum(total, 1.0), (correct, total)


def train_head(encode, enc_params, batches, tokens: masking.SpecialTokens, spec: ProbeSpec):
  """Trains a fresh ProbeHead for spec.steps on BATCHES (an iterator of numpy dicts); the
  encoder's parameters never change. Returns (head_params, final training loss)."""
  head = ProbeHead(tokens.vocab_size)
  mspec = probe_masking(spec)
  rng = jax.random.key(spec.seed)
  init_rng, mask_rng = jax.random.split(rng)
  width = jax.eval_shape(encode, enc_params, *(jnp.zeros((1, 2), jnp.int32),) * 3).shape[-1]
  head_params = head.init(init_rng, jnp.zeros((1, 1, width)))['params']
  tx = optax.adam(spec.learning_rate)
  opt_state = tx.init(head_params)

  @jax.jit
  def step(head_params, opt_state, enc_params, batch, i):
    h_BPD, targets_BP, weights_BP = _masked_features(
        encode, enc_params, batch, jax.random.fold_in(mask_rng, i), tokens, mspec)
    (loss, _), grads = jax.value_and_grad(_head_loss, argnums=1, has_aux=True)(
        head, head_params, h_BPD, targets_BP, weights_BP)
    updates, opt_state = tx.update(grads, opt_state, head_params)
    return optax.apply_updates(head_params, updates), opt_state, loss

  loss = jnp.nan
  for i, batch in zip(range(spec.steps), batches):
    head_params, opt_state, loss = step(head_params, opt_state, enc_params, batch, i)
  return head_params, float(loss)


def evaluate_head(encode, enc_params, head_params, batches, tokens: masking.SpecialTokens,
                  spec: ProbeSpec) -> dict[str, float]:
  """Held-out masked-token accuracy with fixed masks (batch i: fold_in(seed + 1, i)), and the
  most-frequent-target baseline on the same positions. BATCHES is an iterator."""
  head = ProbeHead(tokens.vocab_size)
  mspec = probe_masking(spec)
  eval_rng = jax.random.key(spec.seed + 1)

  @jax.jit
  def step(head_params, enc_params, batch, i):
    h_BPD, targets_BP, weights_BP = _masked_features(
        encode, enc_params, batch, jax.random.fold_in(eval_rng, i), tokens, mspec)
    loss, (correct, total) = _head_loss(head, head_params, h_BPD, targets_BP, weights_BP)
    counts_V = jnp.zeros(tokens.vocab_size).at[targets_BP.reshape(-1)].add(weights_BP.reshape(-1))
    return loss * total, correct, total, counts_V

  sums = None
  for i in itertools.count():
    if spec.eval_batches and i >= spec.eval_batches:
      break
    batch = next(batches, None)
    if batch is None:
      break
    out = step(head_params, enc_params, batch, i)
    sums = out if sums is None else jax.tree.map(jnp.add, sums, out)
  if sums is None:
    raise ValueError('probe: the validation split yielded no batch')
  xent, correct, total, counts_V = jax.device_get(sums)
  total = max(float(total), 1.0)
  return {'probe_accuracy': float(correct) / total, 'probe_loss': float(xent) / total,
          'probe_baseline_accuracy': float(np.max(counts_V)) / total,
          'probe_predictions': int(total)}


def probe(model_cfg, params: Any, source: pipeline.DataSource, seq_len: int,
          spec: ProbeSpec) -> dict[str, float]:
  """Trains and evaluates the probe on the encoder inside PARAMS (a full model tree)."""
  encode = encoder_fn(model_cfg)
  train_ds = pipeline.make_dataset(source, 'train', seq_len, spec.batch_size, train=True,
                                   seed=spec.seed)
  head_params, train_loss = train_head(encode, params, train_ds.as_numpy_iterator(),
                                       source.tokens, spec)
  val_ds = pipeline.make_dataset(source, 'validation', seq_len, spec.batch_size, train=False,
                                 seed=spec.seed)
  # A small validation split is read several times; batch i's masks differ from pass to pass.
  val_batches = itertools.chain.from_iterable(
      val_ds.as_numpy_iterator() for _ in range(spec.eval_passes))
  out = evaluate_head(encode, params, head_params, val_batches, source.tokens, spec)
  out['probe_train_loss'] = train_loss
  return out


def probe_workdir(workdir: str, spec: ProbeSpec, step: int | None = None) -> dict[str, float]:
  """Restores a training workdir's latest (or STEP's) parameters on one device and probes them
  on that run's corpus and vocabulary."""
  config = config_lib.load_run_config(workdir)
  params, step = checkpointing.restore_params(config, workdir, step)
  source = pipeline.build_source(config.data, workdir)
  out = probe(config.model, params, source, config.data.seq_len, spec)
  out['step'] = step
  return out
