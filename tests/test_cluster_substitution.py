"""C-RTS as the authors' code does it: the cluster map file, drawing substitutes from the count
matrix (temperature), the count update from the detector's errors, the counts carried in the
TrainState (micro-batches, checkpoints), the map-building tool, and 20 training steps."""
import functools
import os
import subprocess
import sys

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax
import pytest

from configs import substitution as sub_config
from mlm_jax import checkpointing, cluster_map, models, optim, state
from mlm_jax import steps as steps_lib
from mlm_jax import train
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import cluster_substitution as crts, masking
from tests.conftest import REPO, corpus_config, read_records

TOKENS = masking.SpecialTokens(pad=0, mask=4, cls=2, sep=3, special=(0, 1, 2, 3, 4),
                               vocab_size=20)
# Clusters: specials 0-4 in cluster 0 with token 5; 6-9 -> 1; 10-14 -> 2; 15-19 -> 3.
CLUSTER = np.array([0] * 6 + [1] * 4 + [2] * 5 + [3] * 5, np.int32)


def _members():
  return [jnp.asarray(a) for a in crts.members(CLUSTER, TOKENS, 4)]


def test_cluster_map_round_trip_and_one_line_errors(tmp_path):
  path = str(tmp_path / 'map.txt')
  cluster_map.save(CLUSTER, path)
  assert open(path).read().splitlines()[:7] == ['0'] * 6 + ['1']
  np.testing.assert_array_equal(cluster_map.load(path, 20), CLUSTER)
  assert cluster_map.num_clusters(cluster_map.load(path)) == 4
  for text, vocab, words in [(None, 20, 'no such file'), ('0\n1\nx\n', 3, "'x' is not"),
                             ('0\n1\n', 5, 'maps 2 tokens'), ('0\n-1\n', 2, 'cluster id >= 0')]:
    bad = str(tmp_path / 'bad.txt')
    if text is not None:
      open(bad, 'w').write(text)
    with pytest.raises(ConfigError) as e:
      cluster_map.load(bad if text is not None else str(tmp_path / 'missing.txt'), vocab)
    assert words in str(e.value) and '\n' not in str(e.value)
  with pytest.raises(ConfigError, match='is empty'):
    cluster_map.load('')


def test_members_exclude_special_tokens():
  order, start, size = crts.members(CLUSTER, TOKENS, 4)
  np.testing.assert_array_equal(size, [1, 4, 5, 5])  # cluster 0 keeps only token 5
  for c in range(4):
    got = order[start[c]:start[c] + size[c]]
    assert set(got) == set(np.where(CLUSTER == c)[0]) - set(TOKENS.special)


def test_cluster_logits_are_row_min_max_times_beta():
  counts = jnp.array([[1, 3, 5, 1], [2, 2, 2, 2], [7, 0, 0, 7], [1, 1, 1, 9]], jnp.int32)
  size = jnp.array([1, 4, 5, 0])  # cluster 3 has nothing to draw
  logits = np.asarray(crts.cluster_logits(counts, 2.0, size))
  np.testing.assert_allclose(logits[0, :3], [0.0, 1.0, 2.0])  # (c - 1) / 4 x 2
  np.testing.assert_allclose(logits[1, :3], [0.0, 0.0, 0.0])  # zero range: uniform
  np.testing.assert_allclose(logits[2, :3], [2.0, 0.0, 0.0])
  assert np.isneginf(logits[:, 3]).all()


@pytest.mark.parametrize('beta', [0.5, 2.0, 8.0])
def test_substitute_cluster_frequencies_follow_the_temperature(beta):
  """Originals all in cluster 1; its counts row [1, 1, 5, 3]: the substitute's cluster is drawn
  with softmax(beta x [0, 0, 1, 0.5]), members uniformly, nothing else changes."""
  counts = jnp.array([[1, 1, 1, 1], [1, 1, 5, 3], [1, 1, 1, 1], [1, 1, 1, 1]], jnp.int32)
  B, L = 64, 40
  ids = jnp.full((B, L), 7, jnp.int32)
  chosen = jnp.zeros((B, L), bool).at[:, ::2].set(True)  # 20 chosen per row
  subs = np.asarray(crts.draw_substitutes(jax.random.key(0), ids, chosen, counts,
                                          jnp.asarray(CLUSTER), *_members(), beta, 20))
  np.testing.assert_array_equal(subs[:, 1::2], 7)  # unchosen positions untouched
  drawn = subs[:, ::2].reshape(-1)
  assert not np.isin(drawn, TOKENS.special).any()
  freq = np.bincount(CLUSTER[drawn], minlength=4) / drawn.size
  want = np.exp(beta * np.array([0, 0, 1, 0.5]))
  want /= want.sum()
  np.testing.assert_allclose(freq, want, atol=0.03)
  members = drawn[CLUSTER[drawn] == 2]  # uniform within the cluster
  np.testing.assert_allclose(np.bincount(members, minlength=15)[10:15] / members.size, 0.2,
                             atol=0.05)


