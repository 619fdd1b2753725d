"""Wrong and alternative solutions to lab 06's exercises, graded for real by tests/test_exercise_mutants.py."""


def _projected_heads(split: str, scale: str) -> str:
    """A vectorised multi-head attention whose head split and score scale are given (two mistakes use it)."""
    return ("def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias,\n"
            "                         out_proj_weight, out_proj_bias, mask=None):\n"
            "    n, l_q, e = query.shape\n"
            "    if e % num_heads:\n"
            "        raise ValueError('num_heads must divide E')\n"
            "    d = e // num_heads\n"
            "    w_q, w_k, w_v = in_proj_weight.chunk(3)\n"
            "    b_q, b_k, b_v = in_proj_bias.chunk(3)\n"
            f"    split = lambda x: {split}\n"
            "    q, k, v = split(F.linear(query, w_q, b_q)), split(F.linear(key, w_k, b_k)), split(F.linear(value, w_v, b_v))\n"
            f"    scores = q @ k.transpose(-2, -1) / math.sqrt({scale})\n"
            "    if mask is not None:\n"
            "        scores = scores.masked_fill(~mask[:, None, None, :], float('-inf'))\n"
            "    weights = torch.softmax(scores, dim=-1)\n"
            "    merged = (weights @ v).transpose(1, 2).reshape(n, l_q, e)\n"
            "    return F.linear(merged, out_proj_weight, out_proj_bias), weights\n")


