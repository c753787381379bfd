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

from core.classroom import ClassroomConfig
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


def _runner(spec: PageSpec) -> Callable[[], None]:
    """The page's ``main``, with what the session chose on it recalled before and kept after
    (:mod:`dashboard.page_memory`, over the names its module lists in ``REMEMBERED``)."""
    module = importlib.import_module(f"dashboard.views.{spec.module}")
    names = getattr(module, "REMEMBERED", ())
    if not names:
        return module.main

    def run() -> None:
        from dashboard import page_memory, state

        sid = state.session_id()
        page_memory.recall(sid, spec.module, names, st.session_state)
        try:
            module.main()
        finally:  # a rerun or stop asked by the page still keeps what it chose
            page_memory.keep(sid, spec.module, names, st.session_state)

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
