"""Lab 08's measuring tools on a CUDA GPU: latency synchronises, the profile sees kernels, launches
and host syncs, and a small CNN's time per image falls with the batch size (launch-bound)."""
import torch
import torch.nn.functional as F

import labkit
from labkit.profiling import profile
from labkit.timing import latency


def test_latency_waits_for_the_gpu():
    x = torch.randn(4096, 4096, device="cuda")
    timing = latency(lambda: x @ x, warmup=2, repeats=5, device="cuda")
    # A 4096³ matmul is 137 GFLOP: even at 1 PFLOP/s it takes 0.14 ms, far longer than queueing it
    # (microseconds), so a median above that means the timer waited for the kernel to finish.
    assert timing.median > 137e9 / 1e15


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


def test_a_small_cnn_is_launch_bound_at_small_batches():
    torch.manual_seed(0)
    model = labkit.models.small_cnn(channels=(16, 32), device="cuda").eval()
    per_image = {}
    with torch.no_grad():
        for batch in (1, 1024):
            x = torch.randn(batch, 1, 28, 28, device="cuda").to(memory_format=torch.channels_last)
            per_image[batch] = latency(lambda: model(x), warmup=5, repeats=20, device="cuda").median / batch
    assert per_image[1] > 20 * per_image[1024]
