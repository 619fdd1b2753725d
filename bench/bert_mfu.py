"""BERT masked-LM pretraining: tokens/s and model-FLOPs utilisation (MFU), variants side by side.

Random token ids (no tokenizer, no download), masked afresh each step by labkit.mlm.mask_tokens
(15 %, 80/10/10), fused AdamW, the precision policy's autocast (bf16 on Ampere and Hopper), the
same shape and batch for every variant, measured in one run:

  (a) nn.TransformerEncoder (norm_first=True, GELU, learned positions, final LayerNorm), the MLM
      head on EVERY position (full-vocabulary logits), eager
  (b) (a) under torch.compile
  (c) labkit.models.bert, the naive masked head: the rows picked by a boolean mask,
      hidden[labels != -100] (a data-dependent shape: a host sync every step), eager
  (d) (c) with the model under torch.compile (what fit(compile=True) does; the head stays eager)
  (e) labkit.models.bert, a FIXED number of rows per sequence gathered by index (the masked
      positions first, -100 labels pad the rest; what labkit.mlm.mlm_step does): no host sync,
      static shapes, the whole step (forward, head, loss, backward) compiled
  (f) labkit.fit(compile=True) with labkit.mlm.mlm_step on a DeviceLoader of ids alone (no
      padding, so no mask: SDPA may use flash attention): the lab's own path, fit's bookkeeping
      included; one warm-up epoch of --steps batches, then one timed epoch

Steps after a warm-up (compilation included there), one synchronisation at each end of the timed
loop. FLOPs: labkit.flops.count_flops on one eager step of each variant. Two MFU columns:
  MFU         the BERT model FLOPs (encoder + the head on the masked positions, counted on (c))
              x steps/s / peak: proportional to tokens/s, the same useful work for every variant
  own-FLOPs   the variant's own counted FLOPs x steps/s / peak ((a) and (b) are credited with
              their full-vocabulary head, (e) with its padding rows)
Peak: labkit.device.peak_flops for the autocast dtype (dense bf16: 989e12 on an H100 SXM).

    python bench/bert_mfu.py [--size base|lab-quick|lab-full|tiny] [--batch N] [--steps 50]
                             [--warmup 10] [--variants abcdef] [--device auto] [--no-compile]

Target (DESIGN.md): >= 35 % MFU at BERT-base shape on a Hopper GPU (plain nn.TransformerEncoder
measured 23.5 %, a hand-tuned encoder 27-29 % on an H100). On a CPU there is no peak to compare
with: MFU is not meaningful there, and by default the compiled variants are skipped (inductor's
C++ build takes minutes on 2 cores): --size tiny runs in seconds as a smoke test.
"""
from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

import labkit
from labkit.data import DeviceLoader
from labkit.flops import count_flops, mfu
from labkit.mlm import IGNORE, gather_masked, mask_tokens, max_predictions, mlm_step
from labkit.models.bert import NUM_SPECIAL_TOKENS

MASK_ID, CLS_ID, SEP_ID, PROB = 4, 2, 3, 0.15


@dataclass(frozen=True)
class Size:
    vocab: int
    hidden: int
    layers: int
    heads: int
    length: int
    batch: int                  # default batch on a GPU
    cpu_batch: int              # default batch on a CPU


SIZES = {
    "base": Size(30522, 768, 12, 12, 128, 256, 4),
    "lab-quick": Size(4000, 128, 2, 4, 64, 512, 32),      # notebooks/07's quick run
    "lab-full": Size(8000, 128, 4, 4, 128, 512, 32),      # notebooks/07's full run
    "tiny": Size(1000, 64, 2, 2, 32, 256, 16),
}


