"""Composable encoder blocks: reference attention, the default block's fingerprint, training
runs of non-BERT blocks, scan equivalence, ALiBi extrapolation and config validation."""
import re

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest
from flax import linen as nn

from mlm_jax import train, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.export import convert
from mlm_jax.models import MODELS, attention, blocks, positions
from mlm_jax.state import init_variables
from tests import bert_fingerprint
from tests.conftest import corpus_config, read_records, tiny_config


def test_default_block_is_todays_bert():
  """Same seed, same parameters (names, shapes, values) and outputs as before blocks."""
  want = dict(np.load(bert_fingerprint.FIXTURE))
  got = bert_fingerprint.fingerprint(tiny_config().model)
  assert sorted(got) == sorted(want)
  for key in want:
    if key.startswith('param/'):
      np.testing.assert_array_equal(got[key], want[key], err_msg=key)
  # Outputs to float32 round-off: another CPU may order the matmul sums differently.
  np.testing.assert_allclose(got['hidden'], want['hidden'], rtol=1e-6, atol=1e-6)
  np.testing.assert_allclose(got['logits'], want['logits'], rtol=1e-6, atol=1e-5)


# ---------------------------------------------------------------- reference attention

def _packed_rows():
  """Row 0: segments of 7 and 6 tokens, then 3 padding; row 1: segments of 10, 4 and 2."""
  seg = np.array([[1] * 7 + [2] * 6 + [0] * 3, [1] * 10 + [2] * 4 + [3] * 2], np.int32)
  pos = np.array([list(range(7)) + list(range(6)) + [0] * 3,
                  list(range(10)) + list(range(4)) + list(range(2))], np.int32)
  return seg, pos


def _offsets(seg_row):
  """Each token's index within its segment, from the segment ids alone."""
  return np.array([i - list(seg_row).index(s) for i, s in enumerate(seg_row)])


def _allowed(pattern, seg, b, i, j, window, prefix_len):
  if seg[b, i] != seg[b, j] or seg[b, j] == 0:
    return False
  off = _offsets(seg[b])
  if pattern == 'causal':
    return off[j] <= off[i]
  if pattern == 'prefix':
    return prefix_len is None or off[j] < prefix_len[b] or off[j] <= off[i]
  if pattern == 'sliding_window':
    return abs(off[i] - off[j]) <= window // 2
  return True


def _rope_ref(x, seg, base):
  """Rotate-half RoPE, one token and one feature pair at a time."""
  out = x.copy()
  half = x.shape[-1] // 2
  for b in range(x.shape[0]):
    off = _offsets(seg[b])
    for t in range(x.shape[1]):
      for f in range(half):
        theta = off[t] * base ** (-2.0 * f / x.shape[-1])
        a, c = x[b, t, :, f], x[b, t, :, f + half]
        out[b, t, :, f] = a * np.cos(theta) - c * np.sin(theta)
        out[b, t, :, f + half] = c * np.cos(theta) + a * np.sin(theta)
  return out


def _attention_ref(p, x, seg, pattern, scheme, slopes, window=4, prefix_len=None, base=1e4):
  q, k, v = (np.einsum('bld,dhk->blhk', x, p[n]['kernel']) + p[n]['bias']
             for n in ('query', 'key', 'value'))
  if scheme == 'rotary':
    q, k = _rope_ref(q, seg, base), _rope_ref(k, seg, base)
  B, L, H, K = q.shape
  out = np.zeros_like(q)
  for b in range(B):
    off = _offsets(seg[b])
    for i in np.flatnonzero(seg[b]):  # padding queries are never read
      keys = [j for j in range(L) if _allowed(pattern, seg, b, i, j, window, prefix_len)]
      for h in range(H):
        s = np.array([q[b, i, h] @ k[b, j, h] / np.sqrt(K) for j in keys])
        if scheme == 'alibi':
          s = s - slopes[h] * np.abs(off[i] - off[keys])
        w = np.exp(s - s.max())
        out[b, i, h] = (w / w.sum()) @ v[b, keys, h]
  return np.einsum('blhk,hkd->bld', out, p['out']['kernel']) + p['out']['bias']


