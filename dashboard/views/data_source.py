"""Data page, part 1: which datasets a session may choose, making built-ins, and importing uploads.

Choices are keyed ``builtin:<id>`` (a built-in, made on first use), ``stored:<id>`` (a built-in variant
or a zip imported from the command line) and ``session:<id>`` (this browser session's uploads, under
``core.data.sessions.session_dir``). The classroom's dataset list filters the first two kinds; a
student's own uploads are always theirs to look at.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from core.data import files as F
from core.data.builtin import BUILTINS, materialise
from core.data.catalog import list_datasets
from core.data.scan import load_meta
from core.data.sessions import session_dir, touch_session
from core.data.uploads import import_class_images, import_zip_bytes
from core.errors import GlasswingError, ParameterError
from dashboard.state import classroom, session_id

PENDING = "data_pending"  # a choice to select on the next run (set after an import)
NOTICES = "data_notices"  # messages from the last import, shown until the next one
REFUSED_CODES = {F.UNSAFE_PATH, F.LINK, F.SPECIAL_FILE, F.ZIP_BOMB, F.TOO_LARGE, F.ENCRYPTED, F.BAD_ENTRY}
MAX_CLASSES = 12


@dataclass(frozen=True)
class Choice:
    """One dataset the user can pick."""

    key: str
    label: str
    description: str
    path: str | None  # None: a built-in not made yet
    builtin: str | None = None
    status: str = ""


def dataset_choices() -> tuple[list[Choice], str | None]:
    """Every dataset this session may use, and a problem with the classroom list (if any)."""
    problem = None
    entries = list_datasets()
    try:
        allowed = set(classroom().allowed_datasets([e["id"] for e in entries]))
    except GlasswingError as exc:  # a teacher's typo: say so, keep the built-ins usable
        problem = str(exc)
        allowed = set(BUILTINS)
    choices = []
    for e in entries:
        if e["id"] not in allowed:
            continue
        kind = "builtin" if e["id"] in BUILTINS else "stored"
        choices.append(Choice(key=f"{kind}:{e['id']}", label=e["title"], description=e.get("description", ""),
                              path=e.get("path"), builtin=e["id"] if kind == "builtin" else None,
                              status=e.get("status", "")))
    return choices + session_choices(), problem


def session_choices() -> list[Choice]:
    """This session's uploaded datasets, newest first (the folder is marked as in use)."""
    folder = session_dir(session_id(), create=False)
    if not folder.is_dir():
        return []
    touch_session(session_id())
    found = []
    for sub in folder.iterdir():
        meta = load_meta(sub)
        if sub.is_dir() and not sub.is_symlink() and not sub.name.startswith(".") and meta:
            found.append((sub.stat().st_mtime, sub, meta))
    found.sort(key=lambda t: t[0], reverse=True)
    note = "Uploaded in this browser session; removed when the session has been idle for a while."
    return [Choice(key=f"session:{sub.name}", description=note, path=str(sub),
                   label=f"Your upload: {F.printable_path(str(meta.get('source')))} ({sub.name})")
            for _, sub, meta in found]


def ensure_path(choice: Choice) -> Path | None:
    """The folder of ``choice``, making a built-in on first use (shows progress; None if not made)."""
    if choice.path:
        return Path(choice.path)
    info = BUILTINS[choice.builtin]
    available, how = info.available()
    if not available:  # Fashion-MNIST without the Debian package: download on request only
        st.warning(f"{info.title} is not on this computer ({how}).")
        if not st.button(f"Download {info.title}", key="data_download"):
            return None
    bar = st.progress(0.0, text=f"Creating {info.title} (first time only) ...")

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{message} ({done}/{total})")

    try:
        path = materialise(choice.builtin, allow_download=True, progress=progress)
    except GlasswingError as exc:
        bar.empty()
        st.error(str(exc))
        return None
    bar.empty()
    return path


# ---- uploads ---------------------------------------------------------------------------------


