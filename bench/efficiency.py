"""Inference latency of lab 08's variants side by side, every ratio measured in one run.

  (a) the MLP 784-512-256-10: fp32 against dynamic int8 (torch.ao.quantization.quantize_dynamic), CPU
  (b) the lab-03 CNN small_cnn(32, 64): fp32 in both memory layouts against static int8 (fused
      conv-BN-ReLU, calibrated), CPU
  (c) the CNN (channels last) at each precision the device has (fp32, bf16 autocast, fp16 autocast on CUDA)
  (d) the CNN's time per image against the batch size on the device: where launches stop dominating
  (e) where torchao is installed (`pip install torchao`; not a labkit dependency), the maintained
      toolchain lab 08 weighs against the eager one: torchao's int8 configs for the MLP without
      compilation, and the CNN quantised with PT2E (X86InductorQuantizer) and torch.compile'd, CPU

Weights are random: latency does not depend on them (the lab measures accuracy on trained ones).
Quantised kernels (fbgemm/x86) run on the CPU only.

    python bench/efficiency.py [--device auto] [--threads N] [--repeats 30]
"""
from __future__ import annotations

import argparse
import copy
import time
import warnings

import torch
from torch import nn

import labkit
from labkit.timing import latency


def int8_dynamic(model: nn.Module) -> nn.Module:
    with warnings.catch_warnings():                 # torch.ao.quantization is deprecated in favour of torchao
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)


