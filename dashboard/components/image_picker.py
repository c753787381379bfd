"""The session's photo picker, the same on every page that takes photos (samples, uploads, the camera)."""

from __future__ import annotations

import streamlit as st

from core.errors import GlasswingError, ImageError
from core.images import load_image
from core.samples import SAMPLES, TITLES, load_sample
from dashboard import photo_store
from dashboard.i18n import N_, _, error_text
from dashboard.state import (
    PHOTO_SOURCES,
    SAMPLE_PREFIX,
    PhotoChoice,
    SessionImage,
    add_image,
    classroom,
    photo_choice,
    reload_keeps_session,
    session_id,
    session_images,
)

PHOTO_HINT = N_("Choose a sample photo, upload an image or take one with the camera.")
UPLOAD_TYPES = ["jpg", "jpeg", "png", "webp", "bmp", "gif"]
# Widget keys, the same on every page. Each page's widgets are still its own (Streamlit drops their values
# when the page is left), so every choice is kept in state.PhotoChoice and given back to the next page's
# widgets before they are drawn; the widgets' on_change callbacks, which run only on a person's change,
# copy it back. Options are names and digests, never images: Streamlit compares options by value.
SOURCE_KEY, SAMPLES_KEY, UPLOADER_KEY, UPLOADS_KEY = "photo_source", "photo_samples", "photo_upload", "photo_uploads"
CAMERA_KEY, CURRENT_KEY = "photo_camera", "photo_current"


def current_image(hint: bool = True) -> SessionImage | None:
    """The session's photos (:func:`image_picker`) and, when there are several, which one the page works on.

    Every page that takes photos calls this at the top of its main area, under its title, so the picker
    is in the same place everywhere and the photos (and the current one) follow the user from page to
    page. None, after a hint unless ``hint`` is False, when no photo is chosen.
    """
    return photos_and_current(hint)[1]


def photos_and_current(hint: bool = True) -> tuple[list[SessionImage], SessionImage | None]:
    """:func:`current_image`, with all the session's chosen photos (a page that works on every one)."""
    images = image_picker()
    _save_choice(_choice())
    if not images:
        if hint:
            st.info(_(PHOTO_HINT))
        return [], None
    choice = _choice()
    by_digest = {im.digest: im for im in images}
    if choice.current not in by_digest:
        choice.current = images[0].digest
    if len(images) > 1:
        st.session_state[CURRENT_KEY] = choice.current
        titles = {d: im.title for d, im in by_digest.items()}  # labels made now, in the session's language
        choice.current = st.radio(_("Image"), list(by_digest), format_func=titles.__getitem__,
                                  horizontal=True, key=CURRENT_KEY, on_change=_keep, args=(CURRENT_KEY, "current"))
    _save_choice(choice)
    return images, by_digest[choice.current]


def image_picker() -> list[SessionImage]:
    """Samples, uploads or the camera; returns the session's chosen photos (each decoded once per session).

    The choice is the session's, not the page's: the same source, samples and uploads on every page.
    """
    choice = _choice()
    if choice.source not in PHOTO_SOURCES:
        choice.source = PHOTO_SOURCES[0]
    st.session_state[SOURCE_KEY] = choice.source
    source = st.radio(_("Image source"), PHOTO_SOURCES, horizontal=True, key=SOURCE_KEY, on_change=_keep,
                      args=(SOURCE_KEY, "source"), format_func={s: _(s) for s in PHOTO_SOURCES}.__getitem__,
                      help=_("Sample photos ship with Glasswing and work offline."))
    if source == "Sample photos":
        return _samples(choice)
    if source == "Upload":
        return _uploads(choice)
    return _camera(choice)


def _choice() -> PhotoChoice:
    fresh = "photo_choice" not in st.session_state
    choice = photo_choice()
    if fresh and not (reload_keeps_session() and photo_store.restore(session_id(), choice, add_image)):
        # a first run may start from values set on the widget keys (as tests and links do)
        choice.source = st.session_state.get(SOURCE_KEY, choice.source)
        choice.samples = list(st.session_state.get(SAMPLES_KEY, choice.samples))
    return choice


def _save_choice(choice: PhotoChoice) -> None:
    """Keep the choice in the session's folder when it changed, so that a reload of the page finds it."""
    if not reload_keeps_session():
        return
    record = (choice.source, tuple(choice.samples), tuple(choice.uploads), tuple(choice.chosen), choice.camera,
              choice.current)
    if st.session_state.get("_photo_choice_saved") == record:
        return
    names = {d: im.name for d, im in session_images([*choice.uploads, choice.camera or ""]).items()}
    try:
        photo_store.save_choice(session_id(), choice, names)
    except GlasswingError:
        return  # a full disk loses only what a reload would have found
    st.session_state["_photo_choice_saved"] = record


def _keep_bytes(digest: str, data: bytes) -> None:
    if reload_keeps_session():
        try:
            photo_store.keep_upload(session_id(), digest, data)
        except GlasswingError:
            pass  # as above: the photo works in this session, a reload will not find it


def _keep(key: str, attr: str) -> None:
    setattr(photo_choice(), attr, st.session_state[key])


