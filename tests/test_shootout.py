"""tools/shootout.py and tools/shootout_report.py: matched encoders, equal-FLOP step counts,
cache reuse rules, verdicts on hand-built seeds, the report, and (slow) the whole command at
--tiny sizes with two objectives, fine-tuned through the GLUE harness."""
import json
import os

import pytest

from mlm_jax import models, objectives
from mlm_jax.config_lib import ConfigError
from tests.conftest import SHARED_DATA
from tools import shootout
from tools import shootout_report as report


def _opt(tmp_path, **kw):
  return shootout.Options(workdir=str(tmp_path), train_files='/corpus/wiki_*',
                          vocab_path='/v/vocab.txt', glue_dir=str(tmp_path), **kw)


@pytest.mark.parametrize('tiny', [False, True])
def test_every_run_trains_the_same_encoder_on_the_same_data(tmp_path, tiny):
  opt = _opt(tmp_path, tiny=tiny)
  configs = {o: shootout.run_config(o, opt, 100, '/v/vocab.txt') for o in shootout.RUNS}
  ref = configs[shootout.FIRST]
  for o, c in configs.items():
    models.family(c.model)  # a registered family with an encoder
    for key in shootout.MODEL_KEYS:
      own = shootout.RUNS[o][1].get(f'model.{key}')  # a run whose question is that key
      assert c.model[key] == (ref.model[key] if own is None else own), (o, key)
    assert c.data.to_dict() == ref.data.to_dict(), o
    assert c.data.vocab_path == '/v/vocab.txt'
    for key in ('batch_size', 'learning_rate', 'warmup_steps', 'decay', 'weight_decay', 'steps'):
      assert c.train[key] == ref.train[key], (o, key)
  # each run keeps its own objective (and its overrides)
  assert configs['mlm30'].objective.mask_rate == 0.3
  assert configs['span'].objective.masking == 'spans'
  assert configs['electra_gdes'].model.embedding_sharing == 'gdes'
  assert configs['electra'].objective.disc_weight == 50.0
  assert configs['mlm_no_attention_dropout'].model.attention_dropout_rate == 0.0
  assert ref.model.attention_dropout_rate == 0.1
  if not tiny:
    assert ref.data.train_files == '/corpus/wiki_*'
    assert (ref.model.num_layers, ref.model.hidden_size, ref.data.seq_len, ref.train.batch_size,
            ref.train.warmup_steps) == (2, 128, 128, 128, 100 // 12)


def test_equal_compute_uses_each_objectives_declared_flops(tmp_path):
  configs = {o: shootout.run_config(o, _opt(tmp_path), 100, '') for o in shootout.RUNS}
  per_token = {o: objectives.flops_per_token(c) for o, c in configs.items()}
  steps = shootout.equal_compute_steps(2400, per_token, shootout.FIRST)
  assert steps[shootout.FIRST] == 2400
  for o in configs:  # equal budgets within one step's worth of FLOPs
    assert abs(steps[o] * per_token[o] - 2400 * per_token[shootout.FIRST]) <= per_token[o] / 2
  assert steps['mcl'] < steps['electra'] < steps['mlm'] < steps['rts']


def test_a_cached_run_is_reused_only_when_it_trains_the_same_thing():
  want = {'train': {'steps': 1000, 'warmup_steps': 83, 'log_every_steps': 100},
          'objective': {'mask_rate': 0.15, 'masking': 'tokens'}}
  cadence = {'train': {'steps': 1000, 'warmup_steps': 83, 'log_every_steps': 50},
             'objective': {'mask_rate': 0.15}}  # logs more often; predates objective.masking
  assert shootout.config_mismatch(cadence, want) == ''
  other = {'train': {'steps': 1000, 'warmup_steps': 83}, 'objective': {'mask_rate': 0.3}}
  assert shootout.config_mismatch(other, want) == (
      "objective.mask_rate: 0.3 there, 0.15 wanted")
  close = {'train': {'steps': 985, 'warmup_steps': 82}, 'objective': {'mask_rate': 0.15}}
  far = {'train': {'steps': 970, 'warmup_steps': 80}, 'objective': {'mask_rate': 0.15}}
  assert shootout.config_mismatch(close, want) and shootout.near_enough(close, want)
  assert not shootout.near_enough(far, want)  # 3% off: a different budget
  assert not shootout.near_enough(dict(close, objective={'mask_rate': 0.3}), want)


def test_bad_options_are_one_line_errors(tmp_path):
  with pytest.raises(ConfigError, match='--objectives: bogus'):
    shootout.check(_opt(tmp_path, objectives=('mlm', 'bogus')))
  with pytest.raises(ConfigError, match='--tasks: qqp'):
    shootout.check(_opt(tmp_path, tasks=('qqp',)))
  with pytest.raises(ConfigError, match='--train_files is required'):
    shootout.check(shootout.Options(workdir=str(tmp_path), glue_dir=str(tmp_path)))
  with pytest.raises(ConfigError, match='--glue_dir'):
    shootout.check(shootout.Options(workdir=str(tmp_path), tiny=True, glue_dir='/no/such'))
  with pytest.raises(ConfigError, match='--ngram_lexicon'):
    shootout.check(_opt(tmp_path, objectives=('ernie_gram',)))
  with pytest.raises(ConfigError, match='--learning_rates'):
    shootout.check(_opt(tmp_path, learning_rates=(3.0,)))
  # the first run always runs (it sets the budget and gives the random-init architecture)
  assert shootout.check(_opt(tmp_path, objectives=('rts',))) == ['mlm', 'rts']


def test_best_learning_rate_is_the_highest_median_over_seeds():
  by_lr = {1e-4: [0.50, 0.60, 0.55], 3e-4: [0.58, 0.56, 0.57], 1e-3: [0.9], 3e-3: []}
  assert report.best_lr(by_lr) == (1e-3, [0.9])
  del by_lr[1e-3]
  assert report.best_lr(by_lr) == (3e-4, [0.58, 0.56, 0.57])  # median 0.57 > 0.55
  assert report.best_lr({1e-4: [0.5], 3e-4: [0.5]})[0] == 1e-4  # ties: the smaller rate
  assert report.best_lr({1e-4: []}) is None
  assert report.spread([0.553, 0.540, 0.562]) == '55.3 (54.0-56.2)'


def test_verdicts_judge_the_seed_ranges():
  lo, mid, hi = [0.50, 0.51, 0.52], [0.515, 0.53, 0.54], [0.55, 0.56, 0.57]
  assert report.verdict(hi, lo, 'beats') == 'reproduced'
  assert report.verdict(lo, hi, 'beats') == 'reversed'
  assert report.verdict(mid, lo, 'beats') == 'not decidable'  # ranges overlap
  assert report.verdict(mid, lo, 'matches') == 'reproduced'
  assert report.verdict(hi, lo, 'matches') == 'reproduced, ahead'
  assert report.verdict(lo, hi, 'matches') == 'not reproduced'
  # P(a > b) over all pairs, ties half: 9 pooled samples against 3 (the MLM budget check)
  mlm = [.666, .671, .648, .641, .658, .633, .586, .618, .577]
  assert report.superiority(mlm, [.552, .614, .617]) == pytest.approx(23 / 27)
  assert report.superiority([0.5, 0.6], [0.5]) == 0.75 and report.superiority(lo, hi) == 0.0
  assert report.verdict(mlm, [.552, .614, .617], 'beats') == 'not decidable'
  assert report.overall(['reproduced', 'reproduced']) == 'reproduced'
  assert report.overall(['reproduced', 'reversed']) == 'mixed: reproduced, reversed'
  assert report.overall(['reproduced', 'not decidable']) == 'partly: reproduced, not decidable'


def test_claim_rows_and_tables_from_cached_results(tmp_path):
  results = {'a': {'t1': {1e-3: [0.6, 0.61, 0.62]}, 't2': {1e-3: [0.3, 0.31, 0.32]}},
             'b': {'t1': {1e-3: [0.5, 0.51, 0.52]}, 't2': {1e-3: [0.3, 0.305, 0.33]}}}
  rows = report.claim_rows([('a', 'beats', 'b', 'A beats B'), ('a', 'beats', 'c', 'A beats C')],
                           results, ['t1', 't2'], 3)
  assert rows[0]['per_task']['t1'] == ('61.0 (60.0-62.0) vs 51.0 (50.0-52.0), P(a>b) 1.00: '
                                       'reproduced')
  assert rows[0]['verdict'] == 'partly: reproduced, not decidable'
  assert rows[1]['verdict'] == 'incomplete' and rows[1]['per_task']['t1'] == 'c not run'
  md = report.claims_markdown(rows, ['t1', 't2'])
  assert md.splitlines()[2].startswith('| A beats B (a beats b) | 61.0 (60.0-62.0) vs')
  run_rows = [dict(label='a', name='a (enc)', steps=100, flops=1.5e12, train_s=600.0,
                   results=results['a'], probe=0.1, native='acc 0.100'),
              dict(label='c', name='c (enc)', steps='90 (not run)', flops=0.0, train_s=0.0,
                   results={}, probe=None, native='-')]
  table = report.results_markdown(run_rows, ['t1', 't2'], 3).splitlines()
  assert table[2] == ('| a (enc) | 100 | 1.50e+12 | 10 min | 61.0 (60.0-62.0) @ 0.001 | '
                      '31.0 (30.0-32.0) @ 0.001 | 0.1000 | acc 0.100 |')
  assert table[3] == '| c (enc) | 90 (not run) | 0 | - | not run | not run | - | - |'
  sweep = report.sweep_markdown(run_rows, ['t1'], [1e-4, 1e-3]).splitlines()
  # a sweep with a rate lacking seeds: marked in the table, no verdict
  partial = {'a': {'t1': {1e-3: [0.6, 0.61, 0.62], 3e-3: [0.7]}},
             'b': {'t1': {1e-3: [0.5, 0.51, 0.52], 3e-3: [0.5, 0.5, 0.5]}}}
  row = report.claim_rows([('a', 'beats', 'b', 'A beats B')], partial, ['t1'], 3)[0]
  assert row['verdict'] == 'incomplete' and 'fine-tunes missing for a' in row['per_task']['t1']
  cell = report.results_markdown([dict(run_rows[0], results=partial['a'])], ['t1'], 3)
  assert '@ 0.003 (1 of 2 rates)' in cell
  assert sweep[2] == '| a | t1 | - | 61.0 (60.0-62.0) |'
  report.plot(str(tmp_path / 'p.png'), run_rows, ['t1', 't2'], 'title')
  with open(tmp_path / 'p.png', 'rb') as f:
    assert f.read(8) == b'\x89PNG\r\n\x1a\n'


@pytest.mark.slow
def test_the_command_trains_finetunes_reports_and_reuses(tmp_path, capsys):
  opt = shootout.Options(workdir=str(tmp_path / 'so'), glue_dir=os.path.join(SHARED_DATA, 'glue'),
                         objectives=('mlm', 'electra'), budget_steps=4, learning_rates=(1e-3,),
                         seeds=1, tasks=('stsb',), tiny=True, probe_steps=2)
  md = shootout.run(opt)  # one task, one seed: pooling and the tables are checked on hand-built
  root = tmp_path / 'so'  # results above
  for label in ('mlm', 'electra', 'random'):
    for task in opt.tasks:
      for k in range(opt.seeds):
        assert (root / label / 'finetune' / task / 'lr_0.001' / f'seed_{k}' /
                'finetune_result.json').is_file(), (label, task, k)
    assert json.loads((root / label / 'probe.json').read_text())['probe_predictions'] > 0
  rows = [line for line in md.splitlines() if line.startswith('| random init')
          or line.startswith('| mlm (') or line.startswith('| electra (')]
  assert len(rows) == 3 and all('not run' not in r for r in rows)
  assert '| budget check: MLM pre-training beats random initialisation' in md
  assert (root / 'shootout.png').is_file() and (root / 'shootout.json').is_file()
  capsys.readouterr()
  # Everything is cached: a second run trains and fine-tunes nothing.
  assert shootout.run(opt) == md
  out = capsys.readouterr().out
  assert out.count('reusing the finished run') == 2 and 'fine-tuning' not in out
  # The report alone, from the cache.
  assert shootout.run(shootout.Options(workdir=str(root), objectives=opt.objectives,
                                       budget_steps=4, learning_rates=(1e-3,), seeds=1,
                                       tasks=opt.tasks, tiny=True, report_only=True)) == md
  # A cache made under another fine-tuning protocol is refused.
  spec = json.loads((root / 'finetune_spec.json').read_text())
  spec['finetune'] = dict(spec['finetune'], epochs=9.0)
  (root / 'finetune_spec.json').write_text(json.dumps(spec))
  with pytest.raises(ConfigError, match='another fine-tuning protocol'):
    shootout.run(opt)


def test_without_the_reference_only_the_named_runs_train(tmp_path, monkeypatch):
  calls = []
  monkeypatch.setattr(shootout, 'train_or_reuse', lambda label, c, wd: calls.append(('pre', label)))
  monkeypatch.setattr(shootout, 'finetune_run', lambda opt, label: calls.append(('ft', label)))
  monkeypatch.setattr(shootout, 'write_report', lambda *a: '')
  shootout.run(_opt(tmp_path, objectives=('mlm_pruned50',),
                    train_reference=False))
  assert calls == [('pre', 'mlm_pruned50'), ('ft', 'mlm_pruned50')]
  calls.clear()
  shootout.run(_opt(tmp_path, objectives=('mlm_pruned50',)))  # the default
  assert calls == [('pre', 'mlm'), ('ft', 'mlm'), ('ft', 'random'), ('pre', 'mlm_pruned50'),
                   ('ft', 'mlm_pruned50')]
  calls.clear()  # several pre-training runs: each trains and fine-tunes in turn; random once
  shootout.run(_opt(tmp_path, objectives=('mlm_pruned50',), pretrain_seeds=2))
  assert calls == [('pre', 'mlm'), ('ft', 'mlm'), ('ft', 'random'),
                   ('pre', 'mlm_pretrain_seed1'), ('ft', 'mlm_pretrain_seed1'),
                   ('pre', 'mlm_pruned50'), ('ft', 'mlm_pruned50'),
                   ('pre', 'mlm_pruned50_pretrain_seed1'), ('ft', 'mlm_pruned50_pretrain_seed1')]
  # C-RTS clusters the reference's trained embeddings: without that run, one line says so
  with pytest.raises(ConfigError, match='holds no finished run: train mlm first'):
    shootout.run(_opt(tmp_path, objectives=('crts',), train_reference=False))


def test_pretraining_runs_differ_only_in_seed_and_their_fine_tunes_pool(tmp_path):
  opt = _opt(tmp_path, pretrain_seeds=2, seeds=2, tasks=('stsb',), learning_rates=(1e-3, 3e-3))
  first, second = (shootout.run_config('rts', opt, 100, '/v/vocab.txt', pretrain_seed=k)
                   for k in (0, 1))
  assert second.seed == first.seed + 1
  assert shootout.config_mismatch(second.to_dict(), first.to_dict()) == (
      f'seed: {second.seed} there, {first.seed} wanted')  # nothing else differs
  assert shootout.run_names('rts', 2) == ['rts', 'rts_pretrain_seed1']
  assert shootout.run_names('random', 2) == ['random']  # its fine-tuning seeds draw its weights
  assert shootout.expected_scores(opt, ['random', 'rts']) == {'random': 2, 'rts': 4}

  def finetuned(name, lr, k, score):
    path = tmp_path / name / 'finetune' / 'stsb' / f'lr_{lr:g}' / f'seed_{k}'
    path.mkdir(parents=True)
    (path / 'finetune_result.json').write_text(json.dumps({'metrics': {'score': score}}))

  for lr, scores in ((1e-3, (0.30, 0.31, 0.20, 0.22)), (3e-3, (0.10, 0.12, 0.11, 0.13))):
    for i, score in enumerate(scores):  # run 0's two seeds, then run 1's
      finetuned(shootout.run_name('rts', i // 2), lr, i % 2, score)
  finetuned('random', 1e-3, 0, 0.25)
  finetuned('random', 1e-3, 1, 0.26)
  pooled = shootout.pooled(shootout.cached_runs(str(tmp_path), ['rts', 'random'], ['stsb'],
                                                [1e-3, 3e-3], 2, pretrain_seeds=2))
  assert pooled['rts']['stsb'][1e-3] == [0.30, 0.31, 0.20, 0.22]
  runs = shootout.cached_runs(str(tmp_path), ['rts', 'random'], ['stsb'], [1e-3, 3e-3], 2,
                              pretrain_seeds=2)
  assert runs['rts']['stsb'][1e-3] == [[0.30, 0.31], [0.20, 0.22]]  # run 0's seeds, run 1's
  assert runs['random']['stsb'][3e-3] == [[]] and shootout.pooled(runs) == pooled
  # pooled, rts's range (20-31) overlaps random's (25-26); its first run alone (30-31) did not
  expected = shootout.expected_scores(opt, ['random', 'rts'])
  row = report.claim_rows([('rts', 'beats', 'random', 'R')], pooled, ['stsb'], expected)[0]
  assert row['verdict'] == 'incomplete'  # random's 3e-3 has not run
  pooled['random']['stsb'][3e-3] = [0.01, 0.02]
  row = report.claim_rows([('rts', 'beats', 'random', 'R')], pooled, ['stsb'], expected)[0]
  assert row['per_task']['stsb'] == ('26.0 (20.0-31.0) vs 25.5 (25.0-26.0), P(a>b) 0.50: '
                                     'not decidable')
  alone = shootout.pooled(shootout.cached_runs(str(tmp_path), ['rts'], ['stsb'], [1e-3, 3e-3], 2))
  assert report.claim_rows([('rts', 'beats', 'random', 'R')], dict(pooled, rts=alone['rts']),
                           ['stsb'], 2)[0]['verdict'] == 'reproduced'
  # a missing pre-training run leaves its label's sweep incomplete
  assert report.missing_rates(pooled['rts']['stsb'], expected['rts']) == 0
  assert report.missing_rates(pooled['rts']['stsb'], 6) == 2
  per_run = shootout.per_run_rows(opt, ['rts'], pooled, runs)
  assert per_run == [dict(label='rts', task='stsb', lr=1e-3, runs=[[0.30, 0.31], [0.20, 0.22]])]
  assert report.per_run_markdown(per_run, 2).splitlines()[2] == (
      '| rts | stsb | 0.001 | 30.5 (30.0-31.0) | 21.0 (20.0-22.0) |')


def test_the_report_pools_pre_training_runs(tmp_path):
  """write_report end to end on a hand-built cache: two finished MLM runs (one row), random."""
  opt = _opt(tmp_path, objectives=('mlm',), pretrain_seeds=2, seeds=1, tasks=('stsb',),
             learning_rates=(1e-3,))
  for k, (acc, score) in enumerate(((0.15, 0.20), (0.16, 0.17))):
    name = shootout.run_name('mlm', k)
    config = shootout.run_config('mlm', opt, 100, '/v/vocab.txt', pretrain_seed=k)
    (tmp_path / name).mkdir()
    (tmp_path / name / shootout.RUN_RECORD).write_text(json.dumps(
        {'config': json.loads(config.to_json()), 'eval': {'mlm_accuracy': acc}}))
    (tmp_path / name / 'metrics.jsonl').write_text(json.dumps(
        {'split': 'train', 'step': 100, 'tokens_per_sec': 100 * 16384 / (60.0 * (k + 1))}) + '\n')
    path = tmp_path / name / 'finetune' / 'stsb' / 'lr_0.001' / 'seed_0'
    path.mkdir(parents=True)
    (path / 'finetune_result.json').write_text(json.dumps({'metrics': {'score': score}}))
  path = tmp_path / 'random' / 'finetune' / 'stsb' / 'lr_0.001' / 'seed_0'
  path.mkdir(parents=True)
  (path / 'finetune_result.json').write_text(json.dumps({'metrics': {'score': 0.1}}))
  md = shootout.write_report(opt, ['mlm'], {'mlm': 1e6}, {'mlm': 100}, 16384)
  lines = md.splitlines()
  row = next(line for line in lines if line.startswith('| mlm ('))
  assert row.startswith('| mlm (BERT encoder; 2 of 2 pre-training runs) | 100 | 1.64e+12 | 2 min '
                        '| 18.5 (17.0-20.0) @ 0.001 |')  # train time: the runs' mean (1, 2 min)
  assert row.endswith('| - | mlm_accuracy 0.150, 0.160 |')
  assert '2 pre-training runs (config seed + 0..1) x 1 fine-tuning seeds, pooled' in md
  assert '| mlm | stsb | 0.001 | 20.0 (20.0-20.0) | 17.0 (17.0-17.0) |' in lines
  assert 'reproduced' in next(line for line in lines if line.startswith('| budget check'))
  # a third run not yet trained: the row says so, its cells keep the finished runs' sweep, and
  # the verdicts wait for it
  opt.pretrain_seeds = 3
  lines = shootout.write_report(opt, ['mlm'], {'mlm': 1e6}, {'mlm': 100}, 16384).splitlines()
  row = next(line for line in lines if line.startswith('| mlm ('))
  assert row.startswith('| mlm (BERT encoder; 2 of 3 pre-training runs) | 100 |')
  assert '| 18.5 (17.0-20.0) @ 0.001 |' in row  # no "(k of n rates)": every rate ran
  budget = next(line for line in lines if line.startswith('| budget check'))
  assert 'fine-tunes missing for mlm' in budget and budget.endswith('| incomplete |')
  # a report asked for fewer runs than the workdir holds names the ones it leaves out
  opt.pretrain_seeds = 1
  md = shootout.write_report(opt, ['mlm'], {'mlm': 1e6}, {'mlm': 100}, 16384)
  assert 'Not pooled (past --pretrain_seeds=1): mlm_pretrain_seed1.' in md
  assert '| mlm (BERT encoder) | 100 | 1.64e+12 | 1 min | 20.0 (20.0-20.0) @ 0.001 |' in md


def test_later_pre_training_runs_take_run_zeros_step_count(tmp_path, monkeypatch):
  """A reused run 0 may sit within STEP_TOLERANCE of its equal-compute count: the runs pooled
  with it train its count, so they differ from it in the seed alone."""
  trained = []

  def train_or_reuse(name, config, workdir):
    trained.append((name, config.seed, config.train.steps))
    return {'config': {'train': {'steps': 2390 if name == 'mlm' else config.train.steps}}}

  monkeypatch.setattr(shootout, 'train_or_reuse', train_or_reuse)
  monkeypatch.setattr(shootout, 'finetune_run', lambda opt, name: None)
  monkeypatch.setattr(shootout, 'write_report', lambda *a: '')
  shootout.run(_opt(tmp_path, objectives=('mlm',), pretrain_seeds=3))
  assert trained == [('mlm', 0, 2400), ('mlm_pretrain_seed1', 1, 2390),
                     ('mlm_pretrain_seed2', 2, 2390)]


def test_a_rotary_reference_gives_every_run_rotary_positions(tmp_path):
  """--reference=configs/wiki.py:size=tiny,positions=rotary: every family takes it (model and
  objective checks pass; ELECTRA's generator included)."""
  opt = _opt(tmp_path, reference='configs/wiki.py:size=tiny,positions=rotary')
  for o in shootout.RUNS:
    c = shootout.run_config(o, opt, 100, '/v/vocab.txt')
    assert c.model.position_scheme == 'rotary', o
    models.validate(c.model)
    if not set(shootout.RUNS[o][1].values()) & {shootout.CLUSTER_MAP, shootout.NGRAM_LEXICON}:
      objectives.validate(c.objective, c.model, c.data.seq_len)  # (those two read their files)
  assert shootout.run_config('mlm', _opt(tmp_path), 100, '/v/vocab.txt').model.position_scheme \
      == 'learned'
  with pytest.raises(ConfigError, match=r"--reference=configs/wiki.py:size=tiny,positions=x: "):
    shootout.check(_opt(tmp_path, objectives=('mlm',),
                        reference='configs/wiki.py:size=tiny,positions=x'))
  with pytest.raises(ConfigError, match='--reference=configs/nope.py'):
    shootout.check(_opt(tmp_path, reference='configs/nope.py'))
  # checked as each run will train: 512-token rows need more than MLM's 20 predictions
  with pytest.raises(ConfigError, match=r'seq_len=512: mlm: .*max_predictions'):
    shootout.check(_opt(tmp_path, objectives=('mlm',),
                        reference='configs/wiki.py:size=tiny,seq_len=512'))
  with pytest.raises(ConfigError, match='--reference with --tiny'):
    shootout.check(shootout.Options(workdir=str(tmp_path), tiny=True, glue_dir=str(tmp_path),
                                    reference='configs/wiki.py:size=tiny'))
  # a workdir records its reference: another one (or the default) is refused, reports included
  shootout.check_finetune_spec(opt)
  shootout.check_finetune_spec(opt, write=False)
  for other in (_opt(tmp_path), _opt(tmp_path, report_only=True)):
    with pytest.raises(ConfigError, match=r'another fine-tuning protocol or --reference \('
                       r'configs/wiki.py:size=tiny,positions=rotary\)'):
      shootout.check_finetune_spec(other, write=not other.report_only)


def test_native_eval_shows_each_runs_headline_beside_its_baseline():
  # An ELECTRA run whose discriminator answers "original" nearly everywhere shows it.
  electra_cfg = shootout.run_config('electra', shootout.Options(workdir='/tmp/x'), 10, '')
  run = {'config': electra_cfg.to_dict(),
         'eval': {'disc_accuracy': 0.874, 'baseline_disc_accuracy': 0.8735, 'mlm_accuracy': 0.19}}
  native = shootout._native(run)  # pylint: disable=protected-access
  assert native == ('disc_accuracy', 0.874, 0.8735)
  assert report.native_cell([('disc_accuracy', 0.874, 0.8735)]) == (
      'disc_accuracy 0.874 (baseline 0.874)')
  assert report.native_cell([('mlm_accuracy', 0.15, 0.05), ('mlm_accuracy', 0.165, 0.05)]) == (
      'mlm_accuracy 0.150, 0.165 (baseline 0.050, 0.050)')
  assert report.native_cell([('acc', 0.1, None)]) == 'acc 0.100'  # runs from before baselines
  assert report.native_cell([]) == '-'
