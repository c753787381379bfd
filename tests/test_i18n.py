"""The dashboard in Simplified Chinese: the catalogue is complete and current, the session's language is
chosen as documented (address, switch, classroom, server), and every page reads as Chinese."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from i18n_check import english_prose, run_names, untranslated, visible_texts
from streamlit.testing.v1 import AppTest
from streamlit.util import calc_hash

from core.errors import ParameterError
from core.i18n import check_language, server_language

REPO = Path(__file__).resolve().parent.parent
APP = str(REPO / "dashboard" / "app.py")
PO = REPO / "dashboard" / "i18n" / "locale" / "zh" / "LC_MESSAGES" / "messages.po"
KEYWORDS = {"_": None, "N_": None, "gettext": None, "ngettext": (1, 2)}
_FIELD = re.compile(r"\{[^{}]*\}")


def _code_messages() -> set[str]:
    found = set()
    for folder in ("core", "dashboard"):
        for _file, _line, message, _comments, _context in extract_from_dir(
                REPO / folder, method_map=[("**.py", "python")], keywords=KEYWORDS):
            found.update([message] if isinstance(message, str) else [m for m in message if m])
    return found


def _catalogue():
    with open(PO, "rb") as fh:
        return read_po(fh, locale="zh")


# ---- the catalogue ---------------------------------------------------------------------------------


def test_every_message_in_the_code_has_a_chinese_entry_and_none_is_stale():
    code, catalogue = _code_messages(), _catalogue()
    entries = {m.id: m for m in catalogue if m.id}
    missing = sorted(code - set(entries))
    assert not missing, f"{len(missing)} messages not in the catalogue (run make i18n-extract): {missing[:10]}"
    untranslated_ = sorted(i for i, m in entries.items() if not m.string or m.fuzzy)
    assert not untranslated_, f"{len(untranslated_)} messages without a Chinese translation: {untranslated_[:10]}"
    stale = sorted(set(entries) - code)
    assert not stale, f"{len(stale)} catalogue entries no code uses (run make i18n-extract): {stale[:10]}"


def test_translations_keep_every_named_field_and_babel_finds_no_error():
    catalogue = _catalogue()
    for message in catalogue:
        if not message.id:
            continue
        assert sorted(_FIELD.findall(message.id)) == sorted(_FIELD.findall(message.string)), message.id
        assert not list(catalogue.check()), list(catalogue.check())[:3]


def test_the_compiled_catalogue_is_what_the_dashboard_reads(tmp_path, monkeypatch):
    """Without a .mo (a checkout started without make) the .po is compiled in memory: same answers."""
    from dashboard import i18n

    compiled = i18n.catalogue("zh")
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    folder = tmp_path / "zh" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    (folder / "messages.po").write_bytes(PO.read_bytes())
    i18n.catalogue.cache_clear()
    try:
        in_memory = i18n.catalogue("zh")
        for message in list(_catalogue())[1:20]:
            assert in_memory.gettext(message.id) == compiled.gettext(message.id) == message.string
    finally:
        i18n.catalogue.cache_clear()


# ---- the checker itself ----------------------------------------------------------------------------


def test_the_prose_check_sees_english_and_lets_names_through():
    assert english_prose("Pick a model and a photo") == ["Pick", "a", "model", "and", "a", "photo"]
    assert english_prose("选择 Grad-CAM 的层 block5c_add（ResNet50，ε = 8/255，cat.jpg，`--eps`）") == []
    assert english_prose("预测：tabby cat (87.1%)", class_names=["tabby cat"]) == []
    assert english_prose("预测：tabby cat") == ["tabby", "cat"]
    assert untranslated(["模型", "Train a model"]) == ["'Train a model' -> Train a model"]


# ---- choosing the language -------------------------------------------------------------------------


def _switch_script() -> None:
    import streamlit as st

    from dashboard import state
    from dashboard.i18n import _, init_language, language_switch

    state.init_session()
    init_language()
    with st.sidebar:
        language_switch()
    st.title(_("Explain"))


@pytest.fixture
def plain_server(monkeypatch):
    from dashboard import state

    for var in ("GLASSWING_LANG", "GLASSWING_CLASSROOM", "GLASSWING_READ_ONLY"):
        monkeypatch.delenv(var, raising=False)
    state.classroom.clear()
    yield monkeypatch
    monkeypatch.undo()
    state.classroom.clear()


def _app() -> AppTest:
    return AppTest.from_function(_switch_script, default_timeout=60)


def test_english_by_default_and_the_switch_changes_the_page_and_the_address(plain_server):
    at = _app().run()
    assert at.title[0].value == "Explain" and at.query_params["lang"] == "en"
    at.sidebar.button_group[0].set_value("zh").run()
    assert at.title[0].value == "解释" and at.query_params["lang"] == "zh"
    at.run()  # a rerun keeps it
    assert at.title[0].value == "解释"


def test_the_address_chooses_and_a_reload_keeps_it(plain_server):
    at = _app()
    at.query_params["lang"] = "zh"
    at.run()
    assert at.title[0].value == "解释"
    reload = _app()
    reload.query_params.update(at.query_params)
    reload.run()
    assert reload.title[0].value == "解释" and reload.session_state["lang"] == "zh"


def test_a_language_the_dashboard_does_not_speak_in_the_address_is_ignored(plain_server):
    at = _app()
    at.query_params["lang"] = "<script>"
    at.run()
    assert not at.exception and at.title[0].value == "Explain" and at.query_params["lang"] == "en"


def test_the_server_default_and_the_classroom_choose_for_new_sessions(plain_server, tmp_path):
    from dashboard import state

    plain_server.setenv("GLASSWING_LANG", "zh-CN")
    assert _app().run().title[0].value == "解释"
    room = tmp_path / "room.toml"
    room.write_text('language = "en"\n')
    plain_server.setenv("GLASSWING_CLASSROOM", str(room))
    state.classroom.clear()
    assert _app().run().title[0].value == "Explain"  # the teacher's room wins over the server default
    room.write_text('language = "zh"\n')
    plain_server.setenv("GLASSWING_LANG", "en")
    state.classroom.clear()
    at = _app().run()
    assert at.title[0].value == "解释"
    at.sidebar.button_group[0].set_value("en").run()  # a student may still switch
    assert at.title[0].value == "Explain"


def test_a_nonsense_language_setting_is_one_sentence(plain_server, tmp_path):
    from core.classroom import ClassroomConfigError, from_toml

    plain_server.setenv("GLASSWING_LANG", "klingon")
    with pytest.raises(ParameterError, match="GLASSWING_LANG must be one of en, zh"):
        server_language()
    room = tmp_path / "room.toml"
    room.write_text("language = 3\n")
    with pytest.raises(ClassroomConfigError, match="'language' must be one of en, zh"):
        from_toml(room)
    assert check_language(" ZH_Hans ", "x") == "zh"


# ---- every page in Chinese -------------------------------------------------------------------------

PAGES = ["home", "trust", "architecture", "data", "train", "evaluate", "compress", "attack", "lesson"]
# Pages whose strings are not all in the catalogue yet: strict, so a page that passes must leave the list.
NOT_YET: set[str] = set()


def class_names(model=None) -> list[str]:
    """The names a page may show untranslated: ImageNet's and the built-in datasets' classes, and the
    layers of ``model`` (a LoadedModel)."""
    from core.data.fashion import CLASS_NAMES
    from core.data.shapes import SHAPE_CLASSES
    from core.zoo.registry import imagenet_labels

    layers = [layer.name for layer in model.model.layers] if model is not None else []
    return [*imagenet_labels(), *CLASS_NAMES, *SHAPE_CLASSES, *layers, *run_names()]


def open_in_chinese(url_path: str) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params["lang"] = "zh"
    at._page_hash = calc_hash(url_path)  # st.navigation pages are hashed by their url_path
    at.run()
    assert not at.exception, at.exception
    return at


@pytest.mark.parametrize("url_path", [pytest.param(p, marks=pytest.mark.xfail(strict=True, reason="not yet"))
                                      if p in NOT_YET else p for p in PAGES])
def test_every_page_reads_as_chinese(url_path, lite0):
    at = open_in_chinese(url_path)
    left = untranslated(visible_texts(at), class_names(lite0))
    assert not left, f"{len(left)} English texts on {url_path}:\n" + "\n".join(left[:40])


# ---- core's errors, where the dashboard shows them --------------------------------------------------


def test_core_errors_raised_with_a_template_are_shown_in_chinese():
    from core.errors import ImageError, Message
    from core.images import load_image
    from dashboard.i18n import catalogue

    zh = catalogue("zh").gettext
    with pytest.raises(ImageError) as caught:
        load_image(b"\x89PNG\r\n\x1a\n" + b"\0" * 40, name="broken.png")
    assert str(caught.value) == "broken.png: starts like a PNG file but the image data is corrupt or truncated."
    assert caught.value.translated(zh) == "broken.png：开头看起来是 PNG 文件，但图像数据已损坏或不完整。"
    # A sentence holding another (the offline weights error: its reason and its hint) is translated whole.
    nested = ImageError.say("{name} needs its ImageNet weights file {file} (about {mb} MB), which could not be "
                            "downloaded: {reason} {hint}", name="resnet50", file="w.h5", mb=98,
                            reason="offline.", hint=Message("{name}: no such file.", name="w.h5"))
    assert nested.translated(zh) == ("resnet50 需要它的 ImageNet 权重文件 w.h5（约 98 MB），但无法下载：offline. "
                                     "w.h5：文件不存在。")
    # A translation that lost a field still says something true: the English.
    assert nested.translated(lambda t: "{nonsense}") == str(nested)


def test_classroom_limits_are_sentences_in_chinese():
    from core.classroom import ClassroomConfig, TrainingNotAllowedError
    from dashboard.i18n import catalogue

    zh = catalogue("zh").gettext
    with pytest.raises(TrainingNotAllowedError) as caught:
        ClassroomConfig(max_training_jobs_per_session=2).check_can_train(jobs_started=2)
    assert caught.value.translated(zh) == "你已经启动了 2 个训练任务；本课堂每个会话最多允许 2 个。"
    with pytest.raises(ParameterError) as caught:
        ClassroomConfig(max_epochs=5).check_epochs(9)
    assert "最多 5 轮" in caught.value.translated(zh) and "9" in caught.value.translated(zh)


def test_the_app_names_a_nonsense_server_language_in_one_sentence(plain_server):
    plain_server.setenv("GLASSWING_LANG", "klingon")
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception
    assert [e.value for e in at.error] == ["Server setting: GLASSWING_LANG must be one of en, zh (the dashboard's "
                                           "languages), got 'klingon'."]


def test_no_module_that_translates_rebinds_the_underscore():
    """`for _, x in pairs` inside a module that imports `_` replaces the translation function (a list
    comprehension over uploads once crashed the Evaluate page this way)."""
    import ast

    offenders = []
    for path in sorted((REPO / "dashboard").rglob("*.py")) + sorted((REPO / "core").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_it = any(isinstance(n, ast.ImportFrom) and n.module in ("dashboard.i18n",)
                         and any(a.name == "_" for a in n.names) for n in ast.walk(tree))
        if imports_it:
            offenders += [f"{path.relative_to(REPO)}:{n.lineno}" for n in ast.walk(tree)
                          if isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)]
    assert not offenders, offenders
