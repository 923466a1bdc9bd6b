"""docker-py peer: read a container's whole log as a stream.

    /usr/bin/python3 tests/bench/dockerpy_logs.py SOCKET CONTAINER

Iterates client.api.logs(id, stream=True, follow=False) (demultiplexed
frames, as bytes) to the end, counting lines and bytes. follow is given:
docker-py makes it follow the stream's value, and Podman 4.3 cuts a
followed log of an exited container short (after about 1 MB). Prints "lines <n>", "bytes <n>" and
"read_us <us>" for the read alone.
"""
import sys
import time

import docker


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: dockerpy_logs.py SOCKET CONTAINER")
    sock, cid = sys.argv[1], sys.argv[2]
    client = docker.DockerClient(base_url="unix://" + sock, version="auto")
    lines = nbytes = 0
    last = b"\n"
    t0 = time.monotonic_ns()
    for chunk in client.api.logs(cid, stream=True, follow=False):
        lines += chunk.count(b"\n")
        nbytes += len(chunk)
        if chunk:
            last = chunk[-1:]
    elapsed = time.monotonic_ns() - t0
    if nbytes and last != b"\n":
        lines += 1
    print("lines %d" % lines)
    print("bytes %d" % nbytes)
    print("read_us %.1f" % (elapsed / 1e3))


main()