def int8_static(cnn: nn.Sequential, calibration: torch.Tensor) -> nn.Module:
    """Fuse conv-BN-ReLU, observe activation ranges on calibration images, convert to int8 kernels."""
    tq = torch.ao.quantization
    model = copy.deepcopy(cnn).eval().to(memory_format=torch.contiguous_format)
    names = [name for name, module in model.named_modules()]
    modules = dict(model.named_modules())
    groups = [names[i:i + 3] for i, name in enumerate(names) if isinstance(modules[name], nn.Conv2d)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fused = tq.fuse_modules(model, groups)
        wrapped = nn.Sequential(tq.QuantStub(), fused, tq.DeQuantStub())
        wrapped.qconfig = tq.get_default_qconfig("x86")
        prepared = tq.prepare(wrapped)
        with torch.no_grad():
            prepared(calibration)
        return tq.convert(prepared)


def timed(fn, repeats: int, device: torch.device) -> float:
    with torch.inference_mode():
        return latency(fn, warmup=max(3, repeats // 5), repeats=repeats, device=device).median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    if args.threads is not None:
        if args.threads < 1:
            parser.error(f"--threads must be at least 1, got {args.threads}")
        torch.set_num_threads(args.threads)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1, got {args.repeats}")
    device = labkit.get_device(args.device)
    print(labkit.describe(device), f"| {torch.get_num_threads()} CPU threads")
    torch.manual_seed(0)
    cpu = torch.device("cpu")

    print("\n(a) MLP 784-512-256-10 on the CPU: median latency, fp32 / int8 dynamic")
    mlp = labkit.models.mlp([784, 512, 256, 10], device="cpu").eval()
    mlp_int8 = int8_dynamic(mlp)
    for batch in (1, 64, 256):
        x = torch.randn(batch, 784)
        fp32, int8 = timed(lambda: mlp(x), args.repeats, cpu), timed(lambda: mlp_int8(x), args.repeats, cpu)
        print(f"  batch {batch:>4}: fp32 {fp32 * 1e3:8.3f} ms  int8 {int8 * 1e3:8.3f} ms  speed-up {fp32 / int8:5.2f}x")

    print("\n(b) small_cnn(32, 64) on the CPU: median latency, fp32 channels first (NCHW) and channels last "
          "(NHWC) / int8 static; the speed-up is over the faster fp32 layout")
    cnn = labkit.models.small_cnn(channels=(32, 64), device="cpu").eval().to(memory_format=torch.contiguous_format)
    cnn_last = copy.deepcopy(cnn).to(memory_format=torch.channels_last)
    cnn_int8 = int8_static(cnn, torch.randn(256, 1, 28, 28))
    for batch in (1, 64, 256):
        x = torch.randn(batch, 1, 28, 28)
        x_last = x.contiguous(memory_format=torch.channels_last)
        first, last = timed(lambda: cnn(x), args.repeats, cpu), timed(lambda: cnn_last(x_last), args.repeats, cpu)
        int8 = timed(lambda: cnn_int8(x), args.repeats, cpu)
        print(f"  batch {batch:>4}: fp32 NCHW {first * 1e3:8.3f} ms  NHWC {last * 1e3:8.3f} ms "
              f"({first / last:4.2f}x)  int8 {int8 * 1e3:8.3f} ms  speed-up {min(first, last) / int8:5.2f}x")

    print(f"\n(c) small_cnn(32, 64) on {device.type}, batch 256: autocast precisions against fp32")
    cnn_dev = labkit.models.small_cnn(channels=(32, 64), device=device).eval().to(memory_format=torch.channels_last)
    x = torch.randn(256, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
    base = timed(lambda: cnn_dev(x), args.repeats, device)
    print(f"  fp32      {base * 1e3:8.3f} ms")
    dtypes = [torch.bfloat16] + ([torch.float16] if device.type == "cuda" else [])
    for dtype in dtypes:
        if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
            continue

        def run(dtype=dtype):
            with torch.autocast(device.type, dtype=dtype):
                return cnn_dev(x)
        seconds = timed(run, args.repeats, device)
        print(f"  {str(dtype).removeprefix('torch.'):<9} {seconds * 1e3:8.3f} ms  speed-up {base / seconds:5.2f}x")

    print(f"\n(d) small_cnn(32, 64) on {device.type}: microseconds per image against the batch size")
    first = None
    for batch in (1, 8, 64, 512, 4096):
        x = torch.randn(batch, 1, 28, 28, device=device).contiguous(memory_format=torch.channels_last)
        per_image = timed(lambda: cnn_dev(x), max(5, args.repeats // 3), device) / batch
        first = first or per_image
        print(f"  batch {batch:>5}: {per_image * 1e6:9.2f} µs per image  ({first / per_image:7.1f}x cheaper than batch 1)")


    print("\n(e) the maintained toolchain (torchao), CPU, batch 64: median latency")
    try:
        import torchao
        from torchao.quantization import Int8DynamicActivationInt8WeightConfig, Int8WeightOnlyConfig, quantize_
        from torchao.quantization.pt2e.quantizer import x86_inductor_quantizer as inductor
        from torchao.quantization.pt2e.quantize_pt2e import convert_pt2e, prepare_pt2e
    except ImportError as error:
        print(f"  skipped: torchao is not installed ({error}); pip install torchao to measure it")
        return
    print(f"  torchao {torchao.__version__}")
    x = torch.randn(64, 784)
    for name, config in (("int8 dynamic activations and weights", Int8DynamicActivationInt8WeightConfig()),
                         ("int8 weights only", Int8WeightOnlyConfig())):
        quantized = copy.deepcopy(mlp)
        quantize_(quantized, config)
        print(f"  MLP, torchao {name}, eager: {timed(lambda: quantized(x), args.repeats, cpu) * 1e3:8.3f} ms "
              f"(fp32 {timed(lambda: mlp(x), args.repeats, cpu) * 1e3:.3f} ms, "
              f"torch.ao dynamic int8 {timed(lambda: mlp_int8(x), args.repeats, cpu) * 1e3:.3f} ms)")
    x = torch.randn(64, 1, 28, 28)
    quantizer = inductor.X86InductorQuantizer()
    quantizer.set_global(inductor.get_default_x86_inductor_quantization_config())
    prepared = prepare_pt2e(torch.export.export(copy.deepcopy(cnn), (x,)).module(), quantizer)
    prepared(x)                                                           # calibration
    for name, model in (("fp32", copy.deepcopy(cnn)), ("PT2E int8", convert_pt2e(prepared))):
        start = time.perf_counter()
        compiled = torch.compile(model)
        with torch.inference_mode():
            compiled(x)
        compile_seconds = time.perf_counter() - start
        print(f"  CNN, {name}, torch.compile'd: {timed(lambda: compiled(x), args.repeats, cpu) * 1e3:8.3f} ms "
              f"(compiling took {compile_seconds:.1f} s)")
    print(f"  CNN, torch.ao static int8, eager: {timed(lambda: cnn_int8(x), args.repeats, cpu) * 1e3:8.3f} ms")


if __name__ == "__main__":
    main()
