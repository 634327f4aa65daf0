"""ELECTRA: a small MLM generator and a discriminator sharing the embeddings.

The generator has the discriminator's depth and `generator_size_fraction` of its width, heads
and MLP (ELECTRA paper, table 6: 1/4 small and large, 1/3 base). Embeddings are
`embedding_size` wide (ELECTRA-small: 128 under a 256-wide encoder) and each encoder projects
them to its width (`embeddings_project`, as Hugging Face's ElectraModel).

Embedding sharing (model.embedding_sharing):
  tied  one embeddings module (token, position, type tables and LayerNorm) feeds both, and
        both losses update it (ELECTRA);
  gdes  DeBERTa-v3 gradient-disentangled sharing: each of the discriminator's tables (token,
        position, type) is stop_gradient(E_gen) + E_delta (deltas initialised to zero), with its
        own LayerNorm, so the discriminator's loss never moves the generator's tables. DeBERTa's
        rtd_task.py shares the word and absolute-position tables this way; it has no type
        table, and sharing ours the same way is our reading.

One compact __call__, three branches: 'generator' (MLM logits at masked positions),
'discriminator' (one replaced-token logit per position) and 'both' (init: every parameter).
"""
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
from flax import linen as nn

from mlm_jax.config_lib import ConfigError
from mlm_jax.models import bert, encoder, family, layers, mlm_decoder


def _copy(cfg, **changes) -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict(cfg.to_dict())
  for key, value in changes.items():
    c[key] = value
  return c


def embedding_size(cfg) -> int:
  return cfg.embedding_size or cfg.hidden_size


def generator_config(cfg) -> ml_collections.ConfigDict:
  """The generator's model config: width, heads and MLP scaled by generator_size_fraction."""
  f = cfg.generator_size_fraction
  g = _copy(cfg, embedding_size=embedding_size(cfg), hidden_size=max(1, round(cfg.hidden_size * f)),
            num_heads=max(1, round(cfg.num_heads * f)), mlp_dim=max(1, round(cfg.mlp_dim * f)))
  if g.hidden_size % g.num_heads:
    raise ValueError(f'generator width {g.hidden_size} is not divisible by its {g.num_heads} heads '
                     f'(model.generator_size_fraction={f})')
  return g


class ElectraEmbeddings(nn.Module):
  """Token + position (+ type) embeddings, LayerNorm, dropout, all `cfg.hidden_size` wide.

  With `gdes_delta`, the module owns no tables: each is the stop-gradient of the shared table
  passed in plus its own zero-initialised delta (GDES_DELTAS).
  """
  cfg: Any  # the model config with hidden_size set to the embedding width
  deterministic: bool
  gdes_delta: bool = False

  def setup(self):
    c = self.cfg
    sizes = {'word_embeddings': c.vocab_size}
    if c.position_scheme == 'learned':  # other schemes act inside attention
      sizes['position_embeddings'] = c.max_positions
    if c.type_vocab_size:
      sizes['token_type_embeddings'] = c.type_vocab_size
    self.sizes = sizes
    if self.gdes_delta:
      self.deltas = {t: self.param(GDES_DELTAS[t], layers.zeros(('vocab', 'embed')),
                                   (n, c.hidden_size)) for t, n in sizes.items()}
    else:
      self.embeds = {t: nn.Embed(n, c.hidden_size, name=t, embedding_init=nn.with_logical_partitioning(
          nn.initializers.truncated_normal(c.initializer_range), ('vocab', 'embed')))
                     for t, n in sizes.items()}
    self.norm = layers.norm(c, 'norm')
    self.dropout = nn.Dropout(c.dropout_rate)

  def tables(self, shared=None) -> dict:
    """{table name: (n, E) array}; under GDES stop_gradient(SHARED[name]) + delta."""
    if self.gdes_delta:
      return {t: jax.lax.stop_gradient(shared[t]) + d for t, d in self.deltas.items()}
    return {t: e.embedding for t, e in self.embeds.items()}

  def word_table(self):
    return self.tables()['word_embeddings']

  def __call__(self, input_ids_BL, positions_BL, token_type_ids_BL=None, shared=None):
    t = self.tables(shared)
    x_BLE = jnp.take(t['word_embeddings'], input_ids_BL, axis=0)
    if 'position_embeddings' in t:
      x_BLE = x_BLE + jnp.take(t['position_embeddings'], positions_BL, axis=0)
    if 'token_type_embeddings' in t:
      if token_type_ids_BL is None:
        token_type_ids_BL = jnp.zeros_like(input_ids_BL)
      x_BLE = x_BLE + jnp.take(t['token_type_embeddings'], token_type_ids_BL, axis=0)
    x_BLE = self.norm(x_BLE).astype(jnp.dtype(self.cfg.dtype))
    return self.dropout(x_BLE, self.deterministic)

  def attend(self, h_BPE):
    """Tied decoder: scores against every token embedding (layers.tied_scores)."""
    return layers.tied_scores(h_BPE, self.word_table())


