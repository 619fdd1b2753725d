"""A BERT-style encoder: pre-LN Transformer blocks with fused QKV and SDPA, an MLM head, a classifier.

The shape of BERT (Devlin et al., 2019) with the choices that train stably and fast: LayerNorm
before each sub-layer (pre-LN, Xiong et al., 2020), one matrix multiply for Q, K and V,
``F.scaled_dot_product_attention`` (a fused kernel on GPUs), and an MLM head applied only to
the masked positions, its output layer tied to the token embeddings.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from labkit.arguments import check_positive_int, check_probability
from labkit.models.placement import place

NUM_SPECIAL_TOKENS = 5          # [PAD], [UNK], [CLS], [SEP], [MASK]: see labkit.text.SPECIAL_TOKENS


@dataclass(frozen=True)
class BertConfig:
    """The sizes of an encoder; ``ffn`` is the MLP's hidden width (4 * hidden in BERT)."""

    vocab_size: int
    hidden: int = 256
    layers: int = 4
    heads: int = 4
    ffn: int = 1024
    max_len: int = 128
    dropout: float = 0.1
    pad_id: int = 0

    def __post_init__(self) -> None:
        for name in ("vocab_size", "hidden", "layers", "heads", "ffn", "max_len"):
            check_positive_int(getattr(self, name), name)
        check_probability(self.dropout, "dropout")
        if self.vocab_size < NUM_SPECIAL_TOKENS:
            raise ValueError(f"vocab_size={self.vocab_size} cannot hold the {NUM_SPECIAL_TOKENS} special tokens "
                             "[PAD], [UNK], [CLS], [SEP], [MASK]; use the tokenizer's vocabulary size")
        if self.hidden % self.heads:
            near = sorted((h for h in range(1, self.hidden + 1) if self.hidden % h == 0), key=lambda h: abs(h - self.heads))
            raise ValueError(f"heads={self.heads} must divide hidden={self.hidden} (each head gets hidden / heads "
                             f"dimensions); e.g. heads={near[0]} or {near[1]}")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} is not a token id of a {self.vocab_size}-token vocabulary")


