"""``python -m dashboard [streamlit options]``: serve the dashboard with the default model warmed up.

``streamlit run dashboard/app.py`` works too, but Streamlit runs the app (and so imports TensorFlow,
loads the model and compiles Grad-CAM) only when the first browser connects. This launcher does that
work on a background thread while the server starts, in the same process, so the first visitor finds
the model loaded and the explanation functions compiled (core caches models and compiled functions
per process). It also replaces ``python -m core models --prepare`` before the server: converting the
offline default model on first run happens here, with its progress on the console.
"""

from __future__ import annotations

import importlib
import sys
import threading
import time
from pathlib import Path

APP = Path(__file__).resolve().parent / "app.py"


def warm_up() -> None:
    """Load the model the Explain page opens on and run its first requests once (errors only logged).

    The sample's faithfulness badges are scored too: the first scoring traces its compiled function, seconds
    of Python that would otherwise stall every session of the first class while it holds the interpreter.
    """
    started = time.perf_counter()
    try:
        from core.classroom import load_classroom
        from core.explain import explain
        from core.images import resize_for_model
        from core.samples import load_sample
        from core.zoo import list_models, load_model

        name = load_classroom().default_model([s.name for s in list_models() if s.pretrained])
        loaded = load_model(name)
        batch = resize_for_model(load_sample("cat"), loaded.input_size)[None]
        loaded.predict(batch)
        importlib.import_module("dashboard.views.explain")  # the first page's own imports
        if loaded.default_cam_layer is not None:
            (exp,) = explain(loaded, batch, "gradcam")
            from dashboard.services.badges import heatmap_key, scoring
            from dashboard.state import image_digest

            pixels = load_sample("cat")  # as the page's sample picker keeps it, so the page finds this score
            scoring(name, image_digest(pixels), heatmap_key(exp.heatmap), exp.class_index, pixels,
                    exp.heatmap).result(timeout=300)
        print(f"Glasswing: {name} loaded and compiled in {time.perf_counter() - started:.1f} s", flush=True)
    except Exception as exc:  # noqa: BLE001 - the page reports the same error to the user, with context
        print(f"Glasswing: warm-up skipped ({type(exc).__name__}: {exc})", file=sys.stderr, flush=True)


def skip_repl_check() -> bool:
    """Skip Streamlit's one-time "are we in a REPL?" check, which warns people who ``import streamlit``
    outside ``streamlit run``. This launcher always serves the app with ``streamlit run``, and the check
    calls ``inspect.stack()``, which maps the ~4,500 modules TensorFlow loads to files: 0.4 s on the first
    visitor's script run, the one waiting for the first heatmap. Returns whether it was skipped (only
    under the Streamlit release this was checked against)."""
    from streamlit import delta_generator

    from dashboard.streamlit_internals import may_patch

    if not may_patch("the REPL check"):  # checks the function that reads the flag is still Streamlit's, as read
        return False
    delta_generator._use_warning_has_been_displayed = True
    return True


def upload_cap(args: list[str]) -> list[str]:
    """Streamlit's server refuses any upload over ``server.maxUploadSize`` (200 MB by default), whatever a
    widget allows: raise it to the classroom's upload limit and the largest weights file, unless set."""
    from core.config import max_upload_bytes
    from dashboard.components.model_loader import weights_upload_mb

    if any(a.startswith("--server.maxUploadSize") for a in args):
        return []
    return [f"--server.maxUploadSize={max(-(-max_upload_bytes() // 2**20), weights_upload_mb())}"]


def main(argv: list[str] | None = None) -> int:
    from streamlit.web import cli as stcli

    from core.config import check_settings
    from core.errors import ParameterError
    from dashboard.components.task_status import wait_seconds
    from dashboard.keras_session import keep_keras_session
    from dashboard.memory import return_large_blocks, start_idle_cleanup

    return_large_blocks()  # before the warm-up allocates: a burst of sessions' memory goes back afterwards
    try:
        check_settings()
        wait_seconds()
        start_idle_cleanup()
    except ParameterError as exc:  # a nonsense setting: say which, before anything starts
        print(exc, file=sys.stderr)
        return 2
    keep_keras_session()  # app.py does it too (for `streamlit run`); here it holds from the first run
    skip_repl_check()
    threading.Thread(target=warm_up, name="glasswing-warm-up", daemon=True).start()
    args = list(sys.argv[1:] if argv is None else argv)
    sys.argv = ["streamlit", "run", str(APP), *upload_cap(args), *args]
    return stcli.main()


if __name__ == "__main__":
    sys.exit(main())
