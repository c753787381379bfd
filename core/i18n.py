"""The languages the dashboard speaks, and the marker for core's strings it shows in them.

Core stays English (its CLI and errors); what the dashboard displays from core's declarations (a
parameter's label and help, a method's one-line description) is marked with :func:`N_` so that Babel
extracts it into the dashboard's catalogue, and the dashboard translates it when it renders.
"""

from __future__ import annotations

import os

from core.errors import ParameterError

LANGUAGES = {"en": "English", "zh": "中文"}  # code -> its own name, as the language switch shows it
DEFAULT_LANGUAGE = "en"
LANGUAGE_VARIABLE = "GLASSWING_LANG"


def N_(message: str) -> str:
    """Mark ``message`` for translation without translating it (it is translated where it is shown)."""
    return message


def check_language(value: object, where: str) -> str:
    """``value`` as a known language code ('zh', 'ZH', 'zh-CN' and 'zh_Hans' all mean 'zh')."""
    if isinstance(value, str):
        code = value.strip().lower().replace("_", "-").split("-")[0]
        if code in LANGUAGES:
            return code
    raise ParameterError(f"{where} must be one of {', '.join(LANGUAGES)} (the dashboard's languages), "
                         f"got {value!r}.")


def server_language() -> str:
    """The language of a new session when neither its address nor the classroom chooses one."""
    value = os.environ.get(LANGUAGE_VARIABLE, "").strip()
    return check_language(value, LANGUAGE_VARIABLE) if value else DEFAULT_LANGUAGE
