"""SpanBERT span masking end to end: 20 steps on 8 fake devices with falling loss, then the
encoder it leaves fine-tunes through the GLUE harness."""
import pytest

from mlm_jax import train
from tests.conftest import corpus_config, glue_smoke_finetune, read_records


@pytest.mark.slow
def test_span_masking_trains_and_fine_tunes(shared_vocab, tmp_path):
  pre = str(tmp_path / 'pre')
  train.run(corpus_config(shared_vocab, **{'mesh.data': 8, 'objective.masking': 'spans',
                                           'objective.whole_word': False,
                                           'objective.max_predictions': 0}), pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
