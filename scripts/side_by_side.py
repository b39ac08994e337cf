#!/usr/bin/env python3
"""Side-by-side benchmark of a release function binary against the reference
programs of a bench folder (a minimal Rust function, the floor, and a Node.js
function, the peer), as that folder's README describes: one database, one
token, one API Gateway v2 event for `GET /api/v1/accounts`, interleaved
rounds through the folder's Lambda Runtime API emulator.

usage: side_by_side.py BENCH_DIR FLOOR_BINARY [--rounds 3] [--n 1000] [--delay-ms D [--trace]]
With --delay-ms, the three programs reach the database through a proxy
that holds every command D ms before passing it on (what a database D ms
away costs per round trip; seeding goes direct), so what is measured is
the round trips each program waits on, not loopback speed.
Needs target/release/accounts, target/debug/crm-local (which seeds through
the API) and target/debug/crm-admin. Uses the server at MONGODB_URI if set,
else starts SecantusDB from .local/venv (scripts/lib.sh installs it) on a
free port with its data in a temporary folder. Seeding never touches file
storage, so a placeholder bucket is configured unless S3_BUCKET is set.
Prints one JSON line per run, then a table of ranges.
"""
import argparse, asyncio, json, os, socket, subprocess, sys, tempfile, threading, time, urllib.parse, urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRET = "side-by-side-secret-0123456789abcdef0123"
DB = "side_by_side_%d" % int(time.time())


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, seconds):
    """Whether something accepts connections on 127.0.0.1:port within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


def call(port, method, path, body=None, token=None):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("content-type", "application/json")
    if token:
        req.add_header("authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"{}")


def seed(env):
    """An ENTERPRISE organization with 30 accounts and a day-long token."""
    port = free_port()
    server = subprocess.Popen([os.path.join(ROOT, "target/debug/crm-local")],
                              env={**env, "PORT": str(port), "ACCESS_TOKEN_TTL_SECONDS": "86400"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not wait_port(port, 30):
            sys.exit(f"crm-local did not start on port {port} within 30 s")
        owner = call(port, "POST", "/api/v1/auth/register", {
            "organizationName": "Bench Garage", "email": "bench@example.test",
            "password": "bench password 123", "firstName": "Ben", "lastName": "Ch"})
        token = owner["accessToken"]
        for i in range(30):
            call(port, "POST", "/api/v1/accounts", {"name": f"Account {i:02d}"}, token)
        slug = owner["organization"]["slug"]
    finally:
        server.terminate()
        server.wait()
    subprocess.run([os.path.join(ROOT, "target/debug/crm-admin"), "tenants", "set-plan", slug, "ENTERPRISE"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    return token


def database(env):
    """MONGODB_URI, or a SecantusDB of this run's own (stopped at exit)."""
    if env.get("MONGODB_URI"):
        return None
    server = os.path.join(ROOT, ".local/venv/bin/secantusd-py")
    if not os.path.exists(server):
        sys.exit("set MONGODB_URI, or install SecantusDB first (scripts/test.sh or scripts/dev.sh does)")
    port = free_port()
    data = tempfile.mkdtemp(prefix="side-by-side-")
    proc = subprocess.Popen([server, "--host", "127.0.0.1", "--port", str(port), "--storage-path", data,
                             "--log-level", "WARNING"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if not wait_port(port, 60):
        proc.kill()
        sys.exit(f"SecantusDB did not start on port {port} within 60 s (data in {data})")
    env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/?directConnection=true"
    return proc


def command_name(body):
    """The command an OP_MSG body (after its 16-byte header) carries: the
    first key of its kind-0 section; '?' for anything else."""
    if len(body) < 5:
        return "?"
    i = 4  # flag bits
    while i < len(body):
        kind = body[i]
        i += 1
        if kind == 0:
            end = body.find(b"\0", i + 5)
            return body[i + 5:end].decode(errors="replace") if end > 0 else "?"
        if kind == 1:
            i += int.from_bytes(body[i:i + 4], "little")
        else:
            return "?"
    return "?"


def delaying_proxy(upstream_port, delay_ms, trace=False):
    """A MongoDB wire proxy on a free port that holds each message a client
    sends (one wire message: its 4-byte little-endian length first) for
    `delay_ms` before forwarding it; answers pass straight back. With
    `trace`, prints each command's name, its connection and the time it
    arrived. Runs in a thread of its own for the rest of the process;
    returns its port."""
    port = free_port()
    ready = threading.Event()
    connections = iter(range(1, 1 << 30))
    started = time.monotonic()

    async def forward_delayed(reader, writer, conn):
        try:
            while True:
                header = await reader.readexactly(16)
                length = int.from_bytes(header[:4], "little")
                body = await reader.readexactly(length - 16)
                if trace and int.from_bytes(header[12:16], "little") == 2013:
                    print(f"  {1000 * (time.monotonic() - started):10.1f} ms  conn {conn:3d}  {command_name(body)}",
                          file=sys.stderr, flush=True)
                await asyncio.sleep(delay_ms / 1000)
                writer.write(header + body)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    async def forward(reader, writer):
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except ConnectionError:
            pass
        finally:
            writer.close()

    async def client(reader, writer):
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        await asyncio.gather(forward_delayed(reader, up_writer, next(connections)), forward(up_reader, writer))

    async def serve():
        server = await asyncio.start_server(client, "127.0.0.1", port)
        ready.set()
        async with server:
            await server.serve_forever()

    threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
    ready.wait(10)
    return port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("bench_dir")
    ap.add_argument("floor_binary")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--n", type=int, default=1000)
    ap.add_argument("--delay-ms", type=float, default=0,
                    help="hold every database command this long (a proxy in front of the database)")
    ap.add_argument("--trace", action="store_true",
                    help="with --delay-ms: print every command through the proxy (use a small --n)")
    a = ap.parse_args()
    env = {**os.environ, "MONGODB_DB": DB, "JWT_SECRET": SECRET, "JWT_ISSUER": "workshop-crm",
           "JWT_AUDIENCE": "workshop-crm-api", "LOG_LEVEL": "warn", "BCRYPT_COST": "4",
           "RATE_LIMIT_API_FREE": "100000000", "RATE_LIMIT_API_ENTERPRISE": "100000000"}
    if not env.get("S3_BUCKET"):
        env.update({"S3_BUCKET": "side-by-side", "S3_ENDPOINT": "http://127.0.0.1:9",
                    "AWS_ACCESS_KEY_ID": "side-by-side", "AWS_SECRET_ACCESS_KEY": "side-by-side"})
    db = database(env)
    try:
        run(a, env)
    finally:
        if db:
            db.terminate()
            db.wait()


def run(a, env):
    token = seed(env)
    event = {
        "version": "2.0", "routeKey": "GET /api/v1/accounts", "rawPath": "/api/v1/accounts",
        "rawQueryString": "", "headers": {"authorization": f"Bearer {token}", "host": "bench"},
        "requestContext": {"accountId": "000000000000", "apiId": "bench", "domainName": "bench",
                           "http": {"method": "GET", "path": "/api/v1/accounts", "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.7", "userAgent": "bench"},
                           "requestId": "bench", "routeKey": "GET /api/v1/accounts", "stage": "$default",
                           "time": "30/Nov/2026:12:00:00 +0000", "timeEpoch": 1796040000000},
        "isBase64Encoded": False,
    }
    event_path = f"/tmp/{DB}.json"
    json.dump(event, open(event_path, "w"))
    programs = {
        "project accounts": [os.path.join(ROOT, "target/release/accounts")],
        "rust-floor": [a.floor_binary],
        "node-peer": ["node", os.path.join(a.bench_dir, "node-peer/bootstrap.mjs")],
    }
    results = {name: [] for name in programs}
    uri = env["MONGODB_URI"]
    if a.delay_ms:
        upstream = urllib.parse.urlsplit(uri).port
        uri = f"mongodb://127.0.0.1:{delaying_proxy(upstream, a.delay_ms, a.trace)}/?directConnection=true"
        print(f"every database command held {a.delay_ms} ms", flush=True)
    passthrough = [f"--env=MONGODB_URI={uri}"] + [f"--env={k}={env[k]}" for k in
                   ("MONGODB_DB", "JWT_SECRET", "JWT_ISSUER", "JWT_AUDIENCE", "LOG_LEVEL",
                    "RATE_LIMIT_API_FREE", "RATE_LIMIT_API_ENTERPRISE")]
    for r in range(a.rounds):
        for name, cmd in programs.items():
            out = subprocess.run([sys.executable, os.path.join(a.bench_dir, "lambda_bench.py"),
                                  "--event", event_path, "--n", str(a.n), *passthrough, "--", *cmd],
                                 capture_output=True, text=True, env=env)
            line = out.stdout.strip().splitlines()[-1] if out.stdout.strip() else json.dumps({"error": out.stderr[-300:]})
            print(json.dumps({"round": r + 1, "program": name, **json.loads(line)}), flush=True)
            results[name].append(json.loads(line))
    print("\n| program | cold ms | warm p50 ms | warm p99 ms | RSS MiB | all 200 |")
    print("|---|---|---|---|---|---|")
    for name, runs in results.items():
        def rng(key):
            vals = [x[key] for x in runs if x.get(key) is not None]
            return f"{min(vals):.1f}-{max(vals):.1f}" if vals else "-"
        ok = all(x.get("all_200") for x in runs)
        print(f"| {name} | {rng('cold_ms')} | {rng('warm_p50_ms')} | {rng('warm_p99_ms')} | {rng('rss_mb')} | {ok} |")


if __name__ == "__main__":
    main()
