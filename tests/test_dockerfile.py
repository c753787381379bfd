"""The Dockerfile, checked without Docker (no engine here): read it, then run what can run.

Static checks: a non-root user, a health check on Streamlit's ``/_stcore/health``, the port, volumes
for data and runs (and the pretrained folder documented), dependencies installed before the code is
copied (cache-friendly), every ``COPY`` source present. Then its steps run for real: the health check
command against a local server, the bake step (``python -m core models --prepare ...``) in a copy of
the image's file tree, the baked model predicting offline from that tree, and (opt-in, it needs PyPI and
a minute or two) ``pip install --dry-run -r requirements.txt`` in a clean virtual environment.
"""

from __future__ import annotations

import http.server
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"
VENV_BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse(text: str) -> tuple[list[Instruction], list[str]]:
    """Instructions (continuation lines joined, comments dropped) and the comment lines."""
    instructions, comments = [], []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if line.startswith("#"):
            comments.append(line.lstrip("# "))
            continue
        if not line and not pending:
            continue
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, args = full.partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
    return instructions, comments


@pytest.fixture(scope="module")
def dockerfile() -> tuple[list[Instruction], list[str]]:
    return parse(DOCKERFILE.read_text())


def first(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in instructions if i.keyword == keyword]


def env_of(instructions: list[Instruction]) -> dict[str, str]:
    env = {}
    for item in first(instructions, "ENV"):
        for pair in shlex.split(item.args):
            key, _, value = pair.partition("=")
            env[key] = value
    return env


def workdir(instructions: list[Instruction]) -> str:
    (last,) = first(instructions, "WORKDIR")[-1:]
    return last.args


# -- static checks ---------------------------------------------------------------------------------------
def test_runs_as_a_non_root_user_that_the_image_creates(dockerfile):
    instructions, _ = dockerfile
    users = first(instructions, "USER")
    assert users, "no USER: the container would run as root"
    user = users[-1].args.split(":")[0]
    assert user not in ("root", "0")
    created = [i for i in first(instructions, "RUN")
               if re.search(rf"useradd\b.*\b{re.escape(user)}\b", i.args)]
    assert created and created[0].line < users[-1].line, "the user is not created before USER"
    # Nothing after USER needs root (no package installs as the unprivileged user).
    later = [i for i in first(instructions, "RUN") if i.line > users[-1].line]
    assert not [i for i in later if re.search(r"apt-get|useradd|chown", i.args)], later


def test_the_user_owns_every_folder_it_writes(dockerfile):
    instructions, _ = dockerfile
    env = env_of(instructions)
    user = first(instructions, "USER")[-1].args.split(":")[0]
    chowns = " ".join(i.args for i in first(instructions, "RUN") if "chown" in i.args)
    assert f"{user}:{user}" in chowns or f"{user} " in chowns
    for var in ("GLASSWING_PRETRAINED", "GLASSWING_DATA", "GLASSWING_RUNS"):
        assert env.get(var), f"{var} is not set in the image"
        assert env[var] in chowns.split(), f"{env[var]} ({var}) is not given to {user}"


def test_healthcheck_hits_streamlit_health_on_the_exposed_port(dockerfile):
    instructions, _ = dockerfile
    (health,) = first(instructions, "HEALTHCHECK")
    assert "/_stcore/health" in health.args and " CMD " in f" {health.args} "
    (expose,) = first(instructions, "EXPOSE")
    port = expose.args.split("/")[0]
    assert port == "8501" and f":{port}/_stcore/health" in health.args
    (cmd,) = first(instructions, "CMD")
    argv = json.loads(cmd.args)  # exec form, so signals reach Streamlit (no shell in between)
    assert argv[:3] == ["python", "-m", "dashboard"] and (ROOT / "dashboard" / "__main__.py").is_file()
    assert f"--server.port={port}" in argv and "--server.address=0.0.0.0" in argv
    assert "--server.headless=true" in argv


