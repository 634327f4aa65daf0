"""MCL: multi-perspective course learning on the ELECTRA model (Chen et al., ACL Findings 2023).

Courses (objective.mcl_courses; any subset, one alone for course soups):
Self-supervision courses, each a different corruption the discriminator learns to detect, so
its positive labels no longer depend only on how often the generator's sample differs from the
original (the label imbalance of plain RTD):
  rtd  replaced token detection: ELECTRA (generator MLM + detection of its samples);
  std  swapped token detection: the tokens at the chosen positions of each packed document are
       permuted among themselves (a random cycle per document, never across documents; a
       document with one chosen token keeps it); a moved token is replaced unless it equals the
       token it displaced;
  itd  inserted token detection: a [MASK] is inserted before each chosen token (the row shifts
       right inside a static length; what passes the end drops off), the generator fills the
       inserted slots, and every inserted token is labelled replaced.
Self-correction courses, from a "correction notebook" of the RTD positions whose replacement
the discriminator flagged (logit > 0):
  gc   generator correction: the notebook positions of the RTD input are masked again and the
       generator re-predicts the originals there (MLM loss on the notebook only);
  dc   discriminator correction: the generator's new samples are written at the notebook
       positions and the discriminator detects replacements in that corrected sequence.
loss = sum of generator MLM losses + disc_weight x sum of discriminator losses.

Note: the course mechanics above are this project's reading of the paper's course names and
aims (abstract, released model card); the paper's full text was not available while writing it.
"""
from typing import Any, Callable

import jax
import jax.numpy as jnp

from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import electra, masking, mlm
from mlm_jax.objectives.objective import GENERATOR_DISCRIMINATOR, LossOutput, Objective

COURSES = ('rtd', 'std', 'itd', 'gc', 'dc')


def parse_courses(text: str) -> tuple[str, ...]:
  names = tuple(dict.fromkeys(n.strip() for n in text.replace('+', ',').split(',') if n.strip()))
  bad = [n for n in names if n not in COURSES]
  if bad or not names:
    raise ValueError(f'objective.mcl_courses={text!r}: courses are a non-empty subset of {COURSES}')
  return names


def swap_tokens(rng, ids_BL, positions_BP, weights_BP, segment_ids_BL) -> jax.Array:
  """Permutes the tokens at the weighted positions along a random cycle within each packed
  document (segment): no token moves into another document; a document with one chosen token
  keeps it in place."""
  B, P = positions_BP.shape
  valid_BP = weights_BP > 0
  seg_BP = jnp.take_along_axis(segment_ids_BL, positions_BP, axis=1)
  # Sorted by (segment, random draw): each document's chosen positions form one contiguous run.
  key_BP = jnp.where(valid_BP, seg_BP + jax.random.uniform(rng, (B, P)), jnp.inf)
  order_BP = jnp.argsort(key_BP, axis=1)
  group_BP = jnp.where(jnp.take_along_axis(valid_BP, order_BP, axis=1),
                       jnp.take_along_axis(seg_BP, order_BP, axis=1), -1)
  j_P = jnp.arange(P)
  first_BP = jnp.concatenate([jnp.ones((B, 1), bool), group_BP[:, 1:] != group_BP[:, :-1]], 1)
  last_BP = jnp.concatenate([group_BP[:, 1:] != group_BP[:, :-1], jnp.ones((B, 1), bool)], 1)
  start_BP = jax.lax.cummax(jnp.where(first_BP, j_P, 0), axis=1)
  src_BP = jnp.where(last_BP, start_BP, j_P + 1)  # the next in its run, the last to the first
  vals_BP = jnp.take_along_axis(ids_BL, positions_BP, axis=1)
  moved_BP = jnp.take_along_axis(vals_BP, jnp.take_along_axis(order_BP, src_BP, axis=1), axis=1)
  rows_B1 = jnp.arange(B)[:, None]
  new_BP = jnp.zeros_like(vals_BP).at[rows_B1, order_BP].set(moved_BP)
  return electra.substitute(ids_BL, positions_BP, new_BP, weights_BP)


