"""Adversarial attacks, input-transformation defences and robustness curves.

Attacks and defences are registered by name (:mod:`core.registry`) and declare their parameters
(``params``, :class:`core.params.Param`: the same declarations drive the dashboard's inputs)::

    attack = create_attack("pgd", eps=4, steps=10)
    result = attack.generate(loaded, images)                  # untargeted, on the clean prediction
    result = attack.generate(loaded, images, target="tabby")  # targeted
    result = attack.generate(loaded, images, defence=create_defence("jpeg"), bpda=True)

Epsilon is in 0..255 pixel levels, applied to the raw pixels the model takes (its preprocessing comes
after), and adversarial images are clipped to valid pixels.
"""

from core.attacks import fgsm, pgd  # noqa: F401  (registers the attacks)
from core.attacks.base import Attack, predict_probs
from core.attacks.defences import Defence, straight_through
from core.attacks.registry import (
    create_attack,
    create_defence,
    get_attack,
    get_defence,
    list_attacks,
    list_defences,
    register_attack,
    register_defence,
)
from core.attacks.result import AttackResult, rounded_to_uint8
from core.attacks.robustness import (
    DefenceComparison,
    RobustnessCurve,
    compare_defences,
    robustness_curve,
)
from core.attacks.training import adversarial_batch
from core.compiled import clear as clear_cache
from core.params import Param

__all__ = [
    "Attack", "AttackResult", "Defence", "DefenceComparison", "Param", "RobustnessCurve",
    "adversarial_batch", "clear_cache", "compare_defences", "create_attack", "create_defence",
    "get_attack", "get_defence", "list_attacks", "list_defences", "predict_probs", "register_attack",
    "register_defence", "robustness_curve", "rounded_to_uint8", "straight_through",
]