def test_volumes_hold_data_and_runs_and_the_pretrained_folder_is_documented(dockerfile):
    instructions, comments = dockerfile
    env = env_of(instructions)
    volumes = set()
    for item in first(instructions, "VOLUME"):
        volumes |= set(json.loads(item.args) if item.args.startswith("[") else item.args.split())
    assert {env["GLASSWING_DATA"], env["GLASSWING_RUNS"]} <= volumes
    text = " ".join(comments)
    assert env["GLASSWING_PRETRAINED"] in volumes or env["GLASSWING_PRETRAINED"] in text, (
        "say how to keep the pretrained folder (downloaded weights) on a volume")
    readme = (ROOT / "README.md").read_text()
    for folder in (env["GLASSWING_DATA"], env["GLASSWING_RUNS"]):
        assert re.search(rf"-v \S+:{re.escape(folder)}\b", readme), f"README shows no volume for {folder}"


def test_dependencies_are_installed_before_the_code_is_copied(dockerfile):
    instructions, _ = dockerfile
    copies = first(instructions, "COPY")
    pip = [i for i in first(instructions, "RUN") if re.search(r"pip install\b.*-r requirements.txt", i.args)]
    assert pip, "requirements.txt is not installed"
    requirements_copy = [c for c in copies if c.args.split()[0] == "requirements.txt"]
    code_copies = [c for c in copies if c.args.split()[0] != "requirements.txt"]
    assert requirements_copy and requirements_copy[0].line < pip[0].line < min(c.line for c in code_copies)
    assert not [c for c in copies if c.args.split()[0] in (".", "./")], "COPY . copies .venv, data and runs"