class TorchEncoderMLM(nn.Module):
    """The baseline: embeddings, nn.TransformerEncoder (pre-LN), BERT's MLM head on every position."""

    def __init__(self, s: Size, dropout: float = 0.1) -> None:
        super().__init__()
        self.tokens = nn.Embedding(s.vocab, s.hidden, padding_idx=0)
        self.positions = nn.Embedding(s.length, s.hidden)
        self.drop = nn.Dropout(dropout)
        layer = nn.TransformerEncoderLayer(s.hidden, s.heads, 4 * s.hidden, dropout, activation="gelu",
                                           batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, s.layers, norm=nn.LayerNorm(s.hidden), enable_nested_tensor=False)
        self.transform = nn.Sequential(nn.Linear(s.hidden, s.hidden), nn.GELU(), nn.LayerNorm(s.hidden))
        self.decoder = nn.Linear(s.hidden, s.vocab)
        self.decoder.weight = self.tokens.weight
        for module in self.modules():                       # BERT's initialisation, as labkit's encoder
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
            if isinstance(module, nn.Linear) and module.bias is not None:
                nn.init.zeros_(module.bias)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.tokens(ids) + self.positions(torch.arange(ids.shape[1], device=ids.device)))
        return self.decoder(self.transform(self.encoder(x)))               # (N, L, vocab)


def full_head_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logits = model(inputs)
    return F.cross_entropy(logits.flatten(0, 1).float(), labels.flatten(), ignore_index=IGNORE)


