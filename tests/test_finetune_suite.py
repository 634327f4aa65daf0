"""The GLUE table: medians, spread, average, caching and typed overrides."""
import json

import pytest

from configs import glue as glue_config
from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import runner, suite


def test_summary_medians_spread_and_average():
  results = {'sst2': [{'accuracy': a, 'score': a} for a in (0.9, 0.8, 0.85)],
             'cola': [{'matthews_corr': m, 'score': m} for m in (0.3, 0.5, 0.1)]}
  s = suite.summarize(results)
  assert s['tasks']['sst2']['score'] == 0.85 and s['tasks']['sst2']['min'] == 0.8
  assert s['tasks']['cola']['max'] == 0.5
  assert s['glue_average'] == pytest.approx((0.85 + 0.3) / 2)
  table = suite.markdown(s)
  assert '| sst2 | accuracy 85.0 | 85.0 | 80.0-90.0 | 3 |' in table
  assert 'GLUE average** | | 57.5' in table


def test_finished_run_is_cached(tmp_path):
  (tmp_path / runner.RESULT).write_text(json.dumps({'metrics': {'score': 0.5}}))
  assert suite.run_one(None, 'sst2', 0, str(tmp_path)) == {'score': 0.5}


def test_typed_overrides():
  import ml_collections
  c = ml_collections.ConfigDict(glue_config.get_config('task=rte,preset=electra,size=small').to_dict())
  assert c.finetune.epochs == 10 and c.finetune.layerwise_lr_decay == 0.8
  assert c.train.learning_rate == 3e-4 and c.finetune.head_activation == 'gelu'
  suite.set_override(c, 'finetune.train_examples=500')
  suite.set_override(c, 'finetune.zero_shot=true')
  assert c.finetune.train_examples == 500 and c.finetune.zero_shot is True
  with pytest.raises(ConfigError, match='unknown config key finetune.nope'):
    suite.set_override(c, 'finetune.nope=1')
  with pytest.raises(ConfigError,
                     match=r"^--set finetune.train_examples='many': not of the key's type, int$"):
    suite.set_override(c, 'finetune.train_examples=many')
  assert c.finetune.train_examples == 500  # left as it was
