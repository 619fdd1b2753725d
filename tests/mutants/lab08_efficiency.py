"""Wrong and alternative solutions to lab 08's exercises, graded for real by tests/test_exercise_mutants.py."""


def _quantizer(init: str = "", quantize: str = "", dequantize: str = "") -> str:
    """The instructor's Int8Quantizer with one, two or three of its method bodies replaced (a mistake each)."""
    init = init or ("        low, high = min(float(x_min), 0.0), max(float(x_max), 0.0)\n"
                    "        self.scale = (high - low) / 255\n"
                    "        self.zero_point = int(min(127, max(-128, -128 - round(low / self.scale))))\n")
    quantize = quantize or ("        q = torch.round(x / self.scale) + self.zero_point\n"
                            "        return torch.clamp(q, -128, 127).to(torch.int8)\n")
    dequantize = dequantize or "        return self.scale * (q.to(torch.float32) - self.zero_point)\n"
    return ("class Int8Quantizer:\n"
            "    def __init__(self, x_min, x_max):\n" + init + "\n"
            "    def quantize(self, x):\n" + quantize + "\n"
            "    def dequantize(self, q):\n" + dequantize)


def _distillation(kl: str, teacher: str = "teacher_logits.detach()", soft_weight: str = "alpha * t * t",
                  softened: str = "log") -> str:
    """A distillation loss whose KL term, teacher logits, soft-term weight or softmax logs are given."""
    if softened == "log":
        probabilities = (f"    log_p = F.log_softmax({teacher} / t, dim=-1)\n"
                         "    log_q = F.log_softmax(student_logits / t, dim=-1)\n")
    else:
        probabilities = (f"    p = torch.softmax({teacher} / t, dim=-1)\n"
                         "    q = torch.softmax(student_logits / t, dim=-1)\n")
    return ("def distillation_loss(student_logits, teacher_logits, targets, temperature=4.0, alpha=0.9):\n"
            "    t = temperature\n" + probabilities +
            f"    kl = {kl}\n"
            f"    return {soft_weight} * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)\n")


