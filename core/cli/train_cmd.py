"""``python -m core train``: train a classifier into a run folder.

    python -m core train --data shapes --model efficientnet_lite0 --epochs 10 --augment light \\
        [--fine-tune-layers 20] [--out runs/] [--json]

Progress goes to stdout (to stderr with ``--json``, whose stdout is one JSON object holding at least
``run_dir``, ``val_accuracy`` and ``history``). The first Ctrl-C stops the run within a batch (status
``stopped``, exit code 1); a second one interrupts at once. Evaluate the run afterwards by passing
its folder as ``--model`` to the other commands.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
from pathlib import Path

from core.cli import emit_json
from core.cli.common import non_negative_float, positive_int, whole_number
from core.errors import ParameterError
from core.smallfiles import read_small_text
from core.train.config import TrainConfig
from core.train.events import PrintListener

_DEFAULT = TrainConfig(data="-")  # the help texts name the recipe's defaults (docs/recipe.md)

MAX_CONFIG_BYTES = 1024 * 1024  # a training config is well under 10 kB

# CLI flag -> TrainConfig field, for the flags that map one to one.
_FIELDS = {
    "name": "name", "epochs": "epochs", "batch_size": "batch_size", "lr": "learning_rate",
    "fine_tune_layers": "fine_tune_layers", "fine_tune_unit": "fine_tune_unit",
    "fine_tune_epochs": "fine_tune_epochs", "fine_tune_lr": "fine_tune_learning_rate", "augment": "augment",
    "views": "augment_views", "label_smoothing": "label_smoothing", "patience": "early_stopping_patience",
    "dropout": "dropout", "hidden_units": "hidden_units", "val_fraction": "val_fraction",
    "test_fraction": "test_fraction", "image_size": "image_size", "seed": "seed",
}


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a classifier (transfer learning or from scratch) into a run "
                       "folder")
    p.add_argument("--data", help="dataset folder, zip file or built-in id (e.g. shapes)")
    p.add_argument("--model", help="zoo model to fine-tune (default efficientnet_lite0), small_cnn or lenet5 "
                   "to train from scratch, or a run folder to continue from")
    p.add_argument("--config", metavar="FILE", help="a JSON training config (e.g. a run's config.json); "
                   "flags given here override it")
    p.add_argument("--out", metavar="DIR",
                   help="folder that holds run folders (default: GLASSWING_RUNS, runs/)")
    p.add_argument("--name", help="display name of the run")
    p.add_argument("--epochs", type=positive_int("--epochs"),
                   help=f"stage-1 epochs at most (default {_DEFAULT.epochs}; early stopping ends sooner)")
    p.add_argument("--batch-size", type=positive_int("--batch-size"), help="images per batch (default 32)")
    p.add_argument("--lr", type=non_negative_float("--lr", above_zero=True),
                   help=f"stage-1 learning rate (default {_DEFAULT.learning_rate:g})")
    p.add_argument("--fine-tune-layers", type=whole_number("--fine-tune-layers", 0),
                   help="stage 2: unfreeze this many top layers (or blocks); 0 = no stage 2 (default)")
    p.add_argument("--fine-tune-unit", choices=("layers", "blocks"), help="what --fine-tune-layers counts")
    p.add_argument("--fine-tune-epochs", type=positive_int("--fine-tune-epochs"),
                   help="stage-2 epochs (default 5)")
    p.add_argument("--fine-tune-lr", type=non_negative_float("--fine-tune-lr", above_zero=True),
                   help="stage-2 learning rate (default 0.0001)")
    p.add_argument("--augment", metavar="PRESET_OR_FILE",
                   help="augmentation: none, light, strong, or a JSON file of settings")
    p.add_argument("--views", type=positive_int("--views"),
                   help="augmented views precomputed per image on the fast path (default 3)")
    p.add_argument("--no-fast", action="store_true", help="run images through the frozen backbone every "
                   "epoch instead of computing its features once")
    p.add_argument("--label-smoothing", type=non_negative_float("--label-smoothing", 0.99), help="default 0")
    p.add_argument("--no-class-weights", action="store_true", help="do not weigh classes by their frequency")
    p.add_argument("--patience", type=whole_number("--patience", 0),
                   help="early stopping after this many epochs without a lower val loss; 0 = off "
                   f"(default {_DEFAULT.early_stopping_patience})")
    p.add_argument("--dropout", type=non_negative_float("--dropout", 0.95), help="head dropout (default 0.2)")
    p.add_argument("--hidden-units", type=whole_number("--hidden-units", 0),
                   help="hidden Dense layer in the head (default 0: a linear head)")
    p.add_argument("--val-fraction", type=non_negative_float("--val-fraction", above_zero=True), help="default 0.2")
    p.add_argument("--test-fraction", type=non_negative_float("--test-fraction", 0.95), help="default 0")
    p.add_argument("--image-size", type=positive_int("--image-size"),
                   help="input side for from-scratch models")
    p.add_argument("--seed", type=whole_number("--seed", 0),
                   help="seed for weights, order, augmentation and the split (default 0)")
    p.add_argument("--adversarial", metavar="METHOD:EPS[:RATIO]",
                   help="adversarial fine-tuning, e.g. fgsm:4 or pgd:4:0.5 (eps in 0..255 pixel levels)")
    p.add_argument("--export", metavar="FORMATS",
                   help="after training, export: comma-separated keras,savedmodel,tflite-float16,tflite-int8")
    p.add_argument("--queue", metavar="URL", help="submit to the Redis queue at URL (redis://HOST:PORT/DB) and "
                   "wait: a worker (python -m core worker) trains it into its GLASSWING_RUNS")
    p.add_argument("--json", action="store_true", help="print progress to stderr and a JSON result to stdout")
    p.set_defaults(run=run)


def _adversarial(text: str) -> dict:
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0]:
        raise ParameterError(f"--adversarial must look like METHOD:EPS or METHOD:EPS:RATIO, got {text!r}.")
    try:
        numbers = [float(p) for p in parts[1:]]
    except ValueError:
        raise ParameterError(f"--adversarial: eps and ratio must be numbers, got {text!r}.") from None
    return {"method": parts[0], "eps": numbers[0], **({"ratio": numbers[1]} if len(numbers) > 1 else {})}


def build_config(args: argparse.Namespace):
    """The TrainConfig from ``--config`` (if any) and the flags, validated."""
    from core.train.config import TrainConfig

    values: dict = {}
    if args.config:
        path = Path(args.config)
        text = read_small_text(path, MAX_CONFIG_BYTES, "--config")
        try:
            values = json.loads(text)
        except ValueError as exc:
            raise ParameterError(f"--config: {path} is not valid JSON ({exc}).") from None
        except RecursionError:
            raise ParameterError(f"--config: {path} nests its JSON too deeply to be a training config.") from None
        if not isinstance(values, dict):
            raise ParameterError(f"--config: {path} must hold a JSON object of settings, got "
                                 f"{type(values).__name__}.")
    for flag, field_name in _FIELDS.items():
        value = getattr(args, flag)
        if value is not None:
            values[field_name] = value
    for flag in ("data", "model"):
        if getattr(args, flag):
            values[flag] = getattr(args, flag)
    if args.no_fast:
        values["fast_features"] = False
    if args.no_class_weights:
        values["class_weights"] = False
    if args.adversarial:
        values["adversarial"] = _adversarial(args.adversarial)
    if not values.get("data"):
        raise ParameterError("--data is required: a dataset folder, zip file or built-in id such as shapes.")
    return TrainConfig.from_dict(values).validate()


def _export_formats(text: str | None) -> list[str]:
    from core.train.export import FORMATS

    if not text:
        return []
    formats = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ParameterError(f"--export must list some of {', '.join(FORMATS)}, got {text!r}.")
    return formats


class _StopOnInterrupt:
    """The first Ctrl-C sets the stop event (the run ends within a batch); a second one interrupts."""

    def __init__(self, stop_event: threading.Event, stream) -> None:
        self.stop_event, self.stream, self.previous = stop_event, stream, None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame) -> None:
        if self.stop_event.is_set():
            raise KeyboardInterrupt
        self.stop_event.set()
        self.stream.write("Stopping after this batch (Ctrl-C again to interrupt at once)...\n")
        self.stream.flush()

    def __exit__(self, *exc) -> None:
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


def run(args: argparse.Namespace) -> int:
    config = build_config(args)  # before TensorFlow loads: a wrong setting is refused in a blink
    formats = _export_formats(args.export)
    stream = sys.stderr if args.json else sys.stdout
    stop_event = threading.Event()
    if args.queue:
        output = _train_on_queue(config, args, stream, stop_event)
    else:
        from core.train.engine import train

        with _StopOnInterrupt(stop_event, stream):
            output = train(config, runs_root=args.out, owner=None, listener=PrintListener(stream),
                           stop_event=stop_event).to_dict()
    if output["status"] == "complete" and formats:
        from core.train.export import export_run

        stream.write(f"Exporting {', '.join(formats)} ...\n")
        stream.flush()
        output["export"] = export_run(Path(output["run_dir"]), formats, root=args.out)
    if args.json:
        emit_json(output)
    else:
        _print_summary(output)
    return 0 if output["status"] == "complete" else 1


def _train_on_queue(config, args: argparse.Namespace, stream, stop_event: threading.Event) -> dict:
    """Submit to the Redis queue and follow the job's events as a local training prints them; the first
    Ctrl-C asks the worker to stop. The result is the worker's, with ``worker: {host, pid}``."""
    from core.errors import GlasswingError
    from core.jobs import check_queue_url, safe_url
    from core.jobs.redis_queue import RedisQueue

    url = check_queue_url(args.queue, "--queue")
    if args.out:
        raise ParameterError("--out cannot be used with --queue: the worker writes the run into its own runs "
                             "folder (its GLASSWING_RUNS, shared with the dashboards).")
    job = RedisQueue(url).submit(config, owner=None)
    stream.write(f"Queued as {job.id} on {safe_url(url)}.\n")
    printer, seen, asked = PrintListener(stream), 0, False
    with _StopOnInterrupt(stop_event, stream):
        while True:
            done = job.done  # read before the events, so the last ones are printed too
            for event in job.events(seen):
                seen = event["seq"]
                getattr(printer, f"on_{event['kind']}", lambda e: None)(event)
            if done:
                break
            if stop_event.is_set() and not asked:
                job.stop()
                asked = True
            time.sleep(0.25)
    if job.status == "failed":
        raise GlasswingError(f"Training failed on the worker: {job.error}")
    return job.result or {"run_dir": str(job.run_dir), "status": job.status, "worker": job.worker}


def _print_summary(output: dict) -> None:
    print(f"Run folder: {output['run_dir']} ({output['status']})")
    if output["status"] != "complete":
        return
    metrics = output["metrics"]
    print(f"Validation accuracy {metrics['val']['accuracy']:.1%}, loss {metrics['val']['loss']:.4f} "
          f"({metrics['val']['count']} images)")
    if "test" in metrics:
        print(f"Test accuracy {metrics['test']['accuracy']:.1%} ({metrics['test']['count']} images)")
    if "val_adversarial" in metrics:
        adv = metrics["val_adversarial"]
        print(f"Validation accuracy under {adv['method']} at eps {adv['eps']:g}: {adv['accuracy']:.1%}")
    for item in (output.get("export") or {}).get("exports", []):
        print(f"Exported {item['format']}: {item['path']} ({item['bytes'] / 1e6:.1f} MB, top-1 agreement "
              f"{item['top1_agreement']:.1%} on {item['count']} validation images)")
    print(f"Evaluate it with: python -m core evaluate --model {output['run_dir']}")
