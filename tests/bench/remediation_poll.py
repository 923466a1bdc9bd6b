"""The polling contestant of the remediation bench (tests/bench/remediation.sh):
what autoheal does (sleep AUTOHEAL_INTERVAL=5 s, ask the engine for the
containers it should act on, act on each), with "exited and labelled
bench_remediation=poll" in place of "unhealthy" and a start in place of a
restart (the container is dead: a restart is a start).

    /usr/bin/python3 tests/bench/remediation_poll.py SOCKET [INTERVAL]

Runs until killed (SIGTERM).
"""
import signal
import sys
import time

import docker


def main():
    if len(sys.argv) not in (2, 3):
        sys.exit("usage: remediation_poll.py SOCKET [INTERVAL]")
    interval = float(sys.argv[2]) if len(sys.argv) == 3 else 5.0
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    api = docker.APIClient(base_url="unix://" + sys.argv[1], version="auto")
    while True:
        time.sleep(interval)
        try:
            dead = api.containers(all=True, filters={"status": "exited", "label": "bench_remediation=poll"})
            for c in dead:
                api.start(c["Id"])
        except docker.errors.APIError as e:
            # a container removed between the list and the start: go on
            print("poll: %s" % e, file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