def test_count_update_moves_each_cell_one_vote():
  counts = jnp.ones((4, 4), jnp.int32)
  orig = jnp.array([[1, 1, 2, 3, 3, 3, 0]])
  seen = jnp.array([[2, 2, 2, 1, 1, 1, 0]])
  wrong = jnp.array([[True, True, False, True, False, False, True]])
  weights = jnp.array([[1, 1, 1, 1, 1, 1, 0]], jnp.float32)  # the last is padding
  outcomes = set()
  for seed in range(40):
    new = np.asarray(crts.update_counts(jax.random.key(seed), counts, orig, seen, wrong, weights))
    assert new[1, 2] == 2  # two wrong votes: +1 once, not +2
    assert new[2, 2] == 0  # right: -1
    assert new[0, 0] == 1  # padding never votes
    outcomes.add(int(new[3, 1]))  # one wrong and two right votes: one of them wins
    untouched = np.ones((4, 4), bool)
    untouched[[1, 2, 3], [2, 2, 1]] = False
    assert (new[untouched] == 1).all()
  assert outcomes == {0, 2}


def _model_and_loss(tmp_path, micro=1):
  c = ml_collections.ConfigDict(sub_config.get_config('objective=crts,tiny').to_dict())
  path = str(tmp_path / 'map.txt')
  cluster_map.save(np.arange(c.model.vocab_size) % 8, path)
  c.objective.crts_cluster_map, c.objective.crts_clusters = path, 8
  c.train.micro_batches = micro
  model = models.build(c.model)
  tokens = masking.SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), c.model.vocab_size)
  return c, model, crts.make_loss(model, c.objective, tokens)


def _batch(B=8, L=32, seed=0):
  ids = jax.random.randint(jax.random.key(seed), (B, L), 5, 60).at[:, 0].set(2)
  return {'input_ids': ids, 'segment_ids': jnp.ones_like(ids),
          'positions': jnp.broadcast_to(jnp.arange(L), (B, L))}


@pytest.mark.parametrize('micro', [1, 2])
def test_train_step_carries_the_counts_eval_leaves_them(tmp_path, micro):
  c, model, loss_fn = _model_and_loss(tmp_path, micro)
  tx = optax.adamw(1e-3)
  init = state.make_init_fn(model, tx, 32, lambda: crts.init_state(c.objective))
  st = init(jax.random.key(0))
  np.testing.assert_array_equal(st.objective_state['crts_counts'], np.ones((8, 8)))
  step = jax.jit(lambda s, b, r: steps_lib.train_step(s, b, r, loss_fn=loss_fn, tx=tx,
                                                      schedule=optim.schedule(c.train),
                                                      num_micro=micro))
  new, _ = step(st, _batch(), jax.random.key(1))
  moved = np.abs(np.asarray(new.objective_state['crts_counts']) - 1)
  assert moved.sum() > 0 and moved.max() <= micro  # one vote per cell per micro-batch
  # compiled, or traced only: op-by-op execution of a whole step costs seconds per call
  out = jax.jit(functools.partial(steps_lib.eval_step, loss_fn=loss_fn))(
      new.params, _batch(seed=2), jax.random.key(3), new.objective_state)
  assert 'detection_accuracy' in out
  eval_out = jax.eval_shape(lambda p, b, r, s: loss_fn(p, b, r, train=False, objective_state=s),
                            new.params, _batch(seed=2), jax.random.key(3), new.objective_state)
  assert eval_out.new_state is None


def test_validation_names_the_cluster_count(tmp_path):
  c, _, _ = _model_and_loss(tmp_path)
  c.objective.crts_clusters = 5
  with pytest.raises(ConfigError, match='has 8 clusters; set objective.crts_clusters=8'):
    crts.validate(c.objective)
  c.objective.crts_cluster_map = ''
  with pytest.raises(ConfigError, match='crts_cluster_map is empty'):
    crts.validate(c.objective)


