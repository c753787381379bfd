"""Many people at once: N dashboard sessions asking for heatmaps while one model trains.

    .venv/bin/python -m bench.load_sessions [--sessions 20] [--train | --no-train] [--uploads 1]
                                            [--client ws|browser] [--url http://host:port [--pid PID]] [--json]
    .venv/bin/python -m bench.load_sessions --replicas 2 --queue start [--sessions 20 --rounds 1]

Starts ``python -m dashboard`` on a free port (or uses ``--url``), starts one training job and waits
until it is training (by default as a student does: the Train page's form, so the job is the server's
own, in its child process or on its thread as ``GLASSWING_TRAIN_IN`` says; ``--train-in process`` runs
``python -m core train`` beside it instead), then opens N Streamlit sessions, like N students in N tabs.
By default each is a websocket client speaking the frontend's protocol (:mod:`bench.ws_session`:
script runs, widget states, file uploads) without rendering anything, because N headless Chromium tabs
on this 2-core machine would spend the CPU the server needs on N copies of the frontend (``--client
browser`` does that, one browser context per session):

1. a warm-up session loads the Explain page alone (the model is loaded and compiled once per server);
2. the other N-1 sessions open the page at the same moment; each waits for the sample photo's
   "Grad-CAM · " caption (time to first heatmap), then uploads ``--uploads`` photos of its own (a
   slightly different cat each, so nothing comes from the shared cache) and waits for each heatmap;
3. every session closes; once Streamlit has dropped them (``--session-ttl``, see :func:`released_memory`)
   the server's memory is read again;
4. ``--rounds`` repeats 2-3 with new sessions and new photos, to show whether memory keeps growing.

Reported: throughput (heatmaps per second over the concurrent phase), p50/p95 of the time to the
first heatmap and of the time to a heatmap for a new photo, and the server's resident memory (VmRSS
from /proc, no psutil) with no session, one session, all sessions, and after they closed, which gives
the memory per additional session. The issue's goal: 20 sessions with p95 under 3 s while one trains.

With ``--queue URL`` (``start``: a redis-server of its own) the run measures two setups side by side: one
replica training locally, then ``--replicas`` replicas whose Train page submits the training to the queue
and one ``python -m core worker`` that trains it, the sessions spread over the replicas round-robin (as a
sticky balancer would). Memory is the first replica's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"]
CAPTION = re.compile(r"Grad-CAM · ")
TRAIN_ARGS = ["--data", "shapes", "--model", "efficientnet_lite0", "--epochs", "200", "--no-fast",
              "--augment", "light", "--batch-size", "16", "--patience", "0"]


# -- processes and memory ---------------------------------------------------------------------------------
def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB, from /proc/<pid>/status (None once it has gone)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def listening_pid(port: int) -> int | None:
    """The pid of a local process listening on ``port`` (for ``--url`` without ``--pid``)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as fh:
                next(fh)
                for row in fh:
                    cols = row.split()
                    if int(cols[1].rsplit(":", 1)[1], 16) == port and cols[3] == "0A":  # 0A = LISTEN
                        inodes.add(cols[9])
        except OSError:
            continue
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}").removeprefix("socket:[").rstrip("]") in inodes:
                    return int(pid)
        except OSError:
            continue
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_healthy(url: str, proc: subprocess.Popen | None, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not become healthy within {timeout:.0f} s")


def start_server(env: dict[str, str], log: Path, session_ttl: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    with open(log, "w") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "dashboard", "--server.port",
             str(port), "--server.address", "127.0.0.1", "--server.headless", "true",
             "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
             "--server.disconnectedSessionTTL", str(session_ttl)],
            cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    return proc, f"http://127.0.0.1:{port}"


class Trainer:
    """One ``python -m core train`` job whose progress lines are kept (to know it is really training)."""

    def __init__(self, env: dict[str, str], runs: Path, args: list[str]) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen([sys.executable, "-m", "core", "train", *args, "--out", str(runs)],
                                     cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     text=True, bufsize=1)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())

    def wait_training(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not any(line.startswith(("[stage1]", "[stage2]")) for line in self.lines):
            if self.proc.poll() is not None:
                raise RuntimeError("training ended before it started:\n" + "\n".join(self.lines[-20:]))
            if time.monotonic() > deadline:
                raise RuntimeError("training did not start in time:\n" + "\n".join(self.lines[-20:]))
            time.sleep(0.5)

    @property
    def running(self) -> bool:
        return self.proc.poll() is None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # stops within a batch, the run is kept as "stopped"
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class MemoryProbe:
    """Samples a process's VmRSS every ``interval`` seconds in a thread; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.5) -> None:
        self.pid, self.interval, self.peak = pid, interval, 0.0
        self._stop = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.peak = max(self.peak, rss_mb(self.pid) or 0.0)

    def now(self) -> float:
        value = rss_mb(self.pid) or 0.0
        self.peak = max(self.peak, value)
        return value

    def close(self) -> None:
        self._stop.set()


# -- sessions ---------------------------------------------------------------------------------------------
@dataclass
class SessionResult:
    index: int
    page_ready: float | None = None  # seconds from opening the page to its title (script running)
    first_heatmap: float | None = None  # seconds from opening the page to the sample's heatmap
    upload_heatmaps: list[float] = field(default_factory=list)  # seconds from upload to its heatmap
    error: str | None = None
    context: object = field(default=None, repr=False)  # the browser context, closed by the caller


def make_photos(folder: Path, count: int, first: int = 0) -> list[Path]:
    """``count`` different photos of the sample cat (a little noise each), so no heatmap is cached;
    ``first`` numbers them on from an earlier round's."""
    import numpy as np
    from PIL import Image

    from core.samples import load_sample

    cat = load_sample("cat").astype(np.int16)
    paths = []
    for i in range(first, first + count):
        noise = np.random.default_rng(i).integers(-3, 4, cat.shape)
        path = folder / f"cat_{i:03d}.png"
        Image.fromarray(np.clip(cat + noise, 0, 255).astype(np.uint8)).save(path)
        paths.append(path)
    return paths


async def run_session(browser, url: str, index: int, photos: list[Path], timeout_ms: float) -> SessionResult:
    result = SessionResult(index)
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    page.set_default_timeout(timeout_ms)
    try:
        start = time.perf_counter()
        await page.goto(url)
        await page.get_by_text("Explain a prediction").first.wait_for(state="visible")
        result.page_ready = time.perf_counter() - start
        await page.get_by_text(CAPTION).first.wait_for(state="visible")
        result.first_heatmap = time.perf_counter() - start
        if photos:
            await page.get_by_text("Upload", exact=True).click()
            uploader = page.locator("input[type='file']").first
            await uploader.wait_for(state="attached")
        for photo in photos:
            start = time.perf_counter()
            await uploader.set_input_files(str(photo))
            await page.get_by_test_id("stImage").filter(has_text=photo.name).first.wait_for(state="visible")
            await page.get_by_text(CAPTION).first.wait_for(state="visible")
            result.upload_heatmaps.append(time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - one failed session is reported, the others go on
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    result.context = context  # closed later, after memory is read with every session still open
    return result


def _has_heatmap(run) -> bool:
    return any(CAPTION.match(caption) for caption in run.images)


async def run_ws_session(url: str, index: int, photos: list[Path], timeout_s: float) -> SessionResult:
    """The same steps as :func:`run_session` over Streamlit's websocket protocol (nothing rendered)."""
    from bench.ws_session import WsSession, radio_state

    result = SessionResult(index)
    session = WsSession(url)
    try:
        start = time.perf_counter()
        await session.__aenter__()
        first = await session.run(until=lambda r: "Explain a prediction" in r.texts, timeout=timeout_s)
        result.page_ready = time.perf_counter() - start
        if not _has_heatmap(first):
            first = await session.run(until=_has_heatmap, timeout=timeout_s)  # the run goes on: read on
        if first.exceptions or not _has_heatmap(first):
            raise RuntimeError(f"no heatmap on the page: {first.exceptions or first.images}")
        result.first_heatmap = time.perf_counter() - start
        if photos:
            source = radio_state(first.radios["Image source"], "Upload")
            page = await session.run([source], timeout=timeout_s)
            if not page.uploaders:
                raise RuntimeError("the Upload source shows no file uploader")
        for photo in photos:
            start = time.perf_counter()
            uploaded = await session.upload(page.uploaders[0], photo.name, photo.read_bytes())
            done = await session.run(
                [source, uploaded], timeout=timeout_s,
                until=lambda r, name=photo.name: any(name in c for c in r.images) and _has_heatmap(r))
            if done.exceptions or not _has_heatmap(done):
                raise RuntimeError(f"no heatmap for {photo.name}: {done.exceptions or done.images}")
            result.upload_heatmaps.append(time.perf_counter() - start)
    except Exception as exc:  # noqa: BLE001 - one failed session is reported, the others go on
        result.error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}"
    result.context = session  # closed later, after memory is read with every session still open
    return result


async def drive(url: str | list[str], sessions: int, uploads: int, photos_dir: Path, probe: MemoryProbe | None,
                timeout_s: float, client: str = "ws", round_index: int = 0) -> dict:
    """Session ``i`` talks to ``urls[i % len(urls)]`` (replicas behind a sticky balancer); the first session
    of each replica warms it up alone (each replica loads and compiles the model once)."""
    urls = [url] if isinstance(url, str) else list(url)
    photos = make_photos(photos_dir, sessions * uploads, first=round_index * sessions * uploads)
    per_session = [photos[i * uploads:(i + 1) * uploads] for i in range(sessions)]
    memory: dict[str, float | None] = {"baseline": probe.now() if probe else None}
    browser = pw_context = None
    if client == "browser":
        from playwright.async_api import async_playwright

        pw_context = async_playwright()
        pw = await pw_context.__aenter__()
        browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)

    def one(i: int):
        where = urls[i % len(urls)]
        if browser is not None:
            return run_session(browser, where, i, per_session[i], timeout_s * 1000)
        return run_ws_session(where, i, per_session[i], timeout_s)

    warmers = min(len(urls), sessions)
    try:
        warm_start = time.perf_counter()
        warmed = [await one(i) for i in range(warmers)]
        warm, warm_seconds = warmed[0], time.perf_counter() - warm_start
        memory["one_session"] = probe.now() if probe else None
        start, cpu_start = time.perf_counter(), time.process_time()
        others = await asyncio.gather(*(one(i) for i in range(warmers, sessions)))
        wall = time.perf_counter() - start
        client_cpu = time.process_time() - cpu_start  # this load generator's own share of the cores
        memory["all_sessions"] = probe.now() if probe else None
        for result in [*warmed, *others]:
            if browser is not None:
                await result.context.close()
            else:
                await result.context.__aexit__(None, None, None)
    finally:
        if browser is not None:
            await browser.close()
            await pw_context.__aexit__(None, None, None)
    return {"warm": warm, "warm_seconds": warm_seconds, "others": others, "wall": wall, "memory": memory,
            "client_cpu": client_cpu, "warmers": warmers}