GDES_DELTAS = {'word_embeddings': 'word_delta', 'position_embeddings': 'position_delta',
               'token_type_embeddings': 'token_type_delta'}


def gdes_disc_embeddings(emb: dict, disc: dict) -> dict:
  """The discriminator's embeddings as a plain tree (as a tied run stores them): each shared
  table E_gen + delta, and the discriminator's own LayerNorm."""
  out = {k: v for k, v in disc.items() if k not in GDES_DELTAS.values()}
  for table, delta in GDES_DELTAS.items():
    if delta in disc:
      out[table] = {'embedding': jnp.asarray(emb[table]['embedding']) + disc[delta]}
  return out


def _project(cfg, width_in: int, name: str):
  """embeddings_project: embedding width -> encoder width (only when they differ)."""
  if width_in == cfg.hidden_size:
    return lambda x: x
  return nn.Dense(cfg.hidden_size, dtype=jnp.dtype(cfg.dtype), name=name,
                  kernel_init=layers.dense_init(cfg.initializer_range, ('act_embed', 'embed')),
                  bias_init=layers.zeros(('embed',)))


class DiscriminatorHead(nn.Module):
  """Dense + GELU + Dense to one logit per token (HF ElectraDiscriminatorPredictions)."""
  cfg: Any

  @nn.compact
  def __call__(self, h_BLD):
    c = self.cfg
    h_BLD = nn.Dense(c.hidden_size, dtype=jnp.dtype(c.dtype), name='dense',
                     kernel_init=layers.dense_init(c.initializer_range, ('embed', 'act_embed')),
                     bias_init=layers.zeros(('embed',)))(h_BLD)
    h_BLD = nn.gelu(h_BLD, approximate=False)
    logit_BL1 = nn.Dense(1, dtype=jnp.dtype(c.dtype), name='prediction',
                         kernel_init=layers.dense_init(c.initializer_range, ('embed', None)),
                         bias_init=layers.zeros((None,)))(h_BLD)
    return logit_BL1[..., 0].astype(jnp.float32)


class Generator(nn.Module):
  cfg: Any  # the generator's config (generator_config)
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLE, segment_ids_BL, positions_BL, masked_positions_BP,
               embeddings: ElectraEmbeddings):
    c = self.cfg
    e = embedding_size(c)
    x_BLD = _project(c, e, 'embeddings_project')(x_BLE)
    hidden_BLD = encoder.Encoder(c, self.deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL)
    if masked_positions_BP is not None:  # the vocabulary projection only where it is needed
      hidden_BLD = jnp.take_along_axis(hidden_BLD, masked_positions_BP[..., None], axis=1)
    # The head maps back to the embedding width, then scores against the shared table.
    return bert.MlmHead(_copy(c, hidden_size=e), name='mlm_head')(hidden_BLD, embeddings)