def insert_masks(ids_BL, segment_ids_BL, positions_BL, chosen_BP, weights_BP, mask_id: int,
                 pad_id: int) -> dict:
  """Inserts mask_id before each chosen token (chosen_BP ascending, weighted slots first).

  Returns input_ids, segment_ids, positions (B, L) of the longer sequence cut to L, inserted_BL
  (1.0 at inserted tokens), and the inserted slots as gen_positions/gen_weights (B, P).
  """
  B, L = ids_BL.shape
  rows_B1 = jnp.arange(B)[:, None]
  is_chosen_BL = jnp.zeros((B, L), jnp.int32).at[
      rows_B1, jnp.where(weights_BP > 0, chosen_BP, L)].set(1, mode='drop')
  count_BL = jnp.cumsum(is_chosen_BL, axis=1)  # insertions at or before each token
  before_BL = count_BL - is_chosen_BL
  seg_start_BL = jnp.clip(jnp.arange(L) - positions_BL, 0, L - 1)
  shift_BL = count_BL - jnp.take_along_axis(before_BL, seg_start_BL, axis=1)  # within its segment
  dest_BL = jnp.arange(L) + count_BL
  ins_BL = jnp.where(is_chosen_BL > 0, dest_BL - 1, L)

  def place(fill, orig_BL, inserted_BL):
    out = jnp.full((B, L), fill, orig_BL.dtype).at[rows_B1, dest_BL].set(orig_BL, mode='drop')
    return out.at[rows_B1, ins_BL].set(inserted_BL.astype(orig_BL.dtype), mode='drop')

  gen_positions_BP = chosen_BP + jnp.arange(chosen_BP.shape[1])  # slot k: k insertions before
  gen_weights_BP = weights_BP * (gen_positions_BP < L)
  return dict(
      input_ids=place(pad_id, ids_BL, jnp.full_like(ids_BL, mask_id)),
      segment_ids=place(0, segment_ids_BL, segment_ids_BL),
      positions=place(0, positions_BL + shift_BL, positions_BL + shift_BL - 1),
      inserted=jnp.zeros((B, L), jnp.float32).at[rows_B1, ins_BL].set(1.0, mode='drop'),
      gen_positions=jnp.where(gen_weights_BP > 0, gen_positions_BP, 0),
      gen_weights=gen_weights_BP)


def correction_notebook(disc_logits_BL, positions_BP, weights_BP) -> jax.Array:
  """(B, P) weights: the masked positions whose token the discriminator judged replaced."""
  flagged_BP = jnp.take_along_axis(jax.lax.stop_gradient(disc_logits_BL), positions_BP, axis=1) > 0
  return weights_BP * flagged_BP


