"""What each document filter (data/filters.py) removes from the training split: documents and
words per stage, stages applied in order (a document counts against the first stage that
drops it), plus the classifier scores' quantiles for choosing a threshold."""
import dataclasses

import numpy as np
import tensorflow as tf

from mlm_jax.data import doc_classifier, filters, pipeline, tasks

QUANTILES = (0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9)


def count(data_cfg, workdir: str, max_docs: int = 0) -> dict:
  """{'documents', 'words', 'stages': [{stage, removed, removed_words}], 'kept', 'kept_words',
  'scores': {quality|toxicity: {quantile: score}}} over the training documents."""
  f = filters.spec(data_cfg)
  unfiltered = filters.FilterSpec(date_field=f.date_field, domain_field=f.domain_field)
  keeps = filters.predicates(f)
  scorers = {k: doc_classifier.score_fn(doc_classifier.load(
      getattr(f, k + '_model'), f'data.filter.{k}_model'))
      for k in ('quality', 'toxicity') if getattr(f, k + '_model')}

  def flags(ex):
    return {'keep': tf.stack([keep(ex) for _, keep in keeps]) if keeps else tf.zeros([0], bool),
            'words': tf.size(tf.strings.split(ex['text'])),
            **{k: s(ex['text']) for k, s in scorers.items()}}

  stages = [{'stage': name, 'removed': 0, 'removed_words': 0} for name, _ in keeps]
  totals = {'documents': 0, 'words': 0}
  scores = {k: [] for k in scorers}
  for spec, _, has_val in pipeline.source_specs(data_cfg, workdir):
    ds = tasks.make_source(dataclasses.replace(spec, filter=unfiltered), has_val).get_dataset(
        'train', shuffle=False)
    ds = tasks.keep_document(data_cfg.min_doc_words)(ds).map(flags)
    for ex in ds.as_numpy_iterator():
      if max_docs and totals['documents'] >= max_docs:
        break
      totals['documents'] += 1
      totals['words'] += int(ex['words'])
      for k in scores:
        scores[k].append(float(ex[k]))
      failed = np.flatnonzero(~ex['keep'])
      if failed.size:
        stages[failed[0]]['removed'] += 1
        stages[failed[0]]['removed_words'] += int(ex['words'])
  kept = totals['documents'] - sum(s['removed'] for s in stages)
  kept_words = totals['words'] - sum(s['removed_words'] for s in stages)
  return {**totals, 'stages': stages, 'kept': kept, 'kept_words': kept_words,
          'scores': {k: {q: float(np.quantile(v, q)) for q in QUANTILES} if v else {}
                     for k, v in scores.items()}}


def table(counts: dict) -> str:
  """The counts as a plain-text table."""
  n, w = max(counts['documents'], 1), max(counts['words'], 1)
  lines = [f'{"stage":<10} {"documents removed":>20} {"words removed":>22}',
           f'{"(input)":<10} {counts["documents"]:>20,} {counts["words"]:>22,}']
  for s in counts['stages']:
    lines.append(f'{s["stage"]:<10} {s["removed"]:>12,} ({s["removed"] / n:5.1%}) '
                 f'{s["removed_words"]:>14,} ({s["removed_words"] / w:5.1%})')
  lines.append(f'{"kept":<10} {counts["kept"]:>12,} ({counts["kept"] / n:5.1%}) '
               f'{counts["kept_words"]:>14,} ({counts["kept_words"] / w:5.1%})')
  for k, qs in counts['scores'].items():
    lines.append(f'{k} score quantiles: ' + ', '.join(f'{q:.0%} {v:.3f}' for q, v in qs.items()))
  return '\n'.join(lines)