def released_memory(url: str, probe: MemoryProbe | None, ttl: float, settle: float) -> float | None:
    """The server's memory once the closed sessions are gone.

    Streamlit keeps a disconnected session for ``server.disconnectedSessionTTL`` seconds (so a
    reconnecting tab finds it) and drops expired ones when another session disconnects; so: wait out
    the TTL, open and close one more session, wait ``settle`` seconds, read.
    """
    time.sleep(ttl + 1)
    asyncio.run(_open_and_close(url))
    time.sleep(settle)
    return probe.now() if probe else None


async def _open_and_close(url: str) -> None:
    from bench.ws_session import WsSession

    async with WsSession(url) as session:
        await session.run(until=lambda r: "Explain a prediction" in r.texts, timeout=120)


class PageTrainer:
    """The same training started by a student on the Train page: a job of the server's queue.

    The settings mirror :data:`TRAIN_ARGS` (EfficientNet-Lite0 on shapes, 200 epochs, light augmentation,
    no feature cache, batch 16, no early stopping), sent as the form's widget states.
    """

    def __init__(self, url: str, runs: Path) -> None:
        self.url, self.runs = url, runs
        asyncio.run(self._start())

    async def _start(self) -> None:
        from bench.ws_session import WsSession, widget_state

        async with WsSession(self.url) as session:
            page = await session.run(page="train", until=lambda r: "train_start" in r.widgets, timeout=300)
            w = page.widgets
            light = next(o for o in w["train_augment_choice"].options if o.startswith("light"))
            states = [widget_state(w["train_epochs"], double_value=200),
                      widget_state(w["train_augment_choice"], string_value=light),
                      widget_state(w["train_fast"], bool_value=False),
                      widget_state(w["train_batch"], string_value="16"),
                      widget_state(w["train_patience"], double_value=0),
                      widget_state(w["train_start"], trigger_value=True)]
            done = await session.run(states, page="train", timeout=300)
            if not any("Current training" in t for t in done.texts):
                raise RuntimeError(f"the Train page did not start a job: {done.texts[-5:]}")

    def wait_training(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.running:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the page's training did not start in time ({self.lines[0]})")
            time.sleep(0.5)
        time.sleep(5)  # into its first batches

    def _run(self):
        """The newest run in the server's runs folder, as core reads it (None before the job made one)."""
        from core.train.runs import EVERYONE, list_runs

        found = list_runs(owner=EVERYONE, root=self.runs)
        return found[0] if found else None

    @property
    def running(self) -> bool:
        run = self._run()
        return run is not None and run.status == "running"

    @property
    def lines(self) -> list[str]:
        run = self._run()
        return [f"[server job] run {run.id} is {run.status}" if run else "[server job] no run yet"]

    def stop(self) -> None:
        """The job ends with the server."""


# -- report -----------------------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: the ceil(q/100 * n)-th smallest (with 19 samples, p95 is the largest)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def summarise(outcome: dict, sessions: int, uploads: int, trainer: Trainer | PageTrainer | None,
              memory_after: list[float | None], peak: float | None) -> dict:
    others: list[SessionResult] = outcome["others"]
    done = [r for r in others if r.error is None]
    first = [r.first_heatmap for r in others if r.first_heatmap is not None]
    ready = [r.page_ready for r in others if r.page_ready is not None]
    new = [t for r in others for t in r.upload_heatmaps]
    heatmaps = len(first) + len(new)
    mem = outcome["memory"]
    per_session = None
    if sessions > 1 and mem["all_sessions"] is not None and mem["one_session"] is not None:
        per_session = (mem["all_sessions"] - mem["one_session"]) / (sessions - 1)
    warm: SessionResult = outcome["warm"]
    return {
        "sessions": sessions, "uploads_per_session": uploads,
        "concurrent_sessions": sessions - outcome.get("warmers", 1),
        "completed": len(done), "errors": [r.error for r in [warm, *others] if r.error],
        "warm_up_seconds": round(outcome["warm_seconds"], 2),
        "warm_up_first_heatmap_s": warm.first_heatmap, "wall_seconds": round(outcome["wall"], 2),
        "client_cpu_seconds": round(outcome["client_cpu"], 2),
        "heatmaps": heatmaps, "throughput_per_s": heatmaps / outcome["wall"] if outcome["wall"] else None,
        "page_ready_p50_s": statistics.median(ready) if ready else None,
        "page_ready_p95_s": percentile(ready, 95),
        "first_heatmap_p50_s": statistics.median(first) if first else None,
        "first_heatmap_p95_s": percentile(first, 95),
        "new_photo_heatmap_p50_s": statistics.median(new) if new else None,
        "new_photo_heatmap_p95_s": percentile(new, 95),
        "any_heatmap_p95_s": percentile(first + new, 95),
        "rss_mb": {**mem, "after_close": memory_after, "peak": peak},
        "rss_per_additional_session_mb": per_session,
        "training": None if trainer is None else {
            "running_throughout": trainer.running,
            "last_progress": next((line.strip() for line in reversed(trainer.lines)
                                   if "epoch" in line or line.startswith("[")), None)},
    }


