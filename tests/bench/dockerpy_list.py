"""docker-py peer: list every container N times (default 1) over SOCKET.

    /usr/bin/python3 tests/bench/dockerpy_list.py SOCKET [N]

Uses the low-level APIClient call: DockerClient.containers.list() would
inspect every container, which is not what the other tools do. Prints the
count; with N given, also "loop_us <us>" for the N calls alone.
"""
import sys
import time

import docker


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: dockerpy_list.py SOCKET [N]")
    sock = sys.argv[1]
    n = int(sys.argv[2]) if len(sys.argv) == 3 else None
    if n is not None and n < 1:
        sys.exit("N must be a positive integer")
    # version="auto" asks GET /version first, as moonpod's connect does.
    client = docker.DockerClient(base_url="unix://" + sock, version="auto")
    if n is None:
        print(len(client.api.containers(all=True)))
        return
    t0 = time.monotonic_ns()
    for _ in range(n):
        listed = client.api.containers(all=True)
    elapsed = time.monotonic_ns() - t0
    print(len(listed))
    print("loop_us %.1f" % (elapsed / 1e3))


main()
