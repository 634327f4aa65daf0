"""Rule-based taggers that run in the input pipeline: each packed batch gets `unit_tags` (B, L),
0 for untagged tokens and 1, 2, ... for the tagged units of a row (a unit is masked whole by
objective.masking=tagged).

The row's text is rebuilt from its tokens (each token's text, a space before every word
start), the rules run on that text per packed segment, and a token is tagged when its text
overlaps a match.

- time: temporal expressions (our tagger for BiTimeBERT's time-aware MLM, which uses SUTime
  and keeps DATE expressions that resolve to a day, month or year): "March 3, 1990",
  "3 March 1990", "March 1990", "1990-03-03", and years 1000-2099 standing alone. Vague ones
  ("several years", "the 1990s") are not tagged, as BiTimeBERT drops them.
- entities: named-entity-like spans (our tagger for entity-level masking, ERNIE 1.0's
  third stage and LEM's named entities): runs of capitalised words, joined by 'of', 'de',
  'the', 'and' or '-' inside the run, not counting a capitalised function word that only
  starts a sentence ("The", "In", ...). Needs a cased vocabulary.
"""
import re

import numpy as np

from mlm_jax.config_lib import ConfigError

NAMES = ('time', 'entities')

_MONTH = (r'(?:january|february|march|april|may|june|july|august|september|october|november|'
          r'december|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec)\.?')
_DAY = r'(?:[12][0-9]|3[01]|0?[1-9])(?:st|nd|rd|th)?'
_YEAR = r'(?:1[0-9]{3}|20[0-9]{2})'
TIME_RE = re.compile(
    rf'\b(?:{_MONTH}\s+{_DAY}(?:\s*,\s*{_YEAR})?'  # March 3(, 1990)
    rf'|{_DAY}\s+(?:of\s+)?{_MONTH}(?:\s*,?\s*{_YEAR})?'  # 3 (of) March (1990)
    rf'|{_MONTH}\s*,?\s*{_YEAR}'  # March 1990
    rf'|{_YEAR}-[01][0-9]-[0-3][0-9]'  # 1990-03-03
    rf'|{_YEAR})\b(?![-\'’]?s\b)', re.IGNORECASE)  # 1990 (not the 1990s)

_FUNCTION = {'the', 'a', 'an', 'in', 'on', 'at', 'of', 'for', 'to', 'by', 'from', 'with', 'as',
             'and', 'or', 'but', 'it', 'he', 'she', 'they', 'we', 'i', 'this', 'that', 'these',
             'those', 'his', 'her', 'its', 'their', 'there', 'when', 'while', 'after', 'before',
             'during', 'if', 'is', 'was', 'are', 'were', 'also', 'however', 'although', 'since'}
_CAP = r"[A-Z][\w'’-]*"
ENTITY_RE = re.compile(rf"\b{_CAP}(?:(?:\s+(?:of|de|the|and)\s+|\s*-\s*|\s+){_CAP})*")


def _entity_spans(text: str):
  for m in ENTITY_RE.finditer(text):
    start, span = m.start(), m.group(0)
    first = span.split()[0]
    before = text[:start].rstrip()
    sentence_start = not before or before[-1] in '.!?"“:;'
    if first.lower() in _FUNCTION and (sentence_start or len(span.split()) == 1):
      rest = span[len(first):].lstrip()  # drop a leading function word
      if not rest or not rest[0].isupper():
        continue
      start, span = start + len(span) - len(rest), rest
    yield start, start + len(span)


def _time_spans(text: str):
  for m in TIME_RE.finditer(text):
    yield m.start(), m.end()


class Tagger:
  """tag(ids (B, L), segment_ids (B, L)) -> unit_tags (B, L) int32, on the host (numpy)."""

  def __init__(self, name: str, pieces: list[str], word_start: np.ndarray, special: tuple):
    self.name = name
    self._spans = {'time': _time_spans, 'entities': _entity_spans}[name]
    self._pieces = pieces
    self._word_start = word_start
    self._special = set(special)

  def tag(self, ids_BL: np.ndarray, seg_BL: np.ndarray) -> np.ndarray:
    out = np.zeros(ids_BL.shape, np.int32)
    for b in range(ids_BL.shape[0]):
      unit = 0
      for seg in np.unique(seg_BL[b][seg_BL[b] != 0]):
        where = np.flatnonzero(seg_BL[b] == seg)
        text, starts, ends = '', [], []
        for i in where:
          t = int(ids_BL[b, i])
          piece = '' if t in self._special else self._pieces[t]
          if self._word_start[t] and text:
            text += ' '
          starts.append(len(text))
          text += piece
          ends.append(len(text))
        starts, ends = np.asarray(starts), np.asarray(ends)
        for s, e in self._spans(text):
          hit = (starts < e) & (ends > s) & (ends > starts)
          if hit.any():
            unit += 1
            out[b, where[hit]] = unit
    return out


def token_texts(vocab) -> list[str]:
  """Each id's surface text, without word-boundary marks ('##', '▁')."""
  out = []
  for i in range(vocab.tokens.vocab_size):
    text = vocab.seqio_vocab.decode([i])
    out.append(text[2:] if text.startswith('##') else text.replace('\u2581', ''))
  return out


def build(name: str, vocab) -> Tagger:
  if name not in NAMES:
    raise ConfigError(f'data.tagger={name!r} must be one of {list(NAMES)}')
  pieces = token_texts(vocab)
  special = set(vocab.tokens.special)
  if name == 'entities' and not any(p != p.lower() for i, p in enumerate(pieces) if i not in special):
    raise ConfigError(f'data.tagger=entities finds capitalised words, but data.vocab_path='
                      f'{vocab.path} lower-cases everything: use a cased vocabulary')
  return Tagger(name, pieces, np.asarray(vocab.word_start, bool), vocab.tokens.special)
