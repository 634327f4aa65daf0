"""ELECTRA model and objective: label construction, embedding sharing, sizes, 20-step runs, and
the discriminator learning to flag replacements."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from configs import electra as electra_config
from mlm_jax import models, train
from mlm_jax.models import electra as electra_model
from mlm_jax.objectives import electra, masking
from mlm_jax.state import init_variables
from tests.conftest import tiny_config
from tests.conftest import electra_run_config
from tests.conftest import read_records as _records

TOKENS = masking.SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4), vocab_size=40)


def _model_cfg(**overrides):
  c = tiny_config(**{'model.name': 'electra', 'model.vocab_size': 40, 'model.embedding_size': 32,
                     'model.dropout_rate': 0.0, 'model.attention_dropout_rate': 0.0,
                     **overrides})
  return c.model


def test_replaced_labels_hand_built():
  ids = jnp.array([[2, 10, 11, 12, 3, 0, 0]])
  seg = jnp.array([[1, 1, 1, 1, 1, 0, 0]])
  positions = jnp.array([[1, 2, 3, 0]])  # last slot unused (weight 0) and points at [CLS]
  weights = jnp.array([[1.0, 1.0, 1.0, 0.0]])
  sampled = jnp.array([[10, 99, 13, 77]])  # slot 0 samples the original token back
  corrupted = electra.substitute(ids, positions, sampled, weights)
  np.testing.assert_array_equal(corrupted, [[2, 10, 99, 13, 3, 0, 0]])
  labels = electra.replaced_labels(ids, corrupted, seg)
  # Equal-to-original sample is NOT replaced; [CLS] untouched by the unused slot; pads are 0.
  np.testing.assert_array_equal(labels, [[0, 0, 1, 1, 0, 0, 0]])


def test_detection_loss_excludes_pads_and_counts_precision_recall():
  logits = jnp.array([[3.0, -3.0, 2.0, -1.0, 5.0, 5.0]])
  labels = jnp.array([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0]])
  weights = jnp.array([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])  # last two are pads
  loss, m = electra.detection_loss(logits, labels, weights)
  bce = np.log1p(np.exp(-np.array([3.0, -3.0]))).sum() + np.log1p(np.exp([2.0, -1.0])).sum()
  np.testing.assert_allclose(loss, bce / 4, rtol=1e-5)
  ratio = lambda k: float(m[k][0] / m[k][1])  # noqa: E731
  assert ratio('disc_accuracy') == 0.5  # right on tokens 0 and 3
  assert ratio('disc_precision') == 0.5  # predicted replaced: 0 (yes), 2 (no)
  assert ratio('disc_recall') == 0.5  # replaced: 0 (found), 1 (missed)
  assert ratio('disc_replaced_fraction') == 0.5
  assert ratio('baseline_disc_accuracy') == 0.5  # answering 'original' everywhere: tokens 2, 3
  assert ratio('baseline_disc_loss') == pytest.approx(np.log(2))  # half replaced: 1 bit


def test_a_nonpositive_disc_weight_is_refused_in_one_line():
  from configs import mcl as mcl_config  # pylint: disable=g-import-not-at-top
  from mlm_jax import objectives  # pylint: disable=g-import-not-at-top
  from mlm_jax.config_lib import ConfigError  # pylint: disable=g-import-not-at-top
  for c in (electra_config.get_config('size=tiny'), mcl_config.get_config('size=small')):
    c.unlock()
    objectives.validate(c.objective, c.model, c.data.seq_len)  # 50 passes
    for bad in (0.0, -1.0):
      c.objective.disc_weight = bad
      with pytest.raises(ConfigError, match=rf'^objective.disc_weight={bad}: must be > 0'):
        objectives.validate(c.objective, c.model, c.data.seq_len)


def test_sampling_never_draws_special_or_out_of_vocabulary_tokens():
  logits = jnp.zeros((2, 3, 48)).at[..., jnp.array([0, 2, 4, 45])].set(50.0)
  allowed = electra.sampling_mask(TOKENS, 48)
  sampled = electra.sample_tokens(jax.random.key(0), logits, allowed)
  assert not np.isin(np.asarray(sampled), [0, 1, 2, 3, 4]).any()
  assert (np.asarray(sampled) < 40).all()


def test_generator_sizes_follow_the_paper():
  small = electra_config.get_config('size=small').model
  g = electra_model.generator_config(small)
  assert (g.hidden_size, g.num_heads, g.mlp_dim, g.num_layers) == (64, 1, 256, 12)
  g = electra_model.generator_config(electra_config.get_config('size=base').model)
  assert (g.hidden_size, g.num_heads, g.mlp_dim) == (256, 4, 1024)
  assert electra_config.get_config('size=large').objective.max_predictions == 130


def _params(cfg, seed=0):
  model = models.MODELS['electra'].module(cfg)  # one compiled init, not one per op
  return nn.meta.unbox(jax.jit(lambda rng: init_variables(model, 16, rng))(jax.random.key(seed)))


def test_shapes_and_embedding_projection():
  cfg = _model_cfg()
  params = _params(cfg)
  assert params['embeddings']['word_embeddings']['embedding'].shape == (40, 32)
  assert params['discriminator']['embeddings_project']['kernel'].shape == (32, 64)
  assert params['generator']['embeddings_project']['kernel'].shape == (32, 16)
  model = models.MODELS['electra'].module(cfg)
  ids = jnp.full((2, 16), 7)
  apply = jax.jit(model.apply, static_argnames='branch')  # one compile per branch, not per op
  gen = apply({'params': params}, ids, jnp.ones_like(ids), jnp.tile(jnp.arange(16), (2, 1)),
              jnp.zeros((2, 3), jnp.int32), branch='generator')
  disc = apply({'params': params}, ids, jnp.ones_like(ids), jnp.tile(jnp.arange(16), (2, 1)),
               branch='discriminator')
  assert gen.shape == (2, 3, 40) and disc.shape == (2, 16)
  # No projection when the embeddings are as wide as the discriminator.
  assert 'embeddings_project' not in _params(_model_cfg(**{'model.embedding_size': 0}))[
      'discriminator']


def _branch_grads(cfg, branch):
  model = models.MODELS['electra'].module(cfg)
  params = _params(cfg)
  ids = jax.random.randint(jax.random.key(1), (2, 16), 5, 40)
  pos = jnp.tile(jnp.arange(16), (2, 1))

  def loss(p):
    out = model.apply({'params': p}, ids, jnp.ones_like(ids), pos,
                      jnp.tile(jnp.arange(4), (2, 1)), branch=branch)
    return jnp.sum(out ** 2)
  return jax.jit(jax.grad(loss))(params)


def _norm(tree):
  return float(sum(np.abs(np.asarray(x)).sum() for x in jax.tree.leaves(tree)))


@pytest.mark.slow
def test_tied_sharing_one_table_gets_gradient_from_both_losses():
  cfg = _model_cfg(**{'model.embedding_sharing': 'tied'})
  for branch in ('generator', 'discriminator'):
    g = _branch_grads(cfg, branch)
    assert _norm(g['embeddings']['word_embeddings']) > 0, branch


def test_gdes_disc_loss_leaves_shared_table_alone_and_trains_delta():
  cfg = _model_cfg(**{'model.embedding_sharing': 'gdes'})
  params = _params(cfg)
  deltas = ('word_delta', 'position_delta', 'token_type_delta')  # DeBERTa-v3: word, position
  assert sorted(params['disc_embeddings']) == sorted(deltas + ('norm',))  # no tables of its own
  for delta in deltas:
    assert not np.asarray(params['disc_embeddings'][delta]).any()  # deltas start at zero
  g = _branch_grads(cfg, 'discriminator')
  assert _norm(g['embeddings']) == 0.0  # nothing of the generator's moves, positions included
  for delta in deltas:
    assert _norm(g['disc_embeddings'][delta]) > 0, delta
  gen = _branch_grads(cfg, 'generator')['embeddings']
  assert _norm(gen['word_embeddings']) > 0 and _norm(gen['position_embeddings']) > 0



@pytest.mark.slow
def test_gdes_twenty_steps_loss_falls(shared_vocab, tmp_path):
  """GDES on a data x FSDP mesh (tied sharing on 8-way data: the 100-step test below)."""
  workdir = str(tmp_path / 'gdes')
  final = train.run(electra_run_config(shared_vocab, 'gdes', **{'mesh.data': 4, 'mesh.fsdp': 2}),
                    workdir)
  records = _records(workdir, 'train')
  assert [r['step'] for r in records] == [5, 10, 15, 20]
  for key in ('loss', 'mlm_accuracy', 'disc_accuracy', 'disc_precision', 'disc_recall',
              'disc_replaced_fraction', 'mfu'):
    assert key in records[0], key
  assert records[-1]['loss'] < records[0]['loss'] - 1.0, [r['loss'] for r in records]
  assert 'baseline_mlm_accuracy' in final and final['perplexity'] > 1


@pytest.mark.slow
def test_discriminator_learns_to_flag_an_early_generators_samples(shared_vocab, tmp_path):
  """Tied sharing on 8-way data for 100 steps: the loss falls, and while the generator is still
  near random its samples are easy to spot, so the discriminator must beat always answering
  "original" by a clear margin: its loss below the entropy of the replaced fraction, recall and
  precision well above zero. (A label written to the wrong position, or a discriminator fed the
  [MASK]ed row, fails this; at the shoot-out's budget the later, better generator's samples are
  what it cannot tell apart, README.)"""
  workdir = str(tmp_path / 'run')
  final = train.run(electra_run_config(shared_vocab, 'tied', **{
      'train.steps': 100, 'train.batch_size': 32, 'train.warmup_steps': 40,
      'train.learning_rate': 1e-3, 'train.log_every_steps': 50, 'mesh.data': 8}), workdir)
  records = _records(workdir, 'train')
  assert [r['step'] for r in records] == [50, 100]
  assert records[-1]['loss'] < records[0]['loss'] - 1.0, [r['loss'] for r in records]
  assert 'baseline_mlm_accuracy' in final and final['perplexity'] > 1
  assert final['baseline_disc_accuracy'] == pytest.approx(1 - final['disc_replaced_fraction'])
  last = records[-1]
  p = last['disc_replaced_fraction']
  constant = -(p * np.log(p) + (1 - p) * np.log(1 - p))  # BCE of the best constant guess
  # per batch, so at most the pooled fraction's entropy (concavity), and close to it
  assert constant - 0.01 < last['baseline_disc_loss'] <= constant + 1e-6
  assert last['mlm_accuracy'] < 0.1  # the generator is still weak: the regime under test
  assert last['disc_loss'] < 0.9 * last['baseline_disc_loss'], last
  assert last['disc_recall'] > 0.1 and last['disc_precision'] > 0.5, last
