"""The objective shoot-out's line-up (tools/shootout.py): each entry a run label and the config
(path:variant, as --config takes it) of that objective. The first entry sets the FLOP budget;
every run is given its encoder size, data and loop settings (its own objective keys stay).

python tools/shootout.py --workdir=/tmp/shootout --budget_steps=150
"""
RUNS = {
    'mlm': 'configs/demo.py:bert',
    'electra': 'configs/electra.py:size=small',
    'rts': 'configs/substitution.py:objective=rts',
    'mcl': 'configs/mcl.py:size=small',
}
TINY_REFERENCE = 'configs/smoke.py'  # --tiny: 2 layers x 64, for smoke tests
