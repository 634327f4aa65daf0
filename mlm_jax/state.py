"""TrainState and its creation: abstract shapes first, then a sharded init (no unsharded copy)."""
from typing import Any, Callable

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import linen as nn
from jax.sharding import PartitionSpec as P

from mlm_jax import sharding


@flax.struct.dataclass
class TrainState:
  step: jax.Array
  params: Any
  opt_state: Any
  nonfinite_steps: jax.Array  # updates skipped because the loss or a gradient was NaN/Inf
  first_nonfinite_step: jax.Array  # the first such step, or -1
  # What a stateful objective carries between steps, outside the gradient (C-RTS's counts of
  # the detector's errors): {} for most objectives. Checkpointed with the rest.
  objective_state: Any


def init_variables(model: nn.Module, seq_len: int, rng) -> dict:
  """Boxed (logically annotated) parameters from a one-row dummy batch."""
  ids = jnp.zeros((1, seq_len), jnp.int32)
  return model.init({'params': rng}, ids, jnp.ones_like(ids), ids, ids[:, :1])['params']


def no_objective_state() -> dict:
  return {}


def new_state(params, tx: optax.GradientTransformation, step: int = 0,
              objective_state=None) -> TrainState:
  """The one place a TrainState is built: fresh optimizer state and counters around PARAMS."""
  return TrainState(step=jnp.full((), step, jnp.int32), params=params, opt_state=tx.init(params),
                    nonfinite_steps=jnp.zeros((), jnp.int32),
                    first_nonfinite_step=jnp.full((), -1, jnp.int32),
                    objective_state={} if objective_state is None else objective_state)


def make_init_fn(model: nn.Module, tx: optax.GradientTransformation, seq_len: int,
                 init_objective_state: Callable[[], Any] = no_objective_state
                 ) -> Callable[[jax.Array], TrainState]:
  """INIT_OBJECTIVE_STATE: Objective.init_state bound to its config (traced, not a constant)."""
  def init(rng) -> TrainState:
    return new_state(nn.meta.unbox(init_variables(model, seq_len, rng)), tx,
                     objective_state=init_objective_state())
  return init


def state_shardings(model, tx, seq_len: int, mesh, axis_rules,
                    init_objective_state: Callable[[], Any] = no_objective_state):
  """Shardings of every TrainState leaf, derived from the parameters' logical axes (the
  objective's state is small and replicated)."""
  boxed = jax.eval_shape(lambda r: init_variables(model, seq_len, r), jax.random.key(0))
  param_specs = nn.get_partition_spec(boxed)
  params = jax.tree.map(lambda x: x.value if isinstance(x, nn.meta.AxisMetadata) else x, boxed,
                        is_leaf=lambda x: isinstance(x, nn.meta.AxisMetadata))
  opt_shapes = jax.eval_shape(tx.init, params)
  opt_specs = optax.tree_map_params(tx, lambda _, spec: spec, opt_shapes, param_specs,
                                    transform_non_params=lambda _: P(),
                                    is_leaf=lambda x: isinstance(x, P))
  objective_specs = jax.tree.map(lambda _: P(), jax.eval_shape(init_objective_state))
  specs = TrainState(step=P(), params=param_specs, opt_state=opt_specs, nonfinite_steps=P(),
                     first_nonfinite_step=P(), objective_state=objective_specs)
  return sharding.logical_to_sharding(specs, mesh, axis_rules)


def abstract_state(init_fn, shardings) -> TrainState:
  shapes = jax.eval_shape(init_fn, jax.random.key(0))
  return jax.tree.map(lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh),
                      shapes, shardings)


def create_sharded(init_fn, shardings, rng) -> TrainState:
  return jax.jit(init_fn, out_shardings=shardings)(rng)


def bytes_per_device(abstract: TrainState) -> int:
  """Bytes of one device's shard of every TrainState leaf (FSDP divides this)."""
  total = 0
  for leaf in jax.tree.leaves(abstract):
    shard = leaf.sharding.shard_shape(leaf.shape)
    total += int(np.prod(shard, dtype=np.int64)) * np.dtype(leaf.dtype).itemsize
  return total
