"""Two dashboard replicas sharing Redis and the runs folder, behind nginx with deploy/nginx.conf (its
sticky-session cookie), driven by real Chromium: every request of one browser, its websocket included,
reaches one replica, different browsers spread over both, and each sees the app work."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import urllib.request
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
from playwright.sync_api import expect
from servers import REPO, free_port, start_dashboard, start_redis, stop, wait_listening

CONF = REPO / "deploy" / "nginx.conf"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def local_conf(folder: Path, port: int, upstreams: list[int]) -> Path:
    """deploy/nginx.conf with its listening port, its upstream servers and its logs made local; every
    other line (the cookie, the hash, the websocket headers) is the shipped one."""
    text = CONF.read_text()
    swaps = {
        "listen 80;": f"listen 127.0.0.1:{port};",
        "server dashboard:8501 max_fails=3 fail_timeout=10s resolve;":
            " ".join(f"server 127.0.0.1:{p};" for p in upstreams),  # Debian's nginx 1.22 has no `resolve`
        "access_log /dev/stdout glasswing;": f"access_log {folder}/access.log glasswing;",
        "error_log /dev/stderr warn;": f"error_log {folder}/error.log warn;",
    }
    for old, new in swaps.items():
        assert text.count(old) == 1, f"deploy/nginx.conf no longer has {old!r}: update this test with it"
        text = text.replace(old, new)
    path = folder / "nginx.conf"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def balanced():
    """Redis, two dashboards on it, nginx in front: (nginx URL, the replicas' ports, nginx's access log)."""
    if not Path(NGINX).exists():
        pytest.fail("nginx is not installed: scripts/system-packages.sh installs it (make test runs it).")
    home = Path(tempfile.mkdtemp(prefix="glasswing-replicas-"))
    procs = []
    try:
        redis, url = start_redis(home)
        procs.append(redis)
        env = {"GLASSWING_QUEUE": url, "GLASSWING_DATA": str(home / "data"), "GLASSWING_RUNS": str(home / "runs")}
        ports = []
        for name in ("a", "b"):
            proc, port = start_dashboard(home / f"dashboard-{name}.log", env)
            procs.append(proc)
            ports.append(port)
        port = free_port()
        conf = local_conf(home, port, ports)
        check = subprocess.run([NGINX, "-t", "-p", f"{home}/", "-c", str(conf), "-g", f"pid {home}/nginx.pid;"],
                               capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        nginx = subprocess.Popen([NGINX, "-p", f"{home}/", "-c", str(conf), "-g",
                                  f"daemon off; pid {home}/nginx.pid;"], stderr=subprocess.PIPE, text=True)
        procs.append(nginx)
        wait_listening(port, nginx, "nginx")
        yield f"http://127.0.0.1:{port}", ports, home / "access.log"
    finally:
        for proc in reversed(procs):
            stop(proc)
        shutil.rmtree(home, ignore_errors=True)


LINE = re.compile(r'"(?P<method>\S+) (?P<path>\S+) [^"]*" (?P<status>\d+) route=(?P<route>\S+) '
                  r"upstream=127\.0\.0\.1:(?P<port>\d+)")


def served(log: Path) -> dict[str, list[tuple[str, int, int]]]:
    """route -> [(path, status, replica port), ...] from nginx's access log."""
    by_route = defaultdict(list)
    for line in log.read_text().splitlines():
        match = LINE.search(line)
        if match:
            by_route[match["route"]].append((match["path"], int(match["status"]), int(match["port"])))
    return by_route


def test_each_browser_stays_on_one_replica_with_its_websocket(balanced, browser):
    url, ports, log = balanced
    routes = []
    for _ in range(3):
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        page = context.new_page()
        page.goto(url + "/train")
        expect(page.get_by_role("heading", name="Train a classifier")).to_be_visible(timeout=120_000)
        page.reload()  # a reload keeps the cookie, so the same replica (and session) again
        expect(page.get_by_role("heading", name="Train a classifier")).to_be_visible(timeout=120_000)
        (cookie,) = [c for c in context.cookies() if c["name"] == "glasswing_route"]
        routes.append(cookie["value"])
        context.close()
    by_route = served(log)
    for route in routes:
        requests = by_route[route]
        assert {port for _, _, port in requests} <= set(ports) and len({port for _, _, port in requests}) == 1, \
            requests
        assert any(path.startswith("/_stcore/stream") and status == 101 for path, status, _ in requests), \
            "the websocket went through nginx to the same replica"
        assert len(requests) > 5  # the page, its scripts, the health checks, the websocket: all there


def test_new_visitors_spread_over_both_replicas(balanced):
    url, ports, log = balanced
    routes = []
    for _ in range(24):
        route = uuid.uuid4().hex
        request = urllib.request.Request(url + "/_stcore/health", headers={"Cookie": f"glasswing_route={route}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
            cookies = response.headers.get_all("Set-Cookie")
            assert any(c.startswith(f"glasswing_route={route};") for c in cookies), cookies  # the key it came with
        routes.append(route)
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as response:  # no cookie: one is given
        assert any(re.match(r"glasswing_route=[0-9a-f]{32}; Path=/; HttpOnly", c)
                   for c in response.headers.get_all("Set-Cookie"))
    by_route = served(log)
    used = {by_route[r][0][2] for r in routes}
    assert used == set(ports), f"24 visitors all went to {used}: the hash does not spread them"