def _slopes_ref(n):
  """ALiBi slopes written out from the paper: 2^(-8i/n) for a power of 2; for 6 and 12
  heads, those of 4 (8) then every other one of 8 (16)."""
  table = {4: [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8],
           6: [2 ** -2, 2 ** -4, 2 ** -6, 2 ** -8, 2 ** -1, 2 ** -3],
           12: [2.0 ** -i for i in range(1, 9)] + [2 ** -0.5, 2 ** -1.5, 2 ** -2.5, 2 ** -3.5]}
  return np.array(table[n])


@pytest.mark.parametrize('n', [4, 6, 12])
def test_alibi_slopes_follow_the_paper(n):
  np.testing.assert_allclose(positions.alibi_slopes(n), _slopes_ref(n), rtol=1e-7)


CASES = [  # (pattern, position scheme, heads, prefix lengths)
    ('bidirectional', 'alibi', 4, None),
    ('bidirectional', 'alibi', 6, None),
    ('bidirectional', 'rotary', 4, None),
    ('causal', 'none', 4, None),
    ('causal', 'rotary', 4, None),
    ('prefix', 'none', 4, [3, 5]),
    ('prefix', 'alibi', 4, None),
    ('sliding_window', 'rotary', 4, None),
    ('sliding_window', 'alibi', 4, None),
]