def upload_ui() -> None:
    """Two ways to bring your own images; a successful import selects the new dataset."""
    limit_mb = classroom().upload_limit_bytes / 2**20
    zip_tab, class_tab = st.tabs(["Zip", "Per class"])
    with zip_tab, st.form("data_zip_form", clear_on_submit=True, border=False):
        st.caption(f"A .zip with one folder per class (cats/…, dogs/…), up to {limit_mb:.0f} MB. "
                   "An existing train/ + val/ layout is kept.")
        upload = st.file_uploader("Zip file", type=["zip"], key="data_zip")
        if st.form_submit_button("Import zip", key="data_zip_submit") and upload is not None:
            _import(lambda: _import_zip(upload.name, upload.getvalue()))
    with class_tab:
        n = st.number_input("Number of classes", 2, MAX_CLASSES, 2, key="data_class_count")
        with st.form("data_class_form", clear_on_submit=True, border=False):
            classes = []
            for i in range(int(n)):
                name = st.text_input(f"Class {i + 1} name", key=f"data_class_name_{i}",
                                     placeholder="e.g. cats")
                files = st.file_uploader(f"Images of class {i + 1}", accept_multiple_files=True,
                                         type=[s.lstrip(".") for s in sorted(F.IMAGE_EXTENSIONS)],
                                         key=f"data_class_files_{i}")
                classes.append((name, files or []))
            if st.form_submit_button("Import images", key="data_class_submit"):
                _import(lambda: _import_classes(classes))


def _import(action) -> None:
    try:
        path, notices = action()
    except GlasswingError as exc:
        st.session_state[NOTICES] = [("error", str(exc))]
        st.rerun()
    st.session_state[NOTICES] = notices
    st.session_state[PENDING] = f"session:{path.name}"
    st.rerun()


def _import_zip(name: str, data: bytes) -> tuple[Path, list[tuple[str, str]]]:
    classroom().check_upload(len(data))
    bar = st.progress(0.0, text=f"Importing {name} ...")
    try:
        path = import_zip_bytes(data, session_id(), filename=name,
                                progress=lambda fraction, text: bar.progress(fraction, text=f"{name}: {text}"))
    finally:
        bar.empty()
    return path, _archive_notices(path, name)


def _import_classes(classes: list[tuple[str, list]]) -> tuple[Path, list[tuple[str, str]]]:
    named: dict[str, list[tuple[str, bytes]]] = {}
    for i, (label, files) in enumerate(classes):
        if not files and not label.strip():
            continue  # an unused slot
        if not label.strip():
            raise ParameterError(f"Class {i + 1} has images but no name; type a class name.")
        if not files:
            raise ParameterError(f"Class {label.strip()!r} has no images; add some or leave its name empty.")
        if label.strip() in named:
            raise ParameterError(f"Two classes are called {label.strip()!r}; class names must differ.")
        named[label.strip()] = [(f.name, f.getvalue()) for f in files]
    if len(named) < 2:
        raise ParameterError("Name at least two classes and add images to each.")
    classroom().check_upload(sum(len(data) for files in named.values() for _, data in files))
    path = import_class_images(named, session_id())
    return path, [("success", f"Imported {len(named)} classes.")] + _archive_notices(path, None)


def _archive_notices(path: Path, name: str | None) -> list[tuple[str, str]]:
    """Refused archive entries (unsafe paths, links, bombs) as one error; the rest is in the report."""
    skipped = load_meta(path).get("archive_skipped") or []
    refused = [s for s in skipped if isinstance(s, dict) and s.get("code") in REFUSED_CODES]
    notices = [("success", f"Imported {name}.")] if name else []
    if refused:
        lines = "\n".join(f"- `{_code(s['path'])}`: {s['reason']}" for s in refused[:10])
        more = f"\n- … and {len(refused) - 10} more" if len(refused) > 10 else ""
        notices.append(("error", f"{len(refused)} archive entr{'y was' if len(refused) == 1 else 'ies were'} "
                                 f"refused and not extracted:\n{lines}{more}"))
    return notices


def _code(text: object) -> str:
    return str(text).replace("`", "'")


def show_notices() -> None:
    for kind, text in st.session_state.get(NOTICES, []):
        getattr(st, kind)(text)
