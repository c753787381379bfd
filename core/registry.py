"""One registry mechanism for models, explanation methods, attacks and defences (in the spirit of timm's
``register_model`` / ``create_model`` / ``list_models``).

    ATTACKS = Registry("attack")

    @ATTACKS.register("fgsm")
    class FGSM(Attack): ...

    ATTACKS.get("fgsm")             # the class; an unknown name raises UnknownNameError listing the known ones
    ATTACKS.names("p*")             # ["pgd"], in registration order
    ATTACKS.create("pgd", eps=4)    # an instance (``factory(entry, **params)``; default: ``entry(**params)``)

Every picker and form reads a registry, so adding an entry never touches UI code.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar

from core.errors import unknown_name

T = TypeVar("T")


class Registry(Generic[T]):
    """Entries by name, in registration order."""

    def __init__(self, kind: str, factory: Callable[..., Any] | None = None) -> None:
        self.kind = kind  # "model", "attack": said in errors
        self._factory = factory
        self._entries: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``register(name)(entry)`` adds ``entry`` under ``name`` and returns it.

        A name registered twice is a bug, unless it is the same entry again (its module reloaded)."""
        def add(entry: T) -> T:
            if not isinstance(name, str) or not name:
                raise ValueError(f"A {self.kind} needs a name, got {name!r}.")
            existing = self._entries.get(name)
            if existing is not None and not _same(existing, entry):
                raise ValueError(f"The {self.kind} {name!r} is already registered ({existing!r}).")
            self._entries[name] = entry
            return entry
        return add

    def unregister(self, name: str) -> None:
        """Remove ``name`` if present (a test's or a plugin's temporary entry)."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        """The entry registered as ``name``; an unknown name raises UnknownNameError listing the known ones."""
        if not isinstance(name, str) or name not in self._entries:
            raise unknown_name(self.kind, str(name), list(self._entries))
        return self._entries[name]

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching the shell-style ``pattern`` (``"efficientnet*"``), in registration order."""
        return [n for n in self._entries if fnmatch.fnmatchcase(n, pattern)]

    def entries(self, pattern: str = "*") -> list[T]:
        """The entries whose names match ``pattern``, in registration order."""
        return [self._entries[n] for n in self.names(pattern)]

    def create(self, name: str, **params: Any) -> Any:
        """A ready object from the entry ``name``: ``factory(entry, **params)``, by default ``entry(**params)``."""
        entry = self.get(name)
        return self._factory(entry, **params) if self._factory else entry(**params)  # type: ignore[operator]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._entries))

    def __len__(self) -> int:
        return len(self._entries)


def _same(a: Any, b: Any) -> bool:
    """The same entry, or the same class (or a stateless instance of it) made again by a reloaded module.

    Data entries (a model's spec) registered twice under one name are always a bug."""
    if a is b:
        return True
    if any(hasattr(x, "__dataclass_fields__") and not isinstance(x, type) for x in (a, b)):
        return False
    ka, kb = (x if isinstance(x, type) else type(x) for x in (a, b))
    return (ka.__module__, ka.__qualname__) == (kb.__module__, kb.__qualname__)
