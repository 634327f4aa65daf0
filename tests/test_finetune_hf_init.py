"""init_from.hf_dir: a Hugging Face BertForMaskedLM's encoder, pooler and MLM head arrive in the
fine-tuning model; the generative (zero-shot) scores equal transformers' MLM logits."""
import os

import jax
import ml_collections
import numpy as np
import pytest
import torch
import transformers

from configs import glue as glue_config
from mlm_jax.finetune import runner
from mlm_jax.finetune.model import FinetuneModel
from tests.conftest import SHARED_DATA

WORDS = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'it', 'was', 'great', 'terrible', 'a',
         'the', 'film', 'movie', 'is', 'and', 'of', '.', ',', "'", 's', 'good', 'bad', 'not']


def _hf_dir(tmp_path):
  d = str(tmp_path / 'hf')
  os.makedirs(d)
  with open(os.path.join(d, 'vocab.txt'), 'w') as f:
    f.write('\n'.join(WORDS) + '\n')
  transformers.BertTokenizerFast(os.path.join(d, 'vocab.txt'), do_lower_case=True).save_pretrained(d)
  cfg = transformers.BertConfig(vocab_size=len(WORDS), hidden_size=32, num_hidden_layers=2,
                                num_attention_heads=4, intermediate_size=64,
                                max_position_embeddings=64)
  torch.manual_seed(0)
  model = transformers.BertForMaskedLM(cfg)
  with torch.no_grad():  # non-trivial biases, so a missed tensor shows
    for p in model.parameters():
      p.add_(0.02 * torch.randn_like(p))
  model.save_pretrained(d)
  return d, model.eval()


@pytest.mark.slow
def test_zero_shot_scores_equal_transformers_mlm_logits(tmp_path):
  hf_dir, hf_model = _hf_dir(tmp_path)
  c = ml_collections.ConfigDict(glue_config.get_config('task=sst2,zero_shot').to_dict())
  c.init_from.hf_dir = hf_dir
  c.finetune.data_dir = os.path.join(SHARED_DATA, 'glue')
  c.finetune.train_file = os.path.join(SHARED_DATA, 'glue', 'SST-2', 'dev.tsv')
  c.finetune.eval_examples, c.finetune.max_seq_len = 8, 32
  data, _, load = runner.build_task(c, None)
  assert c.model.hidden_size == 32 and c.model.name == 'bert'
  model = FinetuneModel(c.model, 'generative', 2)
  dev = data.dev['dev']
  args = (dev['input_ids'], dev['segment_ids'], dev['positions'], dev['masked_positions'],
          dev['token_type_ids'])
  fresh = model.init(jax.random.key(0), *args)['params']
  fresh = jax.tree.map(lambda x: np.asarray(x.value if hasattr(x, 'value') else x), fresh,
                       is_leaf=lambda x: hasattr(x, 'value'))
  params = load(fresh)
  ours = np.asarray(model.apply({'params': params}, *args))
  with torch.no_grad():
    logits = hf_model(input_ids=torch.from_numpy(dev['input_ids']).long(),
                      attention_mask=torch.from_numpy(dev['segment_ids']).long(),
                      token_type_ids=torch.from_numpy(dev['token_type_ids']).long()).logits
  theirs = logits.numpy()[np.arange(8), dev['masked_positions'][:, 0]]
  np.testing.assert_allclose(ours, theirs, atol=1e-4)
  # The template and verbalizer came from configs/glue.py: ... it was [MASK] . [SEP]
  ids = dev['input_ids'][0]
  m = dev['masked_positions'][0, 0]
  assert ids[m] == 4 and [WORDS[i] for i in ids[m - 2:m + 3]] == ['it', 'was', '[MASK]', '.',
                                                                   '[SEP]']
  assert data.info['verbalizer_ids'] == [WORDS.index('terrible'), WORDS.index('great')]
