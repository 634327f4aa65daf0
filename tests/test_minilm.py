"""MiniLM distillation (objectives/minilm.py, mlm_jax/teacher.py): the attention and
value-relation KL terms against a reference written here, the teacher's captured attention
against transformers' own attention probabilities, stop-gradient to the teacher, 20 steps on 8
fake devices from an mlm_jax teacher and from the released all-MiniLM-L6-v2, and one-line errors
before compilation."""
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import models, objectives, state, teacher_weights, train
from mlm_jax.config_lib import ConfigError
from mlm_jax.models import layers
from mlm_jax.objectives import minilm
from tests.conftest import corpus_config, fake_run, read_records, tiny_config


def _reference_kl(t_a, t_b, s_a, s_b, seg):
  """Mean over heads and real query tokens of KL(softmax(t_a t_b^T / sqrt(d_t)) ||
  softmax(s_a s_b^T / sqrt(d_s))), keys restricted to the query's own document: plain loops."""
  B, L, H, _ = t_a.shape
  total, count = 0.0, 0
  for b in range(B):
    for h in range(H):
      for q in range(L):
        if seg[b, q] == 0:
          continue
        keys = [k for k in range(L) if seg[b, k] == seg[b, q]]
        def dist(a, c):
          z = np.array([a[b, q, h] @ c[b, k, h] for k in keys]) / np.sqrt(a.shape[-1])
          e = np.exp(z - z.max())
          return e / e.sum()
        p, r = dist(t_a, t_b), dist(s_a, s_b)
        total += float(np.sum(p * (np.log(p) - np.log(r))))
        count += 1
  return total / count


def test_relation_kl_equals_the_reference():
  rng = np.random.default_rng(0)
  B, L, H = 2, 7, 3
  seg = np.array([[1, 1, 1, 2, 2, 0, 0], [1, 1, 1, 1, 1, 1, 1]])  # two documents + padding
  t_q, t_k, t_v = (rng.normal(size=(B, L, H, 8)).astype(np.float32) for _ in range(3))
  s_q, s_k, s_v = (rng.normal(size=(B, L, H, 4)).astype(np.float32) for _ in range(3))
  mask = layers.attention_mask(jnp.asarray(seg))
  query = jnp.asarray(seg != 0)
  for (ta, tb, sa, sb) in ((t_q, t_k, s_q, s_k), (t_v, t_v, s_v, s_v)):
    total, n = minilm.relation_kl(minilm.relation_logits(ta, tb, mask),
                                  minilm.relation_logits(sa, sb, mask), mask, query)
    assert int(n) == H * int((seg != 0).sum())
    np.testing.assert_allclose(float(total / n), _reference_kl(ta, tb, sa, sb, seg), rtol=1e-5)
  same, n = minilm.relation_kl(minilm.relation_logits(t_q, t_k, mask),
                               minilm.relation_logits(t_q, t_k, mask), mask, query)
  assert abs(float(same)) < 1e-5  # KL(p || p) = 0


def _teacher_workdir(tmp_path, shared_vocab, heads=4, **model):
  # a random teacher with peaked attention (wide initial weights), so there is something to learn
  c = corpus_config(shared_vocab, **{'model.num_heads': heads, 'model.initializer_range': 0.5,
                                     **model})
  path = str(tmp_path / 'teacher')
  fake_run(path, c, seed=1)
  return path, c


def _student_config(shared_vocab, teacher_dir, **overrides):
  return corpus_config(shared_vocab, **{
      'objective.name': 'minilm', 'objective.teacher_workdir': teacher_dir,
      'model.hidden_size': 32, 'model.num_heads': 4, 'model.mlp_dim': 64, 'model.num_layers': 1,
      'mesh.data': 8, **overrides})


def _loss_fn(c):
  model = models.build(c.model)
  loss = objectives.objective(c.objective).make_loss(model, c.objective, None)
  params = nn.meta.unbox(jax.jit(lambda r: state.init_variables(model, c.data.seq_len, r))(
      jax.random.key(0)))  # one compile, not one per op
  return loss, params


def _batch(L=16):
  seg = np.array([[1] * 10 + [2] * 4 + [0] * 2, [1] * L])
  pos = np.stack([np.r_[np.arange(10), np.arange(4), [0, 0]], np.arange(L)])
  ids = (np.arange(2 * L).reshape(2, L) * 7 % 500 + 5) * (seg != 0)
  return {'input_ids': jnp.asarray(ids), 'segment_ids': jnp.asarray(seg),
          'positions': jnp.asarray(pos)}