def _samples(choice: PhotoChoice) -> list[SessionImage]:
    choice.samples = [n for n in dict.fromkeys(choice.samples) if n in SAMPLES]
    st.session_state[SAMPLES_KEY] = choice.samples
    names = st.multiselect(_("Sample photos"), list(SAMPLES), key=SAMPLES_KEY, on_change=_samples_changed,
                           format_func={n: _sample_label(n) for n in SAMPLES}.__getitem__)
    return [_cached_sample(name) for name in names]


def _sample_label(name: str) -> str:
    """A sample's option, "cat (Chelsea the cat)" in English."""
    return _("{name} ({description})").format(name=_(TITLES[name]), description=_(SAMPLES[name][1]))


def _samples_changed() -> None:
    choice = photo_choice()
    names = list(st.session_state[SAMPLES_KEY])
    added = [n for n in names if n not in choice.samples]
    choice.samples = names
    if added:  # the photo just picked is the one shown
        choice.current = _cached_sample(added[-1]).digest


def _uploads(choice: PhotoChoice) -> list[SessionImage]:
    files = st.file_uploader(_("Images (JPEG, PNG, WebP, BMP, GIF)"), accept_multiple_files=True, type=UPLOAD_TYPES,
                             key=UPLOADER_KEY, on_change=_uploader_changed,
                             max_upload_size=-(-classroom().upload_limit_bytes // 2**20)) or []
    for f in files:
        if f.file_id not in choice.files:  # decoded once, not on every rerun
            item = _decode(f.name, f.getvalue())
            if isinstance(item, str):
                choice.files[f.file_id] = (None, item)
                continue
            choice.files[f.file_id] = (item.digest, None)
            _keep_bytes(item.digest, f.getvalue())
            choice.uploads = [d for d in choice.uploads if d != item.digest] + [item.digest]
            if item.digest not in choice.chosen:
                choice.chosen.append(item.digest)
            choice.current = item.digest  # the photo just uploaded is the one shown
    choice.in_uploader = [f.file_id for f in files]
    for f in files:
        error = choice.files[f.file_id][1]
        if error:
            st.error(error)
    kept = session_images(choice.uploads)  # photos uploaded on any page, still decoded in this session
    choice.uploads = list(kept)
    choice.chosen = [d for d in dict.fromkeys(choice.chosen) if d in kept]
    if not kept:
        return []
    st.session_state[UPLOADS_KEY] = choice.chosen
    titles = {d: im.title for d, im in kept.items()}
    chosen = st.multiselect(_("Your photos"), list(kept), key=UPLOADS_KEY, format_func=titles.__getitem__,
                            on_change=_uploads_changed, help=_("Every photo uploaded in this session, on any page."))
    return [kept[d] for d in chosen]


def _uploads_changed() -> None:
    choice = photo_choice()
    chosen = list(st.session_state[UPLOADS_KEY])
    added = [d for d in chosen if d not in choice.chosen]
    choice.chosen = chosen
    if added:
        choice.current = added[-1]


def _uploader_changed() -> None:
    """A file taken out of the uploader (its x) leaves the session's photos too."""
    choice = photo_choice()
    now = {f.file_id for f in st.session_state.get(UPLOADER_KEY) or []}
    staying = {choice.files[i][0] for i in now if i in choice.files}
    for file_id in choice.in_uploader:
        if file_id not in now:
            digest = choice.files.pop(file_id, (None, None))[0]
            if digest is not None and digest not in staying:
                choice.uploads = [d for d in choice.uploads if d != digest]
                choice.chosen = [d for d in choice.chosen if d != digest]


def _camera(choice: PhotoChoice) -> list[SessionImage]:
    shot = st.camera_input(_("Take a photo"), key=CAMERA_KEY, on_change=_camera_changed)
    if shot is not None and shot.file_id not in choice.files:
        item = _decode("camera.jpg", shot.getvalue())
        choice.files[shot.file_id] = (None, item) if isinstance(item, str) else (item.digest, None)
        if not isinstance(item, str):
            _keep_bytes(item.digest, shot.getvalue())
            choice.camera = choice.current = item.digest
    if shot is not None and choice.files[shot.file_id][1]:
        st.error(choice.files[shot.file_id][1])
    kept = session_images([choice.camera] if choice.camera else [])
    return list(kept.values())


def _camera_changed() -> None:
    if st.session_state.get(CAMERA_KEY) is None:  # the person cleared the photo
        photo_choice().camera = None


def _cached_sample(name: str) -> SessionImage:
    return add_image(SAMPLE_PREFIX + name, load_sample(name))


def _decode(name: str, data: bytes) -> SessionImage | str:
    """The decoded photo, kept in the session, or the one sentence that says why it cannot be used."""
    limit = classroom().upload_limit_bytes
    if len(data) > limit:
        return _("{file}: {size} MB is over the {limit} MB upload limit.").format(
            file=name, size=f"{len(data) / 2**20:.1f}", limit=f"{limit / 2**20:.0f}")
    try:
        return add_image(name, load_image(data, name=name))
    except ImageError as exc:
        return error_text(exc)


def _decode_upload(name: str, data: bytes) -> SessionImage | None:
    item = _decode(name, data)
    if isinstance(item, str):
        st.error(item)
        return None
    return item
