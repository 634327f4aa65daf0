"""objectives/small_model_kd.py (SALT): the stage schedule, the KD term against a reference
written here, SALT_DS's row scores and selection on hand-built logits, the loss as the stated
mix, a larger student taught by a smaller teacher for 10 of 20 steps on 8 fake devices, and
one-line errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import models, objectives, state, teacher_weights, train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import small_model_kd as salt
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, fake_run, packed_batch, read_records, set_keys, tiny_config

TOKENS = SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4), vocab_size=512)


def _cfg(**keys):
  o = tiny_config().objective
  o.update(kd_steps=10, kd_weight=0.5, **keys)
  return o


def test_stage_schedule_step_and_linear():
  step = [float(salt.kd_weight_at(i, _cfg())) for i in (0, 9, 10, 50)]
  assert step == [0.5, 0.5, 0.0, 0.0]
  linear = [float(salt.kd_weight_at(i, _cfg(kd_transition='linear'))) for i in (0, 5, 9, 10)]
  np.testing.assert_allclose(linear, [0.5, 0.25, 0.05, 0.0], rtol=1e-6)


def test_kd_term_is_tempered_forward_kl():
  rng = np.random.default_rng(0)
  s, t = rng.normal(size=(2, 2, 3, 7))
  tau = 2.0
  def log_softmax(x):
    x = x / tau
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(
        -1, keepdims=True)
  p = np.exp(log_softmax(t))
  expected = tau ** 2 * (p * (log_softmax(t) - log_softmax(s))).sum(-1)
  np.testing.assert_allclose(salt.kd_per_position(s.astype(np.float32), t.astype(np.float32),
                                                 tau), expected, rtol=1e-4, atol=1e-5)
  assert np.allclose(salt.kd_per_position(t, t, tau), 0.0, atol=1e-6)


def test_rows_scored_by_the_median_loss_of_learnable_tokens():
  # 3 rows x 3 slots over a 4-token vocabulary; the true token is 0 everywhere.
  logits = np.full((3, 3, 4), 0.0, np.float32)
  logits[0, :, 0] = [3.0, 1.0, 0.5]  # row 0: all learnable (top-1), losses rise
  logits[1, :, 0] = [-5.0, -5.0, 2.0]  # row 1: only slot 2 in the top 1
  logits[2, :, 0] = -5.0  # row 2: nothing learnable
  targets = np.zeros((3, 3), np.int32)
  weights = np.ones((3, 3), np.float32)
  scores = np.asarray(salt.row_scores(jnp.asarray(logits), targets, weights, topk=1))
  xent = lambda z: np.log(np.exp(z).sum()) - z[0]  # noqa: E731
  assert scores[0] == pytest.approx(xent(logits[0, 1]), rel=1e-5)  # the median of three
  assert scores[1] == pytest.approx(xent(logits[1, 2]), rel=1e-5)
  assert scores[2] == -np.inf
  # Hardest learnable rows first: row 0 (its median loss is higher than row 1's).
  assert scores[0] > scores[1]
  assert np.asarray(salt.select_rows(jnp.asarray(scores), 0.34)).tolist() == [1, 1, 0]
  assert np.asarray(salt.select_rows(jnp.asarray(scores), 0.3)).tolist() == [1, 0, 0]
  # top-4 makes every slot of row 2 learnable too.
  assert np.isfinite(np.asarray(salt.row_scores(jnp.asarray(logits), targets, weights, 4))).all()


def _teacher(tmp_path, shared_vocab):
  path = str(tmp_path / 'small')
  fake_run(path, corpus_config(shared_vocab, **{
      'model.hidden_size': 32, 'model.num_heads': 2, 'model.mlp_dim': 64,
      'model.num_layers': 1, 'mesh.data': 8}), seed=3)
  return path


def test_loss_mixes_true_token_and_teacher_in_stage1_only(tmp_path, shared_vocab):
  c = corpus_config(shared_vocab, **{'objective.name': 'salt', 'objective.kd_steps': 3,
                                     'objective.teacher_workdir': _teacher(tmp_path, shared_vocab),
                                     'objective.kd_weight': 0.25})
  model = models.build(c.model)
  loss_fn = objectives.objective(c.objective).make_loss(model, c.objective, TOKENS)
  params = nn.meta.unbox(jax.jit(lambda r: state.init_variables(model, c.data.seq_len, r))(
      jax.random.key(5)))
  frozen = teacher_weights.load_mlm(c.objective).params
  rng = jax.random.key(0)
  loss = jax.jit(lambda p, batches, f: loss_fn(  # one compile serves every call below
      p, packed_batch(), rng, train=True, objective_state={'batches': batches}, frozen=f))
  early = loss(params, jnp.int32(1), frozen)
  late = loss(params, jnp.int32(3), frozen)
  ce = float(late.loss)  # stage 2: the masked-LM cross-entropy alone (same masks: same rng)
  kd_sum, _ = early.metrics['kd_loss']
  assert float(kd_sum) > 0 and float(late.metrics['kd_loss'][0]) == 0.0
  np.testing.assert_allclose(float(early.loss), 0.75 * ce + 0.25 * float(kd_sum), rtol=1e-5)
  assert int(early.new_state['batches']) == 2
  # The teacher gets no gradient: it is an argument, not a parameter.
  g = jax.jit(jax.grad(lambda f: loss(params, jnp.int32(1), f).loss))(frozen)
  assert all(float(jnp.abs(x).max()) == 0.0 for x in jax.tree.leaves(g))


@pytest.mark.slow  # a training run
@pytest.mark.parametrize('select', [1.0, 0.5])
def test_larger_student_trains_with_falling_loss_and_switches_stage(tmp_path, shared_vocab,
                                                                    select):
  c = corpus_config(shared_vocab, **{
      'objective.name': 'salt', 'objective.teacher_workdir': _teacher(tmp_path, shared_vocab),
      'objective.kd_steps': 10, 'objective.kd_select_fraction': select,
      'train.steps': 20, 'train.batch_size': 16, 'train.log_every_steps': 5,
      'train.warmup_steps': 2, 'train.learning_rate': 1e-3, 'eval.every_steps': 0,
      'eval.steps': 2, 'mesh.data': 8})
  workdir = str(tmp_path / 'run')
  train.run(c, workdir)
  records = read_records(workdir, 'train')
  # The loss changes definition at the switch; the true-token cross-entropy falls throughout.
  assert records[-1]['mlm_loss'] < records[0]['mlm_loss']
  assert records[1]['kd_loss'] > 0 and records[-1]['kd_loss'] == 0
  assert [r['kd_weight'] for r in records] == [0.5, 0.5, 0.0, 0.0]
  assert [r['kd_rows'] for r in records] == [select, select, 1.0, 1.0]


def test_bad_settings_fail_in_one_line(tmp_path, shared_vocab):
  teacher = _teacher(tmp_path, shared_vocab)
  for keys, message in (({'objective.kd_steps': 0}, 'kd_steps=0 must be positive'),
                        ({'objective.kd_transition': 'cosine'}, "kd_transition='cosine'"),
                        ({'objective.kd_select_fraction': 0.0}, 'kd_select_fraction=0.0'),
                        ({'model.vocab_size': 600}, "teacher's vocabulary size 512")):
    c = corpus_config(shared_vocab, **{'objective.name': 'salt', 'objective.kd_steps': 5,
                                       'objective.teacher_workdir': teacher})
    set_keys(c, keys)
    with pytest.raises(ConfigError, match=message) as e:
      validation.validate(c, 8)
    assert '\n' not in str(e.value)


def test_hf_teacher_without_an_mlm_head_is_refused(minilm_dir):
  o = _cfg(name='salt', teacher_hf_dir=minilm_dir)
  with pytest.raises(ConfigError, match='has no MLM head'):
    teacher_weights.load_mlm(o)
