"""Training on several processes or machines: ``tf.distribute.MultiWorkerMirroredStrategy``.

The cluster comes from the standard ``TF_CONFIG`` environment variable, which wins when set,
or from ``--workers HOST:PORT,HOST:PORT --worker-index I``, which litelab turns into
``TF_CONFIG``. Every worker runs the same command with its own index; worker 0 (or the task
of type ``chief``) is the chief. Each step, every worker takes its share of the global batch
(``--batch-size`` is the global batch) and the gradients are summed over all of them, so two
workers give the same model as one process on the same global batch. The chief writes the
run folder and checkpoints; the others write into a temporary folder that is removed when
they end. At the start the chief's weights (and, when resuming, its checkpoint's epoch and
optimizer state) are broadcast, so only the chief needs the run folder.

Keras 3.15 with the TensorFlow backend does not run ``Model.fit`` under this strategy as it
is (keras-team/keras#20585, tensorflow/tensorflow#72388). Two steps of its TensorFlow trainer
fail, and :func:`prepare_model` works around each:

1. ``fit`` builds the model from its first input batch, reduced with ``strategy.reduce``;
   the collective reduce cannot take a tuple of per-replica values ("Attempt to convert a
   value (PerReplica ...) to a Tensor"). The model and optimizer are built inside the
   strategy scope before ``fit``, and the model's remembered strategy is cleared
   (``model._distribute_strategy = None``, the one private Keras attribute litelab
   touches), so that Keras takes the strategy from the enclosing scope and skips that step.
2. Each step's scalar logs are reduced over workers with ``axis=0`` ("Invalid reduction
   dimension 0 for input with 0 dimensions"). The train and test steps return each log as
   a one-element vector, which that reduction averages.

What works then: ``fit`` with callbacks (checkpoints, TensorBoard, early stopping),
validation, ``predict`` and saving. Evaluation runs on the chief alone, after training.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from functools import cache
from typing import Any

from litelab.errors import LitelabError

ENV = "TF_CONFIG"


@dataclass(frozen=True)
class Cluster:
    """The workers' addresses (a ``chief`` task of TF_CONFIG first) and this process's index
    among them; index 0 is the chief."""

    workers: tuple[str, ...]
    index: int
    from_env: bool = False

    @property
    def is_chief(self) -> bool:
        return self.index == 0

    @property
    def size(self) -> int:
        return len(self.workers)

    @property
    def address(self) -> str:
        return self.workers[self.index]


def parse_workers(text: str) -> tuple[str, ...]:
    """``host:port,host:port`` -> the addresses, checked, or a one-line error."""
    workers = tuple(w.strip() for w in text.split(",") if w.strip())
    for w in workers:
        host, sep, port = w.rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise LitelabError(f"--workers must be HOST:PORT,HOST:PORT,..., got {w!r}")
    if len(set(workers)) != len(workers):
        raise LitelabError(f"--workers lists an address twice: {text}")
    if not workers:
        raise LitelabError("--workers is empty; give HOST:PORT,HOST:PORT,...")
    return workers


def configure(workers: str | None = None, index: int | None = None) -> Cluster:
    """The cluster of this process: ``TF_CONFIG`` if set (it wins), else the flags, which
    are written into ``TF_CONFIG`` for TensorFlow to read."""
    if os.environ.get(ENV):
        return _from_tf_config(os.environ[ENV])
    if workers is None:
        raise LitelabError(
            "--strategy multiworker needs --workers HOST:PORT,HOST:PORT,... and "
            "--worker-index I (or the TF_CONFIG environment variable)"
        )
    addresses = parse_workers(workers)
    if index is None:
        raise LitelabError("--workers needs --worker-index I (0 is the chief)")
    if not 0 <= index < len(addresses):
        raise LitelabError(
            f"--worker-index must be 0..{len(addresses) - 1} for {len(addresses)} workers, "
            f"got {index}"
        )
    os.environ[ENV] = json.dumps(
        {"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": index}}
    )
    return Cluster(addresses, index)


def _from_tf_config(text: str) -> Cluster:
    try:
        spec = json.loads(text)
        cluster, task = spec["cluster"], spec["task"]
        kind, index = str(task["type"]), int(task["index"])
        chiefs = [str(a) for a in cluster.get("chief", [])]
        workers = tuple(chiefs + [str(a) for a in cluster.get("worker", [])])
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise LitelabError(f"{ENV} is not a valid cluster spec: {exc}") from None
    if kind not in ("worker", "chief"):
        raise LitelabError(f"{ENV} task type {kind!r} cannot train; use worker or chief")
    position = index if kind == "chief" else len(chiefs) + index
    if not 0 <= position < len(workers):
        raise LitelabError(f"{ENV} task index {index} is outside its {kind} list")
    return Cluster(workers, position, from_env=True)


@cache
def strategy() -> Any:
    """The process's one MultiWorkerMirroredStrategy (TensorFlow allows one per process);
    it waits until every worker of ``TF_CONFIG`` has started."""
    import tensorflow as tf

    return tf.distribute.MultiWorkerMirroredStrategy()


def prepare_model(model: Any) -> Any:
    """Make a model built under :func:`strategy` trainable by Keras 3's ``fit`` (the two
    workarounds of the module docstring); ``fit`` must then run inside the scope."""
    import tensorflow as tf

    if model.optimizer is not None:
        model.optimizer.build(model.trainable_variables)
    model._distribute_strategy = None  # Keras then reads the strategy from the scope

    def vector_logs(step: Any) -> Any:
        def wrapped(data: Any) -> dict[str, Any]:
            return {k: tf.reshape(v, [1]) for k, v in step(data).items()}

        return wrapped

    model.train_step = vector_logs(model.train_step)
    model.test_step = vector_logs(model.test_step)
    return model


def start(model: Any, saved: Any, epochs_done: int) -> int:
    """Ready a model built and compiled under :func:`strategy` on every worker: apply the
    Keras workarounds, take the weights and optimizer state of ``saved`` (the chief's
    checkpoint, loaded outside the strategy, when resuming; None elsewhere) and give every
    worker the chief's weights, optimizer state and epoch. Returns that epoch."""
    cluster = configure()
    prepare_model(model)
    variables = list(model.weights) + list(model.optimizer.variables)
    if saved is not None:
        values = list(saved.weights) + list(saved.optimizer.variables)
        if [tuple(v.shape) for v in values] != [tuple(v.shape) for v in variables]:
            raise LitelabError("the checkpoint does not match the model this config builds")
        for var, value in zip(variables, values, strict=True):
            var.assign(value.numpy())
    epoch = _from_chief([epochs_done], cluster.is_chief, "int64")[0]
    for var, value in zip(variables, _from_chief(variables, cluster.is_chief), strict=True):
        var.assign(value)
    return int(epoch)


