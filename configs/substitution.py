"""Token-substitution pre-training (Di Liello et al.): RTS, C-RTS and SLM, sized like the demo.

python -m mlm_jax.main --config=configs/substitution.py:objective=rts --workdir=/tmp/rts
Variants: objective=rts|crts|crts_simhash|slm (default rts; crts needs
objective.crts_cluster_map and objective.crts_clusters from tools/build_cluster_map.py); tiny (configs/smoke.py's 2-layer, 64-wide
model, seconds per run, for tests and launch checks).
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from configs import demo, smoke  # noqa: E402  (config files are loaded by path)
from mlm_jax import config_lib, objectives  # noqa: E402

SUBSTITUTION = ('rts', 'crts', 'crts_simhash', 'slm')


def get_config(arg: str | None = None):
  v = config_lib.parse_variant(arg, {'objective': 'rts', 'tiny': False})
  if v['objective'] not in SUBSTITUTION:
    raise config_lib.ConfigError(f'objective={v["objective"]!r} must be one of {SUBSTITUTION}')
  c = smoke.get_config() if v['tiny'] else demo.get_config('bert')  # locked: no new keys
  c.objective.name = v['objective']
  c.model.name = objectives.default_model(v['objective'])  # the first family that fits
  return c
