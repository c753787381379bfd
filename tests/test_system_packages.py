"""scripts/system-packages.sh, which `make test` and `make run` call: on a fresh machine it installs the
Debian packages the suite needs when it can, and otherwise stops with one sentence naming the command."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "system-packages.sh"
BASH = "/bin/bash"


def _stub(folder: Path, name: str, body: str) -> None:
    path = folder / name
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)


def _machine(tmp_path: Path, uid: int, apt: bool = True, sudo: bool = False, have=()) -> tuple[dict, Path]:
    """A PATH holding only stand-ins: ``id`` says ``uid``, apt-get records what it was asked, and only
    the commands in ``have`` exist; Fashion-MNIST is looked for in an empty folder."""
    bin_dir, log = tmp_path / "bin", tmp_path / "apt.log"
    bin_dir.mkdir()
    _stub(bin_dir, "id", f'[ "$1" = "-u" ] && echo {uid}')
    if apt:
        _stub(bin_dir, "apt-get", f'echo "$@" >> {log}')
    if sudo:
        _stub(bin_dir, "sudo", '[ "$1" = "-n" ] && shift; [ "$1" = "true" ] && exit 0; "$@"')
    for name in have:
        _stub(bin_dir, name, "exit 0")
    font = tmp_path / "font.ttc"
    font.write_bytes(b"")
    env = {"PATH": str(bin_dir), "GLASSWING_FASHION_MNIST_DIR": str(tmp_path / "no-fashion"),
           "GLASSWING_CJK_FONT": str(font), "GLASSWING_NGINX": str(bin_dir / "nginx"), "HOME": str(tmp_path)}
    return env, log


def _run(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([BASH, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=60)


pytestmark = pytest.mark.skipif(not os.path.exists(BASH), reason="needs /bin/bash")


def test_root_with_apt_installs_what_is_missing(tmp_path):
    env, log = _machine(tmp_path, uid=0, have=["chromium"])
    proc = _run(env)
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert lines[0] == "update -qq"
    assert lines[1].endswith("install -y -qq --no-install-recommends chromium-driver dataset-fashion-mnist "
                             "redis-server nginx")


def test_a_user_without_root_is_told_the_command_in_one_sentence(tmp_path):
    env, log = _machine(tmp_path, uid=1000)
    proc = _run(env)
    assert proc.returncode == 1
    assert proc.stderr.count("\n") == 1
    assert ("sudo apt-get install -y --no-install-recommends chromium chromium-driver dataset-fashion-mnist "
            "redis-server nginx" in proc.stderr)
    assert not log.exists()


def test_passwordless_sudo_is_used(tmp_path):
    env, log = _machine(tmp_path, uid=1000, sudo=True, have=["chromium", "chromedriver"])
    assert _run(env).returncode == 0
    assert "dataset-fashion-mnist" in log.read_text()


def test_no_apt_names_the_packages(tmp_path):
    env, _ = _machine(tmp_path, uid=0, apt=False)
    proc = _run(env)
    assert proc.returncode == 1 and "no apt-get" in proc.stderr and "chromium" in proc.stderr


def test_nothing_missing_does_nothing(tmp_path):
    env, log = _machine(tmp_path, uid=1000, have=["chromium", "chromedriver", "redis-server", "nginx"])
    fashion = tmp_path / "no-fashion"
    fashion.mkdir()
    (fashion / "train-images-idx3-ubyte.gz").write_bytes(b"")
    assert _run(env).returncode == 0 and not log.exists()


def test_make_run_only_warns(tmp_path):
    """`make run` works without Fashion-MNIST: it asks for the dataset only, and never stops."""
    env, _ = _machine(tmp_path, uid=1000)
    proc = _run(env, "--optional")
    assert proc.returncode == 0
    assert "dataset-fashion-mnist" in proc.stderr and "chromium" not in proc.stderr and "redis" not in proc.stderr


def test_a_missing_chinese_font_is_installed_with_the_rest(tmp_path):
    env, log = _machine(tmp_path, uid=0, have=["chromium", "chromedriver", "redis-server", "nginx"])
    env["GLASSWING_CJK_FONT"] = str(tmp_path / "no-font.ttc")
    assert _run(env).returncode == 0
    assert log.read_text().splitlines()[1].endswith("--no-install-recommends dataset-fashion-mnist fonts-wqy-microhei")


def test_make_test_and_ci_call_it():
    root = SCRIPT.parent.parent
    makefile = (root / "Makefile").read_text()
    test_recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    run_recipe = makefile.split("\nrun:", 1)[1].split("\n\n", 1)[0]
    assert "scripts/system-packages.sh" in test_recipe
    assert "scripts/system-packages.sh --optional" in run_recipe
    ci = (root / ".ci" / "run").read_text()
    assert "make test" in ci and "apt-get" not in ci
