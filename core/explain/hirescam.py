"""HiResCAM (Draelos & Carin 2020): each activation times its own gradient, summed over channels.

No averaging of the gradient over the map, so the map is faithful to what the head computes on any
head (on a globally pooled head it equals Grad-CAM).
"""

from __future__ import annotations

from core.explain.gradcam import GradCAM, hirescam
from core.explain.registry import register_method
from core.i18n import N_


@register_method
class HiResCAM(GradCAM):
    name = "hirescam"
    title = "HiResCAM"
    description = N_("Each activation weighted by its own gradient, summed over channels; faithful on any head.")

    def combine_for(self, model):
        return hirescam  # element-wise on every head
