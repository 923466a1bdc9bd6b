"""docker-py peer of the monitor bench: stream the stats of many containers.

    /usr/bin/python3 tests/bench/dockerpy_monitor.py SOCKET LABEL SECONDS

One thread per running container carrying LABEL, each reading
client.api.stats(id, stream=True, decode=True) (docker-py has no other way
to stream several containers), computing cpu_percent from each sample's
precpu_stats as `docker stats` does. After SECONDS prints "samples N" and
exits.
"""
import os
import sys
import threading
import time

import docker


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: dockerpy_monitor.py SOCKET LABEL SECONDS")
    sock, label, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
    client = docker.DockerClient(base_url="unix://" + sock, version="auto", max_pool_size=1000)
    ids = [c["Id"] for c in client.api.containers(filters={"label": label})]
    if not ids:
        sys.exit("no containers to watch")
    counts = [0] * len(ids)
    latest = [0.0] * len(ids)

    def watch(i, cid):
        for s in client.api.stats(cid, stream=True, decode=True):
            cpu, pre = s.get("cpu_stats", {}), s.get("precpu_stats", {})
            d_cpu = cpu.get("cpu_usage", {}).get("total_usage", 0) - pre.get("cpu_usage", {}).get("total_usage", 0)
            d_sys = cpu.get("system_cpu_usage", 0) - pre.get("system_cpu_usage", 0)
            if d_sys > 0 and pre.get("system_cpu_usage"):
                latest[i] = d_cpu / d_sys * (cpu.get("online_cpus") or 1) * 100.0
            counts[i] += 1

    for i, cid in enumerate(ids):
        threading.Thread(target=watch, args=(i, cid), daemon=True).start()
    time.sleep(seconds)
    print("samples %d" % sum(counts))
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
