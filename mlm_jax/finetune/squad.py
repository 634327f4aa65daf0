"""SQuAD v1.1 and v2.0: reader, windowed features (document stride), n-best span decoding, the
v2.0 no-answer score and threshold search, and the official exact-match / F1 with the official
answer normalisation; predictions written as the official predictions.json.

Tokenisation follows BERT's run_squad.py: the context is split on whitespace into words, each
word is encoded alone, and a predicted token span maps back to the original words, so any
vocabulary works (SentencePiece, WordPiece, bytes) without character offsets.
"""
import collections
import dataclasses
import gzip
import json
import re
import string

import numpy as np

from mlm_jax.config_lib import ConfigError


@dataclasses.dataclass
class Example:
  qid: str
  question: str
  words: list[str]  # the context split on whitespace
  answers: list[str]  # gold texts ([] for unanswerable)
  start_word: int  # first answer's word span (-1, -1: no answer)
  end_word: int


@dataclasses.dataclass
class Feature:
  example_index: int
  input_ids: list[int]
  token_types: list[int]
  token_to_word: dict[int, int]  # position -> word index, for context tokens only
  max_context: dict[int, bool]  # position -> this window is the token's best context
  start: int  # answer token positions in this window; 0, 0 (the [CLS]) when absent
  end: int


def _is_space(c: str) -> bool:
  return c in ' \t\r\n' or ord(c) == 0x202F


def read(path: str) -> list[Example]:
  """Examples of an official SQuAD JSON (.json or .json.gz), v1.1 or v2.0."""
  opener = gzip.open if path.endswith('.gz') else open
  try:
    with opener(path, 'rt', encoding='utf-8') as f:
      data = json.load(f)['data']
  except (OSError, ValueError, KeyError) as e:
    raise ConfigError(f'{path}: not a SQuAD JSON file ({type(e).__name__}: {e})') from None
  out = []
  for a, article in enumerate(data):
    for p, para in enumerate(article['paragraphs']):
      context = para['context']
      words, char_to_word, prev_space = [], [], True
      for c in context:
        if _is_space(c):
          prev_space = True
        else:
          if prev_space:
            words.append(c)
          else:
            words[-1] += c
          prev_space = False
        char_to_word.append(len(words) - 1)
      for qa in para['qas']:
        where = f'{path}: data[{a}].paragraphs[{p}] question {qa.get("id")}'
        answers = [x['text'] for x in qa.get('answers', [])]
        impossible = qa.get('is_impossible', False) or not answers
        start_word = end_word = -1
        if not impossible:
          first = qa['answers'][0]
          begin, text = first['answer_start'], first['text']
          if begin < 0 or begin + len(text) > len(context) or not text:
            raise ConfigError(f'{where}: answer_start {begin} is outside the context')
          start_word, end_word = char_to_word[begin], char_to_word[begin + len(text) - 1]
        out.append(Example(qa['id'], qa['question'], words, answers, start_word, end_word))
  return out


def make_features(examples: list[Example], encode, cls: int, sep: int, max_seq_len: int,
                  doc_stride: int, max_query_len: int) -> list[Feature]:
  """[CLS] question [SEP] window [SEP] features; a long context gives several windows."""
  cache = {}

  def enc(word):
    if word not in cache:
      cache[word] = list(encode(word))
    return cache[word]

  features = []
  for ei, ex in enumerate(examples):
    query = list(encode(ex.question))[:max_query_len]
    tok_to_word, word_to_tok, doc = [], [], []
    for wi, w in enumerate(ex.words):
      word_to_tok.append(len(doc))
      for t in enc(w):
        tok_to_word.append(wi)
        doc.append(t)
    start_tok = end_tok = -1
    if ex.start_word >= 0:
      start_tok = word_to_tok[ex.start_word]
      end_tok = (word_to_tok[ex.end_word + 1] - 1 if ex.end_word + 1 < len(ex.words)
                 else len(doc) - 1)
    window = max_seq_len - len(query) - 3
    if window <= 0:
      raise ConfigError(f'finetune.max_query_len={max_query_len} leaves no room for the context '
                        f'in finetune.max_seq_len={max_seq_len}')
    spans, begin = [], 0
    while True:
      length = min(window, len(doc) - begin)
      spans.append((begin, length))
      if begin + length >= len(doc):
        break
      begin += min(length, doc_stride)
    for si, (begin, length) in enumerate(spans):
      ids = [cls] + query + [sep]
      types = [0] * len(ids)
      t2w, maxc = {}, {}
      for i in range(length):
        pos = len(ids)
        t2w[pos] = tok_to_word[begin + i]
        maxc[pos] = _is_max_context(spans, si, begin + i)
        ids.append(doc[begin + i])
        types.append(1)
      ids.append(sep)
      types.append(1)
      start = end = 0
      if start_tok >= 0 and begin <= start_tok and end_tok < begin + length:
        offset = len(query) + 2
        start, end = start_tok - begin + offset, end_tok - begin + offset
      features.append(Feature(ei, ids, types, t2w, maxc, start, end))
  return features


def _is_max_context(spans, index: int, position: int) -> bool:
  """BERT's rule: the window where the token has the most context on its shorter side."""
  best, best_score = None, None
  for i, (begin, length) in enumerate(spans):
    end = begin + length - 1
    if position < begin or position > end:
      continue
    score = min(position - begin, end - position) + 0.01 * length
    if best_score is None or score > best_score:
      best, best_score = i, score
  return best == index


