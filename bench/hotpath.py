"""`python -m bench.hotpath`: cProfile an idle cluster (figure (a)'s workload) and print the
functions with the most total (own) time. An investigation aid, not part of `make bench`.

Profiling slows the run several-fold; read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
from dataclasses import dataclass

from raftsim import Cluster

from .common import fresh_heap, perf_counter


@dataclass(frozen=True)
class Workload:
    servers: int = 5
    span_s: int = 600
    trace: str = "state"  # Cluster's default, as in figure (a)'s goal row
    seed: int = 1
    fast_forward: bool = True

    def cluster(self) -> Cluster:
        """A fresh cluster that has elected its first leader."""
        fresh_heap()
        if self.fast_forward:
            cluster = Cluster(self.servers, seed=self.seed, trace=self.trace)
        else:
            cluster = Cluster(self.servers, seed=self.seed, trace=self.trace, fast_forward=False)
        if not cluster.run_until(lambda c: c.leader() is not None, "60s"):
            raise RuntimeError("no leader within 60 s (virtual)")
        return cluster

    def describe(self) -> str:
        ff = "" if self.fast_forward else ", fast_forward=False"
        return f"idle Cluster({self.servers}, seed={self.seed}, trace={self.trace!r}{ff})"


def profile(work: Workload, top: int = 15, sort: str = "tottime") -> str:
    cluster = work.cluster()
    start = perf_counter()
    cluster.run_for(f"{work.span_s}s")
    plain = perf_counter() - start
    cluster = work.cluster()
    profiler = cProfile.Profile()
    profiler.enable()
    cluster.run_for(f"{work.span_s}s")
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs().sort_stats(sort).print_stats(top)
    header = (
        f"{work.describe()}, run_for('{work.span_s}s') after the first leader: {plain:.3f} s "
        f"wall unprofiled ({work.span_s / plain:,.0f} simulated s per wall s); profile sorted "
        f"by {sort}:\n"
    )
    return header + out.getvalue()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.hotpath", description=__doc__)
    parser.add_argument("--servers", type=int, default=5)
    parser.add_argument("--span", type=int, default=600, help="simulated seconds")
    parser.add_argument("--trace", default="state", choices=("all", "state", "off"))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--no-fast-forward", action="store_true", help="Cluster(fast_forward=False): every event"
    )
    parser.add_argument("--top", type=int, default=15)
    parser.add_argument("--sort", default="tottime", choices=("tottime", "cumulative", "ncalls"))
    args = parser.parse_args(argv)
    work = Workload(args.servers, args.span, args.trace, args.seed, not args.no_fast_forward)
    print(profile(work, args.top, args.sort))


if __name__ == "__main__":
    main()
