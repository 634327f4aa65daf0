"""MCL courses: hand-built label construction for each corruption, course selection, runs."""
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import electra as electra_config
from configs import mcl as mcl_config
from mlm_jax import train
from mlm_jax.config_lib import ConfigError
from mlm_jax.objectives import electra, mcl
from tests.conftest import electra_run_config
from tests.conftest import read_records as _records

M = 4  # [MASK]


def test_swap_is_a_cycle_over_chosen_positions():
  ids = jnp.array([[2, 10, 11, 12, 13, 3, 0]])
  seg = jnp.array([[1, 1, 1, 1, 1, 1, 0]])
  positions, weights = jnp.array([[1, 2, 4, 0]]), jnp.array([[1.0, 1.0, 1.0, 0.0]])
  for seed in range(5):
    out = np.asarray(mcl.swap_tokens(jax.random.key(seed), ids, positions, weights, seg))
    assert sorted(out[0, [1, 2, 4]]) == [10, 11, 13]  # the chosen tokens, permuted
    assert (out[0, [1, 2, 4]] != [10, 11, 13]).all()  # none stays in place
    np.testing.assert_array_equal(out[0, [0, 3, 5, 6]], [2, 12, 3, 0])
    labels = electra.replaced_labels(ids, out, seg)
    np.testing.assert_array_equal(labels, [[0, 1, 1, 0, 1, 0, 0]])


def test_swapping_equal_tokens_is_not_a_replacement():
  ids = jnp.array([[2, 10, 10, 3]])
  out = mcl.swap_tokens(jax.random.key(0), ids, jnp.array([[1, 2]]), jnp.array([[1.0, 1.0]]),
                        jnp.ones_like(ids))
  assert not electra.replaced_labels(ids, out, jnp.ones_like(ids)).any()


def test_no_swap_crosses_a_document_boundary():
  """Three packed documents; chosen: three tokens of the first, one of the second, two of the
  third. Each document's tokens are permuted among themselves; the lone one stays."""
  ids = jnp.array([[2, 10, 11, 12, 3, 2, 20, 3, 2, 30, 31, 3, 0, 0]])
  seg = jnp.array([[1, 1, 1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 0, 0]])
  positions = jnp.array([[9, 1, 6, 2, 10, 3, 0, 0]])
  weights = jnp.array([[1.0, 1, 1, 1, 1, 1, 0, 0]])
  seen = set()
  for seed in range(30):
    out = np.asarray(mcl.swap_tokens(jax.random.key(seed), ids, positions, weights, seg))[0]
    assert sorted(out[[1, 2, 3]]) == [10, 11, 12] and (out[[1, 2, 3]] != [10, 11, 12]).all()
    assert out[6] == 20  # alone in its document
    np.testing.assert_array_equal(out[[9, 10]], [31, 30])  # a two-token cycle is a swap
    np.testing.assert_array_equal(out[[0, 4, 5, 7, 8, 11, 12, 13]], [2, 3, 2, 3, 2, 3, 0, 0])
    seen.add(tuple(out[[1, 2, 3]]))
  assert seen == {(11, 12, 10), (12, 10, 11)}  # both 3-cycles occur


def test_insert_masks_shifts_segments_and_labels_inserted_tokens():
  ids = jnp.array([[2, 10, 11, 3, 2, 20, 3, 0]])
  seg = jnp.array([[1, 1, 1, 1, 2, 2, 2, 0]])
  pos = jnp.array([[0, 1, 2, 3, 0, 1, 2, 0]])
  ins = mcl.insert_masks(ids, seg, pos, jnp.array([[2, 5, 0]]), jnp.array([[1.0, 1.0, 0.0]]),
                         M, 0)
  np.testing.assert_array_equal(ins['input_ids'], [[2, 10, M, 11, 3, 2, M, 20]])  # [SEP] cut
  np.testing.assert_array_equal(ins['segment_ids'], [[1, 1, 1, 1, 1, 2, 2, 2]])
  np.testing.assert_array_equal(ins['positions'], [[0, 1, 2, 3, 4, 0, 1, 2]])
  np.testing.assert_array_equal(ins['inserted'], [[0, 0, 1, 0, 0, 0, 1, 0]])
  np.testing.assert_array_equal(ins['gen_positions'], [[2, 6, 0]])
  np.testing.assert_array_equal(ins['gen_weights'], [[1, 1, 0]])


def test_insertion_past_the_row_end_is_dropped():
  ids = jnp.array([[2, 10, 11, 12]])
  ins = mcl.insert_masks(ids, jnp.ones_like(ids), jnp.arange(4)[None], jnp.array([[2, 3]]),
                         jnp.array([[1.0, 1.0]]), M, 0)
  np.testing.assert_array_equal(ins['input_ids'], [[2, 10, M, 11]])
  np.testing.assert_array_equal(ins['gen_weights'], [[1, 0]])  # the second one fell off


def test_correction_notebook_keeps_flagged_masked_positions():
  logits = jnp.array([[-5.0, 2.0, -1.0, 3.0, 4.0]])
  positions, weights = jnp.array([[1, 2, 3, 0]]), jnp.array([[1.0, 1.0, 0.0, 0.0]])
  # Position 1 flagged (kept), 2 not flagged, 3 flagged but an unused slot, 0 not flagged.
  np.testing.assert_array_equal(mcl.correction_notebook(logits, positions, weights),
                                [[1, 0, 0, 0]])


def test_course_selection():
  assert mcl.parse_courses('std') == ('std',)
  assert mcl.parse_courses('rtd+gc, dc') == ('rtd', 'gc', 'dc')
  with pytest.raises(ValueError, match='mcl_courses'):
    mcl.parse_courses('rtd,xyz')
  c = mcl_config.get_config('size=small,courses=itd')
  assert c.objective.name == 'mcl' and c.objective.mcl_courses == 'itd'
  assert c.model.name == 'electra'
  with pytest.raises(ConfigError):
    mcl_config.get_config('courses=nope')


def _losses(workdir):
  return [r['loss'] for r in _records(workdir, 'train')]


@pytest.mark.slow
@pytest.mark.parametrize('courses', ['rtd,std,itd,gc,dc'])
def test_twenty_steps_loss_falls(shared_vocab, tmp_path, courses):
  workdir = str(tmp_path / courses.replace(',', '_'))
  config = electra_run_config(shared_vocab, **{'mesh.data': 8})
  config.objective.name = 'mcl'
  config.objective.mcl_courses = courses
  train.run(config, workdir)
  losses = _losses(workdir)
  assert len(losses) == 4 and losses[-1] < losses[0] - 0.5, losses
  first = _records(workdir, 'train')[0]
  for c in courses.split(','):
    key = {'gc': 'gc_mlm_accuracy', 'dc': 'dc_accuracy'}.get(c, f'{c}_accuracy')
    assert key in first, (c, sorted(first))


def test_tiny_electra_config_matches_test_settings():
  assert electra_config.get_config('size=tiny').model.embedding_size == 32
