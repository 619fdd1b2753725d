"""Lab 08's measuring tools on a CUDA GPU: latency synchronises, the profile sees kernels, launches
and host syncs. (How a small CNN's time per image falls with the batch size is a timing, so it lives
in bench/efficiency.py, section (d), not here: tests never assert on wall-clock time.)"""
import torch
import torch.nn.functional as F

import labkit
from labkit.profiling import profile
from labkit.timing import latency


def test_latency_waits_for_the_gpu():
    # Each call queues a kernel that spins on the GPU for tens of milliseconds and returns at once on
    # the host. Had latency not synchronised after the last call, the stream would still be busy.
    stream = torch.cuda.current_stream()
    latency(lambda: torch.cuda._sleep(50_000_000), warmup=0, repeats=2, device="cuda")
    assert stream.query()


def test_profile_counts_kernels_launches_and_syncs_on_the_gpu():
    torch.manual_seed(0)
    model = labkit.models.small_cnn(channels=(16, 32), device="cuda")
    x, y = torch.randn(64, 1, 28, 28, device="cuda"), torch.randint(0, 10, (64,), device="cuda")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    prof = profile(model, (x, y), loss_fn=F.cross_entropy, optimizer=optimizer, steps=3)
    assert prof.on_gpu and prof.launches >= 20                 # dozens of kernels per training step
    assert sum(op.device_seconds for op in prof.ops) > 0
    assert prof.categories().get("convolution", 0) > 0
    assert prof.syncs < 1                                     # a plain training step never waits for the GPU

    def loss_with_item(output, target):
        loss = F.cross_entropy(output, target)
        loss.item()                                           # reads the value back: the host waits
        return loss

    waiting = profile(model, (x, y), loss_fn=loss_with_item, optimizer=optimizer, steps=3)
    assert waiting.syncs >= 1

