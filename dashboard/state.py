"""Cached loaders and per-session state, in one place.

Models are core's process cache (``core.zoo.load_model``: one shared object, never mutated); derived arrays
(predictions, heatmaps) are ``st.cache_data`` keyed by the model name and the image's digest, so
moving a slider never recomputes what is already computed. Session state is initialised here with
explicit keys and kept small (images are stored once per session, by digest).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import streamlit as st

from core.classroom import ClassroomConfig
from core.data import sessions
from core.explain.base import Explanation
from core.zoo import LoadedModel, load_model
from dashboard.i18n import N_, _


def get_model(name: str) -> LoadedModel:
    """The shared, loaded model for a zoo name, run folder or model file: core's process cache, which
    builds it once and again only when its file changes (a variant compressed again)."""
    return load_model(name)


SAMPLE_PREFIX = "sample: "  # the name of a sample photo in the session: "sample: cat"


@dataclass(frozen=True)
class SessionImage:
    name: str  # a file's name, or "sample: <name>" (file names of downloads are made from it)
    digest: str
    pixels: np.ndarray  # uint8 RGB at the original size

    @property
    def title(self) -> str:
        """The name a page shows, in the session's language ("sample: cat"; an upload's file name)."""
        from core.samples import TITLES

        sample = self.name.removeprefix(SAMPLE_PREFIX)
        if self.name.startswith(SAMPLE_PREFIX) and sample in TITLES:
            return _("sample: {name}").format(name=_(TITLES[sample]))
        return self.name


def image_digest(pixels: np.ndarray) -> str:
    return hashlib.sha1(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()[:16]


def init_session() -> None:
    """Guarded initialisation of every session-state key the app uses.

    ``session_id`` names this browser session's private folder (uploads, imported datasets) and owns
    its training runs; it is random, so one student cannot guess another's. Outside classroom mode it
    is kept in the address, signed by the server (``?session=<id>.<signature>``), so reloading the page
    keeps the session while an id someone else chose is never taken.
    """
    if "session_id" not in st.session_state:
        st.session_state["session_id"] = _session_from_url() or sessions.new_session_id()
    _keep_session_in_url(st.session_state["session_id"])
    defaults = {"images": {}}
    for key, value in defaults.items():
        if key not in st.session_state:
            st.session_state[key] = value
    _housekeeping(st.session_state["session_id"])


_SESSION_PARAM = "session"


def reload_keeps_session() -> bool:
    """Whether a reload of the page keeps the session (its id in the address): not on a classroom server,
    where a teacher could copy their own address bar (with their session in it) to the whole room."""
    return classroom().is_default


def _session_from_url() -> str | None:
    """The session a signed address token names, so a browser reload finds its uploads and training job."""
    if not reload_keeps_session():
        return None
    return sessions.session_from_token(st.query_params.get(_SESSION_PARAM, ""))


def _keep_session_in_url(sid: str) -> None:
    if not reload_keeps_session():
        return
    token = sessions.session_token(sid)
    if st.query_params.get(_SESSION_PARAM) != token:
        st.query_params[_SESSION_PARAM] = token  # page switches drop query parameters: put it back


_last_sweep = [0.0]  # per process: when idle sessions' folders were last swept
_SWEEP_EVERY = 300.0


def _housekeeping(sid: str) -> None:
    """Mark this session's upload folder as used, and now and then (from :func:`init_session`, which every
    page runs; at most every 5 minutes per process) remove the folders of sessions idle longer than the
    classroom's ``session_idle_minutes``: the only sweep, whichever page a student is on."""
    now = time.time()
    if now - st.session_state.get("_touched", 0.0) > 60:
        st.session_state["_touched"] = now
        if sessions.session_dir(sid, create=False).is_dir():
            sessions.touch_session(sid)
    if now - _last_sweep[0] > _SWEEP_EVERY:
        _last_sweep[0] = now
        try:
            from dashboard import page_memory

            for swept in sessions.cleanup_idle_sessions(classroom().session_idle_minutes * 60.0, now=now):
                page_memory.forget(swept)  # what the idle session chose on its pages goes with its folder
        except OSError:
            pass  # a sweep that fails (a file in use) is retried at the next sweep


def session_id() -> str:
    init_session()
    return st.session_state["session_id"]


def classroom() -> ClassroomConfig:
    """The teacher's configuration: core's (``core.classroom.server_classroom``, read once per process and
    again only when a variable changes), so the pages and core's checks always agree; a model or dataset
    it names that does not exist is an error here, before any page runs."""
    from core.classroom import server_classroom

    room = server_classroom()
    _check_names(id(room), room)
    return room


def _forget_classroom() -> None:
    """Read the configuration again on the next call (tests that change the classroom's variables)."""
    from core.classroom import _server_classroom

    _server_classroom.cache_clear()
    _check_names.clear()


