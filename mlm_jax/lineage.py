"""Where a run's weights came from, for course soups (MCL, Chen et al. 2023): soups average
ingredients that branched from one trunk checkpoint — averaging unrelated from-scratch runs
does not give a working model (their units are permuted differently).

WORKDIR/lineage.json lists the fingerprints of the checkpoints the run descends from, oldest
first: a run started with init_from.workdir has its source's list plus the fingerprint of the
weights it started from; a from-scratch run has none (an empty list); a soup keeps what all its
ingredients share. Two runs have a common ancestor when their lists share a fingerprint.
"""
import hashlib
import json
import os

import numpy as np

from mlm_jax import checkpointing, fs

LINEAGE = 'lineage.json'


def fingerprint(params) -> str:
  """sha256 over every tensor's path, shape, dtype and bytes (in path order)."""
  h = hashlib.sha256()
  for path, leaf in sorted(checkpointing.flat_paths(params), key=lambda kv: kv[0]):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f'{path}:{a.shape}:{a.dtype};'.encode())
    h.update(a.tobytes())
  return h.hexdigest()[:16]


def read(workdir: str) -> list[str]:
  path = os.path.join(workdir, LINEAGE)
  if not fs.isfile(path):
    return []
  return list(json.loads(fs.read_text(path))['ancestors'])


def write(workdir: str, ancestors: list[str], **info) -> None:
  fs.write_text(os.path.join(workdir, LINEAGE),
                json.dumps({'ancestors': ancestors, **info}, indent=2))


def record_branch(workdir: str, parent: str, parent_step: int, params) -> None:
  """WORKDIR started from PARENT's step PARENT_STEP with PARAMS."""
  write(workdir, read(parent) + [fingerprint(params)], parent=fs.absolute(parent),
        parent_step=parent_step)


def common(workdirs: list[str]) -> list[str]:
  """The ancestors every workdir shares, in order."""
  lists = [read(w) for w in workdirs]
  shared = set(lists[0]).intersection(*map(set, lists[1:]))
  return [a for a in lists[0] if a in shared]
