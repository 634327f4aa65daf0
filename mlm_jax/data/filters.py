"""Document filters of the training split, as input-pipeline stages (pure TensorFlow, so the
iterator position still checkpoints). Each stage is one of the data choices studied in "A
Pretrainer's Guide to Training Data" (Longpre et al. 2023) or the stability-gap recipes (Guo et
al. 2024), applied in this order:

subset     keep a fixed, hash-chosen fraction of the documents (stability gap, strategy 1:
           a properly sized subset trained for several epochs instead of one pass)
age        keep documents dated within [min_year, max_year] (the guide's data age; the date is
           a metadata field, e.g. the crawl or publication date)
domain     keep (or drop) documents whose domain field, or the host of a URL field, is listed
           (the guide's domain coverage; a host matches its listed suffix: wikipedia.org keeps
           en.wikipedia.org)
quality    keep documents a quality classifier scores at or above a threshold (the guide's
           quality filter, a local linear classifier of reference-like text in place of the
           unreleased GLaM/PaLM one: mlm_jax/data/doc_classifier.py); inverse: drop them
toxicity   drop documents a toxicity classifier scores at or above a threshold (the guide's
           toxicity filter, with a local classifier in place of the Perspective API); inverse:
           drop the documents scoring below it (the least toxic)

A threshold of a different classifier than the paper's does not carry over: choose it by the
share of documents it keeps (tools/data_filters.py prints the score quantiles), as the guide
reports its filters (quality T=0.975/0.95/0.9/0.7 kept 91/84/73/46% of C4).

Only the training split is filtered: validation keeps the unfiltered distribution, so runs
with and without a filter are measured on the same held-out documents (our choice).
tools/data_filters.py counts what each stage removes. Our readings: undated documents are
dropped by an age filter (the guide's corpora are all dated); the subset is chosen by a keyed
text hash, independent of the validation hold-out's hash.
"""
import dataclasses

import tensorflow as tf

from mlm_jax.data import doc_classifier

STAGES = ('subset', 'age', 'domain', 'quality', 'toxicity')
_SUBSET_BUCKETS = 1_000_000
_SUBSET_KEY = [0x6d6c6d5f, 0x6a617821]  # keyed: independent of the hold-out's hash


@dataclasses.dataclass(frozen=True)
class FilterSpec:
  """The data.filter section, hashable (it names the seqio task)."""
  subset_fraction: float = 1.0
  date_field: str = ''
  min_year: int = 0
  max_year: int = 0
  domain_field: str = ''
  domains: tuple[str, ...] = ()
  exclude_domains: tuple[str, ...] = ()
  quality_model: str = ''
  quality_threshold: float = 0.5
  quality_inverse: bool = False
  toxicity_model: str = ''
  toxicity_threshold: float = 0.5
  toxicity_inverse: bool = False

  @property
  def meta_fields(self) -> tuple[str, ...]:
    """Metadata the reader must carry beside the text."""
    return tuple(f for f in (self.date_field, self.domain_field) if f)

  def stages(self) -> list[str]:
    on = {'subset': self.subset_fraction < 1.0, 'age': bool(self.min_year or self.max_year),
          'domain': bool(self.domains or self.exclude_domains),
          'quality': bool(self.quality_model), 'toxicity': bool(self.toxicity_model)}
    return [s for s in STAGES if on[s]]


def _names(value: str) -> tuple[str, ...]:
  return tuple(v.strip().lower() for v in value.split(',') if v.strip())


def spec(data_cfg) -> FilterSpec:
  f = data_cfg.filter
  return FilterSpec(f.subset_fraction, f.date_field, f.min_year, f.max_year, f.domain_field,
                    _names(f.domains), _names(f.exclude_domains), f.quality_model,
                    f.quality_threshold, f.quality_inverse, f.toxicity_model,
                    f.toxicity_threshold, f.toxicity_inverse)


def meta_key(field: str) -> str:
  return 'meta_' + field


def year(value: tf.Tensor) -> tf.Tensor:
  """The first standalone four-digit number in a date string ('2019-05-01', 'May 2019',
  '12-2020'); -1 if none."""
  digits = tf.strings.regex_replace(value, r'^(?:.*?\D)?(\d{4})(?:\D.*)?$', r'\1')
  ok = tf.strings.regex_full_match(digits, r'\d{4}')
  return tf.where(ok, tf.strings.to_number(tf.where(ok, digits, '0'), tf.int32), -1)


def host(value: tf.Tensor) -> tf.Tensor:
  """A URL's host, lowercased ('https://en.Wikipedia.org/x' -> 'en.wikipedia.org'); any other
  value lowercased as it is."""
  value = tf.strings.lower(tf.strings.strip(value))
  return tf.strings.regex_replace(value, r'^[a-z][a-z0-9+.-]*://([^/:?#]*).*$', r'\1')


def _domain_pattern(names: tuple[str, ...]) -> str:
  escaped = '|'.join(''.join('\\' + c if not c.isalnum() else c for c in n) for n in names)
  return f'(.*\\.)?({escaped})'


def predicates(f: FilterSpec) -> list[tuple[str, callable]]:
  """(stage, example -> tf.bool keep) for each stage that is on, in order."""
  out = []
  for stage in f.stages():
    if stage == 'subset':
      limit = int(round(f.subset_fraction * _SUBSET_BUCKETS))
      out.append((stage, lambda ex, limit=limit: tf.strings.to_hash_bucket_strong(
          ex['text'], _SUBSET_BUCKETS, _SUBSET_KEY) < limit))
    elif stage == 'age':
      lo, hi = f.min_year or -1, f.max_year or 99999

      def keep_age(ex, lo=lo, hi=hi):
        y = year(ex[meta_key(f.date_field)])
        return (y >= 0) & (y >= lo) & (y <= hi)
      out.append((stage, keep_age))
    elif stage == 'domain':
      def keep_domain(ex):
        h = host(ex[meta_key(f.domain_field)])
        keep = tf.constant(True)
        if f.domains:
          keep &= tf.strings.regex_full_match(h, _domain_pattern(f.domains))
        if f.exclude_domains:
          keep &= ~tf.strings.regex_full_match(h, _domain_pattern(f.exclude_domains))
        return keep
      out.append((stage, keep_domain))
    elif stage == 'quality':
      score = doc_classifier.score_fn(doc_classifier.load(f.quality_model,
                                                          'data.filter.quality_model'))
      # Inverse (the guide's §5 control): drop the documents that look most like the reference.
      out.append((stage, lambda ex, s=score: (s(ex['text']) >= f.quality_threshold)
                  != f.quality_inverse))
    elif stage == 'toxicity':
      score = doc_classifier.score_fn(doc_classifier.load(f.toxicity_model,
                                                          'data.filter.toxicity_model'))
      # Inverse: drop the least toxic documents instead (the guide's strongest toxicity-
      # identification model).
      out.append((stage, lambda ex, s=score: (s(ex['text']) < f.toxicity_threshold)
                  != f.toxicity_inverse))
  return out


def apply(ds: tf.data.Dataset, f: FilterSpec) -> tf.data.Dataset:
  for _, keep in predicates(f):
    ds = ds.filter(keep)
  return ds
