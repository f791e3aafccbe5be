"""Campaign seeds as Dask tasks (`raftsim check --dask ADDRESS`, `--dask local`): the same
schedules `--workers` runs in a process pool, run on the workers of a `distributed` cluster
instead, so a campaign scales out to as many machines as the cluster has.

Each task runs a batch of consecutive seeds with `campaign.run_one` and hands back their
outcomes stripped of what a summary does not read (the commands and outputs a transcript
needs), so the client adds them up exactly as it adds up a process pool's: the summary, the
JSON, the replay commands and `--shrink` (which replays one seed locally) are the same.
A bounded number of batches is in flight at a time, so a million seeds are never a million
futures at once. The workers need raftsim installed at the client's version (and with it
`distributed`: the `dask` extra), since a task names `raftsim.dask_runner.run_batch`.

Needs the optional `distributed` package (`pip install 'raftsim[dask]'`); imported only
when asked for. Ring 2, beside `campaign`, which calls it for `--dask`.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .campaign import CampaignOptions, run_one

if TYPE_CHECKING:
    from .testing.schedules import Outcome

BATCH = 25  # seeds per task: a few seconds of work, so scheduling overhead stays small
IN_FLIGHT_PER_THREAD = 4  # batches queued per worker thread, so none waits for work


def run_batch(seeds: Sequence[int], options: CampaignOptions) -> list[Outcome]:
    """A task: run these seeds and return what a campaign summary reads of each."""
    return [
        replace(run_one(seed, options), commands=[], outputs=[], crash_command=None)
        for seed in seeds
    ]


def batches(seeds: Sequence[int], size: int = BATCH) -> Iterator[list[int]]:
    for i in range(0, len(seeds), size):
        yield list(seeds[i : i + size])


def outcomes(
    seeds: Sequence[int], options: CampaignOptions, address: str, workers: int = 1
) -> Iterator[Outcome]:
    """Run the seeds on the Dask cluster at `address` ("local": a LocalCluster of
    `workers` single-threaded processes on this machine, closed afterwards), yielding each
    outcome as its batch completes."""
    # Imported here: `distributed` is an optional dependency, and slow to import (and
    # untyped: Any).
    dist: Any = importlib.import_module("distributed")
    if address == "local":
        cluster = dist.LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = dist.Client(cluster)
    else:
        cluster = None
        client = dist.Client(address)
    try:
        yield from _run(client, dist.as_completed, seeds, options)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _run(
    client: Any, as_completed: Any, seeds: Sequence[int], options: CampaignOptions
) -> Iterator[Outcome]:
    """Keep a bounded number of batches submitted; yield outcomes as batches finish."""
    threads = max(1, sum(client.nthreads().values()))
    pending = batches(seeds)
    first = [client.submit(run_batch, b, options, pure=False) for b in _take(pending, threads)]
    queue = as_completed(first)
    for _ in range(threads * (IN_FLIGHT_PER_THREAD - 1)):
        more = next(pending, None)
        if more is None:
            break
        queue.add(client.submit(run_batch, more, options, pure=False))
    for future in queue:
        result = future.result()
        future.release()
        more = next(pending, None)
        if more is not None:
            queue.add(client.submit(run_batch, more, options, pure=False))
        yield from result


def _take(iterator: Iterator[list[int]], count: int) -> list[list[int]]:
    taken = []
    for _ in range(count):
        item = next(iterator, None)
        if item is None:
            break
        taken.append(item)
    return taken