def boolean_head_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The naive masked head: hidden[chosen] has a data-dependent shape (a host sync on CUDA)."""
    chosen = labels != IGNORE
    hidden = model(inputs)
    head = getattr(model, "_orig_mod", model)
    return F.cross_entropy(head.mlm_logits(hidden[chosen]).float(), labels[chosen])


def gathered_head_loss(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, rows: int) -> torch.Tensor:
    """The head on ``rows`` positions per sequence, gathered by index: the masked positions first
    (a stable sort keeps their order), labels -100 on the rest. Static shapes, no host sync; a
    sequence with more than ``rows`` masked positions loses the extra ones from the loss."""
    picked, targets = gather_masked(model(inputs), labels, rows)
    return F.cross_entropy(model.mlm_logits(picked).float(), targets, ignore_index=IGNORE)


def token_batches(s: Size, batch: int, count: int, device: torch.device, seed: int) -> list[torch.Tensor]:
    """``count`` batches of random ids [CLS] w... [SEP], resident on the device (no padding)."""
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(NUM_SPECIAL_TOKENS, s.vocab, (count, batch, s.length), generator=generator)
    ids[:, :, 0], ids[:, :, -1] = CLS_ID, SEP_ID
    return list(ids.to(device).unbind(0))


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def optimizer_for(model: nn.Module, device: torch.device) -> torch.optim.Optimizer:
    return torch.optim.AdamW(model.parameters(), lr=1e-4, weight_decay=0.01, fused=device.type in ("cuda", "cpu"))


class Variant:
    """A model and a loss; ``step()`` masks the next batch and trains one step."""

    def __init__(self, name: str, model: nn.Module, loss_fn, batches, device, policy, vocab: int,
                 compile_model=False, compile_step=False) -> None:
        self.name, self.model, self.loss_fn, self.batches, self.device = name, model, loss_fn, batches, device
        self.vocab = vocab
        self.policy, self.optimizer = policy, optimizer_for(model, device)
        self.generator = torch.Generator(device=device).manual_seed(0)
        self.run_model = torch.compile(model) if compile_model else model
        self.train = torch.compile(self._forward_backward) if compile_step else self._forward_backward
        self.index = 0

    def _forward_backward(self, model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        with self.policy.autocast():
            loss = self.loss_fn(model, inputs, labels)
        loss.backward()
        return loss.detach()

    def masked(self) -> tuple[torch.Tensor, torch.Tensor]:
        ids = self.batches[self.index % len(self.batches)]
        self.index += 1
        return mask_tokens(ids, mask_id=MASK_ID, vocab_size=self.vocab,
                           prob=PROB, generator=self.generator)

    def step(self) -> torch.Tensor:
        inputs, labels = self.masked()
        loss = self.train(self.run_model, inputs, labels)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        return loss

    def flops(self) -> int:
        """One eager forward + backward (the optimiser step does no matmuls); gradients cleared."""
        inputs, labels = self.masked()
        flops = count_flops(self._forward_backward, self.model, inputs, labels)
        self.optimizer.zero_grad(set_to_none=True)
        return flops

    def run(self, steps: int) -> tuple[float, float]:
        """(seconds for ``steps`` steps, last loss): synchronised only before and after."""
        synchronize(self.device)
        start = time.perf_counter()
        for _ in range(steps):
            loss = self.step()
        synchronize(self.device)
        return time.perf_counter() - start, float(loss)


class FitVariant:
    """labkit.fit with labkit.mlm.mlm_step on a DeviceLoader of ids (no padding): one fit of two epochs of
    ``steps`` batches, the first a warm-up (compilation), the second timed from the end of the first
    (a callback synchronises at each epoch's end: fit's own per-epoch work is in the timing)."""

    def __init__(self, name, model, s: Size, batch: int, steps: int, device, compile_model, precision,
                 seed: int) -> None:
        self.name, self.model, self.device, self.compile = name, model, device, compile_model
        self.precision = precision
        ids = torch.cat(token_batches(s, batch, steps, device, seed + 1))
        self.loader = DeviceLoader(ids, batch_size=batch, device=device, seed=seed)
        self.optimizer = optimizer_for(model, device)
        self.step_fn = mlm_step(mask_id=MASK_ID, vocab_size=s.vocab, prob=PROB)

    def run(self) -> tuple[float, float, int]:
        """(seconds of the timed epoch, its loss, its steps)."""
        ends = []

        def timer(history, ctx) -> None:
            synchronize(self.device)
            ends.append(time.perf_counter())

        history = labkit.fit(self.model, self.loader, epochs=2, step_fn=self.step_fn, optimizer=self.optimizer,
                             compile=self.compile, precision=self.precision, callbacks=[timer], plot=False,
                             progress=False)
        return ends[1] - ends[0], history.last("loss"), len(self.loader)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default=None,
                        help="model and sequence size (default: base on a GPU, tiny on a CPU)")
    parser.add_argument("--batch", type=int, default=None, help="sequences per step (default: by size and device)")
    parser.add_argument("--steps", type=int, default=None,
                        help="timed steps per variant (default 50 on a GPU, 3 on a CPU)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="untimed steps first (default 10 on a GPU, 1 on a CPU)")
    parser.add_argument("--variants", default="abcdef", help="which of (a)-(f) to run, e.g. 'ace'")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="auto", choices=("auto", "bf16", "fp32"),
                        help="auto: bf16 on Ampere and newer (fp16 needs loss scaling: not benchmarked here)")
    parser.add_argument("--no-compile", action="store_true", help="skip the compiled variants (b), (d), (e), (f)")
    parser.add_argument("--compile", action="store_true", help="run the compiled variants on a CPU too (slow)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = labkit.get_device(args.device)
    gpu = device.type == "cuda"
    s = SIZES[args.size or ("base" if gpu else "tiny")]
    batch = args.batch or (s.batch if gpu else s.cpu_batch)
    steps = args.steps or (50 if gpu else 3)
    warmup = args.warmup if args.warmup is not None else (10 if gpu else 1)
    if min(batch, steps) < 1 or warmup < 0:
        parser.error("--batch and --steps must be positive, --warmup non-negative")
    compiled = not args.no_compile and (gpu or args.compile)
    wanted = [v for v in "abcdef" if v in args.variants and (compiled or v in "acf")]
    if not wanted:
        parser.error(f"--variants {args.variants}: (b), (d) and (e) are compiled, and compilation is off "
                     f"({'--no-compile' if args.no_compile else 'the default on a CPU'}); add --compile or pick a, c or f")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True       # fp32 matmuls: tf32
    policy = labkit.device.precision_policy(device, args.precision)
    if policy.grad_scaler:                                  # a pre-Ampere GPU's auto policy is fp16
        policy = labkit.device.precision_policy(device, "fp32")
    dtype = policy.dtype or ("tf32" if gpu else torch.float32)
    peak = labkit.device.peak_flops(device, dtype)

    print(labkit.describe(device))
    precision = policy.name if policy.dtype else f"fp32 ({'tf32 matmuls' if gpu else 'no autocast'})"
    print(f"size {args.size or ('base' if gpu else 'tiny')}: vocab {s.vocab:,}, hidden {s.hidden}, {s.layers} layers, "
          f"{s.heads} heads, sequence {s.length}; batch {batch} ({batch * s.length:,} tokens/step); "
          f"{warmup} warm-up + {steps} timed steps; {precision}, fused AdamW; "
          f"(e) gathers {max_predictions(s.length, PROB)} rows per sequence")
    print(f"peak: {peak / 1e12:.0f} TFLOP/s dense ({precision})\n" if peak else
          "peak: none for this device -> MFU is not meaningful here (no peak to compare with); tokens/s only\n")

    batches = token_batches(s, batch, 8, device, args.seed)

    def bert_model() -> nn.Module:
        labkit.seed_everything(args.seed)
        return labkit.models.bert(s.vocab, hidden=s.hidden, layers=s.layers, heads=s.heads, max_len=s.length,
                                  device=device)

    def baseline_model() -> nn.Module:
        labkit.seed_everything(args.seed)
        return TorchEncoderMLM(s).to(device)

    rows = max_predictions(s.length, PROB)
    builders = {
        "a": lambda: Variant("(a) nn.TransformerEncoder, full-vocab head", baseline_model(), full_head_loss,
                             batches, device, policy, s.vocab),
        "b": lambda: Variant("(b) (a) + torch.compile", baseline_model(), full_head_loss, batches, device, policy,
                             s.vocab, compile_model=True),
        "c": lambda: Variant("(c) labkit bert, boolean-mask head", bert_model(), boolean_head_loss,
                             batches, device, policy, s.vocab),
        "d": lambda: Variant("(d) (c) + torch.compile(model)", bert_model(), boolean_head_loss, batches, device,
                             policy, s.vocab, compile_model=True),
        "e": lambda: Variant("(e) labkit bert, gathered head, step compiled", bert_model(),
                             lambda m, i, l: gathered_head_loss(m, i, l, rows), batches, device, policy, s.vocab,
                             compile_step=True),
    }

    model_flops = builders["c"]().flops()   # the BERT model FLOPs per step: encoder + masked-only head
    results = {}
    for key in wanted:
        if key == "f":
            variant = FitVariant(f"(f) labkit.fit(compile={compiled}) + mlm_step", bert_model(), s, batch, steps,
                                 device, compiled, "bf16" if policy.dtype else "fp32", args.seed)
            own = model_flops
            seconds, loss, done = variant.run()
        else:
            variant = builders[key]()
            own = variant.flops()
            for _ in range(warmup):
                variant.step()
            seconds, loss = variant.run(steps)
            done = steps
        step_s = seconds / done
        result = {"name": variant.name, "tokens_per_s": batch * s.length / step_s, "step_ms": 1e3 * step_s,
                  "own_flops": own, "loss": loss}
        result["mfu"] = mfu(model_flops, step_s, device, dtype) if model_flops else None
        result["own_mfu"] = mfu(own, step_s, device, dtype) if own else None
        results[key] = result
        pct = lambda x: "     -" if x is None else f"{100 * x:5.1f}%"                 # noqa: E731
        print(f"{variant.name:<50} {result['step_ms']:9.2f} ms/step {result['tokens_per_s']:>12,.0f} tokens/s  "
              f"MFU {pct(result['mfu'])}  own-FLOPs {pct(result['own_mfu'])} "
              f"({own / (batch * s.length) / 1e6:,.1f} MFLOP/token)  loss {loss:.3f}", flush=True)
        del variant

    print(f"\nBERT model FLOPs per step (counted on the eager labkit step): {model_flops / 1e9:,.1f} GFLOP"
          if model_flops else "")
    print("ratios of tokens/s, measured in this run:")
    pairs = [("b", "a", "compile, nn.TransformerEncoder"), ("c", "a", "labkit encoder + masked head vs baseline"),
             ("d", "c", "compile(model), labkit"), ("e", "c", "gathered head + compiled step vs boolean-mask head"),
             ("e", "b", "best labkit vs compiled baseline"), ("f", "c", "labkit.fit's path vs the hand-written step"),
             ("f", "e", "labkit.fit's path vs the best step")]
    for top, bottom, what in pairs:
        if top in results and bottom in results:
            print(f"  {top}/{bottom} = {results[top]['tokens_per_s'] / results[bottom]['tokens_per_s']:5.2f}x   {what}")
    best = max(results.values(), key=lambda r: r["tokens_per_s"])
    if best["mfu"] is not None:
        verdict = "meets" if best["mfu"] >= 0.35 else "misses"
        print(f"\nbest: {best['name']} at {100 * best['mfu']:.1f}% MFU: {verdict} the 35% budget "
              "(DESIGN.md; counts only at --size base on a Hopper GPU)")
    else:
        print("\nno MFU on this device (no peak FLOP/s known): the numbers above are a smoke test, not a measurement")


if __name__ == "__main__":
    main()
