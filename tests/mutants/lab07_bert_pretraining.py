"""Wrong and alternative solutions to lab 07's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "mlm_masking": {
        "wrong": [
            ("the random share drawn independently of the [MASK] draw: 10 % of the 20 % left, 2 % instead of 10 %",
             "def mask_for_mlm(ids, special, mask_id, vocab_size, generator, prob=0.15):\n"
             "    chosen = (torch.rand(ids.shape, generator=generator) < prob) & ~special\n"
             "    to_mask = chosen & (torch.rand(ids.shape, generator=generator) < 0.8)\n"
             "    to_random = chosen & ~to_mask & (torch.rand(ids.shape, generator=generator) < 0.1)\n"
             "    random_ids = torch.randint(5, vocab_size, ids.shape, generator=generator)\n"
             "    inputs = torch.where(to_mask, torch.full_like(ids, mask_id), ids)\n"
             "    inputs = torch.where(to_random, random_ids, inputs)\n"
             "    labels = torch.where(chosen, ids, torch.full_like(ids, -100))\n"
             "    return inputs, labels\n"),
            ("special positions not excluded, and random tokens drawn from the whole vocabulary (specials included)",
             "def mask_for_mlm(ids, special, mask_id, vocab_size, generator, prob=0.15):\n"
             "    chosen = torch.rand(ids.shape, generator=generator) < prob\n"
             "    split = torch.rand(ids.shape, generator=generator)\n"
             "    random_ids = torch.randint(0, vocab_size, ids.shape, generator=generator)\n"
             "    inputs = ids.clone()\n"
             "    inputs[chosen & (split < 0.8)] = mask_id\n"
             "    inputs[chosen & (split >= 0.8) & (split < 0.9)] = random_ids[chosen & (split >= 0.8) & (split < 0.9)]\n"
             "    labels = torch.where(chosen, ids, torch.full_like(ids, -100))\n"
             "    return inputs, labels\n"),
            ("library shortcut: labkit.mlm.mask_tokens",
             "def mask_for_mlm(ids, special, mask_id, vocab_size, generator, prob=0.15):\n"
             "    return labkit.mlm.mask_tokens(ids, mask_id=mask_id, vocab_size=vocab_size, special=special,\n"
             "                                  prob=prob, generator=generator)\n"),
            ("labels keep the original id everywhere (the loss would count every token), and ids modified in place",
             "def mask_for_mlm(ids, special, mask_id, vocab_size, generator, prob=0.15):\n"
             "    labels = ids.clone()\n"
             "    chosen = (torch.rand(ids.shape, generator=generator) < prob) & ~special\n"
             "    split = torch.rand(ids.shape, generator=generator)\n"
             "    random_ids = torch.randint(5, vocab_size, ids.shape, generator=generator)\n"
             "    ids[chosen & (split < 0.8)] = mask_id\n"
             "    swap = chosen & (split >= 0.8) & (split < 0.9)\n"
             "    ids[swap] = random_ids[swap]\n"
             "    return ids, labels\n"),
        ],
        "alternative":
            "def mask_for_mlm(ids, special, mask_id, vocab_size, generator, prob=0.15):\n"
            "    # one uniform number per position decides everything: u < 0.8 p -> [MASK],\n"
            "    # 0.8 p <= u < 0.9 p -> random token, 0.9 p <= u < p -> unchanged, u >= p -> not chosen\n"
            "    u = torch.rand(ids.shape, generator=generator)\n"
            "    u[special] = 2.0\n"
            "    inputs, labels = ids.clone(), torch.full_like(ids, -100)\n"
            "    chosen = u < prob\n"
            "    labels[chosen] = ids[chosen]\n"
            "    inputs[u < 0.8 * prob] = mask_id\n"
            "    swap = (u >= 0.8 * prob) & (u < 0.9 * prob)\n"
            "    inputs[swap] = 5 + (torch.rand(int(swap.sum()), generator=generator) * (vocab_size - 5)).long().clamp(max=vocab_size - 6)\n"
            "    return inputs, labels\n",
    },
    "mlm_loss": {
        "wrong": [
            ("divides by every position (N * L) instead of the number of chosen positions",
             "def masked_lm_loss(logits, labels):\n"
             "    chosen = labels != -100\n"
             "    log_probs = torch.log_softmax(logits[chosen], dim=-1)\n"
             "    return -log_probs.gather(1, labels[chosen][:, None]).sum() / labels.numel()\n"),
            ("log of a naive softmax: overflows (inf / nan) for logits of size 1000",
             "def masked_lm_loss(logits, labels):\n"
             "    chosen = labels != -100\n"
             "    rows = logits[chosen]\n"
             "    probs = rows.exp() / rows.exp().sum(dim=-1, keepdim=True)\n"
             "    return -probs.gather(1, labels[chosen][:, None]).log().mean()\n"),
            ("library shortcut: F.cross_entropy with ignore_index",
             "def masked_lm_loss(logits, labels):\n"
             "    return F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)\n"),
        ],
        "alternative":
            "def masked_lm_loss(logits, labels):\n"
            "    # one-hot targets, every position computed, then averaged with weights 1 at chosen positions\n"
            "    weights = (labels != -100).to(logits.dtype)\n"
            "    safe = labels.clamp(min=0)\n"
            "    one_hot = torch.zeros_like(logits).scatter(-1, safe[..., None], 1.0)\n"
            "    nll = torch.logsumexp(logits, dim=-1) - (one_hot * logits).sum(-1)\n"
            "    return (nll * weights).sum() / weights.sum()\n",
    },
    "lr_schedule": {
        "wrong": [
            ("warm-up starts from 0 (step / warmup): the first optimiser step is wasted, off by one",
             "def warmup_then_linear(step, warmup, total):\n"
             "    if step < warmup:\n"
             "        return step / warmup\n"
             "    return max(0.0, (total - step) / (total - warmup))\n"),
            ("decays over the whole run (1 - step / total) instead of from the end of the warm-up, and goes negative",
             "def warmup_then_linear(step, warmup, total):\n"
             "    if step < warmup:\n"
             "        return (step + 1) / warmup\n"
             "    return 1 - step / total\n"),
            ("library shortcut: labkit.mlm.warmup_linear's own multiplier",
             "def warmup_then_linear(step, warmup, total):\n"
             "    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)\n"
             "    return float(labkit.mlm.warmup_linear(optimizer, warmup, total).lr_lambdas[0](step))\n"),
        ],
        "alternative":
            "def warmup_then_linear(step, warmup, total):\n"
            "    # the smaller of the rising and the falling line, clipped at 0\n"
            "    rising = (step + 1) / warmup if warmup > 0 else float('inf')\n"
            "    falling = (total - step) / (total - warmup)\n"
            "    return float(max(0.0, min(rising, falling, 1.0)))\n",
    },
}
