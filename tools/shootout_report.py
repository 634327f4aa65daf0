"""The shoot-out's report from cached results: the best learning rate per run and task, the
results table, the claims table (each paper's claim, our measurement, a verdict) and a PNG plot.
Pure functions of the numbers (no JAX, no flags), so tools/shootout.py --report_only and the
tests share them.

A result is {lr: [score per fine-tune]} per (run, task), pooled over the run's pre-training runs
when there are several; scores are fractions (accuracy, Pearson / Spearman mean), shown x100.
"""
import statistics


def best_lr(by_lr: dict[float, list[float]]) -> tuple[float, list[float]] | None:
  """(lr, scores) with the highest median over fine-tunes (ties: the smaller lr); None if no lr has
  results. The papers pick the rate on the dev set they report, and so does this."""
  done = {lr: s for lr, s in by_lr.items() if s}
  if not done:
    return None
  lr = max(sorted(done), key=lambda k: statistics.median(done[k]))
  return lr, done[lr]


def missing_rates(by_lr: dict[float, list[float]], seeds: int) -> int:
  """How many of the swept rates lack some of their SEEDS fine-tunes: a best rate over a partial
  sweep is not the protocol's, so verdicts wait for it (cells show it)."""
  return sum(len(scores) < seeds for scores in by_lr.values())


def _expected(seeds: int | dict[str, int], run: str) -> int:
  """Fine-tunes per rate for RUN: SEEDS, or SEEDS[RUN] when runs differ (several pre-training
  runs pooled for some, one for random init)."""
  return seeds[run] if isinstance(seeds, dict) else seeds


def spread(scores: list[float]) -> str:
  """'55.3 (54.0-56.2)': median (min-max), x100."""
  return (f'{100 * statistics.median(scores):.1f} '
          f'({100 * min(scores):.1f}-{100 * max(scores):.1f})')


def native_cell(natives: list) -> str:
  """A row's own evaluation over its pre-training runs, from (key, value, baseline or None)
  each: 'key v1, v2 (baseline b1, b2)'; '-' when none logged."""
  if not natives:
    return '-'
  cell = f'{natives[0][0]} ' + ', '.join(f'{v:.3f}' for _, v, _ in natives)
  bases = [b for _, _, b in natives if b is not None]
  return cell + (f' (baseline {", ".join(f"{b:.3f}" for b in bases)})' if bases else '')


def superiority(a: list[float], b: list[float]) -> float:
  """P(a > b): the fraction of (a, b) fine-tune pairs that a wins, ties counting half (the
  Mann-Whitney U over len(a) x len(b)). Unlike the min-max rule below it does not get stricter
  as pooled pre-training runs add samples; it is shown beside the verdict, not used by it."""
  wins = sum((x > y) + 0.5 * (x == y) for x in a for y in b)
  return wins / (len(a) * len(b))


def verdict(a: list[float], b: list[float], relation: str) -> str:
  """Whether a's seeds show the claimed relation to b's, judged on the min-max ranges.

  beats:   a's range above b's -> 'reproduced'; below -> 'reversed'; overlapping -> 'not
           decidable'.
  matches: a's range below b's -> 'not reproduced'; otherwise 'reproduced' ('reproduced, ahead'
           when a's range is above b's)."""
  above, below = min(a) > max(b), max(a) < min(b)
  if relation == 'beats':
    return 'reproduced' if above else 'reversed' if below else 'not decidable'
  if relation == 'matches':
    return 'not reproduced' if below else 'reproduced, ahead' if above else 'reproduced'
  raise ValueError(f'relation {relation!r}: beats or matches')


def overall(verdicts: list[str]) -> str:
  """One verdict over the tasks: agreed by all, else the disagreement spelled out."""
  if not verdicts:
    return 'not run'
  if len(set(verdicts)) == 1:
    return verdicts[0]
  if any(v in ('reversed', 'not reproduced') for v in verdicts):
    return 'mixed: ' + ', '.join(verdicts)
  return 'partly: ' + ', '.join(verdicts)


def claim_rows(claims, results: dict, tasks, seeds: int | dict[str, int]) -> list[dict]:
  """One row per claim: per task a's and b's best-lr scores and the verdict, and the overall.
  RESULTS: {run: {task: {lr: [scores]}}}; a side whose sweep lacks fine-tunes (SEEDS per rate,
  or SEEDS[run]) gets no verdict."""
  rows = []
  for a, relation, b, text in claims:
    per_task, verdicts = {}, []
    for task in tasks:
      by_a, by_b = results.get(a, {}).get(task, {}), results.get(b, {}).get(task, {})
      ra, rb = best_lr(by_a), best_lr(by_b)
      partial = [x for x, by in ((a, by_a), (b, by_b))
                 if missing_rates(by, _expected(seeds, x))]
      if ra and rb and partial:
        per_task[task] = (f'{spread(ra[1])} vs {spread(rb[1])}: fine-tunes missing for '
                          f'{", ".join(partial)}')
      elif ra and rb:
        v = verdict(ra[1], rb[1], relation)
        verdicts.append(v)
        per_task[task] = (f'{spread(ra[1])} vs {spread(rb[1])}, P(a>b) '
                          f'{superiority(ra[1], rb[1]):.2f}: {v}')
      else:
        per_task[task] = 'not run' if not (ra or rb) else f'{b if ra else a} not run'
    rows.append(dict(claim=text, a=a, b=b, relation=relation, per_task=per_task,
                     verdict=overall(verdicts) if len(verdicts) == len(tasks) else
                     'incomplete'))
  return rows


