"""Data page, part 1: importing uploads (the choices themselves, shared with the Evaluate page, are
:mod:`dashboard.components.datasets`)."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import streamlit as st

from core.data import files as F
from core.data.scan import load_meta
from core.data.uploads import import_class_images, import_zip_bytes
from core.errors import GlasswingError, Message, ParameterError
from dashboard.components.core_words import relay, rules
from dashboard.components.task_status import last_key, run_in_background
from dashboard.i18n import N_, _, error_text
from dashboard.services import tasks
from dashboard.state import classroom, session_id
from dashboard.views.data_report import skip_reason

PENDING = "data_pending"  # a choice to select on the next run (set after an import)
NOTICES = "data_notices"  # messages from the last import, shown until the next one
REFUSED_CODES = {F.UNSAFE_PATH, F.LINK, F.SPECIAL_FILE, F.ZIP_BOMB, F.TOO_LARGE, F.ENCRYPTED, F.BAD_ENTRY}
MAX_CLASSES = 12
ZIP_TASK = "data-zip-import"  # the background task's kind (its key: kind, session, digest, file name)
ZIP_APPLIED = "data_zip_applied"  # the import whose result this session has taken in


# ---- uploads ---------------------------------------------------------------------------------


def upload_ui() -> None:
    """Two ways to bring your own images; a successful import selects the new dataset."""
    limit_mb = classroom().upload_limit_bytes / 2**20
    zip_tab, class_tab = st.tabs([_("Zip"), _("Per class")])
    with zip_tab, st.form("data_zip_form", clear_on_submit=True, border=False):
        st.caption(_("A .zip with one folder per class (cats/…, dogs/…), up to {limit} MB. "
                     "An existing train/ + val/ layout is kept.").format(limit=f"{limit_mb:.0f}"))
        upload = st.file_uploader(_("Zip file"), type=["zip"], key="data_zip", max_upload_size=math.ceil(limit_mb))
        if st.form_submit_button(_("Import zip"), key="data_zip_submit"):
            if upload is None:  # pressed before choosing a file, or before its upload had finished
                st.warning(_("Choose a .zip file first and wait until its name shows above, then press "
                             "Import zip."))
            else:
                _start_zip_import(upload.name, upload.getvalue())
    _follow_zip_import()
    with class_tab:
        n = st.number_input(_("Number of classes"), 2, MAX_CLASSES, 2, key="data_class_count")
        with st.form("data_class_form", clear_on_submit=True, border=False):
            classes = []
            for i in range(int(n)):
                name = st.text_input(_("Class {number} name").format(number=i + 1), key=f"data_class_name_{i}",
                                     placeholder=_("e.g. cats"))
                files = st.file_uploader(_("Images of class {number}").format(number=i + 1),
                                         accept_multiple_files=True,
                                         type=[s.lstrip(".") for s in sorted(F.IMAGE_EXTENSIONS)],
                                         key=f"data_class_files_{i}", max_upload_size=math.ceil(limit_mb))
                classes.append((name, files or []))
            if st.form_submit_button(_("Import images"), key="data_class_submit"):
                _import(lambda: _import_classes(classes))


def _import(action) -> None:
    try:
        path, notices = action()
    except GlasswingError as exc:
        st.session_state[NOTICES] = [("error", error_text(exc))]
        st.rerun()
    st.session_state[NOTICES] = notices
    st.session_state[PENDING] = f"session:{path.name}"
    st.rerun()


def _start_zip_import(name: str, data: bytes) -> None:
    """Unpack and check the archive in the background: a big one goes on while the person looks elsewhere,
    and the page picks up its result (:func:`_follow_zip_import`) when they are back."""
    try:
        classroom().check_upload(len(data))
    except GlasswingError as exc:
        st.session_state[NOTICES] = [("error", error_text(exc))]
        st.rerun()
    owner = session_id()
    key = (ZIP_TASK, owner, hashlib.sha1(data).hexdigest()[:16], name)
    tasks.forget(key)  # the same file imported again is a new import (its folder may have been deleted)
    st.session_state.pop(ZIP_APPLIED, None)
    said = rules([(r"Unpacking file (?P<i>[\d,]+) of (?P<n>[\d,]+)", N_("Unpacking file {i} of {n}")),
                  (r"Unpacked (?P<n>[\d,]+) files", N_("Unpacked {n} files"))])  # said in each viewer's language
    tasks.start(key, Message(N_("Importing {file} ..."), file=name),
                lambda progress: import_zip_bytes(data, owner, filename=name, progress=relay(progress, said)),
                owner=owner)


def _follow_zip_import() -> None:
    """This session's latest zip import: its bar while it runs; once, when it has ended, its dataset
    selected and its notices shown (or its one-sentence error)."""
    key = last_key(ZIP_TASK)
    if key is None or st.session_state.get(ZIP_APPLIED) == key:
        return
    task = tasks.find(key)
    if task is None:
        return
    if not task.done:
        run_in_background(key, task.title, lambda progress: None, start=False)  # its bar, followed
        if not task.done:
            return
    st.session_state[ZIP_APPLIED] = key
    tasks.forget(key)  # taken in once: a reload or another tab of this session does not take it in again
    if task.error is not None:
        st.session_state[NOTICES] = [("error", _("{what}: {error}").format(what=key[3], error=task.shown_error(_)))]
        st.rerun()
    path: Path = task.result
    st.session_state[NOTICES] = _archive_notices(path, key[3])
    st.session_state[PENDING] = f"session:{path.name}"
    st.rerun()


def _import_classes(classes: list[tuple[str, list]]) -> tuple[Path, list[tuple[str, str]]]:
    named: dict[str, list[tuple[str, bytes]]] = {}
    for i, (label, files) in enumerate(classes):
        if not files and not label.strip():
            continue  # an unused slot
        if not label.strip():
            raise ParameterError(_("Class {number} has images but no name; type a class name.").format(number=i + 1))
        if not files:
            raise ParameterError(_("Class {name} has no images; add some or leave its name empty.").format(
                name=repr(label.strip())))
        if label.strip() in named:
            raise ParameterError(_("Two classes are called {name}; class names must differ.").format(
                name=repr(label.strip())))
        named[label.strip()] = [(f.name, f.getvalue()) for f in files]
    if len(named) < 2:
        raise ParameterError(_("Name at least two classes and add images to each."))
    classroom().check_upload(sum(len(data) for files in named.values() for _name, data in files))
    path = import_class_images(named, session_id())
    return path, [("success", _("Imported {n} classes.").format(n=len(named)))] + _archive_notices(path, None)


def _archive_notices(path: Path, name: str | None) -> list[tuple[str, str]]:
    """Refused archive entries (unsafe paths, links, bombs) as one error; the rest is in the report."""
    skipped = load_meta(path).get("archive_skipped") or []
    refused = [s for s in skipped if isinstance(s, dict) and s.get("code") in REFUSED_CODES]
    notices = [("success", _("Imported {file}.").format(file=name))] if name else []
    if refused:
        lines = "\n".join(f"- `{_code(s['path'])}`: {skip_reason(str(s.get('reason', '')), s['code'])}"
                          for s in refused[:10])
        more = "\n- " + _("… and {n} more").format(n=len(refused) - 10) if len(refused) > 10 else ""
        heading = (_("{n} archive entry was refused and not extracted:") if len(refused) == 1
                   else _("{n} archive entries were refused and not extracted:"))
        notices.append(("error", heading.format(n=len(refused)) + f"\n{lines}{more}"))
    return notices


def _code(text: object) -> str:
    return str(text).replace("`", "'")


def show_notices() -> None:
    for kind, text in st.session_state.get(NOTICES, []):
        getattr(st, kind)(text)