class Discriminator(nn.Module):
  cfg: Any
  deterministic: bool

  @nn.compact
  def __call__(self, x_BLE, segment_ids_BL, positions_BL):
    c = self.cfg
    x_BLD = _project(c, embedding_size(c), 'embeddings_project')(x_BLE)
    hidden_BLD = encoder.Encoder(c, self.deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL)
    return DiscriminatorHead(c, name='head')(hidden_BLD)


class ElectraForPreTraining(nn.Module):
  """branch='generator' -> MLM logits (B, P, V) at masked_positions_BP (or (B, L, V));
  branch='discriminator' -> replaced-token logits (B, L); branch='both' -> (both)."""
  cfg: Any

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, masked_positions_BP=None,
               token_type_ids_BL=None, deterministic: bool = True, branch: str = 'both'):
    c = self.cfg
    if branch not in ('generator', 'discriminator', 'both'):
      raise ValueError(f'branch={branch!r}')
    if c.embedding_sharing not in ('tied', 'gdes'):
      raise ValueError(f'model.embedding_sharing={c.embedding_sharing!r} must be tied or gdes')
    emb_cfg = _copy(c, hidden_size=embedding_size(c))
    emb = ElectraEmbeddings(emb_cfg, deterministic, name='embeddings')
    out = []
    if branch in ('generator', 'both'):
      x_BLE = emb(input_ids_BL, positions_BL, token_type_ids_BL)
      out.append(Generator(generator_config(c), deterministic, name='generator')(
          x_BLE, segment_ids_BL, positions_BL, masked_positions_BP, emb))
    if branch in ('discriminator', 'both'):
      if c.embedding_sharing == 'gdes':
        disc_emb = ElectraEmbeddings(emb_cfg, deterministic, gdes_delta=True,
                                     name='disc_embeddings')
        x_BLE = disc_emb(input_ids_BL, positions_BL, token_type_ids_BL, emb.tables())
      else:
        x_BLE = emb(input_ids_BL, positions_BL, token_type_ids_BL)
      x_BLE = nn.with_logical_constraint(x_BLE, ('batch', 'length', 'act_embed'))
      out.append(Discriminator(c, deterministic, name='discriminator')(
          x_BLE, segment_ids_BL, positions_BL))
    return tuple(out) if branch == 'both' else out[0]