@pytest.mark.parametrize('pattern,scheme,heads,prefix_len', CASES)
def test_attention_matches_reference(pattern, scheme, heads, prefix_len):
  seg, pos = _packed_rows()
  head_dim = 8
  module = attention.Attention(heads, head_dim, 0.0, 0.0, 0.02, jnp.float32, 'xla', True,
                               rotary_base=1e4 if scheme == 'rotary' else None,
                               alibi=scheme == 'alibi')
  rng = np.random.default_rng(0)
  x = rng.normal(size=(2, 16, heads * head_dim)).astype(np.float32)
  prefix = None if prefix_len is None else np.array(prefix_len, np.int32)
  mask = attention.pattern_mask(pattern, seg, pos, 4, prefix)
  params = module.init(jax.random.key(0), x, mask, pos)['params']
  # Random biases and kernels of unit scale: a dropped bias or a wrong rotation shows.
  params = jax.tree.map(lambda a: rng.normal(size=a.shape).astype(np.float32) * 0.3,
                        nn.meta.unbox(params))
  got = np.asarray(module.apply({'params': params}, x, mask, pos))
  p = jax.tree.map(lambda a: np.asarray(a, np.float64), params)
  want = _attention_ref(p, x.astype(np.float64), seg, pattern, scheme, _slopes_ref(heads),
                        prefix_len=prefix_len)
  real = seg != 0
  np.testing.assert_allclose(got[real], want[real], atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- whole models

MODERNBERT_LIKE = {  # rotary, GeGLU, pre-LN, no biases, local attention with global layers
    'model.position_scheme': 'rotary', 'model.mlp_kind': 'geglu', 'model.pre_layer_norm': True,
    'model.use_bias': False, 'model.attention_pattern': 'sliding_window',
    'model.attention_window': 8, 'model.global_attention_every': 3}
MOSAICBERT_LIKE = {  # ALiBi, GeGLU, post-LN; prefix without prefix lengths is bidirectional
    'model.position_scheme': 'alibi', 'model.mlp_kind': 'geglu',
    'model.attention_pattern': 'prefix'}
DECODER_LIKE = {  # no positions but causal order, SwiGLU, RMSNorm
    'model.position_scheme': 'none', 'model.mlp_kind': 'swiglu', 'model.norm_kind': 'rmsnorm',
    'model.attention_pattern': 'causal', 'model.pre_layer_norm': True}


def _model(overrides, seq_len=32):
  cfg = tiny_config(**overrides).model
  model = MODELS['bert'].module(cfg)
  return model, nn.meta.unbox(init_variables(model, seq_len, jax.random.key(0)))


def _stack_layers(params, n):
  enc = dict(params['encoder'])
  stacked = [enc.pop(f'layers_{i}') for i in range(n)]
  enc['layers'] = jax.tree.map(lambda *xs: jnp.stack(xs), *stacked)
  return {**params, 'encoder': enc}


@pytest.mark.parametrize('overrides', [
    {**MODERNBERT_LIKE, 'model.num_layers': 4, 'model.global_attention_every': 2},
    {**DECODER_LIKE, 'model.num_layers': 3, 'model.position_scheme': 'alibi'}])
def test_scan_equals_unrolled(overrides):
  model, params = _model(overrides)
  scan_model, scan_params = _model({**overrides, 'model.scan_layers': True,
                                    'model.remat_policy': 'full'})
  n = overrides['model.num_layers']
  stacked = _stack_layers(params, n)
  assert jax.tree.structure(stacked) == jax.tree.structure(scan_params)
  ids, seg, pos, masked = bert_fingerprint.inputs()
  h1, l1 = model.apply({'params': params}, ids, seg, pos, masked)
  h2, l2 = scan_model.apply({'params': stacked}, ids, seg, pos, masked)
  np.testing.assert_allclose(np.asarray(h1), np.asarray(h2), atol=1e-5)
  np.testing.assert_allclose(np.asarray(l1), np.asarray(l2), atol=1e-4)


def test_global_layers_see_the_whole_segment():
  # Window 2 (1 each side): a token 5 away reaches the first token only through a global
  # layer, so changing it moves token 0's output iff some layer is global.
  ids, seg, pos, masked = bert_fingerprint.inputs()
  ids2 = ids.copy()
  ids2[:, 5] = (ids[:, 5] + 1) % 512
  for every, moved in ((0, False), (2, True)):
    model, params = _model({'model.position_scheme': 'rotary',
                            'model.attention_pattern': 'sliding_window',
                            'model.attention_window': 2, 'model.global_attention_every': every})
    h1, _ = model.apply({'params': params}, ids, seg, pos)
    h2, _ = model.apply({'params': params}, ids2, seg, pos)
    assert (not np.allclose(h1[:, 0], h2[:, 0])) == moved, every


@pytest.mark.parametrize('unmasked,future_seen', [('', False), ('-1', True), ('0', True)])
def test_bidirectional_layers_drop_the_causal_mask(unmasked, future_seen):
  """Layer-wise causal-mask removal ("Looking Right is Sometimes Right"): the listed layers of
  a causal stack attend bidirectionally, so a later token reaches earlier outputs."""
  ids, seg, pos, _ = bert_fingerprint.inputs()
  ids2 = ids.copy()
  ids2[:, 9] = (ids[:, 9] + 1) % 512
  model, params = _model({**DECODER_LIKE, 'model.num_layers': 2,
                          'model.bidirectional_layers': unmasked})
  h1, _ = model.apply({'params': params}, ids, seg, pos)
  h2, _ = model.apply({'params': params}, ids2, seg, pos)
  assert (not np.allclose(h1[:, :9], h2[:, :9])) == future_seen
  if unmasked:  # scanned stacks pick the same layers
    scan_model, _ = _model({**DECODER_LIKE, 'model.num_layers': 2, 'model.scan_layers': True,
                            'model.bidirectional_layers': unmasked})
    h3, _ = scan_model.apply({'params': _stack_layers(params, 2)}, ids2, seg, pos)
    np.testing.assert_allclose(np.asarray(h2), np.asarray(h3), atol=1e-5)


def test_parameter_tree_follows_the_block():
  _, params = _model({**MODERNBERT_LIKE, 'model.norm_kind': 'rmsnorm'})
  names = {'/'.join(k.key for k in path) for path, _ in
           jax.tree_util.tree_flatten_with_path(params)[0]}
  assert not any('position_embeddings' in n for n in names)
  assert not any(n.startswith('encoder/') and n.endswith('bias') for n in names)
  assert 'encoder/layers_0/mlp/wi_0/kernel' in names and 'encoder/layers_0/mlp/wi_1/kernel' in names
  assert 'encoder/final_norm/scale' in names


def test_alibi_extrapolates_beyond_max_positions():
  model, params = _model({'model.position_scheme': 'alibi'})
  L = 3 * tiny_config().model.max_positions // 2
  ids = np.random.default_rng(0).integers(5, 512, (2, L)).astype(np.int32)
  hidden, logits = model.apply({'params': params}, ids, np.ones_like(ids),
                               np.broadcast_to(np.arange(L, dtype=np.int32), (2, L)))
  assert hidden.shape == (2, L, 64) and logits.shape == (2, L, 512)
  assert np.isfinite(np.asarray(logits)).all()


# ---------------------------------------------------------------- training

@pytest.mark.slow
@pytest.mark.parametrize('overrides', [
    {**MODERNBERT_LIKE, 'model.scan_layers': True, 'model.remat_policy': 'full'},
    MOSAICBERT_LIKE, DECODER_LIKE], ids=['modernbert', 'mosaicbert', 'decoder'])
def test_composed_blocks_train(shared_vocab, tmp_path, overrides):
  workdir = str(tmp_path / 'run')
  train.run(corpus_config(shared_vocab, **{'train.steps': 10, 'mesh.data': 8,
                                           'checkpoint.every_steps': 10, **overrides}), workdir)
  losses = [r['loss'] for r in read_records(workdir, 'train')]
  assert len(losses) == 2 and losses[-1] < losses[0], losses


# ---------------------------------------------------------------- validation

BAD = [  # (overrides, the key the one-line message must name)
    ({'model.mlp_kind': 'relu'}, "model.mlp_kind='relu' must be one of gelu|geglu|swiglu"),
    ({'model.position_scheme': 'rope'},
     "model.position_scheme='rope' must be one of learned|rotary|alibi|none"),
    ({'model.attention_pattern': 'local'}, "model.attention_pattern='local' must be one of"),
    ({'model.norm_kind': 'batchnorm'}, "model.norm_kind='batchnorm' must be one of"),
    ({'model.use_bias': 'no'}, "model.use_bias='no' must be True or False"),
    ({'model.position_scheme': 'rotary', 'model.hidden_size': 36},
     'model.position_scheme=rotary needs an even head dimension'),
    ({'model.position_scheme': 'rotary', 'model.rotary_base': 0.0}, 'model.rotary_base=0.0'),
    ({'model.attention_pattern': 'sliding_window', 'model.attention_window': 0},
     'model.attention_window=0 must be positive and even'),
    ({'model.attention_pattern': 'sliding_window', 'model.attention_window': 7},
     'model.attention_window=7 must be positive and even'),
    ({'model.attention_pattern': 'causal', 'model.global_attention_every': -1},
     'model.global_attention_every=-1 must be >= 0'),
    ({'model.global_attention_every': 3}, 'model.global_attention_every=3 needs a local'),
    ({'model.bidirectional_layers': '-1'}, "model.bidirectional_layers='-1' needs a causal"),
    ({'model.attention_pattern': 'causal', 'model.bidirectional_layers': '1,x'},
     "model.bidirectional_layers='1,x': 'x' is not a layer index"),
    ({'model.attention_pattern': 'causal', 'model.bidirectional_layers': '9'},
     "model.bidirectional_layers='9': '9' is not a layer index"),
]


@pytest.mark.parametrize('overrides,message', BAD, ids=[m.split('=')[0] for _, m in BAD])
def test_bad_block_settings_are_refused(overrides, message):
  # A plain dict underneath, as a run config read back from JSON (no type-safe overrides).
  m = {**tiny_config().model.to_dict(), **{k.split('.')[1]: v for k, v in overrides.items()}}
  with pytest.raises(ConfigError, match=re.escape(message)) as e:
    blocks.validate_block(ml_collections.ConfigDict(m))
  assert '\n' not in str(e.value)


def test_config_validation_checks_the_block():
  with pytest.raises(ConfigError, match='model.position_scheme'):
    validation.validate(tiny_config(**{'model.position_scheme': 'rope'}), 8)
  for overrides in (MODERNBERT_LIKE, MOSAICBERT_LIKE, DECODER_LIKE):
    validation.validate(tiny_config(**overrides), 8)


def test_export_refuses_a_non_bert_block():
  with pytest.raises(ConfigError, match="model.mlp_kind='geglu', model.position_scheme='alibi'"):
    convert.check_exportable(tiny_config(**MOSAICBERT_LIKE).model)


def test_electra_takes_the_block_too():
  cfg = tiny_config(**{**MODERNBERT_LIKE, 'model.name': 'electra'}).model
  model = MODELS['electra'].module(cfg)
  params = nn.meta.unbox(init_variables(model, 32, jax.random.key(0)))
  assert 'position_embeddings' not in params['embeddings']
  assert 'wi_1' in params['generator']['encoder']['layers_1']['mlp']
  ids, seg, pos, masked = bert_fingerprint.inputs()
  gen_logits, disc_logits = model.apply({'params': params}, ids, seg, pos, masked)
  assert gen_logits.shape == (2, 3, 512) and disc_logits.shape == (2, 32)
