"""configs/wiki.py end to end: a WordPiece vocabulary built by tools/build_vocab.py from the
Wikipedia extracts, then 20 training steps on 8 devices with falling loss."""
import os
import subprocess
import sys

import pytest

from mlm_jax import train
from mlm_jax.data import vocab
from tests.conftest import REPO, SHARED_DATA, read_records

WIKI = os.path.join(SHARED_DATA, 'pretrain', 'enwiki_mlm_pipeline', '*_wiki_00.gz')

pytestmark = pytest.mark.slow  # builds a WordPiece vocabulary and trains on Wikipedia


@pytest.mark.skipif(not os.path.isdir(os.path.join(SHARED_DATA, 'pretrain')),
                    reason='needs ../shared/data')
def test_wiki_config_trains_with_a_wordpiece_vocab_from_build_vocab(tmp_path):
  out = subprocess.run(
      [sys.executable, 'tools/build_vocab.py', '--config=configs/wiki.py',
       f'--workdir={tmp_path}', f'--config.data.train_files={WIKI}', '--type=wordpiece',
       '--size=2000', f'--out={tmp_path}/wordpiece'],
      cwd=REPO, capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-2000:]
  assert 'wordpiece vocabulary of 2000 tokens' in out.stdout
  v = vocab.load(str(tmp_path / 'wordpiece' / 'vocab.txt'))
  assert (v.tokens.pad, v.tokens.cls, v.tokens.sep, v.tokens.mask) == (0, 2, 3, 4)

  sys.path.insert(0, REPO)
  from configs import wiki  # pylint: disable=g-import-not-at-top
  import ml_collections  # pylint: disable=g-import-not-at-top
  c = ml_collections.ConfigDict(wiki.get_config('size=tiny').to_dict())
  c.data.train_files = WIKI
  c.data.vocab_path = str(tmp_path / 'wordpiece' / 'vocab.txt')
  c.model.vocab_size = 2000
  c.data.shuffle_buffer = 200
  c.train.update(steps=20, batch_size=16, learning_rate=2e-3, warmup_steps=2,
                 log_every_steps=5, peak_flops=1e11)
  c.eval.update(every_steps=0, steps=2, batch_size=16)
  c.checkpoint.every_steps = 20
  c.mesh.data = 8
  final = train.run(c, str(tmp_path / 'run'))
  records = read_records(str(tmp_path / 'run'), 'train')
  assert records[-1]['loss'] < records[0]['loss'] - 0.5
  assert all(r['packing_efficiency'] > 0.95 for r in records)
  assert final['mlm_accuracy'] > 0
  # Hugging Face export carries the WordPiece tokenizer: the same ids as training, specials
  # included.
  from mlm_jax.export import hf_export  # pylint: disable=g-import-not-at-top
  from transformers import AutoModelForMaskedLM, AutoTokenizer  # pylint: disable=g-import-not-at-top
  hf_export.export(str(tmp_path / 'run'), str(tmp_path / 'hf'))
  tok = AutoTokenizer.from_pretrained(str(tmp_path / 'hf'))
  AutoModelForMaskedLM.from_pretrained(str(tmp_path / 'hf'))
  text = 'Anarchism is a political philosophy and movement that is sceptical of authority.'
  assert tok(text, add_special_tokens=False)['input_ids'] == v.seqio_vocab.encode(text)
  assert (tok.mask_token_id, tok.cls_token_id, tok.sep_token_id, tok.pad_token_id) == (4, 2, 3, 0)
