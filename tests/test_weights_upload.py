"""A missing ImageNet weights file: the offline error says how to place it, a download that fails leaves
no progress bar behind, and an uploaded file is taken only if it matches the published checksum (#17)."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from core.errors import ModelUnavailableError
from core.zoo import get_spec, keras_apps

APP = str(Path(__file__).resolve().parent.parent / "dashboard" / "app.py")


@pytest.fixture
def offline_resnet(tmp_path, monkeypatch):
    """resnet50 with an empty weights cache and a download URL that refuses at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    real = keras_apps.manifest_entry
    entry = dict(real("resnet50"), url=f"http://127.0.0.1:{port}/x.h5")
    monkeypatch.setattr(keras_apps, "manifest_entry", lambda name: entry if name == "resnet50" else real(name))
    monkeypatch.setenv("GLASSWING_PRETRAINED", str(tmp_path))
    return entry


def test_offline_error_says_how_to_place_the_file(offline_resnet):
    with pytest.raises(ModelUnavailableError) as err:
        keras_apps.fetch_weights("resnet50")
    message = str(err.value)
    assert "--weights" in message and "upload it on the dashboard's page" in message
    assert "resnet50 works as soon as the file is there" in message and "Traceback" not in message


def test_upload_is_checked_against_the_published_checksum(offline_resnet, monkeypatch):
    with pytest.raises(ModelUnavailableError, match="checksum does not match"):
        keras_apps.install_weights("resnet50", b"not the weights")
    assert not keras_apps.weights_file("resnet50").exists()
    assert get_spec("resnet50").status() == "needs download"
    data = b"pretend these are the weights"
    offline_resnet["hash"] = hashlib.md5(data).hexdigest()  # a published md5, as Keras's are
    path = keras_apps.install_weights("resnet50", data)
    assert path.read_bytes() == data and get_spec("resnet50").status() == "cached"
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left


def test_failed_download_on_the_page_leaves_only_the_error(offline_resnet):
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["explain_model"] = "resnet50"
    at.run()
    assert not at.exception, at.exception
    assert at.button(key="explain_download") is not None
    assert "upload resnet50_weights" in " ".join(u.label for u in at.get("file_uploader")).lower()
    at.button(key="explain_download").click().run()
    assert not at.exception, at.exception
    assert len(at.get("progress")) == 0  # no "Downloading ..." bar above the error
    (error,) = at.error
    assert "--weights" in error.value and "works as soon as the file is there" in error.value


def test_a_download_that_reports_progress_then_fails_leaves_only_the_error(offline_resnet, monkeypatch):
    """The page's bar takes the zoo's progress(fraction, text); a download that got halfway then failed."""
    def halfway(name, progress=None):
        progress(0.5, "Downloading resnet50_weights.h5: 49 of 98 MB")
        raise ModelUnavailableError("Could not download resnet50_weights.h5 (connection reset).")

    monkeypatch.setattr(keras_apps, "fetch_weights", halfway)
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state["explain_model"] = "resnet50"
    at.run()
    at.button(key="explain_download").click().run()
    assert not at.exception, at.exception
    assert len(at.get("progress")) == 0
    assert [e.value for e in at.error] == ["Could not download resnet50_weights.h5 (connection reset)."]