def print_table(report: dict, url: str) -> None:
    def sec(value):
        return "-" if value is None else f"{value:.2f} s"

    def mb(value):
        return "-" if value is None else f"{value:,.0f} MB"

    rss = report["rss_mb"]
    training = report["training"]
    rows = [
        ("server", url),
        ("sessions (warm-up + concurrent)", f"{report['sessions'] - report['concurrent_sessions']} + "
                                            f"{report['concurrent_sessions']}, "
                                            f"{report['uploads_per_session']} upload(s) each"),
        ("training during the test", "no" if training is None else
         ("yes, running throughout" if training["running_throughout"] else "yes, but it ended early")),
        ("concurrent sessions completed", f"{report['completed']}/{report['concurrent_sessions']}"),
        ("warm-up: first heatmap (cold server)", sec(report["warm_up_first_heatmap_s"])),
        ("concurrent phase, wall time", sec(report["wall_seconds"])),
        ("CPU used meanwhile by this script (not Chromium)", sec(report["client_cpu_seconds"])),
        ("heatmaps delivered", str(report["heatmaps"])),
        ("throughput", "-" if report["throughput_per_s"] is None
         else f"{report['throughput_per_s']:.2f} heatmaps/s"),
        ("time to the page's title, p50 / p95", f"{sec(report['page_ready_p50_s'])} / "
                                                f"{sec(report['page_ready_p95_s'])}"),
        ("time to first heatmap, p50 / p95", f"{sec(report['first_heatmap_p50_s'])} / "
                                             f"{sec(report['first_heatmap_p95_s'])}"),
        ("time to heatmap of a new photo, p50 / p95", f"{sec(report['new_photo_heatmap_p50_s'])} / "
                                                      f"{sec(report['new_photo_heatmap_p95_s'])}"),
        ("any heatmap, p95 (goal: under 3 s)", sec(report["any_heatmap_p95_s"])),
        ("server RSS: no session / 1 / all", f"{mb(rss['baseline'])} / {mb(rss['one_session'])} / "
                                             f"{mb(rss['all_sessions'])}"),
        ("server RSS: peak", mb(rss["peak"])),
        ("server RSS once the sessions were gone, per round", " / ".join(mb(v) for v in rss["after_close"])),
        ("memory per additional session", mb(report["rss_per_additional_session_mb"])),
    ]
    if training is not None and training["last_progress"]:
        rows.append(("training progress", training["last_progress"][:70]))
    width = max(len(name) for name, _ in rows)
    print("\nGlasswing load test")
    print("-" * (width + 50))
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for error in report["errors"]:
        print(f"session error: {error}")