def make_loss(model, objective_cfg, tokens: masking.SpecialTokens,
              word_start_V=None) -> Callable[..., Any]:
  """loss_fn(params, batch, rng, train) -> LossOutput; metrics are (sum, count) pairs."""
  courses = parse_courses(objective_cfg.mcl_courses)
  spec = mlm.masking_spec(objective_cfg)
  allowed_V = electra.sampling_mask(tokens, model.cfg.vocab_size)
  w = objective_cfg.disc_weight

  def loss_fn(params, batch, rng, train: bool = True) -> LossOutput:
    ids_BL, seg_BL, pos_BL = batch['input_ids'], batch['segment_ids'], batch['positions']
    real_BL = (seg_BL != 0).astype(jnp.float32)
    r = dict(zip(('rtd', 'notebook', 'std', 'itd'), jax.random.split(rng, 4)))
    gen_terms, disc_terms, metrics, counts = [], [], {}, None

    if {'rtd', 'gc', 'dc'} & set(courses):
      gen_loss, disc_loss, m_rtd, mid = electra.replaced_token_detection(
          model, params, batch, r['rtd'], train, tokens, spec, word_start_V, allowed_V, 'rtd')
      metrics.update(m_rtd)
      if not train:
        counts = mlm.label_counts(mid['mask']['masked_ids'], mid['mask']['masked_weights'],
                                  model.cfg.vocab_size)
      if 'rtd' in courses:
        gen_terms.append(gen_loss)
        disc_terms.append(disc_loss)
      if {'gc', 'dc'} & set(courses):
        m = mid['mask']
        k_gen, k_sample, k_disc = jax.random.split(r['notebook'], 3)
        notebook_BP = correction_notebook(mid['disc_logits'], m['masked_positions'],
                                          m['masked_weights'])
        metrics['notebook_fraction'] = (notebook_BP.sum(), m['masked_weights'].sum())
        remasked_BL = electra.substitute(mid['corrupted'], m['masked_positions'],
                                         jnp.full_like(m['masked_ids'], tokens.mask), notebook_BP)
        regen_BPV = electra.generator_logits(model, params, remasked_BL, batch,
                                             m['masked_positions'], train, k_gen)
        if 'gc' in courses:
          gc_loss, m_gc = mlm.mlm_metrics(regen_BPV, m['masked_ids'], notebook_BP)
          gen_terms.append(gc_loss)
          metrics['gc_mlm_loss'], metrics['gc_mlm_accuracy'] = m_gc['mlm_loss'], m_gc['mlm_accuracy']
        if 'dc' in courses:
          resampled_BP = electra.sample_tokens(k_sample, regen_BPV, allowed_V)
          fixed_BL = electra.substitute(mid['corrupted'], m['masked_positions'], resampled_BP,
                                        notebook_BP)
          disc_BL = electra.discriminator_logits(model, params, fixed_BL, seg_BL, pos_BL, train,
                                                 k_disc)
          dc_loss, m_dc = electra.detection_loss(
              disc_BL, electra.replaced_labels(ids_BL, fixed_BL, seg_BL), real_BL, 'dc')
          disc_terms.append(dc_loss)
          metrics.update(m_dc)

    if 'std' in courses:
      k_mask, k_swap, k_disc = jax.random.split(r['std'], 3)
      m = masking.mask_batch(k_mask, ids_BL, seg_BL, tokens, spec, word_start_V,
                           batch.get('unit_tags'))
      swapped_BL = swap_tokens(k_swap, ids_BL, m['masked_positions'], m['masked_weights'],
                               seg_BL)
      disc_BL = electra.discriminator_logits(model, params, swapped_BL, seg_BL, pos_BL, train,
                                             k_disc)
      std_loss, m_std = electra.detection_loss(
          disc_BL, electra.replaced_labels(ids_BL, swapped_BL, seg_BL), real_BL, 'std')
      disc_terms.append(std_loss)
      metrics.update(m_std)

    if 'itd' in courses:
      k_mask, k_gen, k_sample, k_disc = jax.random.split(r['itd'], 4)
      m = masking.mask_batch(k_mask, ids_BL, seg_BL, tokens, spec, word_start_V,
                           batch.get('unit_tags'))
      ins = insert_masks(ids_BL, seg_BL, pos_BL, m['masked_positions'], m['masked_weights'],
                         tokens.mask, tokens.pad)
      gen_BPV = electra.generator_logits(model, params, ins['input_ids'], ins,
                                         ins['gen_positions'], train, k_gen)
      filled_BL = electra.substitute(ins['input_ids'], ins['gen_positions'],
                                     electra.sample_tokens(k_sample, gen_BPV, allowed_V),
                                     ins['gen_weights'])
      disc_BL = electra.discriminator_logits(model, params, filled_BL, ins['segment_ids'],
                                             ins['positions'], train, k_disc)
      itd_loss, m_itd = electra.detection_loss(disc_BL, ins['inserted'],
                                               (ins['segment_ids'] != 0).astype(jnp.float32), 'itd')
      disc_terms.append(itd_loss)
      metrics.update(m_itd)

    loss = sum(gen_terms, jnp.zeros(())) + w * sum(disc_terms, jnp.zeros(()))
    return LossOutput(loss, metrics, counts)

  return loss_fn


def flops_per_token(model_cfg, objective_cfg, seq_len: int, passes: dict) -> float:
  """The passes the chosen courses run per step (3x forward when a loss trains through the
  pass, 1x when its output is only sampled from or compared, under stop_gradient):
    rtd pass (rtd, gc or dc): generator 3x if rtd else 1x; discriminator 3x if rtd else 1x
    re-generation (gc or dc): generator 3x if gc else 1x;  dc: discriminator 3x
    std: discriminator 3x;  itd: generator 1x (sampling only), discriminator 3x
  All five courses: 2 trained + 1 forward generator passes, 4 trained discriminator passes."""
  del model_cfg
  c = set(parse_courses(objective_cfg.mcl_courses))
  gen = electra.generator_pass(passes, objective_cfg, seq_len)
  disc = electra.discriminator_pass(passes)
  total = 0.0
  if c & {'rtd', 'gc', 'dc'}:
    total += (3 if 'rtd' in c else 1) * (gen + disc)
  if c & {'gc', 'dc'}:
    total += (3 if 'gc' in c else 1) * gen
  total += 3 * disc * len(c & {'dc', 'std', 'itd'})
  total += gen if 'itd' in c else 0
  return total


def headline(objective_cfg) -> str:
  """rtd's detection accuracy when the rtd pass runs (rtd, gc, dc), else std's or itd's."""
  c = parse_courses(objective_cfg.mcl_courses)
  return 'rtd_accuracy' if set(c) & {'rtd', 'gc', 'dc'} else f'{c[0]}_accuracy'


def validate(objective_cfg) -> None:
  electra.validate_disc_weight(objective_cfg)
  try:
    parse_courses(objective_cfg.mcl_courses)
  except ValueError as e:
    raise ConfigError(str(e)) from None


OBJECTIVE = Objective(make_loss=make_loss, needs=GENERATOR_DISCRIMINATOR, headline=headline,
                      flops_per_token=flops_per_token, validate=validate, perplexity_of='mlm_loss')