MUTANTS = {
    "prune_mask": {
        "wrong": [
            ("a threshold at the k-th smallest |w| prunes every weight equal to it: too many zeros when |w| ties",
             "def magnitude_mask(weight, sparsity):\n"
             "    k = round(sparsity * weight.numel())\n"
             "    if k == 0:\n"
             "        return torch.ones_like(weight)\n"
             "    threshold = weight.abs().flatten().kthvalue(k).values\n"
             "    return (weight.abs() > threshold).to(weight.dtype)\n"),
            ("ranks the signed weights instead of their magnitudes: prunes the most negative weights",
             "def magnitude_mask(weight, sparsity):\n"
             "    n = weight.numel()\n"
             "    k = round(sparsity * n)\n"
             "    order = torch.argsort(weight.flatten(), stable=True)\n"
             "    mask = torch.ones(n, dtype=weight.dtype)\n"
             "    mask[order[:k]] = 0\n"
             "    return mask.reshape(weight.shape)\n"),
            ("truncates sparsity * n with int() instead of rounding: 0.29 * 100 gives 28 zeros, not 29",
             "def magnitude_mask(weight, sparsity):\n"
             "    n = weight.numel()\n"
             "    k = int(sparsity * n)\n"
             "    order = torch.argsort(weight.abs().flatten(), stable=True)\n"
             "    mask = torch.ones(n, dtype=weight.dtype)\n"
             "    mask[order[:k]] = 0\n"
             "    return mask.reshape(weight.shape)\n"),
            ("breaks ties the other way: among equal |w| it prunes the last entry first",
             "def magnitude_mask(weight, sparsity):\n"
             "    n = weight.numel()\n"
             "    k = round(sparsity * n)\n"
             "    keep = n - k\n"
             "    order = torch.argsort(weight.abs().flatten(), descending=True, stable=True)\n"
             "    mask = torch.zeros(n, dtype=weight.dtype)\n"
             "    mask[order[:keep]] = 1\n"
             "    return mask.reshape(weight.shape)\n"),
            ("library shortcut: torch.nn.utils.prune.l1_unstructured",
             "def magnitude_mask(weight, sparsity):\n"
             "    holder = torch.nn.Module()\n"
             "    holder.weight = torch.nn.Parameter(weight.detach().clone())\n"
             "    torch.nn.utils.prune.l1_unstructured(holder, 'weight', amount=sparsity)\n"
             "    return holder.weight_mask.to(weight.dtype)\n"),
        ],
        "alternative":
            "def magnitude_mask(weight, sparsity):\n"
            "    # NumPy: a stable ascending sort of |w| (mergesort keeps ties in row-major order)\n"
            "    magnitudes = weight.detach().cpu().numpy().ravel()\n"
            "    k = round(sparsity * magnitudes.size)\n"
            "    pruned = np.argsort(np.abs(magnitudes), kind='stable')[:k]\n"
            "    mask = np.ones(magnitudes.size)\n"
            "    mask[pruned] = 0.0\n"
            "    return torch.from_numpy(mask.reshape(tuple(weight.shape))).to(dtype=weight.dtype, device=weight.device)\n",
    },
    "int8_quantizer": {
        "wrong": [
            ("converts to int8 without rounding: the cast truncates towards zero",
             _quantizer(quantize="        q = x / self.scale + self.zero_point\n"
                                 "        return torch.clamp(q, -128, 127).to(torch.int8)\n")),
            ("does not clamp: values outside the range wrap around in int8 instead of saturating",
             _quantizer(quantize="        return (torch.round(x / self.scale) + self.zero_point).to(torch.int32).to(torch.int8)\n")),
            ("does not widen the range to contain 0: wrong scale for an all-positive range, and 0 is not exact",
             _quantizer(init="        low, high = float(x_min), float(x_max)\n"
                             "        self.scale = (high - low) / 255\n"
                             "        self.zero_point = int(min(127, max(-128, -128 - round(low / self.scale))))\n")),
            ("divides the range by 256 levels instead of 255 steps, and forgets the zero point when dequantising",
             _quantizer(init="        low, high = min(float(x_min), 0.0), max(float(x_max), 0.0)\n"
                             "        self.scale = (high - low) / 256\n"
                             "        self.zero_point = int(min(127, max(-128, -128 - round(low / self.scale))))\n",
                        dequantize="        return self.scale * q.to(torch.float32)\n")),
            ("library shortcut: torch.quantize_per_tensor",
             _quantizer(quantize="        return torch.quantize_per_tensor(x, self.scale, self.zero_point, torch.qint8).int_repr()\n")),
        ],
        "alternative":
            "class Int8Quantizer:\n"
            "    # NumPy inside: np.rint rounds halves to even like torch.round; clip saturates\n"
            "    def __init__(self, x_min, x_max):\n"
            "        a, b = min(x_min, 0.0), max(x_max, 0.0)\n"
            "        self.scale = float((b - a) / (127 - (-128)))\n"
            "        self.zero_point = int(np.clip(-128 - np.rint(a / self.scale), -128, 127))\n"
            "\n"
            "    def quantize(self, x):\n"
            "        values = x.detach().cpu().numpy().astype(np.float32)\n"
            "        q = np.clip(np.rint(values / np.float32(self.scale)) + self.zero_point, -128, 127)\n"
            "        return torch.from_numpy(q.astype(np.int8))\n"
            "\n"
            "    def dequantize(self, q):\n"
            "        return torch.from_numpy(((q.cpu().numpy().astype(np.float64) - self.zero_point) * self.scale)\n"
            "                                .astype(np.float32))\n",
    },
    "distill_loss": {
        "wrong": [
            ("forgets the T^2 factor: the soft term's gradient shrinks like 1/T^2",
             _distillation("(log_p.exp() * (log_p - log_q)).sum(dim=-1).mean()", soft_weight="alpha")),
            ("the KL divergence the wrong way round: KL(student || teacher)",
             _distillation("(log_q.exp() * (log_q - log_p)).sum(dim=-1).mean()")),
            ("averages the KL terms over examples and classes (divides by N * C) instead of summing over classes",
             _distillation("(log_p.exp() * (log_p - log_q)).mean()")),
            ("the logarithm of a softmax: probabilities that underflow to 0 give log(0) and NaN for large logits",
             _distillation("(p * (torch.log(p) - torch.log(q))).sum(dim=-1).mean()", softened="plain")),
            ("does not detach the teacher's logits: the gradient flows into the teacher",
             _distillation("(log_p.exp() * (log_p - log_q)).sum(dim=-1).mean()", teacher="teacher_logits")),
            ("library shortcut: torch.nn.functional.kl_div",
             "def distillation_loss(student_logits, teacher_logits, targets, temperature=4.0, alpha=0.9):\n"
             "    t = temperature\n"
             "    kl = F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits.detach() / t, dim=-1),\n"
             "                  reduction='batchmean', log_target=True)\n"
             "    return alpha * t * t * kl + (1 - alpha) * F.cross_entropy(student_logits, targets)\n"),
        ],
        "alternative":
            "def distillation_loss(student_logits, teacher_logits, targets, temperature=4.0, alpha=0.9):\n"
            "    # KL = cross-entropy of the soft targets minus their entropy; the hard term written out as an NLL\n"
            "    t = temperature\n"
            "    with torch.no_grad():\n"
            "        soft_targets = torch.softmax(teacher_logits / t, dim=1)\n"
            "        entropy = -(soft_targets * torch.log_softmax(teacher_logits / t, dim=1)).sum(dim=1)\n"
            "    soft_cross_entropy = -(soft_targets * torch.log_softmax(student_logits / t, dim=1)).sum(dim=1)\n"
            "    kl = (soft_cross_entropy - entropy).sum() / student_logits.shape[0]\n"
            "    log_probs = torch.log_softmax(student_logits, dim=1)\n"
            "    hard = -log_probs.gather(1, targets[:, None]).mean()\n"
            "    return alpha * t ** 2 * kl + (1 - alpha) * hard\n",
    },
}
