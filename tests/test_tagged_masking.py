"""Time-aware and entity masking: the rule-based taggers of the input pipeline (data/taggers.py)
on hand-built text and token rows, tagged masking (masking.choose_tagged) on hand-built tags,
its realised rate, one-line errors, and 20 steps on 8 fake devices then a GLUE fine-tune."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mlm_jax import train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import taggers
from mlm_jax.objectives import masking
from mlm_jax.tokens import SpecialTokens
from tests.conftest import corpus_config, glue_smoke_finetune, read_records, tiny_config

TEXT = ('In March 3, 1990 the Bank of England met. On 4 July 1776 they declared it. In the 1990s '
        'and several years later 1500 people came, in 2015. It was on 1990-03-03 in New York City.')


def _found(spans, text=TEXT):
  return [text[a:b] for a, b in spans(text)]


def test_time_tagger_finds_dates_months_and_years_not_vague_ones():
  assert _found(taggers._time_spans) == [  # pylint: disable=protected-access
      'March 3, 1990', '4 July 1776', '1500', '2015', '1990-03-03']


def test_entity_tagger_finds_capitalised_runs_not_sentence_initial_function_words():
  assert _found(taggers._entity_spans) == [  # pylint: disable=protected-access
      'March', 'Bank of England', 'July', 'New York City']


def test_tags_map_text_spans_to_whole_tokens_per_segment():
  pieces = ['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]', 'born', 'on', 'march', '3', ',', '19',
            '90', 'in', 'paris', 'year']
  word_start = np.ones(len(pieces), bool)
  word_start[11] = False  # '19' '##90'
  word_start[9] = False  # ',' glued to the word before, as a tokenizer's text would be
  tagger = taggers.Tagger('time', pieces, word_start, (0, 1, 2, 3, 4))
  ids = np.array([[2, 5, 6, 7, 8, 9, 10, 11, 12, 13, 3, 2, 14, 10, 11, 3, 0, 0]])
  seg = np.array([[1] * 11 + [2] * 5 + [0] * 2])
  tags = tagger.tag(ids, seg)[0]
  assert tags[3:8].tolist() == [1, 1, 1, 1, 1]  # march 3 , 19 ##90
  assert tags[[0, 1, 2, 8, 9, 10, 11, 12]].tolist() == [0] * 8
  assert tags[13:15].tolist() == [2, 2]  # the year in segment 2 is a unit of its own
  assert not tags[15:].any()


def _tags_row():
  ids = jnp.array([[2] + list(range(10, 40)) + [3]])
  tags = jnp.zeros_like(ids).at[0, 3:6].set(1).at[0, 10:12].set(2).at[0, 20].set(3)
  return ids, jnp.ones_like(ids), tags


def test_tagged_units_go_first_whole_and_unchosen_ones_are_never_masked():
  ids, seg, tags = _tags_row()
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), 50)
  spec = masking.MaskingSpec(0.3, 0, 0.8, 0.1, 'tagged', tag_rate=0.5)
  units = {1: [3, 4, 5], 2: [10, 11], 3: [20]}
  for s in range(20):
    m = masking.mask_batch(jax.random.key(s), ids, seg, tokens, spec, None, tags)
    w = np.asarray(m['masked_weights'][0]) > 0
    chosen = set(np.asarray(m['masked_positions'][0])[w].tolist())
    assert len(chosen) == 9, 'round(0.3 x 30) tokens'
    taken = [u for u, at in units.items() if set(at) <= chosen]
    assert len(taken) == 2, 'ceil(0.5 x 3) units, each whole'
    for u, at in units.items():
      if u not in taken:
        assert not set(at) & chosen, 'a tagged unit not taken is not masked'


@pytest.mark.parametrize('rate', [0.15, 0.30])
@pytest.mark.parametrize('length', [128, 512])
def test_realised_rate_with_tags_equals_the_configured_rate(rate, length):
  rng = np.random.default_rng(0)
  ids = jnp.asarray(rng.integers(5, 50, (32, length)))
  tags = np.zeros((32, length), np.int32)
  for b in range(32):  # a few short units per row
    for u, start in enumerate(rng.choice(length - 10, 6, replace=False), 1):
      tags[b, start + 1:start + 1 + rng.integers(1, 4)] = u
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), 50)
  spec = masking.MaskingSpec(rate, 0, 0.8, 0.1, 'tagged', tag_rate=0.3)
  m = masking.mask_batch(jax.random.key(0), ids, jnp.ones_like(ids), tokens, spec, None,
                         jnp.asarray(tags))
  realised = float(m['masked_weights'].sum()) / (32 * length)
  assert abs(realised - rate) < 0.005, realised


@pytest.mark.parametrize('case', ['no_tagger', 'no_tagged_masking', 'unknown'])
def test_bad_tagger_settings_are_one_line(case):
  keys = {'no_tagger': {'objective.masking': 'tagged'},
          'no_tagged_masking': {'data.tagger': 'time'},
          'unknown': {'data.tagger': 'dates', 'objective.masking': 'tagged'}}[case]
  with pytest.raises(ConfigError, match='data.tagger') as e:
    validation.validate(tiny_config(**keys), 8)
  assert '\n' not in str(e.value)


def test_entity_tagger_refuses_an_uncased_vocabulary(tmp_path):
  from mlm_jax.data import vocab  # pylint: disable=g-import-not-at-top
  (tmp_path / 'vocab.txt').write_text('[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\nbank\n')
  with pytest.raises(ConfigError, match='data.tagger=entities.*lower-cases'):
    taggers.build('entities', vocab.load(str(tmp_path / 'vocab.txt')))


@pytest.mark.slow
def test_twenty_steps_fall_and_the_encoder_fine_tunes(shared_vocab, tmp_path):
  rng = np.random.default_rng(0)
  words = open(shared_vocab['train'], encoding='utf-8').read().split()[:5000]
  lines = [' '.join(list(rng.choice(words, 12)) + [f'on {d} March {y},'] + list(rng.choice(words, 12)))
           for d, y in zip(rng.integers(1, 29, 400), rng.integers(1900, 2030, 400))]
  (tmp_path / 'dated.txt').write_text('\n'.join(lines) + '\n')
  dated = str(tmp_path / 'dated.txt')
  c = corpus_config(shared_vocab, **{'data.tagger': 'time', 'objective.masking': 'tagged',
                                     'objective.tag_rate': 1.0, 'mesh.data': 8,
                                     'data.task': 'files', 'data.train_files': dated,
                                     'data.validation_files': dated})
  pre = str(tmp_path / 'pre')
  train.run(c, pre)
  records = read_records(pre, 'train')
  assert records[-1]['step'] == 20 and records[-1]['loss'] < records[0]['loss'] - 0.5
  assert 0 <= glue_smoke_finetune(pre, str(tmp_path / 'ft'))['accuracy'] <= 1
  # the pipeline tagged real years and dates of the corpus
  from mlm_jax.data import pipeline  # pylint: disable=g-import-not-at-top
  source = pipeline.build_source(c.data, pre)
  batches = pipeline.BatchIterator(pipeline.make_dataset(source, 'train', c.data.seq_len, 64,
                                                         train=True, seed=0))
  batch = next(batches)
  assert batch['unit_tags'].shape == batch['input_ids'].shape and batch['unit_tags'].any()
  text = source.vocab.seqio_vocab.decode(
      [int(i) for i in batch['input_ids'][batch['unit_tags'] > 0][:8]])
  assert any(ch.isdigit() for ch in text), text
