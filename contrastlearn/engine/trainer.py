"""The training loop every method and modality shares, on Lightning Fabric.

views -> method (encoder, head, objective) -> loss -> optimizer step -> EMA/queue hooks, with a
warmup+cosine learning rate, gradient clipping, a NaN guard, metrics.jsonl, a progress bar and
atomic checkpoints that resume exactly (weights, optimizer, RNG states, data position).

On several processes (DDP) `batch_size` is the global batch: every rank walks the same seeded
order and takes its share of each batch, gradients are averaged by DDP, objectives gather
what they contrast against, the logged loss is the global batch's, and only rank 0 writes.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import signal
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset
from tqdm.auto import tqdm

from contrastlearn.augment.curriculum import Schedule, check_schedule
from contrastlearn.augment.views import Views
from contrastlearn.config import TrainConfig
from contrastlearn.core.atomic import atomic_write
from contrastlearn.core.distributed import average_gradients
from contrastlearn.core.schedule import warmup_cosine
from contrastlearn.data.arrays import ArrayDataset
from contrastlearn.diagnostics import (
    collapse_warning,
    embedding_diagnostics,
    histogram_steps,
    similarity_histogram,
)
from contrastlearn.engine.averaging import WeightAverage
from contrastlearn.engine.batches import Batch, iterate_batches, sample_order
from contrastlearn.engine.checkpoint import (
    PREVIOUS_NAME,
    load_checkpoint,
    non_finite_entries,
    save_checkpoint,
)
from contrastlearn.engine.forgetting import build_forgetting_guard, check_guard_options
from contrastlearn.engine.grad_cache import cached_backward
from contrastlearn.engine.launch import (
    batch_norm_layers,
    check_global_batch,
    launch_fabric,
    with_sync_batchnorm,
)
from contrastlearn.engine.optim import build_optimizer
from contrastlearn.engine.sam import sharpness_aware_gradients
from contrastlearn.engine.sharding import (
    OPTIMIZER_BY_NAME,
    check_shardable,
    full_model_state,
    full_optimizer_state,
    load_full_model_state,
    load_full_optimizer_state,
    optimizer_state_by_name,
    uses_fsdp,
)
from contrastlearn.methods.base import Method
from contrastlearn.objectives.base import LossOutput

CHECKPOINT_NAME = "last.ckpt"
TRAINING_SUMMARY_NAME = "training.json"


class TrainingDiverged(RuntimeError):
    """The loss or the gradients became NaN/Inf; the last good checkpoint is kept."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) stopped training at a step boundary, after a checkpoint was written."""

    def __init__(self, message: str, step: int) -> None:
        super().__init__(message)
        self.step = step


@contextlib.contextmanager
def stop_request(enabled: bool) -> Iterator[Callable[[], bool]]:
    """While training in the main thread of one process: the first Ctrl-C asks for a stop at
    the next step boundary (so the checkpoint is exact), a second one stops at once."""
    requested = False

    def handler(signum, frame) -> None:
        nonlocal requested
        if requested:
            raise KeyboardInterrupt
        requested = True

    if not enabled or threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: requested
    finally:
        signal.signal(signal.SIGINT, previous)


@dataclass
class _Loop:
    """One `fit` call's fixed plan and running counters."""

    data: Any
    batch_size: int
    micro_batch: int
    total_steps: int
    last_step: int
    steps_per_epoch: int
    warmup_steps: int
    histogram_at: set
    started: float
    loss_value: float = math.nan
    samples_seen: int = 0
    history: list[dict] = field(default_factory=list)


