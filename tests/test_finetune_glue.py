"""GLUE readers on the real shared files: published counts, quirks, and one-line errors."""
import os

import pytest

from mlm_jax.config_lib import ConfigError
from mlm_jax.finetune import glue
from tests.conftest import SHARED_DATA

GLUE = os.path.join(SHARED_DATA, 'glue')

# Published counts (SOURCES.md "Checks"; GLUE paper). The shared CoLA dev.tsv is the in-domain
# dev set (527); GLUE's CoLA dev (1043) is in-domain + out-of-domain (516).
COUNTS = {('sst2', 'train'): 67349, ('sst2', 'dev'): 872, ('cola', 'train'): 8551,
          ('cola', 'dev'): 527, ('mrpc', 'train'): 3668, ('mrpc', 'dev'): 408,
          ('mrpc', 'test'): 1725, ('rte', 'train'): 2490, ('rte', 'dev'): 277,
          ('stsb', 'train'): 5749, ('stsb', 'dev'): 1500}


@pytest.mark.parametrize('task,split', sorted(COUNTS))
def test_counts_equal_published(task, split):
  (examples,) = glue.read_split(GLUE, glue.get_task(task), split).values()
  assert len(examples) == COUNTS[task, split]
  assert all(e.label is None for e in examples) == (split == 'test')


def test_cola_glue_dev_is_in_domain_plus_out_of_domain():
  task = glue.get_task('cola')
  ood = glue.read_tsv(os.path.join(GLUE, 'CoLA', 'out_of_domain_dev.tsv'), task)
  assert len(ood) + COUNTS['cola', 'dev'] == 1043


def test_label_balance_sst2_rte_mrpc():
  def positives(task, split, label=1):
    (ex,) = glue.read_split(GLUE, glue.get_task(task), split).values()
    return sum(e.label == label for e in ex)
  assert positives('sst2', 'train') == 37569
  assert positives('mrpc', 'train') == 2474
  assert positives('rte', 'train', 0) == 1249  # entailment


def test_mrpc_byte_order_mark_is_dropped():
  with open(os.path.join(GLUE, 'MRPC', 'dev.tsv'), 'rb') as f:
    assert f.read(3) == b'\xef\xbb\xbf'
  (dev,) = glue.read_split(GLUE, glue.get_task('mrpc'), 'dev').values()
  assert dev[0].text_a.startswith('He said the foodservice') and dev[0].label == 1
  assert dev[0].text_b.startswith('"The foodservice')  # quotes are text


def test_rte_unbalanced_quote_does_not_swallow_rows():
  (train,) = glue.read_split(GLUE, glue.get_task('rte'), 'train').values()
  row = next(e for e in train if e.where.endswith(':2166'))
  assert row.text_a.startswith('"') and '\t' not in row.text_a
  assert all('\n' not in e.text_a for e in train)


def test_stsb_scores_are_floats():
  (dev,) = glue.read_split(GLUE, glue.get_task('stsb'), 'dev').values()
  assert dev[0].label == 5.0 and min(e.label for e in dev) == 0.0


def test_all_nine_tasks_declared():
  assert sorted(glue.TASKS) == sorted(['cola', 'sst2', 'mrpc', 'qqp', 'stsb', 'mnli', 'qnli',
                                       'rte', 'wnli'])
  assert glue.split_files(glue.TASKS['mnli'], 'dev') == ('dev_matched', 'dev_mismatched')


def test_unknown_task_is_one_line():
  with pytest.raises(ConfigError, match=r"finetune.task='sst3' is not a GLUE task"):
    glue.get_task('sst3')


def test_label_outside_set_names_file_and_row(tmp_path):
  path = tmp_path / 'dev.tsv'
  path.write_text('sentence\tlabel\ngood\t1\nbad\t2\n')
  with pytest.raises(ConfigError) as e:
    glue.read_tsv(str(path), glue.get_task('sst2'))
  assert f'{path}:3' in str(e.value) and "'2'" in str(e.value) and '\n' not in str(e.value)


def test_malformed_row_names_file_and_row(tmp_path):
  path = tmp_path / 'dev.tsv'
  path.write_text('index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\tonly one\n')
  with pytest.raises(ConfigError, match=f'{path}:3: malformed row'):
    glue.read_tsv(str(path), glue.get_task('rte'))


def test_missing_file_names_data_dir(tmp_path):
  with pytest.raises(ConfigError, match='finetune.data_dir'):
    glue.read_split(str(tmp_path), glue.get_task('qnli'), 'dev')
