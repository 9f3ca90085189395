"""The Pulumi program (``main: infra/`` in Pulumi.yaml): read the settings and the city, run the stack.

Everything else is in :mod:`infra.program`; ``jiyue infra preview`` runs the same function under mocks.
"""

from infra.config import from_pulumi
from infra.program import run
from jiyue.ipam import plan
from jiyue.registry import load_city

settings = from_pulumi()
model = load_city(settings.city)
run(model, plan(model), settings)