class SelfAttention(nn.Module):
    """Multi-head self-attention: fused QKV projection, SDPA with a key-padding mask, output projection."""

    def __init__(self, hidden: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads, self.dropout = heads, dropout
        self.qkv = nn.Linear(hidden, 3 * hidden)
        self.out = nn.Linear(hidden, hidden)

    def _heads(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        n, length, hidden = x.shape
        qkv = self.qkv(x).view(n, length, 3, self.heads, hidden // self.heads)
        return qkv.permute(2, 0, 3, 1, 4).unbind(0)                 # 3 x (N, heads, L, d)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        q, k, v = self._heads(x)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).flatten(2))

    def weights(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        """The attention probabilities softmax(QK^T / sqrt(d)) that forward uses, (N, heads, L, L)."""
        q, k, _ = self._heads(x)
        scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
        if attn_mask is not None:
            scores = scores.masked_fill(~attn_mask, float("-inf"))
        return scores.softmax(-1)


class EncoderBlock(nn.Module):
    """Pre-LN block: x + attention(LN(x)), then x + MLP(LN(x)) with a GELU MLP."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.hidden)
        self.attention = SelfAttention(config.hidden, config.heads, config.dropout)
        self.norm2 = nn.LayerNorm(config.hidden)
        self.mlp = nn.Sequential(nn.Linear(config.hidden, config.ffn), nn.GELU(), nn.Linear(config.ffn, config.hidden))
        self.drop = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.drop(self.attention(self.norm1(x), attn_mask))
        return x + self.drop(self.mlp(self.norm2(x)))


class Encoder(nn.Module):
    """Token and learned position embeddings, ``layers`` pre-LN blocks and a final LayerNorm."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.tokens = nn.Embedding(config.vocab_size, config.hidden, padding_idx=config.pad_id)
        self.positions = nn.Embedding(config.max_len, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.blocks = nn.ModuleList(EncoderBlock(config) for _ in range(config.layers))
        self.norm = nn.LayerNorm(config.hidden)
        self.apply(_init_weights)

    def _attn_mask(self, ids: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor | None:
        if ids.dim() != 2:
            raise ValueError(f"ids must be (batch, length) token ids, got shape {tuple(ids.shape)}")
        if ids.shape[1] > self.config.max_len:
            raise ValueError(f"a sequence of {ids.shape[1]} tokens is longer than the model's {self.config.max_len} "
                             f"positions: truncate the input (e.g. labkit.text.encode(..., max_len="
                             f"{self.config.max_len})) or build the model with max_len >= {ids.shape[1]}")
        if mask is None:
            return None
        if mask.shape != ids.shape:
            raise ValueError(f"mask {tuple(mask.shape)} must have the shape of ids {tuple(ids.shape)}")
        return mask.bool()[:, None, None, :]                          # (N, 1, 1, L): keys that may be attended

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(ids.shape[1], device=ids.device)
        return self.drop(self.tokens(ids) + self.positions(positions))

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Final token states (N, L, hidden); ``mask`` (N, L) is True on real tokens, False on padding."""
        attn_mask = self._attn_mask(ids, mask)
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, attn_mask)
        return self.norm(x)

    @torch.no_grad()
    def attention_maps(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Attention probabilities of every layer and head, (layers, N, heads, L, L), in eval mode."""
        was_training = self.training
        self.eval()
        try:
            attn_mask = self._attn_mask(ids, mask)
            x, maps = self.embed(ids), []
            for block in self.blocks:
                maps.append(block.attention.weights(block.norm1(x), attn_mask))
                x = block(x, attn_mask)
            return torch.stack(maps)
        finally:
            self.train(was_training)


def _init_weights(module: nn.Module) -> None:
    """BERT's initialisation: N(0, 0.02) weights, zero biases, LayerNorm at identity."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.Embedding) and module.padding_idx is not None:
            nn.init.zeros_(module.weight[module.padding_idx])


class BertForMaskedLM(nn.Module):
    """The encoder with the MLM head: dense, GELU, LayerNorm, then the tied output layer."""

    def __init__(self, config: BertConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = Encoder(config)
        self.transform = nn.Sequential(nn.Linear(config.hidden, config.hidden), nn.GELU(), nn.LayerNorm(config.hidden))
        self.decoder = nn.Linear(config.hidden, config.vocab_size)
        self.transform.apply(_init_weights)
        nn.init.zeros_(self.decoder.bias)
        self.decoder.weight = self.encoder.tokens.weight              # weight tying: one matrix, two uses

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """Final token states (N, L, hidden); pass the masked positions' rows to :meth:`mlm_logits`."""
        return self.encoder(ids, mask)

    def mlm_logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """Vocabulary logits (M, vocab) for the rows (M, hidden) given: the masked positions only."""
        return self.decoder(self.transform(hidden))


class BertClassifier(nn.Module):
    """The encoder with a classification head on the mean of its final token states (real tokens only).

    BERT classifies from its [CLS] state, which its next-sentence objective trains; labkit pretrains
    with masked language modelling alone, so it pools the mean of the token states instead.
    """

    def __init__(self, config: BertConfig, num_classes: int, encoder: Encoder | None = None) -> None:
        super().__init__()
        check_positive_int(num_classes, "num_classes")
        self.config = config
        self.encoder = encoder if encoder is not None else Encoder(config)
        self.drop = nn.Dropout(config.dropout)
        self.head = nn.Linear(config.hidden, num_classes)
        _init_weights(self.head)

    def forward(self, ids: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        states = self.encoder(ids, mask)
        if mask is None:
            pooled = states.mean(1)
        else:
            weights = mask.to(states.dtype).unsqueeze(-1)
            pooled = (states * weights).sum(1) / weights.sum(1).clamp_min(1)
        return self.head(self.drop(pooled))

    @classmethod
    def from_pretrained(cls, pretrained: BertForMaskedLM, num_classes: int,
                        dropout: float | None = None) -> "BertClassifier":
        """A classifier whose encoder is a copy of ``pretrained``'s (left untouched), with a fresh head."""
        if not isinstance(pretrained, BertForMaskedLM):
            raise TypeError(f"from_pretrained expects a BertForMaskedLM, got {type(pretrained).__name__}")
        config = pretrained.config
        if dropout is not None:
            config = replace(config, dropout=dropout)
        encoder = copy.deepcopy(pretrained.encoder)
        for module in encoder.modules():
            if isinstance(module, nn.Dropout):
                module.p = config.dropout
            if isinstance(module, SelfAttention):
                module.dropout = config.dropout
        encoder.config = config
        device = pretrained.encoder.tokens.weight.device
        return cls(config, num_classes, encoder).to(device)


def bert(vocab_size: int, *, hidden: int = 256, layers: int = 4, heads: int = 4, ffn: int | None = None,
         max_len: int = 128, dropout: float = 0.1, num_classes: int | None = None, pad_id: int = 0,
         device: str | torch.device | None = None) -> BertForMaskedLM | BertClassifier:
    """A BERT-style encoder on ``device``: a :class:`BertForMaskedLM`, or with ``num_classes`` a
    :class:`BertClassifier`. ``ffn`` defaults to 4 * hidden; ``heads`` must divide ``hidden``."""
    config = BertConfig(vocab_size, hidden, layers, heads, 4 * hidden if ffn is None else ffn, max_len, dropout, pad_id)
    model = BertForMaskedLM(config) if num_classes is None else BertClassifier(config, num_classes)
    return place(model, device)
