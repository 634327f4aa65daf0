"""SpanBERT span masking end to end: 20 steps on 8 fake devices with falling loss, then the
encoder it leaves fine-tunes through the GLUE harness."""
import os

import ml_collections
import pytest

from configs import glue as glue_config
from mlm_jax import train
from mlm_jax.finetune import runner
from tests.conftest import SHARED_DATA, corpus_config, read_records


@pytest.mark.slow
def test_span_masking_trains_and_fine_tunes(shared_vocab, tmp_path):
  pre = str(tmp_path / 'pre')
  train.run(corpus_config(shared_vocab, **{'mesh.data': 8, 'objective.masking': 'spans',
                                           'objective.whole_word': False,
                                           'objective.max_predictions': 0}), pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  ft = ml_collections.ConfigDict(glue_config.get_config('task=sst2').to_dict())
  ft.init_from.workdir = pre
  ft.mesh.data = 8
  ft.train.batch_size = ft.eval.batch_size = 16
  ft.finetune.data_dir = os.path.join(SHARED_DATA, 'glue')
  ft.finetune.max_seq_len, ft.finetune.steps = 32, 2
  ft.finetune.train_examples, ft.finetune.eval_examples = 32, 32
  assert 0 <= runner.run(ft, str(tmp_path / 'ft'))['accuracy'] <= 1
