"""Runs a built function binary once the way its platform would, for
scripts/deploy-check.sh, and checks its answer to a recorded event.

    emulate.py lambda BINARY EVENT.json
        Plays AWS's side of the Lambda Runtime API
        (/2018-06-01/runtime/invocation/...) on a free port, starts BINARY
        with AWS_LAMBDA_RUNTIME_API pointing there, hands it the event's
        "event" (an API Gateway HTTP API 2.0 payload), and checks the
        response's statusCode against the event's "expect".
    emulate.py vercel BINARY REQUEST.json
        Starts BINARY as Vercel's executable runtime does in `vercel dev`
        (VERCEL=1, HTTP on VERCEL_DEV_PORT), sends the recorded request
        (method, path, the headers Vercel's edge adds) and checks the status.

The binary inherits this process's environment (database, secrets). Prints
one line per run: what was sent, the status, the cold start in ms. Exits 1
on any other answer. Standard library only.
"""

import http.client
import http.server
import json
import os
import queue
import socket
import subprocess
import sys
import threading
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_lambda(binary, fixture):
    events, answers = queue.Queue(), queue.Queue()
    events.put(json.dumps(fixture["event"]).encode())

    class RuntimeApi(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            if self.path != "/2018-06-01/runtime/invocation/next":
                self.send_error(404)
                return
            body = events.get()  # blocks: the next invocation, as Lambda does
            self.send_response(200)
            self.send_header("Lambda-Runtime-Aws-Request-Id", "deploy-check-1")
            self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 10_000))
            self.send_header("Lambda-Runtime-Invoked-Function-Arn",
                             "arn:aws:lambda:eu-west-1:123456789012:function:deploy-check")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            payload = self.rfile.read(length)
            self.send_response(202)
            self.send_header("Content-Length", "0")
            self.end_headers()
            answers.put((self.path, payload))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RuntimeApi)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = dict(os.environ,
               AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
               AWS_LAMBDA_FUNCTION_NAME=os.path.basename(os.path.dirname(binary)) or "fn",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256",
               AWS_LAMBDA_FUNCTION_VERSION="$LATEST")
    started = time.monotonic()
    child = subprocess.Popen([binary], env=env)
    try:
        path, payload = answers.get(timeout=60)
    except queue.Empty:
        child.kill()
        sys.exit(f"{binary}: no answer from the function within 60 s")
    elapsed = (time.monotonic() - started) * 1000
    child.kill()
    child.wait()
    if not path.endswith("/response"):
        sys.exit(f"{binary}: the function reported an error: {payload.decode(errors='replace')}")
    answer = json.loads(payload)
    return answer.get("statusCode"), answer.get("body") or "", elapsed


def run_vercel(binary, fixture):
    port = free_port()
    env = dict(os.environ, VERCEL="1", VERCEL_DEV_PORT=str(port))
    started = time.monotonic()
    child = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = started + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.connect()
                break
            except OSError:
                if time.monotonic() > deadline or child.poll() is not None:
                    sys.exit(f"{binary}: not serving on port {port}")
                time.sleep(0.002)
        req = fixture["request"]
        body = req.get("body")
        conn.request(req["method"], req["path"], body=body, headers=req["headers"])
        response = conn.getresponse()
        text = response.read().decode(errors="replace")
        return response.status, text, (time.monotonic() - started) * 1000
    finally:
        child.kill()
        child.wait()


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("lambda", "vercel"):
        sys.exit(__doc__)
    platform, binary, path = sys.argv[1:]
    fixture = json.load(open(path))
    run = run_lambda if platform == "lambda" else run_vercel
    status, body, ms = run(binary, fixture)
    what = os.path.basename(path)
    print(f"  {platform:6} {what:28} -> {status} in {ms:.0f} ms (cold start included)")
    if status != fixture["expect"]["status"] or fixture["expect"].get("contains", "") not in body:
        sys.exit(f"{binary}: expected {fixture['expect']}, got {status}: {body[:300]}")


if __name__ == "__main__":
    main()
