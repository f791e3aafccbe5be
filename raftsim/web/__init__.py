"""Ring 2: the asyncio edge (the only place that imports asyncio or aiohttp): the time
driver, the aiohttp app with Nomad's endpoints and the /v1/sim/ control surface, and
`raftsim serve`."""

from .app import Listeners, make_app, plan
from .driver import AUTOJUMP, DEMAND, MODES, PACED, PAUSED, Driver
from .serve import Background, Served, run, start
from .simulation import Options, Simulation

__all__ = [
    "AUTOJUMP",
    "DEMAND",
    "MODES",
    "PACED",
    "PAUSED",
    "Background",
    "Driver",
    "Listeners",
    "Options",
    "Served",
    "Simulation",
    "make_app",
    "plan",
    "run",
    "start",
]