classroom.clear = _forget_classroom  # as st.cache_resource functions have


@st.cache_resource(show_spinner=False)
def _check_names(room_id: int, _room: ClassroomConfig) -> None:  # once per configuration read
    room = _room
    from core.data.catalog import list_datasets
    from core.zoo import list_models

    room.check_names([s.name for s in list_models() if s.pretrained], [e["id"] for e in list_datasets()])


MAX_SESSION_IMAGES = 24  # decoded photos kept per session (the least recently used go first)
# ... and their pixels at most this many bytes (24 phone photos of 12 MP would be ~860 MB in one session);
# the photo just added is always kept.
MAX_SESSION_IMAGE_BYTES = 256 * 2**20


def add_image(name: str, pixels: np.ndarray) -> SessionImage:
    init_session()
    item = SessionImage(name=name, digest=image_digest(pixels), pixels=pixels)
    images: dict[str, SessionImage] = st.session_state["images"]
    images.pop(item.digest, None)  # re-added: now the most recently used
    images[item.digest] = item
    def over() -> bool:
        return (len(images) > MAX_SESSION_IMAGES
                or sum(im.pixels.nbytes for im in images.values()) > MAX_SESSION_IMAGE_BYTES)

    while len(images) > 1 and over():  # keep a session's memory bounded
        images.pop(next(iter(images)))
    return item


def session_images(digests: list[str]) -> dict[str, SessionImage]:
    """The session's decoded photos with these digests (those still kept), marked as just used."""
    init_session()
    images: dict[str, SessionImage] = st.session_state["images"]
    found = {}
    for digest in digests:
        if digest in images:
            found[digest] = images[digest] = images.pop(digest)
    return found


PHOTO_SOURCES = (N_("Sample photos"), N_("Upload"), N_("Camera"))  # shown translated; the values stay


class PhotoChoice:
    """The session's choice of photos, the same on every page that takes photos.

    Each page's widgets are its own (Streamlit drops their values when the page is left), so the choice
    lives here and :func:`dashboard.components.image_picker.image_picker` gives it back to the widgets of the next page.
    Photos are named by digest; the decoded pixels are in ``st.session_state["images"]``.
    """

    def __init__(self) -> None:
        self.source: str = PHOTO_SOURCES[0]
        self.samples: list[str] = ["cat"]
        self.uploads: list[str] = []  # the session's uploaded photos, oldest first
        self.chosen: list[str] = []  # the uploads in use now
        self.camera: str | None = None  # the last camera shot
        self.current: str | None = None  # the photo the pages work on
        self.files: dict[str, tuple[str | None, str | None]] = {}  # uploader file id -> (digest, error)
        self.in_uploader: list[str] = []  # file ids the uploader held when it last ran


def photo_choice() -> PhotoChoice:
    init_session()
    if "photo_choice" not in st.session_state:
        st.session_state["photo_choice"] = PhotoChoice()
    return st.session_state["photo_choice"]


@st.cache_data(show_spinner=False, max_entries=512)
def predict(model_name: str, digest: str, _pixels: np.ndarray) -> np.ndarray:
    """Class probabilities for one image (the image itself is keyed by its digest)."""
    from core.images import resize_for_model

    loaded = get_model(model_name)
    batch = resize_for_model(_pixels, loaded.input_size)[None]
    return loaded.predict(batch)[0]


class SharedResults:
    """A process-wide LRU of results that long work computes while it draws its own progress bar.

    ``st.cache_data`` cannot hold these: it records the elements a cached function draws and replays them
    on the next hit, and a bar drawn into a placeholder made outside the function then fails the rerun
    (CacheReplayClosureError). Results are shared by every session: pages read them, never change them.
    """

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._items: OrderedDict[tuple, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple, compute: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = compute()  # outside the lock: other sessions' hits do not wait for this computation
        with self._lock:
            self._items[key] = value
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


@st.cache_resource(show_spinner=False)
def shared_results(name: str, max_entries: int) -> SharedResults:
    """The shared results cache called ``name`` (one per process)."""
    return SharedResults(max_entries)


def heatmap(model_name: str, digest: str, method: str, layer: str | None, target: int | None,
            params: tuple = (), _pixels: np.ndarray | None = None, _progress=None) -> Explanation:
    """One explanation (core's Explanation: heatmap, layer, class index, probability, ms), computed once
    per model, image and settings; ``_progress(fraction, text)`` hears of long methods (Score-CAM)."""
    from core.explain import explain
    from core.images import resize_for_model

    def compute() -> Explanation:
        loaded = get_model(model_name)
        batch = resize_for_model(_pixels, loaded.input_size)[None]
        (exp,) = explain(loaded, batch, method, layer=layer, target=target, progress=_progress,
                         **dict(params))
        return exp

    return shared_results("heatmap", 512).get((model_name, digest, method, layer, target, params), compute)