@dataclass
class TrainState:
    """Where training stands: the next step to run and its position in the data."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    batch_size: int | None = None
    num_samples: int | None = None


@dataclass
class TrainSummary:
    steps: int
    epochs_completed: int
    seconds: float
    final_loss: float
    samples_per_second: float
    history: list[dict] = field(default_factory=list)
    planned_steps: int = 0
    status: str = "completed"
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """JSON-ready summary without the history (that lives in metrics.jsonl)."""
        return {"steps": self.steps, "planned_steps": self.planned_steps,
                "epochs_completed": self.epochs_completed, "seconds": self.seconds,
                "final_loss": self.final_loss, "samples_per_second": self.samples_per_second,
                "status": self.status, "warnings": self.warnings}


def gradient_cache_parts(method: Method) -> tuple:
    """The method's (embed, loss) for gradient caching, or a clear error when caching would not
    give the full batch's gradients."""
    parts = method.gradient_cache_parts()
    if parts is None:
        raise ValueError(f"{type(method).__name__} does not support gradient caching "
                         "(train.gradient_cache_chunk): its loss is not a function of per-sample "
                         "embeddings alone; methods that support it: simclr, simcse")
    batch_norms = batch_norm_layers(method)
    if batch_norms:
        raise ValueError(f"gradient caching would change the gradients of {batch_norms[0]} (and "
                         f"{len(batch_norms) - 1} more BatchNorm layers): each chunk would be "
                         "normalised by its own statistics; use a model without BatchNorm or "
                         "drop train.gradient_cache_chunk")
    return parts


def check_accumulation(method: Method, accumulate_batches: int) -> None:
    """A clear error unless splitting each batch into `accumulate_batches` micro-batches gives
    the full batch's gradients."""
    if accumulate_batches == 1:
        return
    name = type(method).__name__
    if not method.per_sample_loss:
        raise ValueError(
            f"train.accumulate_batches would change {name}'s loss: its negatives or statistics "
            "come from the whole batch, and each micro-batch would only see its own share. "
            "For a large batch in small memory use train.gradient_cache_chunk (simclr, simcse); "
            "accumulation is exact for per-sample losses (byol with batch_norm: false)")
    batch_norms = batch_norm_layers(method)
    if batch_norms:
        raise ValueError(
            f"train.accumulate_batches would change the gradients of {batch_norms[0]} (and "
            f"{len(batch_norms) - 1} more BatchNorm layers): each micro-batch would be normalised "
            "by its own statistics; use a model without BatchNorm (byol: batch_norm: false)")


def check_sharpness_aware(config: TrainConfig) -> None:
    """SAM recomputes a batch's gradients from its views in one piece: refuse the options
    that split a batch."""
    if not config.sam_rho:
        return
    for option, used in (("train.gradient_cache_chunk", bool(config.gradient_cache_chunk)),
                         ("train.accumulate_batches", config.accumulate_batches > 1)):
        if used:
            raise ValueError(f"train.sam_rho cannot be combined with {option}: SAM recomputes "
                             "each batch's gradients in one piece; drop one of them")


def _scalar(value) -> float:
    return float(value.detach()) if isinstance(value, Tensor) else float(value)