def test_a_student_identical_to_its_teacher_has_zero_loss_and_the_teacher_gets_no_gradient(
    tmp_path, shared_vocab):
  t_dir, t_cfg = _teacher_workdir(tmp_path, shared_vocab)
  frozen = teacher_weights.load(_student_config(shared_vocab, t_dir).objective)
  # the student is the teacher's own architecture and weights
  c = _student_config(shared_vocab, t_dir, **{f'model.{k}': t_cfg.model[k] for k in
                                               ('hidden_size', 'num_layers', 'mlp_dim')})
  loss_fn, _ = _loss_fn(c)
  full = {**frozen.params, 'mlm_head': None}
  student = {'embeddings': full['embeddings'], 'encoder': full['encoder']}
  out = jax.jit(lambda p, f: loss_fn(p, _batch(), jax.random.key(0), train=False, frozen=f))(
      student, frozen.params)
  assert abs(float(out.loss)) < 1e-5
  # a different student: positive loss, gradients to the student, none to the teacher
  c2 = _student_config(shared_vocab, t_dir)
  loss_fn2, params2 = _loss_fn(c2)
  value, (g_student, g_teacher) = jax.jit(jax.value_and_grad(
      lambda p, f: loss_fn2(p, _batch(), jax.random.key(0), train=False, frozen=f).loss,
      argnums=(0, 1)))(params2, frozen.params)
  assert float(value) > 0.01
  assert max(float(jnp.abs(g).max()) for g in jax.tree.leaves(g_teacher)) == 0.0
  q_grad = g_student['encoder']['layers_0']['attention']['query']['kernel']
  assert float(jnp.abs(q_grad).max()) > 0


def test_last_layer_is_read_from_scanned_and_unrolled_stacks_alike():
  c = tiny_config(**{'model.num_layers': 3})
  b = _batch()
  args = (b['input_ids'], b['segment_ids'], b['positions'])
  unrolled = models.family(c.model).encoder(c.model, True)
  p = nn.meta.unbox(unrolled.init({'params': jax.random.key(0)}, *args))['params']
  stacked = dict(p, encoder={'layers': jax.tree.map(
      lambda *xs: jnp.stack(xs), *[p['encoder'][f'layers_{i}'] for i in range(3)])})
  scan_cfg = tiny_config(**{'model.num_layers': 3, 'model.scan_layers': True}).model
  scanned = models.family(scan_cfg).encoder(scan_cfg, True)
  outs = []
  for module, params in ((unrolled, p), (scanned, stacked)):
    _, v = module.apply({'params': params}, *args, mutable=['intermediates'])
    outs.append(minilm.layer_qkv(v['intermediates'], 3, -1))
  for a, s in zip(*outs):
    np.testing.assert_allclose(np.asarray(a), np.asarray(s), atol=1e-5)


