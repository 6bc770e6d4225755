#!/usr/bin/env python3
"""A fake waiting room for testing the crowd simulator's own checks (not frontrow).

Speaks the routes the simulator uses, hands out self-describing tokens
`<concert>.<seq>.<user>.<mac>`, streams SSE events, and can misbehave on purpose:

    fake_room.py PORT [--bug overtake|position|none]

`overtake` admits from the back of the line every 10th tick;
`position` answers position + 1 to every 50th fan's status polls.
"""
import json, sys, threading, time, base64
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORT = int(sys.argv[1])
BUG = sys.argv[3] if len(sys.argv) > 3 and sys.argv[2] == "--bug" else "none"
lock = threading.Lock()
line = []            # tokens in entry order
active = {}          # token -> admitted at (s)
known = {}           # token -> seq
users = {}           # user -> token
policy = {"max_active": 1000000, "admit_per_second": 50, "active_ttl_seconds": 600, "paused": False}
seq = [0]

def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%03dZ" % int((t % 1) * 1000)

def ticket(tok):
    if tok in line:
        pos = line.index(tok) + 1
        if BUG == "position" and known[tok] % 50 == 0:
            pos += 1
        return {"token": tok, "status": "WAITING", "position": pos, "active_until": None}
    if tok in active:
        return {"token": tok, "status": "ACTIVE", "position": None,
                "active_until": iso(active[tok] + policy["active_ttl_seconds"])}
    return {"token": tok, "status": "EXPIRED", "position": None, "active_until": None}

def ticker():
    n = 0
    while True:
        time.sleep(0.1)
        n += 1
        with lock:
            if policy["paused"]:
                continue
            now = time.time()
            for _ in range(max(1, policy["admit_per_second"] // 10)):
                if not line:
                    break
                i = len(line) - 1 if BUG == "overtake" and n % 10 == 0 else 0
                active[line.pop(i)] = now

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def reply(self, code, body=None):
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n) or b"{}")
    def tok(self):
        return self.headers.get("X-Queue-Token", "")
    def do_POST(self):
        parts = self.path.split("/")
        jwt = self.headers.get("Authorization", "").split(" ")[-1]
        claims = json.loads(base64.urlsafe_b64decode(jwt.split(".")[1] + "=="))
        with lock:
            user = claims["sub"]
            if user in users:
                return self.reply(200, ticket(users[user]))
            seq[0] += 1
            tok = "%s.%d.%s.mac" % (parts[4], seq[0], user)
            known[tok] = seq[0]; users[user] = tok; line.append(tok)
            self.reply(201, ticket(tok))
    def do_DELETE(self):
        with lock:
            t = self.tok()
            if t in line: line.remove(t)
            active.pop(t, None)
        self.reply(204)
    def do_PUT(self):
        with lock:
            policy.update(self.body())
            self.reply(200, policy)
    def do_GET(self):
        if self.path.endswith("/queue-policy"):
            with lock: return self.reply(200, policy)
        if self.path.endswith("/queue-stats"):
            with lock: return self.reply(200, {"waiting": len(line), "active": len(active),
                                               "admitted_total": len(active), "expired_total": 0, "admit_rate": 0.0})
        if self.path.startswith("/api/v1/queue/status"):
            with lock:
                t = self.tok()
                return self.reply(200, ticket(t)) if t in known else self.reply(401, {})
        if self.path.startswith("/api/v1/queue/events"):
            t = self.path.split("token=")[-1]
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            while True:
                with lock: tk = ticket(t)
                try:
                    self.wfile.write(("data: %s\n\n" % json.dumps(tk)).encode()); self.wfile.flush()
                except OSError:
                    break  # the fan hung up (the simulator closes streams to quiesce)
                if tk["status"] != "WAITING":
                    break
                time.sleep(0.3)
            self.close_connection = True
            return
        self.reply(404, {})

threading.Thread(target=ticker, daemon=True).start()
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