MUTANTS = {
    "text_pad_batch": {
        "wrong": [
            ("pads on the left instead of the right",
             "def pad_batch(sequences, pad_id=0):\n"
             "    length = max(len(s) for s in sequences)\n"
             "    ids = torch.full((len(sequences), length), pad_id, dtype=torch.int64)\n"
             "    mask = torch.zeros((len(sequences), length), dtype=torch.bool)\n"
             "    for i, s in enumerate(sequences):\n"
             "        if s:\n"
             "            ids[i, length - len(s):] = torch.tensor(s)\n"
             "            mask[i, length - len(s):] = True\n"
             "    return ids, mask\n"),
            ("builds the mask from the ids (ids != pad_id): a real token equal to pad_id is lost",
             "def pad_batch(sequences, pad_id=0):\n"
             "    length = max(len(s) for s in sequences)\n"
             "    ids = torch.full((len(sequences), length), pad_id, dtype=torch.int64)\n"
             "    for i, s in enumerate(sequences):\n"
             "        ids[i, :len(s)] = torch.tensor(s, dtype=torch.int64)\n"
             "    return ids, ids != 0\n"),
            ("library shortcut: torch.nn.utils.rnn.pad_sequence",
             "def pad_batch(sequences, pad_id=0):\n"
             "    rows = [torch.tensor(s, dtype=torch.int64) for s in sequences]\n"
             "    ids = torch.nn.utils.rnn.pad_sequence(rows, batch_first=True, padding_value=pad_id)\n"
             "    lengths = torch.tensor([len(s) for s in sequences])\n"
             "    return ids, torch.arange(ids.shape[1])[None, :] < lengths[:, None]\n"),
        ],
        "alternative":
            "def pad_batch(sequences, pad_id=0):\n"
            "    # plain Python lists first, one tensor at the end; the mask by comparing positions with lengths\n"
            "    length = max(map(len, sequences))\n"
            "    rows = [list(s) + [pad_id] * (length - len(s)) for s in sequences]\n"
            "    ids = torch.tensor(rows, dtype=torch.int64).reshape(len(sequences), length)\n"
            "    lengths = torch.tensor([len(s) for s in sequences])\n"
            "    mask = torch.arange(length)[None, :] < lengths[:, None]\n"
            "    return ids, mask\n",
    },
    "attention_sdpa": {
        "wrong": [
            ("the articles' formula: exp(softmax(Q K^T)) / sqrt(d_k) . V",
             "def attention(q, k, v, mask=None):\n"
             "    scores = q @ k.transpose(-2, -1)\n"
             "    if mask is not None:\n"
             "        scores = scores.masked_fill(~mask, float('-inf'))\n"
             "    weights = torch.exp(torch.softmax(scores, dim=-1)) / math.sqrt(q.shape[-1])\n"
             "    return weights @ v, weights\n"),
            ("masks by zeroing the scores instead of setting them to -inf (masked keys keep weight)",
             "def attention(q, k, v, mask=None):\n"
             "    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])\n"
             "    if mask is not None:\n"
             "        scores = scores.masked_fill(~mask, 0.0)\n"
             "    weights = torch.softmax(scores, dim=-1)\n"
             "    return weights @ v, weights\n"),
            ("library shortcut: F.scaled_dot_product_attention (weights from V = I)",
             "def attention(q, k, v, mask=None):\n"
             "    eye = torch.eye(k.shape[-2], dtype=k.dtype).expand(*k.shape[:-2], -1, -1)\n"
             "    return (F.scaled_dot_product_attention(q, k, v, attn_mask=mask),\n"
             "            F.scaled_dot_product_attention(q, k, eye, attn_mask=mask))\n"),
            ("divides by d_k instead of sqrt(d_k)",
             "def attention(q, k, v, mask=None):\n"
             "    scores = q @ k.transpose(-2, -1) / q.shape[-1]\n"
             "    if mask is not None:\n"
             "        scores = scores.masked_fill(~mask, float('-inf'))\n"
             "    weights = torch.softmax(scores, dim=-1)\n"
             "    return weights @ v, weights\n"),
        ],
        "alternative":
            "def attention(q, k, v, mask=None):\n"
            "    # einsum and a hand-written, numerically stable softmax; torch.where for the mask\n"
            "    scores = torch.einsum('...id,...jd->...ij', q, k) / q.shape[-1] ** 0.5\n"
            "    if mask is not None:\n"
            "        scores = torch.where(mask, scores, torch.tensor(float('-inf'), dtype=scores.dtype))\n"
            "    scores = scores - scores.amax(dim=-1, keepdim=True)\n"
            "    exps = torch.exp(scores)\n"
            "    weights = exps / exps.sum(dim=-1, keepdim=True)\n"
            "    return torch.einsum('...ij,...jd->...id', weights, v), weights\n",
    },
    "attention_mha": {
        "wrong": [
            ("splits the heads with reshape(N, h, L, d) straight from (N, L, E): mixes positions",
             _projected_heads(split="x.reshape(x.shape[0], num_heads, x.shape[1], d)", scale="d")),
            ("scales the scores by sqrt(E) instead of sqrt(d) of one head",
             _projected_heads(split="x.reshape(x.shape[0], x.shape[1], num_heads, d).transpose(1, 2)", scale="e")),
            ("library shortcut: F.multi_head_attention_forward",
             "def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias,\n"
             "                         out_proj_weight, out_proj_bias, mask=None):\n"
             "    if query.shape[-1] % num_heads:\n"
             "        raise ValueError('num_heads must divide E')\n"
             "    out, weights = F.multi_head_attention_forward(\n"
             "        query.transpose(0, 1), key.transpose(0, 1), value.transpose(0, 1), query.shape[-1], num_heads,\n"
             "        in_proj_weight, in_proj_bias, None, None, False, 0.0, out_proj_weight, out_proj_bias,\n"
             "        training=False, key_padding_mask=None if mask is None else ~mask, need_weights=True,\n"
             "        average_attn_weights=False)\n"
             "    return out.transpose(0, 1), weights\n"),
        ],
        "alternative":
            "def multi_head_attention(query, key, value, num_heads, in_proj_weight, in_proj_bias,\n"
            "                         out_proj_weight, out_proj_bias, mask=None):\n"
            "    # a loop over the heads: each head's rows of the projections, attention, then concatenate\n"
            "    e = query.shape[-1]\n"
            "    if e % num_heads != 0:\n"
            "        raise ValueError(f'{num_heads} heads do not divide {e}')\n"
            "    d = e // num_heads\n"
            "    outputs, all_weights = [], []\n"
            "    for h in range(num_heads):\n"
            "        rows = slice(h * d, (h + 1) * d)\n"
            "        q = query @ in_proj_weight[:e][rows].T + in_proj_bias[:e][rows]\n"
            "        k = key @ in_proj_weight[e:2 * e][rows].T + in_proj_bias[e:2 * e][rows]\n"
            "        v = value @ in_proj_weight[2 * e:][rows].T + in_proj_bias[2 * e:][rows]\n"
            "        scores = torch.bmm(q, k.transpose(1, 2)) / d ** 0.5\n"
            "        if mask is not None:\n"
            "            scores = scores.masked_fill(~mask[:, None, :], float('-inf'))\n"
            "        w = torch.softmax(scores, dim=-1)\n"
            "        outputs.append(torch.bmm(w, v))\n"
            "        all_weights.append(w)\n"
            "    merged = torch.cat(outputs, dim=-1)\n"
            "    return merged @ out_proj_weight.T + out_proj_bias, torch.stack(all_weights, dim=1)\n",
    },
    "positions_sinusoidal": {
        "wrong": [
            ("exponent i/dim instead of 2i/dim (frequencies too slow)",
             "def sinusoidal_positions(length, dim):\n"
             "    if dim % 2:\n"
             "        raise ValueError('dim must be even')\n"
             "    t = torch.arange(length, dtype=torch.float64)[:, None]\n"
             "    omega = 10000.0 ** (-torch.arange(dim // 2, dtype=torch.float64) / dim)\n"
             "    pe = torch.zeros(length, dim, dtype=torch.float64)\n"
             "    pe[:, 0::2] = torch.sin(t * omega)\n"
             "    pe[:, 1::2] = torch.cos(t * omega)\n"
             "    return pe.float()\n"),
            ("sines in the first half and cosines in the second, not interleaved",
             "def sinusoidal_positions(length, dim):\n"
             "    if dim % 2:\n"
             "        raise ValueError('dim must be even')\n"
             "    t = torch.arange(length, dtype=torch.float64)[:, None]\n"
             "    omega = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)\n"
             "    return torch.cat([torch.sin(t * omega), torch.cos(t * omega)], dim=1).float()\n"),
            ("an odd dim is silently truncated instead of rejected",
             "def sinusoidal_positions(length, dim):\n"
             "    t = torch.arange(length, dtype=torch.float64)[:, None]\n"
             "    omega = 10000.0 ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)\n"
             "    pe = torch.zeros(length, 2 * len(omega), dtype=torch.float64)\n"
             "    pe[:, 0::2] = torch.sin(t * omega)\n"
             "    pe[:, 1::2] = torch.cos(t * omega)\n"
             "    return pe[:, :dim].float()\n"),
        ],
        "alternative":
            "def sinusoidal_positions(length, dim):\n"
            "    # NumPy: angles t / 10000^(2i/dim) for every (t, i), then sin and cos stacked and interleaved\n"
            "    if dim % 2 == 1:\n"
            "        raise ValueError('the encoding pairs sines and cosines: dim must be even')\n"
            "    angles = np.arange(length)[:, None] / np.power(10000.0, np.arange(0, dim, 2)[None, :] / dim)\n"
            "    pairs = np.stack([np.sin(angles), np.cos(angles)], axis=-1)      # (length, dim/2, 2)\n"
            "    return torch.from_numpy(pairs.reshape(length, dim)).to(torch.float32)\n",
    },
}
