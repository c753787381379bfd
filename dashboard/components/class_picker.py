"""Pick a class of the model: "none" first, then the top predictions, then every other class."""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from core.zoo import LoadedModel


def class_picker(label: str, loaded: LoadedModel, first: Sequence[int], key: str, none_label: str,
                 help: str | None = None) -> int | None:
    """A class index of ``loaded`` (None: ``none_label``); the classes in ``first`` are offered first.

    Options are indices, shown as "name (index)": Streamlit compares options by value between reruns.
    """
    first = [int(i) for i in first]
    options: list[int | None] = [None, *first, *(i for i in range(loaded.num_classes) if i not in first)]
    return st.selectbox(label, options, key=key, help=help,
                        format_func=lambda i: none_label if i is None else f"{loaded.label(i)} ({i})")
