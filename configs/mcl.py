"""MCL, multi-perspective course learning (Chen et al., 2023), on an ELECTRA model.

python -m mlm_jax.main --config=configs/mcl.py:size=base,courses=rtd+std+itd+gc+dc --workdir=DIR
`courses` picks the courses ('+'-separated; one alone trains a course-soup ingredient):
rtd, std, itd (self-supervision), gc, dc (self-correction); see mlm_jax/objectives/mcl.py.
Model, masking and optimiser settings are ELECTRA's for the same size (configs/electra.py).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import base, electra  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib  # noqa: E402
from mlm_jax.objectives import mcl  # noqa: E402


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'size': 'base', 'sharing': 'tied',
                                     'courses': '+'.join(mcl.COURSES)})
  if v['size'] not in electra.SIZES:
    raise config_lib.ConfigError(f'mcl config: size={v["size"]!r} is not one of '
                                 f'{list(electra.SIZES)}')
  try:
    courses = mcl.parse_courses(v['courses'])
  except ValueError as e:
    raise config_lib.ConfigError(str(e)) from None
  c = base.get_base_config()
  electra.set_electra(c, v['size'], v['sharing'])
  c.objective.name = 'mcl'
  c.objective.mcl_courses = ','.join(courses)
  c.lock()
  return c
