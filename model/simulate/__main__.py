"""``python -m model.simulate --out data/demo --seed 2026``: rewrite the shipped demo data."""

from model.simulate.demo import main

main()
