"""A stand-in for the EC2 instance metadata service (IMDSv2 only), on loopback, for whoami's tests.

    python imds.py ROLE INSTANCE_PROFILE_ARN LOG

Prints the port it listens on, then serves until killed. As on an instance whose metadata options
require tokens ("Use the Instance Metadata Service to access instance metadata", Amazon EC2 User
Guide: "IMDSv2 uses session-oriented requests"; with HttpTokens=required, a GET without a valid
token gets 401 Unauthorized): a session token comes from PUT /latest/api/token with
X-aws-ec2-metadata-token-ttl-seconds (1 to 21600, else 400), and every GET must carry it in
X-aws-ec2-metadata-token. Serves the instance profile's role under
/latest/meta-data/iam/security-credentials/, its temporary credentials (in the documented JSON
shape), and /latest/meta-data/iam/info. Each request is logged to LOG as one JSON line: method,
path, and whether it carried a valid token.
"""

import datetime
import http.server
import json
import secrets
import sys

ROLE, PROFILE_ARN, LOG = sys.argv[1], sys.argv[2], sys.argv[3]
TOKENS = set()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, valid):
        with open(LOG, "a") as log:
            log.write(json.dumps({"method": self.command, "path": self.path, "token": valid}) + "\n")

    def answer(self, status, body=b"", content_type="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self):
        if self.path != "/latest/api/token":
            self.record(False)
            return self.answer(404)
        ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds", "")
        if not ttl.isdigit() or not 1 <= int(ttl) <= 21600:
            self.record(False)
            return self.answer(400)
        token = secrets.token_urlsafe(32)
        TOKENS.add(token)
        self.record(True)
        self.send_response(200)
        self.send_header("X-aws-ec2-metadata-token-ttl-seconds", ttl)
        self.send_header("Content-Length", str(len(token)))
        self.end_headers()
        self.wfile.write(token.encode())

    def do_GET(self):
        valid = self.headers.get("X-aws-ec2-metadata-token") in TOKENS
        self.record(valid)
        if not valid:
            return self.answer(401)
        now = datetime.datetime.now(datetime.timezone.utc)
        expiration = (now + datetime.timedelta(hours=6)).strftime("%Y-%m-%dT%H:%M:%SZ")
        base = "/latest/meta-data/iam/security-credentials/"
        if self.path == base:
            return self.answer(200, ROLE.encode())
        if self.path == base + ROLE:
            credentials = {
                "Code": "Success",
                "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "Type": "AWS-HMAC",
                "AccessKeyId": "ASIAIMDSSTANDIN00001",
                "SecretAccessKey": "imds-stand-in-secret",
                "Token": "imds-stand-in-token",
                "Expiration": expiration,
            }
            return self.answer(200, json.dumps(credentials).encode(), "application/json")
        if self.path == "/latest/meta-data/iam/info":
            info = {
                "Code": "Success",
                "LastUpdated": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "InstanceProfileArn": PROFILE_ARN,
                "InstanceProfileId": "AIPAIMDSSTANDIN",
            }
            return self.answer(200, json.dumps(info).encode(), "application/json")
        return self.answer(404)


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
server.serve_forever()
