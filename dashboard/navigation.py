"""The dashboard's pages, declared once: ``app.py`` navigates them and a page links to another through
:func:`page`, so no page imports another page's module.

The default page is served at "/" only (Streamlit gives it the pathname ""), so a hidden twin answers the
address /explain that the sidebar, links and bookmarks use; the default keeps an unused pathname.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.errors import StreamlitAPIException

from core.classroom import ClassroomConfig
from dashboard import page_memory, state
from dashboard.i18n import N_, _


@dataclass(frozen=True)
class PageSpec:
    url_path: str
    module: str  # under dashboard.views, with a main()
    title: str
    icon: str
    group: str
    trains: bool = False  # offered only where the classroom allows training
    default: bool = False
    hidden: bool = False


# The loop a user walks: look at data, train, evaluate, explain, check the explanation, attack.
SPECS = (
    PageSpec("home", "explain", N_("Explain"), ":material/visibility:", N_("See"), default=True),
    PageSpec("explain", "explain", N_("Explain"), ":material/visibility:", N_("See"), hidden=True),
    PageSpec("trust", "trust", N_("Trust"), ":material/verified:", N_("See")),
    PageSpec("architecture", "architecture", N_("Architecture"), ":material/account_tree:", N_("See")),
    PageSpec("data", "data", N_("Data"), ":material/photo_library:", N_("Build")),
    PageSpec("train", "train", N_("Train"), ":material/model_training:", N_("Build"), trains=True),
    PageSpec("evaluate", "evaluate", N_("Evaluate"), ":material/grid_on:", N_("Build")),
    PageSpec("compress", "compress", N_("Compress"), ":material/compress:", N_("Build"), trains=True),  # variants train
    PageSpec("attack", "attack", N_("Attack"), ":material/bolt:", N_("Probe")),
    PageSpec("lesson", "lesson", N_("Lesson"), ":material/school:", N_("Learn")),
)


# Entries several pages share (corrections gathered on Evaluate, saved from Explain or Data): remembered for
# the whole session, under one name, whichever page changed them last.
SESSION_WIDE = ("corrections_pending", "corrections_saved_version")  # dashboard.components.corrections


def _runner(spec: PageSpec) -> Callable[[], None]:
    """The page's ``main``, with what the session chose on it recalled before and kept after
    (:mod:`dashboard.page_memory`, over the names its module lists in ``REMEMBERED``, and
    :data:`SESSION_WIDE`)."""
    module = importlib.import_module(f"dashboard.views.{spec.module}")
    names = getattr(module, "REMEMBERED", ())
    groups = ((spec.module, (names,) if isinstance(names, str) else tuple(names)), ("_session", SESSION_WIDE))

    def keep(sid: str) -> None:
        for page, entries in groups:
            if entries:
                page_memory.keep(sid, page, entries, st.session_state)

    def run() -> None:
        sid = state.session_id()
        (page, entries), (shared, shared_entries) = groups
        recalled = page_memory.recall(sid, page, entries, st.session_state) if entries else []
        page_memory.recall(sid, shared, shared_entries, st.session_state)  # data, never a widget's value
        try:
            module.main()
        except StreamlitAPIException:
            if not recalled:
                raise
            # A remembered value the page no longer takes (a slider's range shrank with another model):
            # the page runs again with its defaults, and its memory is forgotten (so the next run, which
            # recalls nothing, shows any other error as it is).
            for name in recalled:
                st.session_state.pop(name, None)
            page_memory.forget(sid, spec.module)
            st.rerun()
        except Exception:
            raise  # a page that failed is not remembered as it failed
        except BaseException:  # Streamlit's rerun and stop: what the page chose so far is kept
            keep(sid)
            raise
        keep(sid)

    run.__name__ = spec.module  # Streamlit names a page without a title after its function
    return run


def _page(spec: PageSpec, default: bool | None = None) -> st.Page:
    return st.Page(_runner(spec), title=_(spec.title), icon=spec.icon, url_path=spec.url_path,
                   default=spec.default if default is None else default,
                   visibility="hidden" if spec.hidden else "visible")


def pages(room: ClassroomConfig) -> dict[str, list[st.Page]]:
    """``{group title: [pages]}`` for ``st.navigation``, in the session's language."""
    groups: dict[str, list[st.Page]] = {}
    for spec in SPECS:
        if spec.trains and not room.can_train:
            continue
        groups.setdefault(_(spec.group), []).append(_page(spec))
    return groups


def page(url_path: str, default: bool = False) -> st.Page:
    """The page at ``url_path``, for ``st.page_link`` and ``st.switch_page`` from another page."""
    spec = next(s for s in SPECS if s.url_path == url_path)
    return _page(spec, default)