# -- main -------------------------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.load_sessions", description=__doc__.split("\n\n")[0])
    p.add_argument("--sessions", type=int, default=20, help="browser sessions in all, one of them a warm-up "
                   "(default 20)")
    p.add_argument("--uploads", type=int, default=1, help="photos each session uploads and explains after "
                   "the sample (default 1; 0 = only the sample)")
    p.add_argument("--train", action=argparse.BooleanOptionalAction, default=True,
                   help="run one training job during the test (default: yes)")
    p.add_argument("--train-in", choices=("server", "process"), default="server",
                   help="server: a student starts the training on the Train page, a job of the server (default; "
                        "GLASSWING_TRAIN_IN decides child process or thread); process: a separate "
                        "python -m core train, like a batch job")
    p.add_argument("--train-args", default=" ".join(TRAIN_ARGS),
                   help="with --train-in process: arguments for python -m core train (default: "
                        f"{' '.join(TRAIN_ARGS)})")
    p.add_argument("--url", help="use this running dashboard instead of starting one")
    p.add_argument("--pid", type=int, help="with --url: the server's process id (default: found by its port)")
    p.add_argument("--timeout", type=float, default=600, help="seconds a session may wait for a heatmap")
    p.add_argument("--settle", type=float, default=10, help="seconds to wait after closing sessions before "
                   "reading memory again (default 10)")
    p.add_argument("--rounds", type=int, default=2, help="times to repeat the sessions with new ones and new "
                   "photos, reading memory after each (default 2)")
    p.add_argument("--session-ttl", type=int, default=5, help="the started server's "
                   "server.disconnectedSessionTTL, seconds a closed session is kept (Streamlit's default: 120; with "
                   "--url, give the running server's value)")
    p.add_argument("--replicas", type=int, default=1, help="dashboard replicas to start; sessions are spread "
                   "over them as a sticky load balancer would (default 1)")
    p.add_argument("--queue", metavar="URL", help="Redis URL (or 'start' to start redis-server here): measure, "
                   "in one run, one replica training locally and then --replicas replicas submitting the "
                   "training to this queue, which one worker (python -m core worker) runs")
    p.add_argument("--json", action="store_true", help="also print the report as JSON")
    p.add_argument("--client", choices=("ws", "browser"), default="ws",
                   help="ws: Streamlit's websocket protocol, nothing rendered (default; measures the server); "
                        "browser: one headless Chromium context per session (on one machine, the N frontends "
                        "compete with the server for the CPU)")
    args = p.parse_args(argv)
    if args.sessions < 1 or args.uploads < 0 or args.timeout <= 0 or args.rounds < 1 or args.session_ttl < 0 \
            or args.replicas < 1:
        p.error("--sessions, --rounds and --replicas must be at least 1, --uploads and --session-ttl 0 or more "
                "and --timeout positive")
    if args.url and (args.replicas > 1 or args.queue):
        p.error("--url measures one running server: leave out --replicas and --queue")
    return args


