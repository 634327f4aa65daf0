"""mlm_jax/pruning.py: the cubic schedule's sparsity at given steps, what is prunable, magnitude
masks (per layer in a scanned stack), zeros held between re-selections, the average parameter
count, a 20-step sparse run on 8 fake devices, one-line errors."""
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import checkpointing, config_lib, models, optim, pruning, state, train
from mlm_jax.config_lib import ConfigError
from tests.conftest import corpus_config, read_records, tiny_config


def _t(**kw):
  base = {'steps': 1000, 'prune_sparsity': 0.8, 'prune_start': 0.25, 'prune_end': 0.75,
          'prune_every': 100}
  return ml_collections.ConfigDict({**base, **kw})


def test_cubic_schedule_at_given_steps():
  t = _t()
  assert pruning.ramp(t) == (250, 750)
  at = lambda s: float(pruning.sparsity_at(s, t))  # noqa: E731
  assert at(0) == at(250) == 0.0
  assert at(500) == pytest.approx(0.8 * (1 - 0.5 ** 3))  # 0.7: the cubic front-loads pruning
  assert at(375) == pytest.approx(0.8 * (1 - 0.75 ** 3))
  assert at(750) == at(1000) == pytest.approx(0.8)
  steps = np.arange(0, 1001)
  s = np.asarray(pruning.sparsity_at(steps, t))
  assert np.all(np.diff(s) >= 0)
  reselect = [k for k in range(1001) if bool(pruning.is_reselection(k, t))]
  assert reselect == [250, 350, 450, 550, 650, 750]
  assert [k for k in range(1001) if bool(pruning.is_reselection(k, _t(prune_every=300)))] == [
      250, 550, 750]  # the ramp's last step always re-selects


def _params(scan=False):
  c = tiny_config(**{'model.num_layers': 2, 'model.scan_layers': scan})
  model = models.build(c.model)
  return nn.meta.unbox(state.init_variables(model, c.data.seq_len, jax.random.key(0)))


def test_only_attention_and_mlp_kernels_are_prunable():
  params = _params()
  flags = {'/'.join(str(getattr(k, 'key', k)) for k in path): f for path, f in
           jax.tree_util.tree_leaves_with_path(pruning.prunable(params))}
  chosen = sorted(k for k, f in flags.items() if f)
  assert chosen and all(('attention' in k or 'mlp' in k) and k.endswith('kernel') for k in chosen)
  assert not any(f for k, f in flags.items() if 'embeddings' in k or 'mlm_head' in k
                 or k.endswith(('bias', 'scale')))
  # 2 layers x (q, k, v, out, mlp in, mlp out)
  assert len(chosen) == 12, chosen


def test_magnitude_keeps_the_largest_fraction_of_each_matrix_and_each_layer():
  w = jnp.asarray(np.random.default_rng(0).normal(size=(10, 20)))
  keep = pruning.magnitude_keep(w, 0.75, per_layer=False)
  assert int(keep.sum()) == 50
  assert float(jnp.abs(w)[keep].min()) > float(jnp.abs(w)[~keep].max())
  stacked = jnp.stack([w, 100 * w])  # a scanned stack: the second layer is much larger
  keep2 = pruning.magnitude_keep(stacked, 0.5, per_layer=True)
  assert int(keep2[0].sum()) == int(keep2[1].sum()) == 100  # half of EACH layer
  assert bool(jnp.all(pruning.magnitude_keep(w, 0.0, per_layer=False)))


def test_pruned_weights_stay_zero_between_reselections():
  t = _t(steps=100, prune_sparsity=0.5, prune_every=10)
  params = _params()
  pruned = pruning.after_update(params, params, 25, t)  # step 25 re-selects (ramp 25..75)
  moved = jax.tree.map(lambda w: w + 1.0, pruned)  # an update that moves every weight
  held = pruning.after_update(pruned, moved, 26, t)  # not a re-selection step
  flags = pruning.prunable(params)
  for w_old, w_moved, w_new, f in zip(jax.tree.leaves(pruned), jax.tree.leaves(moved),
                                      jax.tree.leaves(held), jax.tree.leaves(flags)):
    if f:  # zeros stay zero, the rest take the update
      assert bool(jnp.all(jnp.where(w_old == 0, w_new == 0, w_new == w_moved)))
    else:  # nothing else is touched
      assert bool(jnp.all(w_new == w_moved))
  sparsity = float(pruning.sparsity_at(25, t))
  assert sparsity == 0.0  # the ramp's first step prunes nothing yet
  later = pruning.after_update(held, held, 55, t)  # 5/10 through the ramp
  s55 = float(pruning.sparsity_at(55, t))
  for w, f in zip(jax.tree.leaves(later), jax.tree.leaves(flags)):
    if f:
      assert float(jnp.mean(w == 0)) == pytest.approx(s55, abs=1.5 / w.size + 1e-6)


def test_average_parameter_count_follows_the_schedule():
  t = _t(steps=100, prune_sparsity=0.5)
  active, average = pruning.average_params(100, 1000, 400, t)
  assert active == pytest.approx(1000 - 0.5 * 400)
  expected = np.mean([1000 - 400 * float(pruning.sparsity_at(k, t)) for k in range(1, 101)])
  assert average == pytest.approx(expected)
  assert pruning.average_params(20, 1000, 400, t) == (1000.0, 1000.0)  # before the ramp


def test_bad_prune_settings_are_one_line_errors():
  for key, value, match in (('prune_sparsity', 1.0, 'must be in \\[0, 1\\)'),
                            ('prune_sparsity', -0.1, 'must be in \\[0, 1\\)'),
                            ('prune_start', 0.8, '0 <= start <= end <= 1'),
                            ('prune_every', 0, 'must be positive')):
    c = tiny_config(**{f'train.{key}': value})
    with pytest.raises(ConfigError, match=match) as e:
      optim.validate(c.train)
    assert '\n' not in str(e.value)


@pytest.mark.slow  # a whole run: the full suite has it, the fast lane its units
def test_twenty_sparse_steps_on_eight_devices(tmp_path, shared_vocab):
  c = corpus_config(shared_vocab, **{
      'train.steps': 20, 'train.prune_sparsity': 0.5, 'train.prune_start': 0.25,
      'train.prune_end': 0.75, 'train.prune_every': 2, 'train.log_every_steps': 5,
      'mesh.data': 4, 'mesh.fsdp': 2})
  workdir = str(tmp_path / 'run')
  train.run(c, workdir)
  records = read_records(workdir, 'train')
  losses = [r['loss'] for r in records]
  assert losses[-1] < losses[0], losses
  sparsity = [r['sparsity'] for r in records]
  assert sparsity[0] == pytest.approx(0.0, abs=1e-3)
  assert sparsity[-1] == pytest.approx(0.5, abs=0.01)
  assert all(b >= a - 1e-6 for a, b in zip(sparsity, sparsity[1:]))
  assert records[-1]['active_params'] < records[-1]['average_params'] < records[0]['average_params']
  params, _ = checkpointing.restore_params(config_lib.load_run_config(workdir), workdir)
  flags = pruning.prunable(params)
  for w, f in zip(jax.tree.leaves(params), jax.tree.leaves(flags)):
    zeros = float(np.mean(np.asarray(w) == 0))
    assert zeros == pytest.approx(0.5, abs=0.01) if f else zeros < 0.01
