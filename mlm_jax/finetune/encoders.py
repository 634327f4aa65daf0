"""The downstream encoder of each pre-training model family, until the families declare their own
`encode` entry point (DESIGN §3a); this is the one file that knows them.

For model.name in ENCODERS: `encoder_module(model_cfg)` is a Flax module computing the encoder's
hidden states (input_ids, segment_ids, positions, token_type_ids -> hidden_BLD) whose parameter
names equal the family's pre-training subtree, and `encoder_params(model_cfg, params)` takes
that subtree out of a full pre-training parameter tree:
  bert, bert_token_detector  embeddings + encoder (+ mlm_head for BERT, when asked)
  electra                    the discriminator: its embeddings (tied: the shared table; GDES:
                             E + delta with its own position/type tables and LayerNorm),
                             discriminator/embeddings_project if present, discriminator/encoder;
                             with the MLM head (generative classification): the generator, an
                             MLM over the shared embeddings
"""
from typing import Any

import jax.numpy as jnp
from flax import linen as nn

from mlm_jax.config_lib import ConfigError
from mlm_jax.models import bert, electra, encoder, layers

ENCODERS = ('bert', 'bert_token_detector', 'electra')
WITH_MLM_HEAD = ('bert', 'electra')  # families whose checkpoint carries an MLM (ELECTRA: the generator)


class BertEncoder(nn.Module):
  """Embeddings + Encoder (+ the tied MLM head for generative classification)."""
  cfg: Any
  deterministic: bool
  mlm_head: bool = False

  def setup(self):
    self.embeddings = encoder.Embeddings(self.cfg, self.deterministic)
    self.encoder = encoder.Encoder(self.cfg, self.deterministic)
    if self.mlm_head:
      self.head = bert.MlmHead(self.cfg)

  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    x_BLD = self.embeddings(input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLD = nn.with_logical_constraint(x_BLD, ('batch', 'length', 'act_embed'))
    return self.encoder(x_BLD, layers.attention_mask(segment_ids_BL))

  def mlm_logits(self, h_BPD):
    return self.head(h_BPD, self.embeddings)


class ElectraDiscriminatorEncoder(nn.Module):
  """ELECTRA's discriminator without its replaced-token head."""
  cfg: Any
  deterministic: bool

  @nn.compact
  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    c = self.cfg
    e = electra.embedding_size(c)
    emb_cfg = electra._copy(c, hidden_size=e)  # pylint: disable=protected-access
    x_BLE = electra.ElectraEmbeddings(emb_cfg, self.deterministic, name='embeddings')(
        input_ids_BL, positions_BL, token_type_ids_BL)
    x_BLE = nn.with_logical_constraint(x_BLE, ('batch', 'length', 'act_embed'))
    x_BLD = electra._project(c, e, 'embeddings_project')(x_BLE)  # pylint: disable=protected-access
    return encoder.Encoder(c, self.deterministic, name='encoder')(
        x_BLD, layers.attention_mask(segment_ids_BL))


class ElectraGeneratorEncoder(nn.Module):
  """ELECTRA's generator (an MLM over the shared embeddings), for generative classification."""
  cfg: Any  # the full ELECTRA model config; the generator's is derived
  deterministic: bool

  def setup(self):
    c = self.cfg
    self.e = electra.embedding_size(c)
    self.g = electra.generator_config(c)
    self.embeddings = electra.ElectraEmbeddings(
        electra._copy(c, hidden_size=self.e), self.deterministic)  # pylint: disable=protected-access
    if self.e != self.g.hidden_size:  # as electra._project, named by this attribute
      self.embeddings_project = nn.Dense(
          self.g.hidden_size, dtype=jnp.dtype(c.dtype),
          kernel_init=layers.dense_init(c.initializer_range, ('act_embed', 'embed')),
          bias_init=layers.zeros(('embed',)))
    self.encoder = encoder.Encoder(self.g, self.deterministic)
    self.head = bert.MlmHead(electra._copy(self.g, hidden_size=self.e))  # pylint: disable=protected-access

  def __call__(self, input_ids_BL, segment_ids_BL, positions_BL, token_type_ids_BL=None):
    x_BLE = self.embeddings(input_ids_BL, positions_BL, token_type_ids_BL)
    if self.e != self.g.hidden_size:
      x_BLE = self.embeddings_project(x_BLE)
    return self.encoder(x_BLE, layers.attention_mask(segment_ids_BL))

  def mlm_logits(self, h_BPD):
    return self.head(h_BPD, self.embeddings)


def check(model_cfg, mlm_head: bool = False, where: str = 'model.name') -> None:
  if model_cfg.name not in ENCODERS:
    raise ConfigError(f'{where}={model_cfg.name!r}: no encoder known to fine-tuning '
                      f'(known: {list(ENCODERS)})')
  if mlm_head and model_cfg.name not in WITH_MLM_HEAD:
    raise ConfigError(f'{where}={model_cfg.name!r}: the checkpoint has no MLM head on its '
                      f'encoder; generative classification needs one of {list(WITH_MLM_HEAD)}')


def encoder_module(model_cfg, deterministic: bool = True, mlm_head: bool = False,
                   name: str | None = None) -> nn.Module:
  check(model_cfg, mlm_head)
  if model_cfg.name == 'electra' and mlm_head:
    return ElectraGeneratorEncoder(model_cfg, deterministic, name=name)
  if model_cfg.name == 'electra':
    return ElectraDiscriminatorEncoder(model_cfg, deterministic, name=name)
  return BertEncoder(model_cfg, deterministic, mlm_head, name=name)


def _need(params: dict, path: str, where: str):
  node = params
  for part in path.split('/'):
    if not isinstance(node, dict) or part not in node:
      raise ConfigError(f'{where}: the checkpoint has no {path} (no encoder of this family)')
    node = node[part]
  return node


def encoder_params(model_cfg, params: dict, mlm_head: bool = False,
                   where: str = 'init_from') -> dict:
  """The encoder subtree of a full pre-training parameter tree (names as encoder_module's)."""
  check(model_cfg, mlm_head)
  if model_cfg.name == 'electra' and mlm_head:
    out = {'embeddings': _need(params, 'embeddings', where),
           'encoder': _need(params, 'generator/encoder', where),
           'head': _need(params, 'generator/mlm_head', where)}
    if 'embeddings_project' in params['generator']:
      out['embeddings_project'] = params['generator']['embeddings_project']
    return out
  if model_cfg.name == 'electra':
    emb = _need(params, 'embeddings', where)
    if model_cfg.embedding_sharing == 'gdes':
      d = _need(params, 'disc_embeddings', where)
      word = jnp.asarray(emb['word_embeddings']['embedding']) + d['word_delta']
      emb = {**{k: v for k, v in d.items() if k != 'word_delta'},
             'word_embeddings': {'embedding': word}}
    out = {'embeddings': emb, 'encoder': _need(params, 'discriminator/encoder', where)}
    if 'embeddings_project' in params.get('discriminator', {}):
      out['embeddings_project'] = params['discriminator']['embeddings_project']
    return out
  out = {'embeddings': _need(params, 'embeddings', where),
         'encoder': _need(params, 'encoder', where)}
  if mlm_head:
    out['head'] = _need(params, 'mlm_head', where)
  return out
