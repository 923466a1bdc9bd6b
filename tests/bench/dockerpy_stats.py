"""docker-py peer: stats of many containers at once.

    /usr/bin/python3 tests/bench/dockerpy_stats.py SOCKET LABEL

Lists the running containers carrying LABEL, then calls
client.api.stats(id, stream=False) for all of them from a thread pool with
one thread per container, so the requests are concurrent as in the other
programs (docker-py keeps one connection pool per URL over a unix socket, so
every container's request has a connection of its own anyway). docker-py 5.0.3 has no one-shot
option: stream=False makes Docker wait for a second sample (~1-2 s).
Prints the number of samples, "mem_bytes <sum>" and "fetch_us <us>" for the
fetch alone.
"""
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import docker


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: dockerpy_stats.py SOCKET LABEL")
    sock, label = sys.argv[1], sys.argv[2]
    client = docker.DockerClient(base_url="unix://" + sock, version="auto")
    ids = [c["Id"] for c in client.api.containers(filters={"label": label})]
    if not ids:
        sys.exit("no containers to sample")
    with ThreadPoolExecutor(max_workers=len(ids)) as pool:
        t0 = time.monotonic_ns()
        samples = list(pool.map(lambda i: client.api.stats(i, stream=False), ids))
        elapsed = time.monotonic_ns() - t0
    mem = sum(s.get("memory_stats", {}).get("usage", 0) for s in samples)
    print(len(samples))
    print("mem_bytes %d" % mem)
    print("fetch_us %.1f" % (elapsed / 1e3))


main()