def test_older_checkpoint_without_objective_state_restores(tmp_path):
  """A checkpoint written before TrainState carried objective_state: all else restores."""
  import orbax.checkpoint as ocp  # pylint: disable=g-import-not-at-top
  c, model, _ = _model_and_loss(tmp_path)
  tx = optim.make_optimizer(c.train)
  st = state.make_init_fn(model, tx, c.data.seq_len)(jax.random.key(0))
  old = {k: getattr(st, k) for k in ('step', 'params', 'opt_state', 'nonfinite_steps',
                                      'first_nonfinite_step')}
  directory = str(tmp_path / 'w' / 'checkpoints')
  manager = ocp.CheckpointManager(directory, item_handlers={'state': ocp.StandardCheckpointHandler()})
  manager.save(3, args=ocp.args.Composite(state=ocp.args.StandardSave(old)))
  manager.wait_until_finished()
  train.write_run_config(c, str(tmp_path / 'w'))
  params, step = checkpointing.restore_params(c, str(tmp_path / 'w'))  # crts: counts expected
  assert step == 3
  np.testing.assert_array_equal(jax.tree.leaves(params)[0], jax.tree.leaves(st.params)[0])
  _, abstract = checkpointing.one_device_abstract(c)
  ckpt = checkpointing.Checkpointer(str(tmp_path / 'w'), keep=1, every_steps=1)
  restored = ckpt.restore(3, abstract)
  np.testing.assert_array_equal(restored.objective_state['crts_counts'], np.zeros((8, 8)))
  # A soup's checkpoint (an empty objective state) restores the same way.
  ckpt.save(4, state.new_state(st.params, tx, step=4), force=True)
  ckpt.wait()
  assert int(ckpt.restore(4, abstract).step) == 4
  # And a crts checkpoint restores under a stateless objective (its counts are left out).
  ckpt.save(5, restored.replace(step=restored.step + 2), force=True)
  ckpt.close()
  c.objective.name = 'rts'
  assert checkpointing.restore_params(c, str(tmp_path / 'w'))[1] == 5


@pytest.mark.slow
def test_twenty_steps_counts_checkpointed_and_tool_builds_a_map(shared_vocab, tmp_path):
  c, _, _ = _model_and_loss(tmp_path)
  c.train.peak_flops = 1e11
  c.data.update(corpus_config(shared_vocab).data.to_dict())
  vocab_size = c.model.vocab_size  # embedding rows: at least the vocabulary's tokens
  c.mesh.data = 8
  workdir = str(tmp_path / 'crts')
  final = train.run(c, workdir)
  records = read_records(workdir, 'train')
  assert [r['step'] for r in records] == [5, 10, 15, 20]
  assert records[-1]['loss'] < records[0]['loss'] - 0.05
  assert 0.05 < records[-1]['substituted_fraction'] < 0.2 and 'detection_accuracy' in final
  _, abstract = checkpointing.one_device_abstract(c)
  ckpt = checkpointing.Checkpointer(workdir, keep=1, every_steps=1)
  counts = np.asarray(ckpt.restore(20, abstract).objective_state['crts_counts'])
  ckpt.close()
  assert counts.shape == (8, 8) and (counts != 1).any()  # the detector's errors were counted
  # The tool: k-means of this run's embedding table.
  out = str(tmp_path / 'built.txt')
  run = subprocess.run([sys.executable, 'tools/build_cluster_map.py', f'--workdir={workdir}',
                        '--clusters=6', f'--out={out}'], cwd=REPO, capture_output=True, text=True)
  assert run.returncode == 0, run.stderr[-2000:]
  built = cluster_map.load(out, vocab_size)
  assert cluster_map.num_clusters(built) == 6 and 'crts_clusters=6' in run.stdout
  bad = subprocess.run([sys.executable, 'tools/build_cluster_map.py', f'--workdir={workdir}',
                        '--clusters=1', f'--out={out}'], cwd=REPO, capture_output=True, text=True)
  assert bad.returncode != 0 and bad.stderr.strip().splitlines()[-1].startswith(
      'error: --clusters=1 must be in [2,')
  assert os.path.getsize(out) > 0  # the earlier map is left whole
