"""raftsim's benchmark suite: `make bench` (or `python -m bench`) prints one table.

Figures (see bench/README.md for what each measures and against which baseline):

(a) idle 5-server cluster at Nomad timings: simulated seconds per wall second;
(b) the scheduler's raw event rate against SimPy's, on an equivalent workload;
(c) one leader-crash failover of a 3-server cluster against a 3-node PySyncObj cluster;
(d) how (a) scales with 3, 5, 9, 17 and 51 servers;
(e) `raftsim serve`'s HTTP throughput against a bare aiohttp handler, and its idle CPU
    (bench/http.py, issue 3);
(f) `raftsim check` schedules per second per core, and the speed-up from 2 workers.

Nothing here asserts a timing: this is a report.
"""
