"""Synthetic training rows for tools/benchmark.py (no flags here, so tests can import it)."""
import numpy as np


def synthetic_batch(rng, batch: int, seq_len: int, vocab: int, docs: int = 1) -> dict:
  """Full rows of random ids; DOCS > 1 packs that many documents of random lengths into each
  row as fill packing does (segment ids 1..DOCS, positions restarting, [CLS] ... [SEP] each)."""
  ids = rng.integers(5, vocab, (batch, seq_len)).astype(np.int32)
  segment_ids = np.ones_like(ids)
  positions = np.broadcast_to(np.arange(seq_len, dtype=np.int32), ids.shape).copy()
  for row in range(batch):
    cuts = np.sort(rng.choice(np.arange(4, seq_len - 3), docs - 1, replace=False))
    for k, (start, end) in enumerate(zip([0, *cuts], [*cuts, seq_len])):
      ids[row, start], ids[row, end - 1] = 2, 3
      segment_ids[row, start:end] = k + 1
      positions[row, start:end] = np.arange(end - start)
  return {'input_ids': ids, 'segment_ids': segment_ids, 'positions': positions}