def feature_arrays(features: list[Feature], max_seq_len: int) -> dict[str, np.ndarray]:
  """Padded int32 arrays: input_ids, segment_ids (1 real / 0 pad), positions, token_type_ids,
  start_positions, end_positions."""
  n = len(features)
  out = {k: np.zeros((n, max_seq_len), np.int32)
         for k in ('input_ids', 'segment_ids', 'positions', 'token_type_ids')}
  for i, f in enumerate(features):
    m = len(f.input_ids)
    out['input_ids'][i, :m] = f.input_ids
    out['segment_ids'][i, :m] = 1
    out['positions'][i] = np.arange(max_seq_len)
    out['token_type_ids'][i, :m] = f.token_types
  out['start_positions'] = np.array([f.start for f in features], np.int32)
  out['end_positions'] = np.array([f.end for f in features], np.int32)
  return out


def decode(examples: list[Example], features: list[Feature], start_logits, end_logits,
           n_best: int, max_answer_len: int) -> tuple[dict[str, str], dict[str, float]]:
  """(best non-null answer text per qid, no-answer score diff per qid).

  The diff is null score - best span score, the null score being the smallest [CLS] start+end
  logit over the example's windows (v2.0); predict '' where diff > threshold."""
  by_example = collections.defaultdict(list)
  for fi, f in enumerate(features):
    by_example[f.example_index].append(fi)
  answers, diffs = {}, {}
  for ei, ex in enumerate(examples):
    best, best_score, null = '', -np.inf, np.inf
    for fi in by_example[ei]:
      f, s, e = features[fi], np.asarray(start_logits[fi]), np.asarray(end_logits[fi])
      null = min(null, float(s[0] + e[0]))
      top_s = np.argsort(-s)[:n_best]
      top_e = np.argsort(-e)[:n_best]
      for i in top_s:
        for j in top_e:
          if i not in f.token_to_word or j not in f.token_to_word or j < i:
            continue
          if j - i + 1 > max_answer_len or not f.max_context.get(i, False):
            continue
          score = float(s[i] + e[j])
          if score > best_score:
            best_score = score
            best = ' '.join(ex.words[f.token_to_word[i]:f.token_to_word[j] + 1])
    answers[ex.qid] = best
    diffs[ex.qid] = null - best_score if np.isfinite(best_score) else np.inf
  return answers, diffs


# The official evaluation (evaluate-v2.0.py; equal to v1.1's on answerable questions).
def normalize_answer(s: str) -> str:
  """Lower case, drop punctuation, the articles a/an/the, and extra whitespace."""
  s = s.lower()
  s = ''.join(ch for ch in s if ch not in set(string.punctuation))
  s = re.sub(r'\b(a|an|the)\b', ' ', s)
  return ' '.join(s.split())


def exact(gold: str, pred: str) -> int:
  return int(normalize_answer(gold) == normalize_answer(pred))


def f1(gold: str, pred: str) -> float:
  g, p = normalize_answer(gold).split(), normalize_answer(pred).split()
  if not g or not p:
    return float(g == p)
  common = collections.Counter(g) & collections.Counter(p)
  same = sum(common.values())
  if same == 0:
    return 0.0
  precision, recall = same / len(p), same / len(g)
  return 2 * precision * recall / (precision + recall)


def score(examples: list[Example], predictions: dict[str, str]) -> tuple[dict, dict]:
  """Per-qid (exact, f1) maxed over gold answers; unanswerable gold is ['']."""
  em, f = {}, {}
  for ex in examples:
    golds = [a for a in ex.answers if normalize_answer(a)] or ['']
    pred = predictions.get(ex.qid, '')
    em[ex.qid] = max(exact(g, pred) for g in golds)
    f[ex.qid] = max(f1(g, pred) for g in golds)
  return em, f


def evaluate(examples: list[Example], predictions: dict[str, str]) -> dict[str, float]:
  """exact_match and f1 in percent, as the official scripts print them."""
  em, f = score(examples, predictions)
  n = max(len(examples), 1)
  return {'exact_match': 100.0 * sum(em.values()) / n, 'f1': 100.0 * sum(f.values()) / n}


def best_threshold(examples, answers: dict[str, str], diffs: dict[str, float]
                   ) -> tuple[float, dict[str, float]]:
  """The official find_best_thresh over no-answer score diffs, maximising F1; returns
  (threshold, metrics at that threshold)."""
  em_ans, f1_ans = score(examples, answers)
  has_ans = {ex.qid: bool([a for a in ex.answers if normalize_answer(a)]) for ex in examples}
  # Start from predicting no answer everywhere; flip to the span in order of confidence.
  cur = best = sum(not h for h in has_ans.values())
  thresh = min(diffs.values(), default=0.0) - 1.0
  for qid in sorted(diffs, key=lambda q: diffs[q]):
    cur += f1_ans[qid] if has_ans[qid] else -float(bool(answers[qid]))
    if cur > best:
      best, thresh = cur, diffs[qid]
  return thresh, evaluate(examples, apply_threshold(answers, diffs, thresh))


def apply_threshold(answers, diffs, threshold: float) -> dict[str, str]:
  return {q: ('' if diffs[q] > threshold else a) for q, a in answers.items()}


def write_predictions(path: str, predictions: dict[str, str], diffs=None) -> None:
  """predictions.json ({qid: text}); for v2.0 also null_odds.json beside it."""
  import os  # pylint: disable=g-import-not-at-top
  from mlm_jax import fs  # pylint: disable=g-import-not-at-top
  fs.write_text(path, json.dumps(predictions, ensure_ascii=False))
  if diffs is not None:
    fs.write_text(os.path.join(os.path.dirname(path), 'null_odds.json'),
                  json.dumps({q: float(d) for q, d in diffs.items()}))
