#!/usr/bin/env python3
"""A real HTTP receiver on loopback for the webhook tests.

    webhook_receiver.py DIR [FAIL_FIRST]

Listens on 127.0.0.1 on a free port and writes it to DIR/port. Every POST
body is appended to DIR/posts (one line each) after the first FAIL_FIRST
POSTs, which are answered 503 and counted in DIR/refused. Also answers,
for the HTTP client's tests: GET /status/NNN (that status, body "status
NNN"), GET /big/N (N bytes), GET /headers/N (N
headers, then Set-Cookie twice), GET /slow/S (answers after S seconds), and
echoes any other request as JSON {method, path, headers, body}.
"""
import json
import os
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR = sys.argv[1]
FAIL_FIRST = int(sys.argv[2]) if len(sys.argv) > 2 else 0
state = {"posts": 0}


def append(name, text):
    with open(os.path.join(DIR, name), "a") as f:
        f.write(text)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body, ctype="text/plain"):
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n).decode("utf-8", "replace") if n else ""

    def route(self):
        body = self.body()
        parts = self.path.strip("/").split("/")
        if parts[0] == "status" and len(parts) > 1:
            return self.reply(int(parts[1]), "status " + parts[1])
        if parts[0] == "big" and len(parts) > 1:
            return self.reply(200, "x" * int(parts[1]))
        if parts[0] == "headers" and len(parts) > 1:
            self.send_response(200)
            for i in range(int(parts[1])):
                self.send_header("X-Many-%d" % i, "v%d" % i)
            self.send_header("Set-Cookie", "a=1")
            self.send_header("Set-Cookie", "b=2")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return None
        if parts[0] == "slow" and len(parts) > 1:
            time.sleep(float(parts[1]))
            return self.reply(200, "slow")
        if self.command == "POST" and parts[0] == "hook":
            state["posts"] += 1
            if state["posts"] <= FAIL_FIRST:
                append("refused", "503\n")
                return self.reply(503, "not yet")
            append("posts", body.replace("\n", " ") + "\n")
            return self.reply(200, "ok")
        echo = {"method": self.command, "path": self.path, "body": body,
                "headers": {k.lower(): v for k, v in self.headers.items()}}
        return self.reply(200, json.dumps(echo), "application/json")

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = route


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(os.path.join(DIR, "port.tmp"), "w") as f:
    f.write(str(server.server_address[1]))
os.rename(os.path.join(DIR, "port.tmp"), os.path.join(DIR, "port"))
server.serve_forever()