class DiscriminatorEncoder(nn.Module):
  """The downstream encoder: the discriminator without its replaced-token head, reading one
  embedding table (GDES: E + delta, derived by encoder_params)."""
  cfg: Any
  deterministic: bool

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    c = self.cfg
    e = embedding_size(c)
    x_BLE = ElectraEmbeddings(_copy(c, hidden_size=e), self.deterministic, name='embeddings')(
        input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLE = nn.with_logical_constraint(x_BLE, ('batch', 'length', 'act_embed'))
    x_BLD = _project(c, e, 'embeddings_project')(x_BLE)
    return encoder.Encoder(c, self.deterministic, name='encoder')(
        x_BLD, segment_ids_BL, positions_BL)


class GeneratorEncoder(nn.Module):
  """The generator (an MLM over the shared embeddings), for generative classification."""
  cfg: Any  # the full ELECTRA model config; the generator's is derived
  deterministic: bool

  def setup(self):
    c = self.cfg
    self.e = embedding_size(c)
    self.g = generator_config(c)
    self.embeddings = ElectraEmbeddings(_copy(c, hidden_size=self.e), self.deterministic)
    if self.e != self.g.hidden_size:  # as _project, named by this attribute
      self.embeddings_project = nn.Dense(
          self.g.hidden_size, dtype=jnp.dtype(c.dtype),
          kernel_init=layers.dense_init(c.initializer_range, ('act_embed', 'embed')),
          bias_init=layers.zeros(('embed',)))
    self.encoder = encoder.Encoder(self.g, self.deterministic)
    self.head = bert.MlmHead(_copy(self.g, hidden_size=self.e))

  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    x_BLE = self.embeddings(input_ids_BL, positions_BL, token_type_ids_BL)
    if self.e != self.g.hidden_size:
      x_BLE = self.embeddings_project(x_BLE)
    return self.encoder(x_BLE, segment_ids_BL, positions_BL)

  def mlm_logits(self, h_BPD):
    return self.head(h_BPD, self.embeddings)


def encoder_module(model_cfg, deterministic: bool = True, mlm_head: bool = False,
                   name: str | None = None) -> nn.Module:
  """The discriminator, or (mlm_head: generative classification) the generator."""
  if mlm_head:
    return GeneratorEncoder(model_cfg, deterministic, name=name)
  return DiscriminatorEncoder(model_cfg, deterministic, name=name)


def encoder_params(model_cfg, params: dict, mlm_head: bool = False) -> dict:
  """The encoder's parameters from a pre-training tree: the discriminator's embeddings (tied:
  the shared table; GDES: E + delta with its own position/type tables and norm), projection
  and layers; or the generator's with its MLM head. KeyError names a missing path."""
  need = family.need
  if mlm_head:
    out = {'embeddings': need(params, 'embeddings'), 'encoder': need(params, 'generator/encoder'),
           'head': need(params, 'generator/mlm_head')}
    if 'embeddings_project' in params['generator']:
      out['embeddings_project'] = params['generator']['embeddings_project']
    return out
  emb = need(params, 'embeddings')
  if model_cfg.embedding_sharing == 'gdes':
    emb = gdes_disc_embeddings(emb, need(params, 'disc_embeddings'))
  out = {'embeddings': emb, 'encoder': need(params, 'discriminator/encoder')}
  if 'embeddings_project' in need(params, 'discriminator'):
    out['embeddings_project'] = params['discriminator']['embeddings_project']
  return out


def pass_flops(model_cfg, seq_len: int) -> dict[str, float]:
  """Forward FLOPs per token of one generator and one discriminator pass: each encoder with
  its embedding projection; the generator's MLM head (hidden -> embedding -> vocabulary) per
  predicted position; the discriminator's head (hidden -> hidden -> 1) at every token."""
  e, g, d = embedding_size(model_cfg), generator_config(model_cfg), model_cfg.hidden_size
  return {
      'generator': encoder.forward_flops_per_token(g, seq_len, e),
      'generator_head_per_prediction': 2 * (g.hidden_size * e + e * model_cfg.vocab_size),
      'discriminator': encoder.forward_flops_per_token(model_cfg, seq_len, e),
      'discriminator_head': 2 * (d * d + d),
  }


def validate(model_cfg) -> None:
  m = model_cfg
  mlm_decoder.refuse(m)
  if m.embedding_sharing not in ('tied', 'gdes'):
    raise ConfigError(f'model.embedding_sharing={m.embedding_sharing!r} must be tied or gdes')
  if not 0 < m.generator_size_fraction <= 1:
    raise ConfigError(f'model.generator_size_fraction={m.generator_size_fraction} must be in '
                      '(0, 1]')
  if m.embedding_size < 0:
    raise ConfigError(f'model.embedding_size={m.embedding_size} must be >= 0')
  try:
    generator_config(m)
  except ValueError as e:
    raise ConfigError(str(e)) from None


FAMILY = family.ModelFamily(
    module=ElectraForPreTraining, encoder=encoder_module, encoder_params=encoder_params,
    has_mlm_head=True, hf_layout='electra', pass_flops=pass_flops,
    validate=validate, downstream='discriminator', provides=(family.GENERATOR_DISCRIMINATOR,),
    hf=family.HfExport(classes=('ElectraForPreTraining', 'ElectraForMaskedLM'),
                       writer='mlm_jax.export.electra_export:export'))
