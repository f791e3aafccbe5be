"""raftsim's test toolkit, for our own suite and for users': seeded fault schedules,
hypothesis strategies, a stateful machine over a `Cluster`, and a pytest plugin (registered
through an entry point, so installing raftsim is enough). Ring 2, synchronous: only the
plugin's `nomad_cluster` fixture reaches the web edge, to serve a cluster."""

from .ops import Op, generate
from .schedules import ALL_KINDS, CHANGE_KINDS, FAULT_KINDS, Outcome, ScheduleRunner, run_seed

__all__ = [
    "ALL_KINDS",
    "CHANGE_KINDS",
    "FAULT_KINDS",
    "Op",
    "Outcome",
    "ScheduleRunner",
    "generate",
    "run_seed",
]
