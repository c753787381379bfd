"""Walking a functional Keras graph: which tensors feed a layer, and who produced a tensor.

Keras 3 keeps the graph in each tensor's ``_keras_history`` (operation, node index, tensor index)
and each operation's ``_inbound_nodes``; ``model.summary()`` reads the same attributes. They are
private, so every use is in this one small module.
"""

from __future__ import annotations

from typing import Any

import keras


def producer(tensor: Any) -> tuple[Any, Any] | None:
    """``(operation, node)`` that produced a symbolic tensor, or ``None`` for a graph input."""
    history = getattr(tensor, "_keras_history", None)
    if history is None:
        return None
    op, node_index = history.operation, history.node_index
    node = op._inbound_nodes[node_index]
    if not node.input_tensors:  # an InputLayer's node
        return None
    return op, node


def node_inputs(node: Any) -> list[Any]:
    """The symbolic tensors a node consumes, flattened."""
    return list(node.input_tensors)


def node_outputs(node: Any) -> list[Any]:
    return list(node.output_tensors)


def first_node(layer: keras.layers.Layer) -> Any | None:
    """The node created when the layer was first called (the one in the model it was built for)."""
    nodes = getattr(layer, "_inbound_nodes", None) or []
    return nodes[0] if nodes else None


def inbound_layer_names(layer: keras.layers.Layer) -> tuple[str, ...]:
    """Names of the operations whose outputs feed ``layer`` (its first call), in argument order."""
    node = first_node(layer)
    if node is None:
        return ()
    names = []
    for tensor in node_inputs(node):
        history = getattr(tensor, "_keras_history", None)
        if history is not None and history.operation is not layer:
            names.append(history.operation.name)
    return tuple(names)


def output_tensor(layer: keras.layers.Layer) -> Any | None:
    """The first output tensor of the layer's first call, or ``None`` when it was never called."""
    node = first_node(layer)
    if node is None:
        return None
    outputs = node_outputs(node)
    return outputs[0] if outputs else None


def topological_tensors(start: Any, stop: set[int] | None = None) -> list[Any]:
    """Every tensor ``start`` depends on (itself included), producers before consumers.

    ``stop`` holds ids of tensors not to walk past (the inputs of a nested model's graph).
    """
    order: list[Any] = []
    seen: set[int] = set()
    stack: list[tuple[Any, bool]] = [(start, False)]
    while stack:  # iterative post-order DFS: deep networks would overflow recursion
        tensor, expanded = stack.pop()
        if expanded:
            order.append(tensor)
            continue
        if id(tensor) in seen:
            continue
        seen.add(id(tensor))
        stack.append((tensor, True))
        made = None if stop and id(tensor) in stop else producer(tensor)
        if made is not None:
            for parent in reversed(node_inputs(made[1])):
                if id(parent) not in seen:
                    stack.append((parent, False))
    return order
