"""tools/shootout.py: matched encoders, equal-FLOP step counts, the FLOPs formulas, the table.
(The command itself is run end to end with --tiny in the README's shoot-out section.)"""
import pytest

from mlm_jax import models, probe
from tools import shootout


@pytest.mark.parametrize('tiny', [False, True])
def test_every_objective_trains_the_same_encoder_on_the_same_data(tiny):
  configs = {o: shootout.run_config(o, '/v/spm.model', 100, tiny) for o in shootout.OBJECTIVES}
  ref = configs['mlm']
  for o, c in configs.items():
    assert c.objective.name == o and c.model.name in probe.ENCODER_PATH
    for key in ('vocab_size', 'hidden_size', 'num_layers', 'num_heads', 'mlp_dim',
                'max_positions', 'dropout_rate'):
      assert c.model[key] == ref.model[key], (o, key)
    assert c.data.to_dict() == ref.data.to_dict(), o
    assert c.data.vocab_path == '/v/spm.model'
    for key in ('batch_size', 'learning_rate', 'warmup_steps', 'decay', 'weight_decay', 'steps'):
      assert c.train[key] == ref.train[key], (o, key)
  assert configs['electra'].model.embedding_size == ref.model.hidden_size
  assert configs['mcl'].objective.mcl_courses == 'rtd,std,itd,gc,dc'
  assert configs['electra'].objective.max_predictions == int(0.155 * ref.data.seq_len)
  if not tiny:
    assert (ref.model.num_layers, ref.model.hidden_size, ref.data.seq_len,
            ref.train.batch_size) == (4, 192, 128, 32)


def test_flops_formulas():
  c = {o: shootout.run_config(o, '', 100) for o in shootout.OBJECTIVES}
  gen, disc = shootout._electra_parts(c['electra'].model, 128, c['electra'].objective.max_predictions)
  assert shootout.flops_per_token(c['electra']) == pytest.approx(gen + disc)
  assert shootout.mcl_passes('rtd,std,itd,gc,dc') == (3, 4)
  assert shootout.mcl_passes('rtd') == (1, 1)
  assert shootout.mcl_passes('std') == (0, 1)
  assert shootout.flops_per_token(c['mcl']) == pytest.approx(3 * gen + 4 * disc)
  # RTS: 6 x weights of the encoder layers + detection head (embeddings excluded) + attention.
  m, d = c['rts'].model, c['rts'].model.hidden_size
  import jax  # pylint: disable=g-import-not-at-top
  from mlm_jax import state  # pylint: disable=g-import-not-at-top
  shapes = jax.eval_shape(lambda: state.init_variables(
      models.MODELS[m.name](m), 128, jax.random.key(0)))
  from flax import linen as nn  # pylint: disable=g-import-not-at-top
  shapes = nn.meta.unbox(shapes)
  weights = sum(x.size for path, x in jax.tree_util.tree_leaves_with_path(shapes)
                if 'kernel' in jax.tree_util.keystr(path))
  attention = 12 * m.num_layers * d * 128
  assert shootout.flops_per_token(c['rts']) - attention == pytest.approx(6 * weights)


def test_equal_compute_steps_and_table():
  steps = shootout.equal_compute_steps(200, {'mlm': 10.0, 'electra': 11.0, 'mcl': 40.0})
  assert steps == {'mlm': 200, 'electra': 182, 'mcl': 50}
  md = shootout.table([dict(name='mlm (BERT encoder)', steps=200, flops=1.5e12, wall_s=90.0,
                            probe_accuracy=0.12345, probe_loss=5.0, native='mlm_accuracy 0.100')])
  assert md.splitlines()[2] == ('| mlm (BERT encoder) | 200 | 1.50e+12 | 1.5 min | 0.1235 | '
                                '5.0000 | mlm_accuracy 0.100 |')
  assert shootout.native_metrics('electra', {'disc_accuracy': 0.9, 'mlm_accuracy': 0.2}) == \
      'disc_accuracy 0.900, gen mlm_accuracy 0.200'
