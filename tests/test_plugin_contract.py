"""The plug-in contract (models/family.py, objectives/objective.py): families and objectives are
reached only through their registries, every pairing is checked before compilation, and the
package has no import cycle."""
import ast
import itertools
import os
import re

import jax
import pytest

from mlm_jax import models, objectives, validation
from mlm_jax.config_lib import ConfigError
from mlm_jax.tokens import SpecialTokens
from tests.conftest import REPO, required_settings, set_keys, tiny_config

PAIRS = list(itertools.product(models.MODELS, objectives.OBJECTIVES))


@pytest.mark.parametrize('model_name,objective_name', PAIRS)
def test_every_pair_is_valid_or_one_line_error(model_name, objective_name, tmp_path):
  attention = objectives.OBJECTIVES[objective_name].attention  # its config file sets it
  c = tiny_config(**{'model.name': model_name, 'objective.name': objective_name,
                     **({'model.attention_pattern': attention[0]} if attention else {})})
  c = set_keys(c, required_settings(objective_name, tmp_path, c.model.vocab_size,
                                    c.model.hidden_size))
  layout = models.MODELS[model_name].layout  # a family's fixed block keys (ModernBERT's)
  c = set_keys(c, {f'model.{k}': v for k, v in layout.items()})
  if layout.get('attention_pattern') == 'sliding_window':
    c.model.global_attention_every = 3
  if model_name == 'ernie_gram':
    c.model.ngram_vocab_size = 2
  if model_name == 'position_predictor':
    c.model.position_scheme = 'none'
  fits = objectives.OBJECTIVES[objective_name].needs in models.MODELS[model_name].provides
  fixed = layout.get('attention_pattern')
  if fits and attention and fixed and fixed not in attention:  # the family's fixed layout wins
    with pytest.raises(ConfigError) as e:
      validation.validate(c, 8)
    assert '\n' not in str(e.value) and repr(objective_name) in str(e.value)
    return
  if not fits:
    with pytest.raises(ConfigError) as e:
      validation.validate(c, 8)
    message = str(e.value)
    assert '\n' not in message and repr(objective_name) in message and repr(model_name) in message
    return
  obj = objectives.objective(c.objective)
  if obj.load_frozen:  # judged against its teacher too: valid, or a one-line refusal
    try:
      validation.validate(c, 8)
    except ConfigError as e:
      assert '\n' not in str(e) and repr(objective_name) in str(e)
      return
  validation.validate(c, 8)
  # A valid pair traces: the loss runs on the model (shapes only, nothing compiled).
  model = models.build(c.model)
  tokens = SpecialTokens(0, 4, 2, 3, (0, 1, 2, 3, 4), c.model.vocab_size)
  loss_fn = objectives.objective(c.objective).make_loss(model, c.objective, tokens)
  ids = jax.numpy.ones((2, c.data.seq_len), jax.numpy.int32) * 7
  batch = {'input_ids': ids, 'segment_ids': jax.numpy.ones_like(ids),
           'positions': jax.numpy.broadcast_to(jax.numpy.arange(c.data.seq_len), ids.shape)}
  from mlm_jax import state  # pylint: disable=g-import-not-at-top
  params = jax.eval_shape(lambda: jax.tree.map(
      lambda x: x.value if hasattr(x, 'value') else x,
      state.init_variables(model, c.data.seq_len, jax.random.key(0)),
      is_leaf=lambda x: hasattr(x, 'value')))
  frozen = {'frozen': objectives.load_frozen(c.objective).params} if obj.load_frozen else {}
  out = jax.eval_shape(lambda p: loss_fn(p, batch, jax.random.key(0), False, **frozen), params)
  assert out.loss.shape == ()
  assert objectives.objective(c.objective).headline(c.objective) in out.metrics


def _python_files():
  for top in ('mlm_jax', 'tools', 'configs'):
    for root, _, files in os.walk(os.path.join(REPO, top)):
      for name in files:
        if name.endswith('.py'):
          yield os.path.relpath(os.path.join(root, name), REPO)


# Files that may name families and objectives, and why:
ALLOWED = {
    'mlm_jax/models/__init__.py': 'the model registry',
    'mlm_jax/objectives/__init__.py': 'the objective registry',
    'mlm_jax/export/hf_names.py': "Hugging Face's own model_type names ('bert', 'electra')",
    'mlm_jax/export/convert.py': "the BertForMaskedLM layout ('bert' is transformers' model_type)",
}


def _own_files(name: str) -> set[str]:
  """The module that declares NAME (and, for a family, its export writer)."""
  own = set()
  if name in models.MODELS:
    fam = models.MODELS[name]
    own.add(os.path.relpath(__import__('inspect').getsourcefile(fam.module), REPO))
    if fam.hf:
      own.add(fam.hf.writer.split(':')[0].replace('.', '/') + '.py')
  if name in objectives.OBJECTIVES:
    own.add(os.path.relpath(__import__('inspect').getsourcefile(
        objectives.OBJECTIVES[name].make_loss), REPO))
  return own


@pytest.mark.parametrize('name', sorted(set(models.MODELS) | set(objectives.OBJECTIVES)))
def test_names_appear_only_in_their_module_configs_and_registries(name):
  pattern = re.compile(r'''['"]%s['"]''' % re.escape(name))
  offenders = []
  for path in _python_files():
    if path.startswith('configs/') or path in ALLOWED or path in _own_files(name):
      continue  # configs choose families and objectives by name: that is their job
    with open(os.path.join(REPO, path), encoding='utf-8') as f:
      for i, line in enumerate(f, 1):
        if pattern.search(line):
          offenders.append(f'{path}:{i}: {line.strip()}')
  assert not offenders, '\n'.join(offenders)


def _imports(path: str) -> set[str]:
  """Every mlm_jax module PATH imports, at any depth (function-level imports included)."""
  module = path[:-3].replace('/', '.').removesuffix('.__init__')
  package = module if path.endswith('__init__.py') else module.rpartition('.')[0]
  with open(os.path.join(REPO, path), encoding='utf-8') as f:
    tree = ast.parse(f.read())
  out = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      out |= {a.name for a in node.names if a.name.startswith('mlm_jax')}
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        base = '.'.join(package.split('.')[:len(package.split('.')) - node.level + 1] +
                        ([base] if base else []))
      if base.startswith('mlm_jax'):
        out.add(base)
        out |= {f'{base}.{a.name}' for a in node.names}
  return out


def test_no_import_cycles():
  files = [p for p in _python_files() if p.startswith('mlm_jax/')]
  modules = {p[:-3].replace('/', '.').removesuffix('.__init__'): p for p in files}
  graph = {m: {i for i in _imports(p) if i in modules and i != m} for m, p in modules.items()}
  # A package's __init__ importing its own submodules is how packages work, not a cycle.
  for m in graph:
    graph[m] = {i for i in graph[m] if not (modules[i].endswith('__init__.py')
                                             and m.startswith(i + '.'))}
  seen, stack, cycles = set(), [], []

  def visit(m):
    if m in stack:
      cycles.append(stack[stack.index(m):] + [m])
      return
    if m in seen:
      return
    seen.add(m)
    stack.append(m)
    for n in sorted(graph[m]):
      visit(n)
    stack.pop()

  for m in sorted(graph):
    visit(m)
  assert not cycles, cycles
