"""Document filters (data/filters.py), the in-pipeline classifier (data/doc_classifier.py) and
the per-stage counts (data/filter_counts.py), on hand-built jsonl corpora."""
import json

import numpy as np
import pytest
import tensorflow as tf

from mlm_jax import validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.data import doc_classifier, filter_counts, filters, pipeline
from tests.conftest import corpus_config, read_records, tiny_config

WORDS = 'alpha beta gamma delta epsilon zeta eta theta iota kappa'.split()


def _doc(i, **fields):
  return {'text': ' '.join(WORDS[(i + k) % len(WORDS)] for k in range(12)) + f' doc{i}',
          **fields}


def _write(path, docs):
  with open(path, 'w', encoding='utf-8') as f:
    for d in docs:
      f.write(json.dumps(d) + '\n')
  return str(path)


def _config(path, **filter_keys):
  c = tiny_config(**{'data.task': 'files', 'data.format': 'jsonl', 'data.train_files': path,
                     'data.validation_files': path})
  for k, v in filter_keys.items():
    c.data.filter[k] = v
  return c


def _train_texts(config, tmp_path):
  ds = pipeline.documents(config.data, str(tmp_path / 'w'), 'train')
  return [t.decode() for t in ds.map(lambda ex: ex['text']).as_numpy_iterator()]


def test_year_and_host_parsing():
  years = filters.year(tf.constant(['2019-05-01', 'May 2013', '1999', '', 'n/a', '12-2020']))
  assert years.numpy().tolist() == [2019, 2013, 1999, -1, -1, 2020]
  hosts = filters.host(tf.constant(['https://En.Wikipedia.org/wiki/X?y=1', 'http://a.b:80/',
                                    ' Books ']))
  assert [h.decode() for h in hosts.numpy()] == ['en.wikipedia.org', 'a.b', 'books']


def test_age_and_domain_filters_keep_exactly_the_matching_documents(tmp_path):
  dates = ['2012-01-01', '2016-06-30', '2019', '', '2022-02-02']
  urls = ['https://en.wikipedia.org/a', 'https://news.example.com/b', 'https://wikipedia.org/c',
          'https://badwikipedia.org/d', 'http://blog.example.com/e']
  docs = [_doc(i, date=d, url=u) for i, (d, u) in enumerate(zip(dates, urls))]
  path = _write(tmp_path / 'c.jsonl', docs)
  kept = _train_texts(_config(path, date_field='date', min_year=2015, max_year=2020), tmp_path)
  assert kept == [docs[1]['text'], docs[2]['text']]  # undated (3) dropped
  kept = _train_texts(_config(path, domain_field='url', domains='wikipedia.org'), tmp_path)
  assert kept == [docs[0]['text'], docs[2]['text']]  # suffix match on a dot only
  kept = _train_texts(_config(path, domain_field='url', exclude_domains='example.com'), tmp_path)
  assert kept == [docs[i]['text'] for i in (0, 2, 3)]


def test_validation_split_is_never_filtered(tmp_path):
  docs = [_doc(i, date='2001') for i in range(4)]
  path = _write(tmp_path / 'c.jsonl', docs)
  config = _config(path, date_field='date', min_year=2010)
  validation.validate(config, 8)
  assert _train_texts(config, tmp_path) == []
  ds = pipeline.documents(config.data, str(tmp_path / 'w'), 'validation')
  assert len(list(ds.as_numpy_iterator())) == 4


def test_subset_is_a_stable_fraction_and_nested(tmp_path):
  docs = [_doc(i) for i in range(400)]
  path = _write(tmp_path / 'c.jsonl', docs)
  half = _train_texts(_config(path, subset_fraction=0.5), tmp_path)
  quarter = _train_texts(_config(path, subset_fraction=0.25), tmp_path)
  assert 160 < len(half) < 240 and 60 < len(quarter) < 140
  assert set(quarter) <= set(half)  # one hash: smaller subsets are inside larger ones
  assert _train_texts(_config(path, subset_fraction=0.5), tmp_path) == half


def test_classifier_score_is_the_mean_weight_of_hashed_ngrams():
  model = doc_classifier.DocClassifier(np.linspace(-1, 1, 64).astype(np.float32), 0.25)
  ids = doc_classifier.feature_ids(['Red fish, blue fish.'], 64)[0]
  assert len(ids) == 4 + 3  # unigrams red fish blue fish, bigrams of neighbours
  expected = 1 / (1 + np.exp(-(0.25 + model.weights[ids].mean())))
  assert doc_classifier.scores(model, ['Red fish, blue fish.'])[0] == pytest.approx(expected)
  assert doc_classifier.scores(model, ['...'])[0] == pytest.approx(1 / (1 + np.exp(-0.25)))


def test_classifier_learns_and_round_trips(tmp_path):
  rng = np.random.default_rng(0)
  good = [' '.join(rng.choice(['the', 'river', 'valley', 'museum', 'history'], 15))
          for _ in range(60)]
  bad = [' '.join(rng.choice(['lol', 'click', 'here', 'free', 'win'], 15)) for _ in range(60)]
  model = doc_classifier.fit(good, bad, buckets=1024, label='quality')
  assert (doc_classifier.scores(model, good) > 0.5).all()
  assert (doc_classifier.scores(model, bad) < 0.5).all()
  path = str(tmp_path / 'q.npz')
  doc_classifier.save(model, path)
  again = doc_classifier.load(path, 'k')
  assert again.label == 'quality' and np.array_equal(again.weights, model.weights)
  (tmp_path / 'junk.npz').write_text('no')
  with pytest.raises(ConfigError, match='k=.*junk.npz: not a document classifier'):
    doc_classifier.load(str(tmp_path / 'junk.npz'), 'k')


