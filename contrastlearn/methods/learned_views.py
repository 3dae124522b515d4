"""Any method, trained on views from a learned view generator (e.g. AutoTCL's parametric
augmentation) that is trained jointly with the encoder by its own objective."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn
from torch.func import functional_call

from contrastlearn.methods.base import Method
from contrastlearn.objectives.base import LossOutput


@contextmanager
def frozen(encoder: nn.Module) -> Iterator[Callable[[Tensor], Tensor]]:
    """The encoder as a function of its input only: eval mode, parameters detached, so a loss
    on its output trains whatever made the input (a view generator), never the encoder."""
    state = {name: p.detach() for name, p in encoder.named_parameters()}
    state.update(encoder.named_buffers())
    was_training = encoder.training
    encoder.eval()
    try:
        yield lambda x: functional_call(encoder, state, (x,))
    finally:
        encoder.train(was_training)


class LearnedViews(Method):
    """Wraps `method` with a view generator: a module with `forward(x, generator) -> (view,
    made)` and `loss(encode, source, view, made) -> LossOutput`.

    The generator turns the last view into a learned view (with a single view, the learned one
    is added as a second view); the method trains the encoder on the
    views with the learned one detached, and the generator trains on its own loss through a
    frozen copy of the encoder's function. Both losses are summed into one optimizer step;
    each reaches only its own parameters.

    Not under FSDP: the sharded encoder's forward swaps its gathered parameters back in, so
    the frozen copy would not be frozen and the generator's loss would train the encoder.

    The generator's noise comes from the wrapper's own seeded generator, whose state is a
    buffer, so a resumed run draws the same views."""

    unshardable = ("its frozen copy of the encoder would train the sharded encoder; use "
                   "strategy ddp")

    def __init__(self, method: Method, generator: nn.Module, seed: int | None = None) -> None:
        super().__init__(method.encoder)
        if not callable(getattr(generator, "loss", None)):
            raise TypeError(f"a view generator needs a `loss(encode, source, view, made)` method; "
                            f"{type(generator).__name__} has none")
        self.method = method
        self.generator = generator
        self.needs_labels = method.needs_labels
        self.default_views = method.default_views
        seed = torch.initial_seed() if seed is None else seed
        self.register_buffer("rng_state", torch.Generator().manual_seed(seed).get_state())

    def training_step(self, views: list[Tensor], *, labels, ids) -> LossOutput:
        source = views[-1]
        noise = torch.Generator()
        noise.set_state(self.rng_state.cpu())
        learned, made = self.generator(source, noise)
        self.rng_state.copy_(noise.get_state())
        kept = views if len(views) == 1 else views[:-1]
        output = self.method(kept + [learned.detach()], labels=labels, ids=ids)
        with frozen(self.encoder) as encode:
            generator_output = self.generator.loss(encode, source, learned, made)
        metrics = dict(output.metrics)
        metrics.update({f"aug_{key}": value for key, value in generator_output.metrics.items()})
        metrics["aug_loss"] = generator_output.loss.detach()
        return LossOutput(output.loss + generator_output.loss, metrics, output.embeddings)

    def prepare(self, data: Any, device: torch.device) -> None:
        self.method.prepare(data, device)

    def after_optimizer_step(self, step: int, total_steps: int) -> None:
        self.method.after_optimizer_step(step, total_steps)
