"""Every objective's declared training FLOPs per token (what the logged MFU uses) against XLA's
own count of the compiled train step (HLO cost analysis of the jitted step: every pass the
loss runs, forward and backward, as traced), within 5%."""
import functools

import jax
import numpy as np
import pytest

from configs import bert, electra as electra_config
from mlm_jax import models, objectives, optim, state
from mlm_jax import steps as steps_lib
from mlm_jax.tokens import SpecialTokens
from tests.conftest import required_settings, set_keys, tiny_config

# Wide enough that matrix products dominate, as in a real model (the formulas count only them).
SIZE = {'model.hidden_size': 256, 'model.num_heads': 4, 'model.mlp_dim': 1024,
        'model.num_layers': 2, 'model.vocab_size': 512, 'model.max_positions': 128,
        'data.seq_len': 128, 'objective.max_predictions': 20, 'model.embedding_size': 128,
        'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0}
CASES = {  # objective -> extra settings
    'mlm': {}, 'slm': {}, 'rts': {}, 'crts': {}, 'crts_simhash': {},
    'electra': {}, 'mcl': {}, 'mcl:rtd': {'objective.mcl_courses': 'rtd'},
    'mcl:dc': {'objective.mcl_courses': 'dc'}, 'mcl:itd,std': {'objective.mcl_courses': 'itd,std'},
    'mlm:geglu': {'model.mlp_kind': 'geglu'}, 'electra:swiglu': {'model.mlp_kind': 'swiglu'},
    'mlm:spans': {'objective.masking': 'spans'}, 'clm': {}, 'prefix_lm': {}, 'meap': {},
    'gpt_bert': {}, 'ernie_gram': {}, 'mlm:mlm_decoder': {'model.mlm_decoder_layers': 2},
    'position_prediction': {'model.position_scheme': 'none'}, 'self_evolution': {},
    'minilm': {}, 'self_distill': {}, 'salt': {},
}


def test_every_objective_has_a_case():
  assert set(objectives.OBJECTIVES) <= {case.split(':')[0] for case in CASES}


def _config(case, tmp_dir):
  name = case.split(':')[0]
  c = tiny_config(**SIZE, **CASES[case])
  c = set_keys(c, required_settings(name, tmp_dir, c.model.vocab_size,
                                    c.model.hidden_size))
  c.objective.name = name
  c.model.name = objectives.default_model(name)
  attention = objectives.OBJECTIVES[name].attention
  if attention:
    c.model.attention_pattern = attention[0]
  return c


def _xla_flops_per_token(c, batch=4):
  model = models.build(c.model)
  tx = optim.make_optimizer(c.train)
  tokens = SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4),
                         vocab_size=c.model.vocab_size)
  loss_fn = objectives.objective(c.objective).make_loss(model, c.objective, tokens)
  init = state.make_init_fn(model, tx, c.data.seq_len, objectives.init_state_fn(c.objective))
  abstract = jax.eval_shape(init, jax.random.key(0))
  L = c.data.seq_len
  ids = jax.ShapeDtypeStruct((batch, L), np.int32)
  step = functools.partial(steps_lib.train_step, loss_fn=loss_fn, tx=tx,
                           schedule=optim.schedule(c.train))
  teacher = objectives.load_frozen(c.objective)
  frozen = (jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype), teacher.params),
            ) if teacher else ()
  lowered = jax.jit(step).lower(abstract, {'input_ids': ids, 'segment_ids': ids,
                                           'positions': ids}, jax.random.key(0), *frozen)
  return lowered.cost_analysis()['flops'] / (batch * L)


@pytest.mark.parametrize('case', list(CASES))
def test_declared_flops_match_xla_count(case, tmp_path):
  c = _config(case, tmp_path)
  declared = objectives.flops_per_token(c)
  counted = _xla_flops_per_token(c)
  assert declared == pytest.approx(counted, rel=0.05), (case, declared, counted)


def test_mcl_counts_all_its_passes():
  """MCL's five courses run 3 generator passes (1 only sampled from) and 4 discriminator
  passes: far more than ELECTRA's one of each, which its MFU used to be credited with."""
  mcl, electra = _config('mcl', None), _config('electra', None)
  ratio = objectives.flops_per_token(mcl) / objectives.flops_per_token(electra)
  assert 3.0 < ratio < 4.0, ratio


def test_bert_base_closed_form():
  c = bert.get_config('size=base')
  d, f, n, v = 768, 3072, 12, 30522
  expected = 6 * n * (4 * d * d + 2 * d * f) + 12 * n * d * 128 + 6 * (d * d + d * v) * 19 / 128
  assert objectives.flops_per_token(c) == pytest.approx(expected)


def test_electra_small_counts_generator_and_discriminator():
  c = electra_config.get_config('size=small')
  disc_only = 6 * 12 * (4 * 256 ** 2 + 2 * 256 * 1024) + 12 * 12 * 256 * 128
  assert disc_only < objectives.flops_per_token(c) < 2 * disc_only