def _from_chief(values: list[Any], is_chief: bool, dtype: str | None = None) -> list[Any]:
    """The chief's ``values`` on every worker: a sum over workers where only the chief
    contributes (one collective all-reduce per value)."""
    import tensorflow as tf

    strat = strategy()
    tensors = [tf.convert_to_tensor(v, dtype=dtype) for v in values]
    tensors = [t if is_chief else tf.zeros_like(t) for t in tensors]

    @tf.function
    def reduce() -> Any:
        ctx = tf.distribute.get_replica_context
        return strat.run(lambda: [ctx().all_reduce(tf.distribute.ReduceOp.SUM, t) for t in tensors])

    return [strat.experimental_local_results(r)[0] for r in reduce()]


def batch_share(index: Any, first: int, count: int) -> Any:
    """From a dataset of global batches of indices, slice ``first`` of ``count`` equal
    parts of each (the last part takes the remainder)."""
    import tensorflow as tf

    def part(batch: Any) -> Any:
        n = tf.shape(batch)[0]
        return batch[n * first // count : n * (first + 1) // count]

    return index.map(part)


def datasets(make: Any, data: Any, cfg: Any, one_hot: int | None) -> tuple[Any, Any]:
    """The training and validation pipelines as distributed datasets: each worker builds
    ``make`` (litelab.train.make_dataset) over the whole arrays, shuffled with the same seed,
    and keeps its share of every global batch of ``cfg.batch_size`` images.

    tf.distribute's automatic sharding of ``make``'s pipeline left iterators that hung when
    ``fit`` ended (TF 2.21); building each worker's share here avoids it and keeps the
    global batch exactly what one process would see.
    """
    strat = strategy()

    def pipelines(x: Any, y: Any, train: bool) -> Any:
        def build(ctx: Any) -> Any:
            per_pipeline = strat.num_replicas_in_sync // ctx.num_input_pipelines
            if per_pipeline != 1:
                raise LitelabError(
                    "--strategy multiworker runs one replica per worker; give a machine with "
                    "several GPUs one worker per GPU"
                )
            share = (ctx.input_pipeline_id, ctx.num_input_pipelines)
            return make(
                x,
                y,
                cfg.batch_size,
                shuffle=train,
                seed=cfg.seed,
                augment=cfg.augment if train else (),
                repeat=train,
                one_hot=one_hot,
                share=share,
            )

        return strat.distribute_datasets_from_function(build)

    val = pipelines(data.x_val, data.y_val, False) if len(data.x_val) else None
    return pipelines(data.x_train, data.y_train, True), val


def scratch_dir() -> str:
    """A temporary folder for a non-chief worker's files; :func:`drop_scratch` removes it."""
    return tempfile.mkdtemp(prefix="litelab-worker-")


def drop_scratch(path: str | os.PathLike[str]) -> None:
    shutil.rmtree(path, ignore_errors=True)


def is_peer_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is TensorFlow saying a worker stopped answering."""
    import tensorflow as tf

    return isinstance(
        exc, tf.errors.UnavailableError | tf.errors.DeadlineExceededError | tf.errors.AbortedError
    ) or (isinstance(exc, tf.errors.OpError) and "ollective" in str(exc))


def peer_failure_error(cluster: Cluster, epochs_done: int | None) -> LitelabError:
    """The one line for a worker that died: the job stopped, and how to continue
    (``epochs_done``: the chief's checkpoint; None on the other workers, which have none)."""
    if epochs_done is None:
        where = "the chief's last checkpoint"
    else:
        where = f"the last checkpoint (epoch {epochs_done})" if epochs_done else "the start"
    return LitelabError(
        f"a worker of the cluster {','.join(cluster.workers)} stopped answering; training "
        f"stopped on worker {cluster.index} ({cluster.address}). Start every worker again "
        f"with the same command to resume from {where}"
    )
