"""docker-py peer for the events throughput bench (tests/bench/events.sh).

    /usr/bin/python3 tests/bench/dockerpy_events.py SOCKET N [NAME_PREFIX]

Iterates client.events(decode=True) and reads each event's Action and
Actor.Attributes.name, as moonpod's handler does; with a prefix, the
handler skips the events whose name does not start with it (docker-py has
no client-side filter). Stops after N events. Prints "events N",
"handled N" and "read_us" for the time from the request to the last event.
"""
import sys
import time

import docker


def main():
    if len(sys.argv) not in (3, 4):
        sys.exit("usage: dockerpy_events.py SOCKET N [NAME_PREFIX]")
    sock, n = sys.argv[1], int(sys.argv[2])
    prefix = sys.argv[3] if len(sys.argv) == 4 else None
    client = docker.APIClient(base_url="unix://" + sock, version="1.41")
    seen = handled = chars = 0
    t0 = time.monotonic_ns()
    for ev in client.events(decode=True):
        seen += 1
        name = (ev.get("Actor") or {}).get("Attributes", {}).get("name") or ""
        if prefix is None or name.startswith(prefix):
            handled += 1
            chars += len(ev.get("Action") or "") + len(name)
        if seen >= n:
            break
    elapsed = time.monotonic_ns() - t0
    print("events", seen)
    print("handled", handled)
    print("read_us", elapsed // 1000)


if __name__ == "__main__":
    main()