class Trainer:
    """Runs a method on data with views made on the model's device."""

    def __init__(
        self, method: Method, views: Views, config: TrainConfig, *, seed: int = 0,
        run_dir: Path | None = None, progress: bool = True,
        epoch_callback: Callable[[Method], dict[str, float]] | None = None,
        fabric: Any = None, batch_sampler: Any = None,
        strength_schedule: Schedule | None = None,
    ) -> None:
        self.config = config
        # which items share a batch (contrastlearn.engine.samplers), the views' strength by step
        self.batch_sampler, self.strength_schedule = batch_sampler, strength_schedule
        self.seed = seed
        self.views = views
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.fabric = launch_fabric(config) if fabric is None else fabric
        self.progress = progress and self.fabric.is_global_zero
        self.epoch_callback = epoch_callback
        check_sharpness_aware(config)
        check_guard_options(config)
        check_accumulation(method, config.accumulate_batches)
        if config.sync_batchnorm:
            method = with_sync_batchnorm(method, self.fabric.world_size, self.fabric.device)
        self.method = method
        self.sharded = uses_fsdp(self.fabric)
        self._whole_copy = None
        if self.sharded:
            check_shardable(config, method)
            # an unsharded twin for export and evaluation, weightless until training ends
            self._whole_copy = copy.deepcopy(method).to("meta")
        # the optimizer is built after setup: FSDP replaces the parameters with shards
        self.model = self.fabric.setup_module(method)
        self.optimizer = self.fabric.setup_optimizers(build_optimizer(
            method, config.optimizer, config.lr, config.weight_decay, config.momentum))
        self.view_generator = torch.Generator(device=self.fabric.device)
        self.view_generator.manual_seed(seed + 1 + self.fabric.global_rank)
        self.state = TrainState()
        self.weight_average = WeightAverage(method.encoder) if config.average_weights else None
        # the guard's reference is taken after setup, once DDP has made every rank's weights equal
        self.forgetting_guard = build_forgetting_guard(config.forgetting_guard, method.encoder,
                                                       sharded=self.sharded)
        if self.forgetting_guard is not None:
            self.forgetting_guard.to(self.device)
        self.gradient_cache = (gradient_cache_parts(method) if config.gradient_cache_chunk
                               else None)
        self.warnings: list[str] = []
        self.planned_steps = 0
        self._last_inputs: tuple | None = None

    @property
    def device(self) -> torch.device:
        return self.fabric.device

    @property
    def checkpoint_path(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "checkpoints" / CHECKPOINT_NAME

    # -- checkpoints -------------------------------------------------------------------------
    def _rng_state(self) -> dict:
        rng = {"torch": torch.get_rng_state(), "views": self.view_generator.get_state().cpu()}
        if torch.cuda.is_available():
            rng["cuda"] = torch.cuda.get_rng_state_all()
        return rng

    def state_dict(self) -> dict:
        """Everything a resume needs; `rng` holds every process's random states, by rank."""
        rng = self._rng_state()
        rng_by_rank = [rng]
        if self.fabric.world_size > 1:
            rng_by_rank = [None] * self.fabric.world_size
            torch.distributed.all_gather_object(rng_by_rank, rng)
        average = None if self.weight_average is None else self.weight_average.state_dict()
        if self.sharded:  # whole tensors gathered from the shards, in one process's layout
            optimizer = {"optimizer": full_optimizer_state(self.method, self.optimizer.optimizer),
                         "optimizer_keys": OPTIMIZER_BY_NAME}
            method = full_model_state(self.method)
        else:
            optimizer = {"optimizer": self.optimizer.state_dict()}
            method = self.method.state_dict()
        return {
            "method": method,
            **optimizer,
            "train_state": vars(self.state).copy(),
            "rng": rng_by_rank,
            "seed": self.seed,
            **({} if average is None else {"weight_average": average}),
            **({} if self.batch_sampler is None
               else {"batch_sampler": self.batch_sampler.state_dict()}),
            **({} if self.forgetting_guard is None
               else {"forgetting_guard": self.forgetting_guard.state_dict()}),
        }

    def save(self) -> None:
        """Checkpoint, unless any tensor of the state (weights, buffers such as BatchNorm's
        running variance, optimizer moments) is NaN/Inf: then the last good checkpoint (and
        the one before it, previous.ckpt) stay, and training stops as diverged."""
        if self.checkpoint_path is None:
            return
        state = self.state_dict()  # every rank takes part in gathering the random states
        bad = non_finite_entries(state)
        flagged = torch.tensor(float(bool(bad)), device=self.device)
        if self.fabric.world_size > 1:
            flagged = self.fabric.all_reduce(flagged, reduce_op="sum")
        if float(flagged) > 0:
            what = f"training state ({', '.join(bad[:3]) or 'on another rank'})"
            self._diverged(what, math.nan, self.state.step)
        if self.fabric.is_global_zero:
            save_checkpoint(self.checkpoint_path, state)
        self._write_summary({"status": "running", "steps": self.state.step,
                             "planned_steps": self.planned_steps, "pid": os.getpid()})
        self.fabric.barrier()

    def resume(self, which: str = "last") -> None:
        """Restore everything from the run directory's last checkpoint (`which="previous"`:
        the one before it)."""
        if self.checkpoint_path is None:
            raise FileNotFoundError("resume needs a run directory")
        path = (self.checkpoint_path if which == "last"
                else self.checkpoint_path.with_name(PREVIOUS_NAME))
        if not path.is_file():
            raise FileNotFoundError(f"no checkpoint {path.name} to resume from in "
                                    f"{self.run_dir}")
        state = load_checkpoint(path)
        if self.sharded:
            load_full_model_state(self.method, state["method"])
        else:
            self.method.load_state_dict(state["method"])
        optimizer = self.optimizer.optimizer
        if state.get("optimizer_keys") == OPTIMIZER_BY_NAME:  # written by an FSDP run
            load_full_optimizer_state(self.method, optimizer, state["optimizer"])
        elif self.sharded:  # written without fsdp: keyed by position
            load_full_optimizer_state(self.method, optimizer, optimizer_state_by_name(
                state["optimizer"], self.method, optimizer))
        else:
            self.optimizer.load_state_dict(state["optimizer"])
        self.state = TrainState(**state["train_state"])
        if self.weight_average is not None:
            if "weight_average" not in state:
                raise ValueError("the checkpoint has no weight average; resume it with "
                                 "train.average_weights: false")
            self.weight_average.load_state_dict(state["weight_average"])
        if self.batch_sampler is not None:
            if "batch_sampler" not in state:
                raise ValueError("the checkpoint has no batch sampler state (pseudo-labels); "
                                 "resume it without train.batch_sampler")
            self.batch_sampler.load_state_dict(state["batch_sampler"])
        if self.forgetting_guard is not None:
            if "forgetting_guard" not in state:
                raise ValueError("the checkpoint has no forgetting guard; resume it without "
                                 "train.forgetting_guard")
            self.forgetting_guard.load_state_dict(state["forgetting_guard"])
        self._restore_rng(state["rng"])
        if self.fabric.is_global_zero:
            self._truncate_metrics(self.state.step)
            print(f"resuming from step {self.state.step} ({path})", file=sys.stderr, flush=True)
        self.fabric.barrier()

    def _restore_rng(self, rng_by_rank: list[dict] | dict) -> None:
        """This rank's random states; resumed on another number of processes, the data
        position is still exact but the views and dropout draw new numbers (a warning)."""
        rng_by_rank = [rng_by_rank] if isinstance(rng_by_rank, dict) else rng_by_rank
        if len(rng_by_rank) != self.fabric.world_size:
            message = (f"resumed on {self.fabric.world_size} process(es) from a checkpoint of "
                       f"{len(rng_by_rank)}: the data order continues exactly, the random views "
                       "do not")
            self.warnings.append(message)
            warnings.warn(message, RuntimeWarning, stacklevel=3)
            return
        rng = rng_by_rank[self.fabric.global_rank]
        torch.set_rng_state(rng["torch"])
        self.view_generator.set_state(rng["views"])  # CPU byte tensor on any device
        if "cuda" in rng and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(rng["cuda"])

    # -- metrics -----------------------------------------------------------------------------
    def _metrics_file(self) -> Path | None:
        return None if self.run_dir is None else self.run_dir / "metrics.jsonl"

    def _truncate_metrics(self, step: int) -> None:
        """Drop lines logged after the checkpoint a resumed run restarts from."""
        path = self._metrics_file()
        if path is None or not path.exists():
            return
        kept = []
        for line in path.read_text().splitlines():
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by the crash
                continue
            if record.get("step", 0) <= step:
                kept.append(line)
        atomic_write(path, "".join(line + "\n" for line in kept).encode())

    def _log(self, record: dict) -> None:
        path = self._metrics_file()
        if path is not None and self.fabric.is_global_zero:
            with path.open("a") as handle:
                handle.write(json.dumps(record) + "\n")

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, data: ArrayDataset | Dataset) -> TrainSummary:
        config = self.config
        batch_size = min(config.batch_size, len(data))
        if batch_size < 2:
            raise ValueError(f"need at least 2 training samples, got {len(data)}")
        world_size = self.fabric.world_size
        micro_batch = check_global_batch(batch_size, world_size, config.accumulate_batches)
        self._check_same_data(batch_size, len(data))
        steps_per_epoch = len(data) // batch_size
        total_steps = config.steps or config.epochs * steps_per_epoch
        last_step = min(total_steps, config.max_steps or total_steps)
        self.planned_steps = total_steps
        loop = _Loop(
            data=data, batch_size=batch_size, micro_batch=micro_batch, total_steps=total_steps,
            last_step=last_step, steps_per_epoch=steps_per_epoch,
            warmup_steps=round(config.warmup_epochs * steps_per_epoch),
            histogram_at=histogram_steps(last_step,
                                         config.histograms if config.diagnostics else 0),
            started=time.perf_counter())
        self.method.prepare(data, self.device)  # part of the training time
        self._prepare_batches_and_strength(data, total_steps)
        bar = tqdm(total=last_step, initial=self.state.step, disable=not self.progress,
                   desc="pretrain", unit="step", dynamic_ncols=True)
        self._write_summary({"status": "running", "steps": self.state.step,
                             "planned_steps": total_steps, "pid": os.getpid()})
        self.model.train()
        try:
            with stop_request(enabled=world_size == 1) as stop_requested:
                self._run_steps(loop, bar, stop_requested)
        finally:
            bar.close()
            if self.strength_schedule is not None:
                self.views.set_strength(1.0)  # evaluation sees the recipe's views
        if self.weight_average is not None:
            self.weight_average.apply()
        if self.sharded:
            self._unshard()
        seconds = time.perf_counter() - loop.started
        summary = TrainSummary(
            self.state.step, self.state.epoch, seconds, loop.loss_value,
            loop.samples_seen / max(seconds, 1e-9), loop.history, planned_steps=total_steps,
            status="completed" if self.state.step >= total_steps else "stopped_early",
            warnings=list(self.warnings),
        )
        self._write_summary(summary.to_dict())
        return summary

    def _run_steps(self, loop: _Loop, bar, stop_requested: Callable[[], bool]) -> None:
        """The steps from the current state to `loop.last_step`, with checkpoints on the
        configured cadence and at the end; after a Ctrl-C, a checkpoint at the next step
        boundary and TrainingInterrupted."""
        config, data = self.config, loop.data
        world_size, rank = self.fabric.world_size, self.fabric.global_rank
        count_tokens = getattr(data, "count_tokens", None)  # token data: show tokens/s too
        tokens_seen = 0
        last_save = loop.started
        while self.state.step < loop.last_step:
            order = sample_order(data, loop.batch_size, self.seed, self.state.epoch,
                                 self.batch_sampler)
            for batch in iterate_batches(data, order, loop.batch_size, self.state.batch_in_epoch,
                                         config.num_workers, self.seed + self.state.epoch,
                                         shard=(rank, world_size)):
                step = self.state.step
                lr = warmup_cosine(step, loop.total_steps, loop.warmup_steps, config.lr,
                                   config.min_lr_ratio)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr * group.get("lr_scale", 1.0)
                if self.strength_schedule is not None:
                    self.views.set_strength(self.strength_schedule(step, loop.total_steps))
                output, output_ids, loop.loss_value = self._batch_gradients(batch,
                                                                            loop.micro_batch)
                if not math.isfinite(loop.loss_value):
                    self._diverged("loss", loop.loss_value, step)
                if config.sam_rho:
                    sharpness_aware_gradients(self.method, config.sam_rho, self._recompute)
                self.method.before_optimizer_step()
                grad_norm = self.fabric.clip_gradients(
                    self.model, self.optimizer, max_norm=config.gradient_clip or math.inf,
                    error_if_nonfinite=False,
                )
                if not math.isfinite(_scalar(grad_norm)):
                    self._diverged("gradient norm", _scalar(grad_norm), step)
                self.optimizer.step()
                self.optimizer.zero_grad(set_to_none=True)
                self.method.after_optimizer_step(step, loop.total_steps)
                self.method.constrain_parameters()  # e.g. clamp learnable temperatures
                if self.weight_average is not None:
                    self.weight_average.update()
                loop.samples_seen += len(batch.x) * world_size
                self.state.step += 1
                self.state.batch_in_epoch += 1
                bar.update(1)
                postfix = {"loss": f"{loop.loss_value:.4f}", "epoch": self.state.epoch}
                if count_tokens is not None:
                    tokens_seen += count_tokens(batch.x) * world_size  # ranks alike
                    tokens_per_second = tokens_seen / max(time.perf_counter() - loop.started,
                                                          1e-9)
                    postfix["tokens/s"] = f"{tokens_per_second:.0f}"
                bar.set_postfix(postfix)
                logged = (self.state.step % config.log_every_steps == 0
                          or self.state.step == loop.last_step)
                if logged or self.state.step in loop.histogram_at:
                    elapsed = time.perf_counter() - loop.started
                    record = {"step": self.state.step, "epoch": self.state.epoch,
                              "loss": loop.loss_value, "lr": lr, "grad_norm": _scalar(grad_norm),
                              "samples_per_second": loop.samples_seen / max(elapsed, 1e-9),
                              "elapsed_seconds": elapsed}
                    if count_tokens is not None:
                        record["tokens_per_second"] = tokens_seen / max(elapsed, 1e-9)
                    if self.strength_schedule is not None:
                        record["augmentation_strength"] = self.views.strength
                    record.update({k: _scalar(v) for k, v in output.metrics.items()})
                    record.update(self._diagnostics(output, output_ids,
                                                    self.state.step in loop.histogram_at, bar))
                    loop.history.append(record)
                    self._log(record)
                if (config.checkpoint_every_steps
                        and self.state.step % config.checkpoint_every_steps == 0):
                    self.save()
                    last_save = time.perf_counter()
                if stop_requested():
                    self._interrupted()
                if self.state.step >= loop.last_step:
                    break
            if self.state.batch_in_epoch >= loop.steps_per_epoch:
                self.state.epoch += 1
                self.state.batch_in_epoch = 0
                self._end_of_epoch(loop.history)
            due = (self.state.step >= loop.last_step
                   or time.perf_counter() - last_save >= config.checkpoint_every_seconds)
            if world_size > 1:  # clocks differ: every rank follows rank 0's decision
                due = self.fabric.broadcast(due, src=0)
            if due:
                self.save()
                last_save = time.perf_counter()

    def _prepare_batches_and_strength(self, data: Any, total_steps: int) -> None:
        """Before the first step: the batch sampler's pseudo-labels (once per run: a resumed
        run has them from its checkpoint; rank 0's on every rank), and a strength schedule
        checked to stay in [0, 1] at every step."""
        sampler = self.batch_sampler
        if sampler is not None and not sampler.fitted:
            if self.sharded and getattr(sampler, "features", None) == "encoder":
                raise ValueError("train.batch_sampler features: encoder cannot embed with a "
                                 "sharded (fsdp) encoder; use features: raw")
            labels = sampler.fit(data, self.method.encoder, self.device, self.seed)
            if self.fabric.world_size > 1:
                sampler.load_state_dict({"labels": self.fabric.broadcast(labels, src=0)})
        if self.strength_schedule is not None:
            if not self.views.adjustable:
                raise ValueError("train.strength_schedule needs views that can change strength "
                                 "(built from a view policy with a `strength` setting, see "
                                 "Views.rebuild_with)")
            check_schedule(self.strength_schedule, total_steps, "train.strength_schedule")

    def _interrupted(self) -> None:
        """Checkpoint where the step ended, record the stop, and raise TrainingInterrupted."""
        self.save()
        resume = (f"; continue with: contrastlearn pretrain --out {self.run_dir} --resume"
                  if self.run_dir is not None else "")
        message = f"interrupted at step {self.state.step} of {self.planned_steps}{resume}"
        self._write_summary({"steps": self.state.step, "planned_steps": self.planned_steps,
                             "status": "interrupted", "warnings": list(self.warnings)})
        raise TrainingInterrupted(message, self.state.step)

    def _unshard(self) -> None:
        """Make `method` an ordinary module holding the whole trained weights (every process
        gathers them), so export and evaluation read it as after any other run."""
        whole = full_model_state(self.method)
        self.optimizer.optimizer.state.clear()  # training is over: free its memory first
        self.method = self._whole_copy.to_empty(device=self.device)
        self.method.load_state_dict(whole)
        self.model = self.method
        self._whole_copy = None

    def _batch_gradients(self, batch: Batch, micro_batch: int
                         ) -> tuple[LossOutput, Tensor, float]:
        """Forward and backward of this rank's share of one batch, in micro-batches of
        `micro_batch` samples when accumulating: (the last micro-batch's output and ids, the
        loss of the whole global batch, the same number on every rank)."""
        parts = range(0, len(batch.x), micro_batch)
        loss_total = torch.zeros((), device=self.device)
        for number, start in enumerate(parts):
            x = batch.x[start:start + micro_batch].to(self.device, non_blocking=True)
            labels = (None if batch.labels is None
                      else batch.labels[start:start + micro_batch].to(self.device))
            ids = batch.ids[start:start + micro_batch].to(self.device)
            views = self.views(x, self.view_generator)
            if self.config.sam_rho:  # what SAM's second pass recomputes
                self._last_inputs = (views, labels, ids)
            if self.gradient_cache is not None:
                output = self._cached_step(views, labels, ids)  # backward included
            else:
                last = number == len(parts) - 1
                with self._backward_sync(enabled=not last):
                    output = self._guarded(self.model(views, labels=labels, ids=ids), views)
                    self.fabric.backward(output.loss / len(parts))
            loss_total += output.loss.detach() / len(parts)
        if self.fabric.world_size > 1:
            loss_total = self.fabric.all_reduce(loss_total, reduce_op="mean")
        return output, ids, _scalar(loss_total)

    def _recompute(self) -> None:
        """Forward and backward of the last batch's views again (SAM's second pass)."""
        views, labels, ids = self._last_inputs
        output = self._guarded(self.model(views, labels=labels, ids=ids), views)
        self.fabric.backward(output.loss)

    def _guarded(self, output: LossOutput, views: list) -> LossOutput:
        """`output` with the forgetting guard's term (train.forgetting_guard) added to its loss
        and logged as the metric `forgetting_guard`."""
        if self.forgetting_guard is None:
            return output
        with self.fabric.autocast():
            term = self.forgetting_guard(self.method.encoder, views[0])
        output.loss = output.loss + term
        output.metrics["forgetting_guard"] = term.detach()
        return output

    def _backward_sync(self, enabled: bool):
        """Skip DDP's gradient all-reduce on all but the last micro-batch (one process: no-op)."""
        if self.fabric.world_size == 1:
            return contextlib.nullcontext()
        return self.fabric.no_backward_sync(self.model, enabled=enabled)

    def _cached_step(self, views: list, labels: Tensor | None, ids: Tensor) -> LossOutput:
        """One batch's loss and gradients by gradient caching, in chunks of
        `gradient_cache_chunk` samples."""
        if not all(isinstance(view, Tensor) for view in views):
            raise ValueError("gradient caching needs views that are plain tensors (text feature "
                             "cutoff views are not); drop train.gradient_cache_chunk")
        embed, loss_of = self.gradient_cache
        outputs: list[LossOutput] = []

        def loss_fn(z: list[Tensor]) -> Tensor:
            outputs.append(loss_of(z, labels, ids).with_embeddings(z))
            return outputs[-1].loss

        loss = cached_backward(embed, views, loss_fn, self.config.gradient_cache_chunk)
        if self.fabric.world_size > 1:  # the chunks bypass DDP: average gradients here
            average_gradients(self.method)
        output = outputs[-1]
        output.loss = loss
        return output

    def _diagnostics(self, output, ids: Tensor, with_histogram: bool, bar) -> dict:
        """Embedding diagnostics of this batch (and a pos/neg histogram), plus a collapse
        warning the first time the embeddings look collapsed."""
        if not self.config.diagnostics or not output.embeddings or len(output.embeddings) < 2:
            return {}
        stats: dict = embedding_diagnostics(output.embeddings, ids)
        if with_histogram:
            stats["similarity_histogram"] = similarity_histogram(output.embeddings, ids)
        message = collapse_warning(stats, rank_limit=min(output.embeddings[0].shape))
        # freshly initialised networks often map everything close together: give them a grace
        if message is not None and self.state.step > min(10, self.planned_steps // 2):
            stats["collapse_warning"] = message
            if not self.warnings:
                text = f"step {self.state.step}: {message}"
                self.warnings.append(text)
                bar.write(f"warning: {text}")
                warnings.warn(text, RuntimeWarning, stacklevel=2)
        return stats

    def _write_summary(self, summary: dict) -> None:
        if self.run_dir is not None and self.fabric.is_global_zero:
            atomic_write(self.run_dir / TRAINING_SUMMARY_NAME,
                         json.dumps(summary, indent=2).encode())

    def _diverged(self, what: str, value: float, step: int) -> None:
        """Record the divergence (metrics.jsonl event and training.json), then raise."""
        message = self._diverged_message(what, value, step)
        self._log({"step": step, "event": "diverged", "what": what, "value": str(value)})
        self._write_summary({"steps": step, "planned_steps": self.planned_steps,
                             "status": "diverged", "warnings": [*self.warnings, message]})
        raise TrainingDiverged(message)

    def _check_same_data(self, batch_size: int, num_samples: int) -> None:
        """A resumed run must see the same data and batch size, or its position is meaningless."""
        saved = (self.state.batch_size, self.state.num_samples)
        if self.state.step > 0 and saved != (batch_size, num_samples):
            raise ValueError(
                f"cannot resume: the checkpoint was trained with batch size {saved[0]} on "
                f"{saved[1]} samples, this run has batch size {batch_size} on {num_samples}"
            )
        self.state.batch_size, self.state.num_samples = batch_size, num_samples

    def _end_of_epoch(self, history: list[dict]) -> None:
        if self.epoch_callback is None:
            return
        self.model.eval()
        measured = self.epoch_callback(self.method.encoder)
        self.model.train()
        if not measured:  # a monitor that measures only some epochs (the end of a stage)
            return
        record = {"step": self.state.step, "epoch": self.state.epoch, **measured}
        history.append(record)
        self._log(record)

    def _diverged_message(self, what: str, value: float, step: int) -> str:
        last = self.checkpoint_path
        kept = [] if last is None else [path for path in (last, last.with_name(PREVIOUS_NAME))
                                        if path.exists()]
        where = (f"no checkpoint was written yet: start again with --out {self.run_dir} "
                 "--overwrite" if not kept else
                 f"the last good checkpoint is {kept[0]}"
                 + (" (and the one before it, previous.ckpt)" if len(kept) > 1 else ""))
        resume = (f"; continue it with `contrastlearn pretrain --out {self.run_dir} --resume "
                  "--set train.lr=...`, or `--resume previous` to start from the checkpoint "
                  "before" if kept else "")
        return (f"training stopped: the {what} became {value} at step {step}; {where}{resume}. "
                "Try a lower learning rate, gradient clipping (train.gradient_clip) or "
                "precision 32-true.")
