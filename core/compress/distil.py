"""Knowledge distillation (Hinton et al., 2015): ``distil:STUDENT`` trains a from-scratch student
(``small_cnn``, ``lenet5``) at the run's input size on the run's training images, against the teacher's
logits computed once, through the training loop (``core.train.loop.fit``) with a distillation step.

    loss = (1 - alpha) * CE(labels, s) + alpha * T^2 * KL(softmax(t / T) || softmax(s / T))

``T^2`` keeps the soft term's gradients on the scale of the hard one's as ``T`` grows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from core.compress.variants import KINDS, VariantSpec
from core.params import Param

BATCH = 32
PARAMS = (
    Param("temperature", float, 4.0, "softens both distributions; 1 is the plain softmax", min=0.0,
          min_inclusive=False, max=100.0),
    Param("alpha", float, 0.7, "weight of the teacher's soft targets against the labels (0: labels only)",
          min=0.0, max=1.0),
    Param("epochs", int, 8, "epochs the student trains for", min=1, max=200),
    Param("learning_rate", float, 2e-3, "the student's initial learning rate (cosine-decayed)", min=0.0,
          min_inclusive=False, max=1.0),
)


def distillation_loss(student_logits: Any, teacher_logits: Any, labels: Any, temperature: float,
                      alpha: float) -> Any:
    """Mean over the batch of ``(1 - alpha) * CE + alpha * T^2 * KL(teacher_T || student_T)``."""
    hard = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=student_logits)
    teacher = tf.nn.softmax(teacher_logits / temperature)
    log_student = tf.nn.log_softmax(student_logits / temperature)
    log_teacher = tf.nn.log_softmax(teacher_logits / temperature)
    soft = tf.reduce_sum(teacher * (log_teacher - log_student), axis=1)
    return tf.reduce_mean((1.0 - alpha) * hard + alpha * temperature ** 2 * soft)


def distil_trainer(student: Any, num_classes: int, total_steps: int, temperature: float, alpha: float,
                   learning_rate: float) -> Any:
    """A :class:`~core.train.loop.Trainer` whose step takes ``((pixels, teacher_logits), labels)``."""
    from core.train.loop import Trainer

    trainer = Trainer(student, num_classes, learning_rate, total_steps)
    x_spec = tf.TensorSpec([None, *student.inputs[0].shape[1:]], tf.float32)
    t_spec = tf.TensorSpec([None, num_classes], tf.float32)

    @tf.function(input_signature=[(x_spec, t_spec), tf.TensorSpec([None], tf.int32)], autograph=False)
    def train_step(inputs, y):
        x, teacher_logits = inputs
        with tf.GradientTape() as tape:
            logits = tf.cast(student(x, training=True), tf.float32)
            loss = distillation_loss(logits, teacher_logits, y, float(temperature), float(alpha))
        trainer.optimizer.apply(tape.gradient(loss, trainer.variables))
        correct = tf.reduce_sum(tf.cast(tf.equal(tf.argmax(logits, axis=1, output_type=tf.int32), y),
                                        tf.float32))
        return loss, correct

    trainer.train_step = train_step
    return trainer


def _build(context: Any, spec: VariantSpec, folder: Path) -> dict[str, Any]:
    import keras

    from core.compiled import logits as teacher_logits_model
    from core.compress.measure import batched
    from core.train.events import Clock, Listener
    from core.train.heads import logits_of
    from core.train.loop import fit
    from core.zoo.files import load_keras_file
    from core.zoo.scratch import BUILDERS

    params = context.distil
    images, labels = context.train_images()
    num_classes = int(context.model.outputs[0].shape[-1])
    teacher = teacher_logits_model(context.model)
    teacher_logits = batched(lambda x: teacher([x], training=False), images).astype(np.float32)  # once

    keras.utils.set_random_seed(0)
    student = BUILDERS[spec.student](num_classes=num_classes, input_size=tuple(context.size))
    steps = -(-len(images) // BATCH)
    trainer = distil_trainer(logits_of(student), num_classes, steps * params["epochs"], params["temperature"],
                             params["alpha"], params["learning_rate"])
    order = np.random.default_rng(0)

    def batches(epoch: int):
        shuffled = order.permutation(len(images))
        for i in range(0, len(images), BATCH):
            pick = shuffled[i:i + BATCH]
            yield (images[pick].astype(np.float32), teacher_logits[pick]), labels[pick].astype(np.int32)

    fit(trainer, batches, steps, None, params["epochs"], 0, f"distil {spec.student}", Clock(), Listener(),
        context.stop_event)
    target = folder / "model.keras"
    student.save(target)
    return {"format": "keras", "file": target, "keras": load_keras_file(target),
            "distil": {**params, "student": spec.student}}


KINDS.register("distil")(_build)
