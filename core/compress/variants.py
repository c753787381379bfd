"""Variant specs: ``float16``, ``int8``, ``int8-full``, ``prune:SPARSITY``, ``distil:STUDENT``.

A spec list is parsed and checked as a whole before any work, so ``int9`` or ``prune:1.5`` is refused in one
sentence that names it, from core and from the CLI alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from core.errors import ParameterError
from core.registry import Registry

# Variant kind -> builder ``build(context, spec, folder, progress) -> (format, file)`` (see core.compress.lab).
KINDS: Registry = Registry("compression variant")

QUANTISED = {"float16": "tflite-float16", "int8": "tflite-dynamic", "int8-full": "tflite-int8"}
BUILT = (*QUANTISED, "prune")  # kinds that compress can build today


@dataclass(frozen=True)
class VariantSpec:
    kind: str  # float16, int8, int8-full, prune, distil
    name: str  # folder name under RUN/variants/
    sparsity: float | None = None  # prune
    student: str | None = None  # distil


def _one(text: str) -> VariantSpec:
    raw = text.strip()
    if not raw:
        raise ParameterError("An empty variant was given; name one of float16, int8, int8-full, "
                             "prune:SPARSITY or distil:STUDENT.")
    kind, _, arg = raw.partition(":")
    kind = kind.strip().lower()
    if kind in QUANTISED:
        if arg:
            raise ParameterError(f"Variant {raw!r} takes no argument; write {kind}.")
        return VariantSpec(kind, kind)
    if kind == "prune":
        try:
            sparsity = float(arg)
        except ValueError:
            raise ParameterError(f"Variant {raw!r} needs a sparsity between 0 and 1, e.g. prune:0.5.") from None
        if not 0.0 < sparsity < 1.0:
            raise ParameterError(f"Variant {raw!r}: the sparsity must be between 0 and 1 (exclusive), "
                                 f"not {arg}.")
        return VariantSpec("prune", f"prune-{sparsity:g}", sparsity=sparsity)
    if kind == "distil":
        from core.zoo.scratch import BUILDERS

        student = arg.strip()
        if student not in BUILDERS:
            raise ParameterError(f"Variant {raw!r}: unknown student {student or '(none)'}; the students are "
                                 f"the from-scratch models {', '.join(BUILDERS)}.")
        return VariantSpec("distil", f"distil-{student}", student=student)
    raise ParameterError(f"Unknown variant {raw!r}; the variants are float16, int8, int8-full, "
                         "prune:SPARSITY and distil:STUDENT.")


def parse_variants(specs: str | Sequence[str]) -> list[VariantSpec]:
    """``"int8,float16,prune:0.5"`` (or a list) -> specs, each checked; duplicates are refused."""
    items = specs.split(",") if isinstance(specs, str) else list(specs)
    if not items or all(not str(s).strip() for s in items):
        raise ParameterError("No variants were given; name some of float16, int8, int8-full, "
                             "prune:SPARSITY, distil:STUDENT.")
    parsed = [_one(str(s)) for s in items]
    names = [p.name for p in parsed]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ParameterError(f"Variant {', '.join(twice)} is asked for twice.")
    unbuilt = [p.name for p in parsed if p.kind not in KINDS]
    if unbuilt:
        raise ParameterError(f"Variant {', '.join(unbuilt)} cannot be built yet in this version; "
                             f"the kinds built today are {', '.join(KINDS.names())}.")
    return parsed
