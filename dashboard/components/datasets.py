"""The datasets a session may choose (Data and Evaluate pages), and making a built-in on first use.

Choices are keyed ``builtin:<id>`` (a built-in, made on first use), ``stored:<id>`` (a built-in variant
or a zip imported from the command line), ``session:<id>`` (this browser session's uploads, under
``core.data.sessions.session_dir``) and ``version:<id>`` (a corrected version, :mod:`core.data.versions`).
The classroom's dataset list filters the first two kinds; a student's own uploads and versions are always
theirs to look at.
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
from core.errors import GlasswingError
from dashboard.i18n import _, error_text
from dashboard.state import classroom, session_id


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
        problem = error_text(exc)
        allowed = set(BUILTINS)
    choices = []
    for e in entries:
        if e["id"] not in allowed:
            continue
        kind = "builtin" if e["id"] in BUILTINS else "stored"
        title, description = e["title"], e.get("description", "")  # core's, marked there
        choices.append(Choice(key=f"{kind}:{e['id']}", label=_(title),
                              description=_(description) if description else "",
                              path=e.get("path"), builtin=e["id"] if kind == "builtin" else None,
                              status=error_text(e["status_message"]) if "status_message" in e else ""))
    return choices + session_choices() + version_choices(), problem


def version_choices() -> list[Choice]:
    """The dataset versions this session made (and those made from the command line), newest first."""
    from core.data.versions import list_versions

    out = []
    for version in list_versions(owner=session_id()):
        meta = load_meta(version.path)
        title = str(meta.get("title") or version.id)
        counts = version.summary()
        out.append(Choice(key=f"version:{version.id}", path=str(version.path),
                          label=_("Version: {title} ({changes})").format(title=title, changes=changes_text(counts)),
                          description=_("Made from {parent} with corrections; the original is unchanged.").format(
                              parent=F.printable_path(version.parent))))
    return out


def changes_text(counts: dict[str, int]) -> str:
    """"2 relabelled, 1 removed, 3 added" in the session's language (kinds with none left out)."""
    said = {"relabel": _("{n} relabelled"), "remove": _("{n} removed"), "add": _("{n} added")}
    return _(", ").join(said[kind].format(n=n) for kind, n in counts.items() if n)


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
    note = _("Uploaded in this browser session; removed when the session has been idle for a while.")
    return [Choice(key=f"session:{sub.name}", description=note, path=str(sub),
                   label=_("Your upload: {source} ({folder})").format(
                       source=_(F.printable_path(str(meta.get("source")))), folder=sub.name))
            for _mtime, sub, meta in found]


def ensure_path(choice: Choice) -> Path | None:
    """The folder of ``choice``, making a built-in on first use (shows progress; None if not made)."""
    if choice.path:
        return Path(choice.path)
    info = BUILTINS[choice.builtin]
    available, how = info.available()
    if not available:  # Fashion-MNIST without the Debian package: download on request only
        st.warning(_("{dataset} is not on this computer ({how}).").format(dataset=_(info.title), how=error_text(how)))
        if not st.button(_("Download {dataset}").format(dataset=_(info.title)), key="data_download"):
            return None
    bar = st.progress(0.0, text=_("Creating {dataset} (first time only) ...").format(dataset=_(info.title)))

    def progress(done: int, total: int, message: str) -> None:
        bar.progress(min(done / total, 1.0) if total else 0.0, text=f"{_(message)} ({done}/{total})")

    try:
        path = materialise(choice.builtin, allow_download=True, progress=progress)
    except GlasswingError as exc:
        bar.empty()
        st.error(error_text(exc))
        return None
    bar.empty()
    return path