def claims_markdown(rows: list[dict], tasks) -> str:
  head = '| claim | ' + ' | '.join(tasks) + ' | verdict |'
  lines = [head, '|' + '---|' * (len(tasks) + 2)]
  for r in rows:
    lines.append(f'| {r["claim"]} ({r["a"]} {r["relation"]} {r["b"]}) | '
                 + ' | '.join(r['per_task'][t] for t in tasks) + f' | {r["verdict"]} |')
  return '\n'.join(lines)


def results_markdown(rows: list[dict], tasks, seeds: int) -> str:
  """ROWS: dicts with name, steps, flops, train_s, results {task: {lr: [scores]}}, probe
  (accuracy or None), native (str) and optionally expected (fine-tunes per rate, else SEEDS).
  A partial sweep is marked '(k of n rates)'."""
  head = ('| run (encoder fine-tuned) | steps | train FLOPs | train time | '
          + ' | '.join(f'{t}: median (min-max) @ lr' for t in tasks)
          + ' | probe acc. (biased toward MLM) | native eval |')
  lines = [head, '|---|---:|---:|---:|' + '---|' * len(tasks) + '---:|---|']
  for r in rows:
    cells = []
    for t in tasks:
      by_lr = r['results'].get(t, {})
      best = best_lr(by_lr)
      missing = missing_rates(by_lr, r.get('expected', seeds))
      note = f' ({len(by_lr) - missing} of {len(by_lr)} rates)' if missing else ''
      cells.append(f'{spread(best[1])} @ {best[0]:g}{note}' if best else 'not run')
    train = f'{r["train_s"] / 60:.0f} min' if r.get('train_s') else '-'
    flops = f'{r["flops"]:.2e}' if r.get('flops') else '0'
    probe = (f'{r["probe"]:.4f}{r.get("probe_note", "")}' if r.get('probe') is not None
             else '-')
    lines.append(f'| {r["name"]} | {r["steps"]} | {flops} | {train} | ' + ' | '.join(cells)
                 + f' | {probe} | {r.get("native", "-")} |')
  return '\n'.join(lines)


def sweep_markdown(rows: list[dict], tasks, learning_rates) -> str:
  """Every learning rate's median (min-max), so the choice of rate can be checked."""
  lines = ['| run | task | ' + ' | '.join(f'lr {lr:g}' for lr in learning_rates) + ' |',
           '|---|---|' + '---|' * len(learning_rates)]
  for r in rows:
    for t in tasks:
      by_lr = r['results'].get(t, {})
      lines.append(f'| {r["label"]} | {t} | ' + ' | '.join(
          spread(by_lr[lr]) if by_lr.get(lr) else '-' for lr in learning_rates) + ' |')
  return '\n'.join(lines)


def per_run_markdown(rows: list[dict], pretrain_seeds: int) -> str:
  """ROWS: dicts with label, task, lr and runs ([scores] per pre-training run): each run's
  fine-tuning seeds at the label's best pooled rate, the run-to-run spread beside theirs."""
  lines = ['| run | task | best lr | ' + ' | '.join(
      f'pre-training run {k}' for k in range(pretrain_seeds)) + ' |',
           '|---|---|---|' + '---|' * pretrain_seeds]
  for r in rows:
    lines.append(f'| {r["label"]} | {r["task"]} | {r["lr"]:g} | ' + ' | '.join(
        spread(s) if s else '-' for s in r['runs']) + ' |')
  return '\n'.join(lines)


def plot(path: str, rows: list[dict], tasks, title: str = '') -> None:
  """One panel per task: each run's seeds at its best lr (dots), median (bar), random init
  (dashed line, when present)."""
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use('Agg')
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 0.45 * len(rows) + 1.6),
                           squeeze=False)
  labels = [r['label'] for r in rows]
  for ax, task in zip(axes[0], tasks):
    for y, r in enumerate(rows):
      best = best_lr(r['results'].get(task, {}))
      if not best:
        continue
      scores = [100 * s for s in best[1]]
      ax.plot([min(scores), max(scores)], [y, y], color='0.6', lw=3)
      ax.scatter(scores, [y] * len(scores), s=14, color='C0', zorder=3)
      ax.scatter([statistics.median(scores)], [y], marker='|', s=200, color='C3', zorder=4)
      if r['label'] == 'random':
        ax.axvline(statistics.median(scores), color='0.4', ls='--', lw=1)
    ax.set_yticks(range(len(rows)), labels)
    ax.invert_yaxis()
    ax.set_xlabel(f'{task} dev score x100 (best lr; seeds, median |)')
    ax.grid(axis='x', alpha=0.3)
  if title:
    fig.suptitle(title, fontsize=9)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
