"""``inspect_dataset``: the report for a folder, a zip (unpacked to a temporary folder) or a built-in id."""

from __future__ import annotations

import os
import tempfile
from dataclasses import replace
from pathlib import Path

from core.data.archive import ArchiveLimits, extract_zip
from core.data.dataset import probe_source, resolve_source, zip_dataset_id
from core.data.report import MIN_PER_CLASS, DatasetReport, build_report
from core.data.scan import scan_folder


def inspect_dataset(
    source: str | os.PathLike, min_per_class: int = MIN_PER_CLASS, limits: ArchiveLimits | None = None,
    allow_download: bool = False,
) -> DatasetReport:
    """Report on a dataset without keeping anything: a zip is checked in a temporary folder.

    Problems with the data are in ``report.errors`` rather than raised; only a missing path or an
    archive that is unacceptable as a whole raises :class:`~core.errors.DataError`.
    """
    path, kind = probe_source(source)
    if kind == "file":
        with tempfile.TemporaryDirectory(prefix="glasswing-inspect-") as tmp:
            extract_zip(path, Path(tmp) / "dataset", limits, metadata={"id": zip_dataset_id(path), "source": path.name})
            report = build_report(scan_folder(Path(tmp) / "dataset"), min_per_class)
        return replace(report, root=str(path.resolve()))
    return build_report(scan_folder(resolve_source(source, allow_download=allow_download)), min_per_class)