def test_the_teachers_attention_is_what_transformers_computes(minilm_dir):
  """Q and K captured from the imported all-MiniLM-L6-v2 give the attention probabilities
  transformers' BertModel reports for its last layer."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  o = tiny_config(**{'objective.teacher_hf_dir': minilm_dir}).objective
  t = teacher_weights.load(o)
  tok = transformers.AutoTokenizer.from_pretrained(minilm_dir)
  enc = tok(['The cat sat on the mat.', 'Distillation keeps attention.'], padding=True,
            return_tensors='np')
  ids, am = enc['input_ids'], enc['attention_mask']
  pos = np.broadcast_to(np.arange(ids.shape[1]), ids.shape)
  module = models.family(t.model_cfg).encoder(t.model_cfg, True)
  _, v = jax.jit(lambda p, *rows: module.apply({'params': p}, *rows, mutable=['intermediates']))(
      t.params, jnp.asarray(ids), jnp.asarray(am), jnp.asarray(pos))
  q, k, _ = minilm.layer_qkv(v['intermediates'], t.model_cfg.num_layers, -1)
  mask = layers.attention_mask(jnp.asarray(am))
  ours = np.asarray(jax.nn.softmax(minilm.relation_logits(q, k, mask), axis=-1))
  hf = transformers.AutoModel.from_pretrained(minilm_dir, attn_implementation='eager').eval()
  with torch.no_grad():
    theirs = hf(input_ids=torch.tensor(ids), attention_mask=torch.tensor(am),
                output_attentions=True).attentions[-1].numpy()
  rows = am.astype(bool)[:, None, :, None]  # real query rows
  np.testing.assert_allclose(np.where(rows, ours, 0), np.where(rows, theirs, 0), atol=1e-5)


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_twenty_steps_from_an_mlm_jax_teacher_on_eight_devices(tmp_path, shared_vocab):
  t_dir, _ = _teacher_workdir(tmp_path, shared_vocab)
  c = _student_config(shared_vocab, t_dir, **{'train.steps': 20, 'train.log_every_steps': 5,
                                              'train.learning_rate': 1e-2})
  workdir = str(tmp_path / 'student')
  train.run(c, workdir)
  losses = [r['loss'] for r in read_records(workdir, 'train')]
  assert all(b < a for a, b in zip(losses, losses[1:])) and losses[-1] < 0.9 * losses[0], losses
  evals = read_records(workdir, 'eval')
  assert evals and evals[-1]['attention_kl'] > 0 and evals[-1]['value_relation_kl'] > 0


@pytest.mark.slow
def test_twenty_steps_from_the_released_minilm_and_a_fine_tune(minilm_dir, shared_vocab,
                                                              tmp_path):
  from tests.conftest import glue_smoke_finetune  # pylint: disable=g-import-not-at-top
  c = tiny_config(**{
      'objective.name': 'minilm', 'objective.teacher_hf_dir': minilm_dir,
      'data.task': 'files', 'data.train_files': shared_vocab['train'],
      'data.validation_files': shared_vocab['validation'], 'data.vocab_path': minilm_dir,
      'model.vocab_size': 30522, 'model.hidden_size': 48, 'model.num_heads': 12,
      'model.mlp_dim': 96, 'model.num_layers': 2, 'data.seq_len': 64,
      'objective.max_predictions': 0,
      'train.steps': 20, 'train.log_every_steps': 5, 'train.batch_size': 8,
      'train.learning_rate': 3e-3, 'eval.batch_size': 8, 'mesh.data': 8})
  workdir = str(tmp_path / 'student')
  train.run(c, workdir)
  losses = [r['loss'] for r in read_records(workdir, 'train')]
  assert losses[-1] < 0.9 * losses[0], losses
  glue_smoke_finetune(workdir, str(tmp_path / 'ft'))


def test_bad_teachers_are_one_line_errors_before_compiling(tmp_path, shared_vocab):
  t_dir, _ = _teacher_workdir(tmp_path, shared_vocab)

  def check(c):
    objectives.validate(c.objective, c.model, c.data.seq_len)

  with pytest.raises(ConfigError, match='needs exactly one of'):
    check(_student_config(shared_vocab, ''))
  with pytest.raises(ConfigError, match='needs exactly one of'):
    check(_student_config(shared_vocab, t_dir, **{'objective.teacher_hf_dir': t_dir}))
  with pytest.raises(ConfigError, match='teacher_workdir=/no/such: no such directory'):
    check(_student_config(shared_vocab, '/no/such'))
  empty = tmp_path / 'empty'
  empty.mkdir()
  with pytest.raises(ConfigError, match='not an mlm_jax workdir'):
    check(_student_config(shared_vocab, str(empty)))
  with pytest.raises(ConfigError, match='model.num_heads=2, but MiniLM transfers attention head by head'):
    check(_student_config(shared_vocab, t_dir, **{'model.num_heads': 2}))
  with pytest.raises(ConfigError, match='minilm_teacher_layer=5 is not a layer'):
    check(_student_config(shared_vocab, t_dir, **{'objective.minilm_teacher_layer': 5}))
  with pytest.raises(ConfigError, match='teacher_hf_dir=.*config.json not found'):
    check(_student_config(shared_vocab, '', **{'objective.teacher_hf_dir': str(empty)}))
  # a vocabulary that is not the teacher's: refused by train.run before anything compiles
  other = tmp_path / 'other_vocab'
  other.mkdir()
  from mlm_jax.data import vocab  # pylint: disable=g-import-not-at-top
  path = vocab.train_sentencepiece(shared_vocab['train'], str(other / 'spm_400.model'), 400)
  workdir = str(tmp_path / 'student')
  with pytest.raises(ConfigError, match="the teacher's vocabulary .* is not the run's"):
    train.run(_student_config(shared_vocab, t_dir, **{'data.vocab_path': path}), workdir)
  assert not os.path.exists(workdir)  # the failed start left nothing behind