def test_every_copied_path_exists_and_the_app_needs_nothing_else(dockerfile):
    instructions, _ = dockerfile
    sources = [c.args.split()[:-1] for c in first(instructions, "COPY")]
    for group in sources:
        for source in group:
            assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
    copied = {Path(s).parts[0] for group in sources for s in group}
    # First-party imports in what is copied must point at what is copied (not tests/, bench/, ...).
    local = {p.name for p in ROOT.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    for folder in ("core", "dashboard"):
        for path in (ROOT / folder).rglob("*.py"):
            for name in re.findall(r"^\s*(?:from|import)\s+([A-Za-z_]\w*)", path.read_text(), re.M):
                if name in local:
                    assert name in copied, f"{path.relative_to(ROOT)} imports {name}, which the image lacks"


def test_dockerignore_keeps_the_context_small_without_hiding_a_copied_path(dockerfile):
    import fnmatch

    patterns = [line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(path: str) -> bool:
        parts = Path(path).parts
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(fnmatch.fnmatch(prefix, pattern) for pattern in patterns for prefix in prefixes)

    for heavy in (".venv", ".git", "data", "runs", "artifacts", "pretrained/weights", "pretrained/x.keras"):
        assert ignored(heavy), f"{heavy} would be sent to the Docker daemon"
    instructions, _ = dockerfile
    for item in first(instructions, "COPY"):
        for source in item.args.split()[:-1]:
            assert not ignored(source.rstrip("/")), f"COPY {source} is excluded by .dockerignore"


# -- running the steps -----------------------------------------------------------------------------------
class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.send_response(self.status if self.path == "/_stcore/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_healthcheck_command_tells_healthy_from_unhealthy(dockerfile, tmp_path):
    instructions, _ = dockerfile
    (health,) = first(instructions, "HEALTHCHECK")
    command = health.args.split(" CMD ", 1)[1]
    port = _free_port()
    command = command.replace("8501", str(port))
    env = {**os.environ, "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}"}  # `python` as in the image

    def check() -> int:
        return subprocess.run(["sh", "-c", command], env=env, capture_output=True, timeout=30).returncode

    assert check() != 0  # nothing listening
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        _Health.status = 200
        assert check() == 0
        _Health.status = 503
        assert check() != 0
    finally:
        server.shutdown()
        server.server_close()


def _image_tree(instructions: list[Instruction], box: Path) -> tuple[Path, dict[str, str]]:
    """Apply WORKDIR and COPY to a folder standing in for the image; map absolute image paths into it."""
    app = box / workdir(instructions).lstrip("/")
    app.mkdir(parents=True)
    for item in first(instructions, "COPY"):
        *sources, dest = item.args.split()
        for source in sources:
            target = app / dest if not dest.startswith("/") else box / dest.lstrip("/")
            if (ROOT / source).is_dir():
                shutil.copytree(ROOT / source, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(ROOT / source, target if not dest.endswith("/") else target / Path(source).name)
    env = env_of(instructions)
    for key, value in env.items():
        if value.startswith("/"):
            env[key] = str(box / value.lstrip("/"))
    return app, env


@pytest.mark.slow
def test_the_bake_step_runs_and_the_baked_model_predicts_offline(dockerfile, tmp_path, cat_jpeg):
    """The RUN that bakes the default model, run verbatim (but chown) in a copy of the image's tree."""
    instructions, _ = dockerfile
    bake = [i for i in first(instructions, "RUN") if "models --prepare" in i.args]
    assert len(bake) == 1
    app, env = _image_tree(instructions, tmp_path / "image")
    args = {a.args.split("=")[0]: a.args.partition("=")[2].strip('"') for a in first(instructions, "ARG")}
    run_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # only the copied code
    run_env.update(env, **args, PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}")
    for step in (s.strip() for s in bake[0].args.split("&&")):
        if step.startswith(("mkdir", "chown")) or " chown " in step:
            continue  # absolute image folders and a user this machine does not have (checked statically)
        proc = subprocess.run(["sh", "-c", step], cwd=app, env=run_env, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, f"{step}\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}"
    baked = Path(env["GLASSWING_PRETRAINED"]) / "efficientnet_lite0.keras"
    assert baked.is_file() and not (baked.parent / "weights").exists()
    # From the image's tree alone: every module imports from there, and the baked model works offline.
    script = (
        "import importlib, pkgutil, sys\n"
        "from pathlib import Path\n"
        "names = [m.name for p in ('core', 'dashboard') for m in pkgutil.walk_packages([p], p + '.')]\n"
        "mods = [importlib.import_module(n) for n in names if not n.endswith('__main__')]\n"
        "here = Path.cwd()\n"
        "outside = [m.__name__ for m in mods if not Path(m.__file__).resolve().is_relative_to(here)]\n"
        "assert not outside, outside\n"
        "from core.cli import main\n"
        "sys.exit(main(['predict', '--model', 'efficientnet_lite0', '--top', '1', '--json', sys.argv[1]]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(cat_jpeg)], cwd=app, env=run_env,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (row,) = json.loads(proc.stdout[proc.stdout.index("["):])
    assert row["top"][0]["label"] == "Egyptian cat"


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=5).close()
        return True
    except OSError:
        return False


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("GLASSWING_NETWORK_TESTS") != "1",
                    reason="set GLASSWING_NETWORK_TESTS=1: resolves requirements.txt on PyPI "
                           "(12 s with a warm pip cache, 1-2 minutes cold)")
def test_requirements_resolve_in_a_clean_virtual_environment(dockerfile, tmp_path):
    instructions, _ = dockerfile
    (base,) = first(instructions, "FROM")[:1]
    version = re.search(r"python:(\d+\.\d+)", base.args)
    assert version, f"unexpected base image {base.args}"
    if version.group(1) != f"{sys.version_info[0]}.{sys.version_info[1]}":
        pytest.skip(f"the image uses Python {version.group(1)}; this machine runs another version")
    if not _pypi_reachable():
        pytest.skip("PyPI is not reachable")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    report = tmp_path / "report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install",
                           "--dry-run", "--quiet", "--disable-pip-version-check", "--ignore-installed",
                           "--report", str(report), "-r", str(ROOT / "requirements.txt")],
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    chosen = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
              for i in json.loads(report.read_text())["install"]}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("#")[0].strip().split("==")
            assert chosen.get(name.lower().replace("_", "-")) == version, (name, chosen.get(name.lower()))
    assert "tf-keras" not in chosen  # the README explains why it must never come in
