"""tools/shootout.py: matched encoders, equal-FLOP step counts from each objective's declared
FLOPs, the table. (The command itself is run end to end with --tiny in the README.)"""
import pytest

from mlm_jax import models, objectives
from tools import shootout


@pytest.mark.parametrize('tiny', [False, True])
def test_every_run_trains_the_same_encoder_on_the_same_data(tiny):
  configs = {o: shootout.run_config(o, '/v/spm.model', 100, tiny) for o in shootout.RUNS}
  ref = configs[next(iter(shootout.RUNS))]
  for o, c in configs.items():
    models.family(c.model)  # a registered family with an encoder
    for key in shootout.MODEL_KEYS:
      assert c.model[key] == ref.model[key], (o, key)
    assert c.data.to_dict() == ref.data.to_dict(), o
    assert c.data.vocab_path == '/v/spm.model'
    for key in ('batch_size', 'learning_rate', 'warmup_steps', 'decay', 'weight_decay', 'steps'):
      assert c.train[key] == ref.train[key], (o, key)
  assert len({c.objective.name for c in configs.values()}) == len(configs)
  if not tiny:
    assert (ref.model.num_layers, ref.model.hidden_size, ref.data.seq_len,
            ref.train.batch_size) == (4, 192, 128, 32)


def test_equal_compute_uses_each_objectives_declared_flops():
  configs = {o: shootout.run_config(o, '', 100) for o in shootout.RUNS}
  per_token = {o: shootout.flops_per_token(c) for o, c in configs.items()}
  for o, c in configs.items():
    assert per_token[o] == objectives.flops_per_token(c)
  first = next(iter(shootout.RUNS))
  steps = shootout.equal_compute_steps(150, per_token, first)
  assert steps[first] == 150
  for o in configs:  # equal budgets within one step's worth of FLOPs
    assert abs(steps[o] * per_token[o] - 150 * per_token[first]) <= per_token[o] / 2 + 1e-6


def test_equal_compute_steps_and_table():
  steps = shootout.equal_compute_steps(200, {'a': 10.0, 'b': 11.0, 'c': 40.0}, 'a')
  assert steps == {'a': 200, 'b': 182, 'c': 50}
  md = shootout.table([dict(name='mlm (BERT encoder)', steps=200, flops=1.5e12, wall_s=90.0,
                            probe_accuracy=0.12345, probe_loss=5.0, native='mlm_accuracy 0.100')])
  assert md.splitlines()[2] == ('| mlm (BERT encoder) | 200 | 1.50e+12 | 1.5 min | 0.1235 | '
                                '5.0000 | mlm_accuracy 0.100 |')