def test_quality_and_inverse_filters_partition_the_documents(tmp_path):
  good = [f'the river valley museum history record {i}' for i in range(20)]
  bad = [f'lol click here free win now {i}' for i in range(20)]
  model = doc_classifier.fit(good, bad, buckets=1024)
  doc_classifier.save(model, str(tmp_path / 'q.npz'))
  path = _write(tmp_path / 'c.jsonl', [{'text': t} for t in good[:5] + bad[:5]])
  keys = dict(quality_model=str(tmp_path / 'q.npz'), quality_threshold=0.5)
  kept = _train_texts(_config(path, **keys), tmp_path)
  dropped = _train_texts(_config(path, quality_inverse=True, **keys), tmp_path)
  assert kept == good[:5] and dropped == bad[:5]
  # The same model as a toxicity filter drops what it scores high.
  toxic = dict(toxicity_model=str(tmp_path / 'q.npz'), toxicity_threshold=0.5)
  assert _train_texts(_config(path, **toxic), tmp_path) == bad[:5]


def test_counts_charge_each_document_to_the_first_stage_that_drops_it(tmp_path):
  docs = [_doc(0, date='2001', url='https://a.org'), _doc(1, date='2001', url='https://b.org'),
          _doc(2, date='2020', url='https://b.org'), _doc(3, date='2020', url='https://a.org')]
  path = _write(tmp_path / 'c.jsonl', docs)
  config = _config(path, date_field='date', min_year=2010, domain_field='url', domains='a.org')
  counts = filter_counts.count(config.data, str(tmp_path / 'w'))
  words = len(docs[0]['text'].split())
  assert counts['documents'] == 4 and counts['words'] == 4 * words
  assert counts['stages'] == [{'stage': 'age', 'removed': 2, 'removed_words': 2 * words},
                              {'stage': 'domain', 'removed': 1, 'removed_words': words}]
  assert counts['kept'] == 1 and counts['kept_words'] == words
  assert 'age' in filter_counts.table(counts)


@pytest.mark.parametrize('keys, message', [
    ({'subset_fraction': 0.0}, 'data.filter.subset_fraction=0.0 must be in'),
    ({'date_field': 'd', 'min_year': 2020, 'max_year': 2010}, 'min_year=2020 is after'),
    ({'min_year': 2010}, 'need data.filter.date_field'),
    ({'domains': 'a.org'}, 'need data.filter.domain_field'),
    ({'quality_model': '/nonexistent.npz'}, 'data.filter.quality_model=/nonexistent.npz: no such'),
    ({'toxicity_threshold': 1.5}, 'toxicity_threshold=1.5 must be in'),
])
def test_bad_filter_settings_fail_in_one_line(tmp_path, keys, message):
  path = _write(tmp_path / 'c.jsonl', [_doc(0)])
  with pytest.raises(ConfigError, match=message) as e:
    validation.validate(_config(path, **keys), 8)
  assert '\n' not in str(e.value)


def test_metadata_filters_refuse_formats_without_fields(shared_vocab):
  config = corpus_config(shared_vocab)
  config.data.filter.update(date_field='date', min_year=2000)
  with pytest.raises(ConfigError, match='format lines does not carry'):
    validation.validate(config, 8)


@pytest.mark.slow  # a training run
def test_filtered_run_trains_with_falling_loss(shared_vocab, tmp_path):
  from mlm_jax import train  # pylint: disable=g-import-not-at-top
  config = corpus_config(shared_vocab, **{
      'data.filter.subset_fraction': 0.5, 'train.steps': 20, 'train.batch_size': 16,
      'train.log_every_steps': 5, 'train.warmup_steps': 2, 'eval.every_steps': 0,
      'eval.steps': 2, 'mesh.data': 8})
  train.run(config, str(tmp_path / 'run'))
  losses = [r['loss'] for r in read_records(str(tmp_path / 'run'), 'train')]
  assert losses[-1] < losses[0]


@pytest.mark.slow  # a training run
def test_tools_train_a_classifier_and_count_its_filter(tmp_path, shared_vocab):
  import subprocess  # pylint: disable=g-import-not-at-top
  import sys  # pylint: disable=g-import-not-at-top
  from tools import train_doc_classifier  # pylint: disable=g-import-not-at-top
  good = _write(tmp_path / 'good.jsonl', [{'text': f'the river valley museum history {i}'}
                                          for i in range(30)])
  bad = _write(tmp_path / 'bad.jsonl', [{'text': f'lol click here free win {i}'}
                                        for i in range(30)])
  pos = train_doc_classifier.read(good, 'jsonl', 'text', 1, 0)
  neg = train_doc_classifier.read(bad, 'jsonl', 'text', 1, 0)
  assert len(pos) == len(neg) == 30
  model, accuracy = train_doc_classifier.train(pos, neg, 1024, 1e-4, 'q')
  assert accuracy == 1.0
  doc_classifier.save(model, str(tmp_path / 'q.npz'))
  root = __file__.rsplit('/tests/', 1)[0]
  mixed = _write(tmp_path / 'mixed.jsonl', [{'text': t} for t in pos[:4] + neg[:6]])
  out = subprocess.run(
      [sys.executable, f'{root}/tools/data_filters.py', '--config=configs/smoke.py',
       f'--workdir={tmp_path}/w', '--config.data.task=files', '--config.data.format=jsonl',
       f'--config.data.train_files={mixed}', f'--config.data.validation_files={mixed}',
       f'--config.data.filter.quality_model={tmp_path}/q.npz', f'--json={tmp_path}/c.json'],
      cwd=root, capture_output=True, text=True, timeout=300, check=True)
  assert 'quality' in out.stdout
  counts = json.load(open(tmp_path / 'c.json'))
  assert counts['stages'][0]['removed'] == 6 and counts['kept'] == 4
