"""objectives/self_distillation.py: the first-token distance on a hand-built packed row, loss =
MLM + weight x distance, zero distance to itself, no gradient to the teacher, the three-run
recipe (initial, further pre-trained teacher, self-distilled student) on 8 fake devices, and
one-line errors."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import models, objectives, state, teacher_weights, train
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import mlm, self_distillation
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, fake_run, packed_batch, read_records

TOKENS = SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4), vocab_size=512)


def test_first_token_distance_on_a_packed_row():
  rng = np.random.default_rng(0)
  h_s, h_t = rng.normal(size=(2, 2, 6, 3)).astype(np.float32)
  seg = np.array([[1, 1, 1, 2, 2, 0], [1, 1, 1, 1, 1, 1]])
  pos = np.array([[0, 1, 2, 0, 1, 0], [0, 1, 2, 3, 4, 5]])  # row 0: documents at 0 and 3
  total, docs = self_distillation.first_token_distance(h_s, h_t, seg, pos)
  expected = sum(np.sum((h_s[b, i] - h_t[b, i]) ** 2) for b, i in ((0, 0), (0, 3), (1, 0)))
  assert float(docs) == 3.0
  np.testing.assert_allclose(float(total), expected, rtol=1e-5)


def _runs(tmp_path, shared_vocab):
  base = corpus_config(shared_vocab, **{'mesh.data': 8})
  initial, teacher = str(tmp_path / 'initial'), str(tmp_path / 'teacher')
  fake_run(initial, base, seed=0)
  fake_run(teacher, base, seed=1)  # stands for the further pre-trained model
  return base, initial, teacher


def test_loss_is_mlm_plus_weighted_distance_and_the_teacher_gets_no_gradient(tmp_path,
                                                                           shared_vocab):
  _, _, teacher_dir = _runs(tmp_path, shared_vocab)
  c = corpus_config(shared_vocab, **{'objective.name': 'self_distill',
                                     'objective.teacher_workdir': teacher_dir,
                                     'objective.self_distill_weight': 2.0})
  model = models.build(c.model)
  loss_fn = objectives.objective(c.objective).make_loss(model, c.objective, TOKENS)
  params = nn.meta.unbox(jax.jit(lambda r: state.init_variables(model, c.data.seq_len, r))(
      jax.random.key(5)))
  frozen = teacher_weights.load(c.objective).params
  rng = jax.random.key(0)
  loss = jax.jit(lambda p, f: loss_fn(p, packed_batch(), rng, train=False, frozen=f))  # compiled
  out = loss(params, frozen)
  mlm_loss = mlm.make_loss(model, c.objective, TOKENS)
  mlm_out = jax.jit(lambda p: mlm_loss(p, packed_batch(), jax.random.split(rng)[0], train=False))(
      params)
  total, docs = out.metrics['distill_sq_distance']
  assert float(docs) == 3.0 and float(total) > 0
  np.testing.assert_allclose(float(out.loss), float(mlm_out.loss) + 2.0 * float(total / docs),
                             rtol=1e-5)
  # distance to itself: the student's own encoder as the teacher
  own = {'embeddings': params['embeddings'], 'encoder': params['encoder']}
  same = loss(params, own)
  assert float(same.metrics['distill_sq_distance'][0]) < 1e-8
  grads = jax.jit(jax.grad(lambda f: loss(params, f).loss))(frozen)
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(grads)) == 0.0


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_the_recipe_trains_twenty_steps_from_the_initial_model(tmp_path, shared_vocab):
  _, initial, teacher_dir = _runs(tmp_path, shared_vocab)
  c = corpus_config(shared_vocab, **{
      'objective.name': 'self_distill', 'objective.teacher_workdir': teacher_dir,
      'init_from.workdir': initial, 'train.steps': 20, 'train.log_every_steps': 5,
      'mesh.data': 8})
  workdir = str(tmp_path / 'student')
  train.run(c, workdir)
  records = read_records(workdir, 'train')
  losses = [r['loss'] for r in records]
  assert losses[-1] < losses[0], losses
  distance = [r['distill_sq_distance'] for r in records]
  assert distance[-1] < distance[0], distance


def test_bad_settings_are_one_line_errors(tmp_path, shared_vocab):
  _, _, teacher_dir = _runs(tmp_path, shared_vocab)
  for overrides, match in (
      ({'model.hidden_size': 32, 'model.num_heads': 2}, "teacher's hidden size 64 is not"),
      ({'objective.self_distill_weight': -1.0}, 'self_distill_weight=-1.0 must be >= 0'),
      ({'objective.teacher_workdir': ''}, 'needs exactly one of')):
    c = corpus_config(shared_vocab, **{'objective.name': 'self_distill',
                                       'objective.teacher_workdir': teacher_dir, **overrides})
    with pytest.raises(ConfigError, match=match) as e:
      objectives.validate(c.objective, c.model, c.data.seq_len)
    assert '\n' not in str(e.value)
