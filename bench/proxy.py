#!/usr/bin/env python3
"""A loopback HTTP proxy in front of an AWS emulator that delays every request by D milliseconds,
as a real region's round trip would, and can inject faults (for retry and throttling tests).

    proxy.py --upstream http://127.0.0.1:5000 --port 0 --delay-ms 50 \
             [--fail 'CreateBucket=503:2'] [--profile-invisible-ms 8000] [--port-file FILE]

--fail OPERATION=STATUS:COUNT answers the first COUNT requests whose body or URL names OPERATION
with STATUS (an AWS-style XML error) instead of forwarding them. It listens on 127.0.0.1 only and
forwards only to a loopback upstream.

--profile-invisible-ms N reproduces IAM's eventual consistency as EC2 sees it (IAM User Guide,
"Changes that I make are not always immediately visible"): for N ms after CreateInstanceProfile,
associating that profile is answered 400 InvalidParameterValue "Invalid IAM Instance Profile name".
GET /__proxy/events returns when each profile became visible and when its association succeeded.

It records when each request arrived and was answered: GET /__proxy/intervals returns them as JSON
[[start, end], ...] (seconds), POST /__proxy/reset clears them. The longest chain of requests each
starting after the previous one was answered is the number of round trips a client waited for in
sequence (see sequential_round_trips).
"""
import argparse
import http.client
import http.server
import ipaddress
import json
import socketserver
import sys
import threading
import time
import urllib.parse

HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade", "te", "trailer"}


def sequential_round_trips(intervals):
    """The longest chain of intervals in which each starts after the previous one ended."""
    count, last_end = 0, float("-inf")
    for start, end in sorted(intervals, key=lambda i: i[1]):
        if start >= last_end:
            count, last_end = count + 1, end
    return count


def parse_fault(text):
    operation, rest = text.split("=", 1)
    status, count = rest.split(":", 1)
    return {"operation": operation, "status": int(status), "left": int(count)}


class Proxy(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream = None
    delay = 0.0
    faults = []
    intervals = []
    invisible = 0.0
    profiles = {}
    events = []
    lock = threading.Lock()

    def log_message(self, *args):
        pass

    def _injected(self, body):
        text = self.path + " " + body[:2048].decode("latin-1") + " " + self.headers.get("X-Amz-Target", "")
        with self.lock:
            for fault in self.faults:
                if fault["left"] > 0 and fault["operation"] in text:
                    fault["left"] -= 1
                    return fault
        return None

    def _control(self):
        if self.path == "/__proxy/reset":
            with self.lock:
                Proxy.intervals = []
                Proxy.profiles = {}
                Proxy.events = []
            payload = b"{}"
        elif self.path == "/__proxy/events":
            with self.lock:
                payload = json.dumps(Proxy.events).encode()
        else:
            with self.lock:
                payload = json.dumps(Proxy.intervals).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _handle(self):
        if self.path.startswith("/__proxy/"):
            return self._control()
        started = time.monotonic()
        try:
            self._forward()
        finally:
            with self.lock:
                Proxy.intervals.append((started, time.monotonic()))

    def _forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        time.sleep(self.delay)
        fault = self._injected(body)
        if fault:
            payload = (
                "<Response><Errors><Error><Code>Injected%d</Code><Message>injected by bench/proxy.py"
                "</Message></Error></Errors><RequestID>proxy</RequestID></Response>" % fault["status"]
            ).encode()
            self.send_response(fault["status"])
            self.send_header("Content-Type", "text/xml")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            return
        form = urllib.parse.parse_qs(body.decode("latin-1")) if b"Action=" in body else {}
        action = (form.get("Action") or [""])[0]
        if action in ("AssociateIamInstanceProfile", "ReplaceIamInstanceProfileAssociation"):
            name = (form.get("IamInstanceProfile.Name") or [""])[0]
            with self.lock:
                created = Proxy.profiles.get(name)
            if created is not None and time.monotonic() < created + Proxy.invisible:
                message = (f"Value ({name}) for parameter iamInstanceProfile.name is invalid. "
                           "Invalid IAM Instance Profile name")
                payload = (f"<Response><Errors><Error><Code>InvalidParameterValue</Code><Message>{message}"
                           "</Message></Error></Errors><RequestID>proxy</RequestID></Response>").encode()
                self.send_response(400)
                self.send_header("Content-Type", "text/xml")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)
                return
        target = urllib.parse.urlsplit(self.upstream)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=120)
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        connection.request(self.command, self.path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status == 200 and action == "CreateInstanceProfile":
            name = (form.get("InstanceProfileName") or [""])[0]
            with self.lock:
                Proxy.profiles[name] = time.monotonic()
                Proxy.events.append({"event": "profile-visible", "profile": name,
                                     "at": time.monotonic() + Proxy.invisible})
        if response.status == 200 and action in ("AssociateIamInstanceProfile",
                                                  "ReplaceIamInstanceProfileAssociation"):
            with self.lock:
                Proxy.events.append({"event": "associated", "at": time.monotonic()})
        self.send_response(response.status, response.reason)
        for key, value in response.getheaders():
            if key.lower() not in HOP_BY_HOP and key.lower() != "content-length":
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)
        connection.close()

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _handle


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--delay-ms", type=float, default=50.0)
    parser.add_argument("--fail", action="append", default=[], type=parse_fault)
    parser.add_argument("--profile-invisible-ms", type=float, default=0.0)
    parser.add_argument("--port-file")
    args = parser.parse_args()
    host = urllib.parse.urlsplit(args.upstream).hostname or ""
    if host != "localhost" and not ipaddress.ip_address(host).is_loopback:
        sys.exit("proxy.py forwards only to a loopback upstream")
    Proxy.upstream = args.upstream
    Proxy.delay = args.delay_ms / 1000.0
    Proxy.faults = args.fail
    Proxy.invisible = args.profile_invisible_ms / 1000.0
    server = Server(("127.0.0.1", args.port), Proxy)
    port = server.server_address[1]
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(str(port))
    print(f"proxy on http://127.0.0.1:{port} -> {args.upstream}, delay {args.delay_ms} ms", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