def start_redis(home: Path) -> tuple[subprocess.Popen, str]:
    """Debian's redis-server on a free port, no persistence (``--queue start``)."""
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(home)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return proc, f"redis://127.0.0.1:{port}/0"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("redis-server did not start (apt-get install redis-server)")


def measure(args: argparse.Namespace, env: dict[str, str], home: Path, replicas: int = 1,
            queue: str | None = None) -> tuple[dict, str]:
    """One setup: ``replicas`` dashboards (with ``queue``, submitting to it and one worker training),
    the sessions spread over them, one training started on the first one's Train page."""
    servers, worker, trainer, probe = [], None, None, None
    setup_env = {**env, **({"GLASSWING_QUEUE": queue} if queue else {})}
    try:
        if args.url:
            url = args.url.rstrip("/")
            port = int(url.rsplit(":", 1)[1].split("/")[0]) if url.count(":") > 1 else 80
            pid = args.pid or listening_pid(port)
            wait_healthy(url, None)
            urls = [url]
        else:
            for k in range(replicas):
                servers.append(start_server(setup_env, home / f"streamlit-{replicas}-{k}.log", args.session_ttl))
            for proc, where in servers:
                wait_healthy(where, proc)
            urls, pid = [where for _, where in servers], servers[0][0].pid
        if queue:
            worker = subprocess.Popen([sys.executable, "-m", "core", "worker", "--queue", queue], cwd=ROOT,
                                      env=setup_env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                      start_new_session=True)
        if pid is None:
            print("note: server process not found (give --pid); memory is not reported", file=sys.stderr)
        probe = MemoryProbe(pid) if pid else None
        if args.train:
            print("Starting the training job and waiting until it trains ...", file=sys.stderr, flush=True)
            if args.train_in == "server" or queue:
                trainer = PageTrainer(urls[0], Path(env["GLASSWING_RUNS"]))
            else:
                trainer = Trainer(env, Path(env["GLASSWING_RUNS"]), args.train_args.split())
            trainer.wait_training(timeout=args.timeout)
        print(f"Driving {args.sessions} sessions against {', '.join(urls)} ...", file=sys.stderr, flush=True)
        outcome = asyncio.run(drive(urls, args.sessions, args.uploads, home, probe, args.timeout, args.client))
        after = [released_memory(urls[0], probe, args.session_ttl, args.settle)]
        for k in range(1, args.rounds):  # the same again with new sessions and new photos: does memory grow?
            print(f"Round {k + 1} of {args.rounds} ...", file=sys.stderr, flush=True)
            asyncio.run(drive(urls, args.sessions, args.uploads, home, probe, args.timeout, args.client, k))
            after.append(released_memory(urls[0], probe, args.session_ttl, args.settle))
        peak = probe.peak if probe else None
        report = summarise(outcome, args.sessions, args.uploads, trainer, after, peak)
        report.update(replicas=len(urls), queue=queue)
    finally:
        if trainer is not None:
            trainer.stop()
        if probe is not None:
            probe.close()
        for proc, _ in servers:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        if worker is not None:
            from core.jobs.redis_queue import RedisQueue
            from core.train.runs import EVERYONE

            for job in RedisQueue(queue).jobs(EVERYONE):
                if not job.done:
                    job.stop()
                    job.wait(60)
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
    return report, ", ".join(urls)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.client == "browser" and not Path(CHROMIUM).exists():
        print(f"Chromium not found at {CHROMIUM} (apt-get install chromium)", file=sys.stderr)
        return 2
    home = Path(tempfile.mkdtemp(prefix="glasswing-load-"))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.setdefault("GLASSWING_DATA", str(home / "data"))
    env.setdefault("GLASSWING_RUNS", str(home / "runs"))
    redis = None
    reports = []
    try:
        queue = args.queue
        if queue == "start":
            redis, queue = start_redis(home)
        if queue:  # side by side in one run: one replica training locally, then N replicas on the queue
            print("Setup 1 of 2: one replica, training on it ...", file=sys.stderr, flush=True)
            reports.append(measure(args, {**env, "GLASSWING_QUEUE": "local"}, home))
            print(f"Setup 2 of 2: {args.replicas} replicas, training on a worker of {queue} ...", file=sys.stderr,
                  flush=True)
            reports.append(measure(args, env, home, args.replicas, queue))
        else:
            reports.append(measure(args, env, home, args.replicas))
    finally:
        if redis is not None:
            redis.terminate()
            redis.wait(10)
        shutil.rmtree(home, ignore_errors=True)
    for report, urls in reports:
        print_table(report, urls)
    if len(reports) == 2:
        (one, _), (many, _) = reports
        p95 = [r["any_heatmap_p95_s"] for r in (one, many)]
        rate = [r["throughput_per_s"] for r in (one, many)]
        print(f"\nside by side: any heatmap p95 {p95[0]:.2f} s (1 replica, local training) vs {p95[1]:.2f} s "
              f"({many['replicas']} replicas, queued training): {p95[1] / p95[0]:.2f}x; throughput "
              f"{rate[0]:.2f} vs {rate[1]:.2f} heatmaps/s: {rate[1] / rate[0]:.2f}x")
    if args.json:
        print(json.dumps([r for r, _ in reports], indent=2, default=str))
    return 0 if not any(r["errors"] for r, _ in reports) else 1


if __name__ == "__main__":
    raise SystemExit(main())
