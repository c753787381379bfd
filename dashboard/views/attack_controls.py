"""Attack page controls: the attack picker and parameter inputs generated from declared parameters.

Inputs are not clamped to the declared ranges on purpose (``param_widgets(..., sliders=False)``): the
core's declaration validates every value and names the parameter in its error, so a nonsense value gets
one clear message from one place.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import streamlit as st

from core.attacks import get_attack, list_attacks
from dashboard.components.class_picker import class_picker
from dashboard.i18n import _
from dashboard.widgets import param_widgets

# A modest default for students: 2 of 255 levels (under 1%) is invisible yet flips most predictions.
PAGE_DEFAULTS = {"eps": 2.0}
DEFAULT_ATTACK = "pgd"
REMEMBERED = ("attack_method", "attack_target", *(f"attack_{name}_*" for name in list_attacks()))  # page_memory


@dataclass(frozen=True)
class AttackRequest:
    """Everything that determines one attack run (and its cache key)."""

    model_name: str
    digest: str
    method: str
    params: dict = field(default_factory=dict)
    target: int | None = None  # None: untargeted (move away from the clean prediction)

    @property
    def params_key(self) -> tuple:
        return tuple(sorted(self.params.items()))


def attack_controls(model_name: str, digest: str, loaded, top: list[dict]) -> AttackRequest | None:
    """Sidebar: attack, its parameters and a target; returns the request when "Run attack" is pressed."""
    names = list_attacks()
    method = st.selectbox(_("Attack"), names, index=names.index(DEFAULT_ATTACK) if DEFAULT_ATTACK in names else 0,
                          format_func={n: _(get_attack(n).title) for n in names}.__getitem__, key="attack_method",
                          help=_("FGSM takes one step along the gradient's sign; PGD takes many small steps "
                                 "and is stronger at the same budget."))
    with st.form("attack_form"):
        params = param_widgets(get_attack(method).params, key=f"attack_{method}", defaults=PAGE_DEFAULTS,
                               sliders=False)
        eps = params.get("eps")
        if isinstance(eps, (int, float)):
            st.caption(_("Epsilon {eps} of 255 levels = {fraction} as a fraction ({percent}): no pixel may change "
                         "by more than this.").format(eps=f"{eps:g}", fraction=f"{eps / 255:.4f}",
                                                       percent=f"{eps / 255:.2%}"))
        target = class_picker(_("Target class"), loaded, [t["index"] for t in top[1:]], key="attack_target",
                              none_label=_("none: any other class (untargeted)"),
                              help=_("Untargeted: push the model away from its answer. Targeted: push it "
                                     "towards one class you choose (harder)."))
        submitted = st.form_submit_button(_("Run attack"), type="primary")
    if not submitted:
        return None
    return AttackRequest(model_name=model_name, digest=digest, method=method, params=params, target=target)
