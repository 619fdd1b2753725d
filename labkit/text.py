"""Text for the language labs: tokenisers, a vocabulary, padding and masks, batches grouped by length.

Word-level tools (``simple_tokenize``, :class:`Vocabulary`) are what lab 06 builds first; the
subword tokeniser is HF ``tokenizers``' WordPiece, BERT's, trained on the lab's own corpus.
"""
from __future__ import annotations

import random
import re
from collections import Counter
from typing import Any, Iterable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from labkit.arguments import check_positive_int
from labkit.models.evaluating import evaluating

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?|\d+(?:\.\d+)?|[^\sa-z\d]")


def simple_tokenize(text: str) -> list[str]:
    """Lower-cased words (with an apostrophe inside: "don't"), numbers and single punctuation marks."""
    return _WORDS.findall(text.lower())


class Vocabulary:
    """A mapping between tokens and ids; the special tokens come first ([PAD] = 0, [UNK] = 1)."""

    def __init__(self, tokens: Sequence[str], specials: Sequence[str] = ("[PAD]", "[UNK]")) -> None:
        if "[UNK]" not in specials or "[PAD]" not in specials:
            raise ValueError(f"specials must include '[PAD]' and '[UNK]', got {tuple(specials)}")
        self.specials = tuple(specials)
        self.tokens = list(self.specials) + [t for t in tokens if t not in self.specials]
        self._index = {token: i for i, token in enumerate(self.tokens)}
        if len(self._index) != len(self.tokens):
            raise ValueError("the vocabulary's tokens must be unique")

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]], *, min_freq: int = 1, max_size: int | None = None,
              specials: Sequence[str] = ("[PAD]", "[UNK]")) -> "Vocabulary":
        """The tokens seen at least ``min_freq`` times, most frequent first (ties alphabetical),
        at most ``max_size`` entries in all, specials included."""
        check_positive_int(min_freq, "min_freq")
        if max_size is not None and (not isinstance(max_size, int) or max_size <= len(specials)):
            raise ValueError(f"max_size={max_size!r} leaves no room beside the {len(specials)} special tokens "
                             f"{tuple(specials)}; use max_size > {len(specials)} or None")
        counts = Counter(token for tokens in token_lists for token in tokens)
        ranked = sorted((t for t, c in counts.items() if c >= min_freq and t not in specials),
                        key=lambda t: (-counts[t], t))
        if max_size is not None:
            ranked = ranked[:max_size - len(specials)]
        return cls(ranked, specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._index

    def __repr__(self) -> str:
        return f"Vocabulary({len(self):,} tokens: {', '.join(self.tokens[:8])}, ...)"

    @property
    def pad_id(self) -> int:
        return self._index["[PAD]"]

    @property
    def unk_id(self) -> int:
        return self._index["[UNK]"]

    def index(self, token: str) -> int:
        """The id of ``token`` (the [UNK] id if it is not in the vocabulary)."""
        return self._index.get(token, self.unk_id)

    def encode(self, tokens: Sequence[str]) -> list[int]:
        return [self.index(token) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        return [self.tokens[int(i)] for i in ids]


def pad(sequences: Sequence[Sequence[int] | torch.Tensor], *, pad_id: int = 0,
        max_len: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)``, both (N, L): the sequences padded with ``pad_id`` to the longest (at most
    ``max_len``, keeping each sequence's first tokens); ``mask`` is True on real tokens."""
    if len(sequences) == 0:
        raise ValueError("pad() needs at least one sequence")
    if max_len is not None:
        check_positive_int(max_len, "max_len")
    rows = [torch.as_tensor(s, dtype=torch.long).flatten()[:max_len] for s in sequences]
    length = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.bool)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = row
        mask[i, :len(row)] = True
    return ids, mask


class LengthBatches:
    """Dict batches ``{"ids", "mask"[, "labels"]}`` of sequences of similar length, for :func:`labkit.fit`.

    Sequences are sorted by length within chunks of ``bucket * batch_size`` (a fresh random
    chunking each epoch when ``shuffle``), cut into batches, and the batches shuffled: little
    padding, yet a different order every epoch. ``bucket=0`` batches in random order with no
    length grouping (the comparison for :meth:`padding_fraction`).
    """

    def __init__(self, sequences: Sequence[Sequence[int]], labels: Sequence[int] | torch.Tensor | None = None, *,
                 batch_size: int = 32, shuffle: bool = True, seed: int = 0, pad_id: int = 0,
                 max_len: int | None = None, bucket: int = 50) -> None:
        check_positive_int(batch_size, "batch_size")
        if not sequences:
            raise ValueError("LengthBatches needs at least one sequence")
        if labels is not None and len(labels) != len(sequences):
            raise ValueError(f"{len(labels)} labels for {len(sequences)} sequences")
        if not isinstance(bucket, int) or bucket < 0:
            raise ValueError(f"bucket must be an integer >= 0 (0: no length grouping), got {bucket!r}")
        self.sequences = [list(s)[:max_len] for s in sequences]
        self.labels = None if labels is None else torch.as_tensor(labels, dtype=torch.long)
        self.batch_size, self.shuffle, self.pad_id, self.bucket = batch_size, shuffle, pad_id, bucket
        self.max_len = max_len
        self._rng = random.Random(seed)

    def __len__(self) -> int:
        return -(-len(self.sequences) // self.batch_size)

    def _batches(self) -> list[list[int]]:
        order = list(range(len(self.sequences)))
        if self.shuffle:
            self._rng.shuffle(order)
        if self.bucket:
            chunk = self.bucket * self.batch_size
            by_length = lambda i: len(self.sequences[i])                 # noqa: E731
            order = [i for start in range(0, len(order), chunk) for i in sorted(order[start:start + chunk], key=by_length)]
        batches = [order[i:i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.shuffle:
            self._rng.shuffle(batches)
        return batches

    def _collate(self, index: list[int]) -> dict[str, torch.Tensor]:
        ids, mask = pad([self.sequences[i] for i in index], pad_id=self.pad_id)
        batch = {"ids": ids, "mask": mask}
        if self.labels is not None:
            batch["labels"] = self.labels[index]
        return batch

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        for index in self._batches():
            yield self._collate(index)

    def padding_fraction(self) -> float:
        """The share of padded positions over one epoch's batches (without consuming an epoch's shuffle)."""
        state = self._rng.getstate()
        try:
            batches = self._batches()
        finally:
            self._rng.setstate(state)
        lengths = [[len(self.sequences[i]) for i in b] for b in batches]
        total = sum(max(ls) * len(ls) for ls in lengths)
        return 1 - sum(map(sum, lengths)) / total

    def __repr__(self) -> str:
        return (f"LengthBatches({len(self.sequences):,} sequences, {len(self)} batches of {self.batch_size}, "
                f"{'grouped by length' if self.bucket else 'random order'})")


def classification_step(train: bool = True):
    """A step function for :func:`labkit.fit` on dict batches ``{"ids", "mask", "labels"}``: the
    model's ``forward(ids, mask)`` gives logits (N, C); logs ``loss`` (cross-entropy) and ``accuracy``."""
    def step(batch: Any, ctx: Any) -> dict[str, torch.Tensor]:
        with ctx.autocast():
            logits = ctx.model(batch["ids"], batch["mask"])
            loss = F.cross_entropy(logits.float(), batch["labels"])
        if train:
            ctx.optimize(loss)
        accuracy = (logits.argmax(-1) == batch["labels"]).float().mean()
        return {"loss": loss.detach(), "accuracy": accuracy}

    return step


@torch.no_grad()
def predict(model: nn.Module, batches: Iterable[dict[str, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(predictions, labels)`` over every batch, in the batches' order (eval mode, no gradients)."""
    device = next(model.parameters()).device
    predictions, labels = [], []
    with evaluating(model):
        for batch in batches:
            logits = model(batch["ids"].to(device), batch["mask"].to(device))
            predictions.append(logits.argmax(-1).cpu())
            labels.append(batch["labels"].cpu())
    return torch.cat(predictions), torch.cat(labels)


def train_wordpiece(texts: Iterable[str], *, vocab_size: int = 8000, min_frequency: int = 2,
                    lowercase: bool = True) -> Any:
    """A BERT WordPiece tokenizer (HF ``tokenizers``) trained on ``texts``: BERT's normaliser and
    pre-tokeniser, ``##`` continuations, the specials of :data:`SPECIAL_TOKENS` as ids 0-4, and
    "[CLS] ... [SEP]" added around every encoded text."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    if not isinstance(vocab_size, int) or vocab_size <= len(SPECIAL_TOKENS) + 1:
        raise ValueError(f"vocab_size={vocab_size!r} is too small for the {len(SPECIAL_TOKENS)} special tokens "
                         f"{SPECIAL_TOKENS} plus the characters of the text; use a few thousand")
    check_positive_int(min_frequency, "min_frequency")
    texts = list(texts)
    if not any(t.strip() for t in texts):
        raise ValueError("train_wordpiece needs non-empty texts to learn a vocabulary from")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=vocab_size, min_frequency=min_frequency,
                                        special_tokens=list(SPECIAL_TOKENS), show_progress=False)
    tokenizer.train_from_iterator(texts, trainer=trainer)
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)])
    return tokenizer


def encode(tokenizer: Any, texts: Sequence[str], *, max_len: int = 128) -> tuple[torch.Tensor, torch.Tensor]:
    """``(ids, mask)`` (N, L) for ``texts``: each truncated to ``max_len`` tokens ([CLS] and [SEP]
    included), padded with [PAD] to the longest."""
    check_positive_int(max_len, "max_len")
    if max_len < 3:
        raise ValueError(f"max_len={max_len} leaves no room for text between [CLS] and [SEP]")
    if isinstance(texts, str):
        raise TypeError("encode() takes a list of texts; wrap a single text in a list")
    encodings = tokenizer.encode_batch(list(texts))
    pad_id = tokenizer.token_to_id("[PAD]")
    sequences = []
    for e in encodings:
        ids = e.ids
        if len(ids) > max_len:                                         # keep [CLS] ... and the closing [SEP]
            ids = ids[:max_len - 1] + ids[-1:]
        sequences.append(ids)
    return pad(sequences, pad_id=pad_id)
