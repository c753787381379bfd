"""The compression lab: quantised (and, later, pruned and distilled) variants of a run, each measured
against the original (size stored and deflated, latency per image, accuracy, top-1 agreement).

    from core.compress import compress_run
    compress_run("RUN", "float16,int8,int8-full")
"""

from core.compress import distil, prune, quantise  # noqa: F401 - register their kinds
from core.compress.lab import VARIANTS_DIR, compress_run, list_variants, read_original
from core.compress.variants import KINDS, VariantSpec, parse_variants

__all__ = ["KINDS", "VARIANTS_DIR", "VariantSpec", "compress_run", "list_variants", "parse_variants",
           "read_original"]
