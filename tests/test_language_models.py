"""The language labs' library: tokenisers, vocabulary, padding, length batches, the BERT encoder,
MLM masking and its training step, the attention picture and viewer."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import labkit
from labkit import mlm, text
from labkit.models import BertClassifier, BertForMaskedLM, bert

VOCAB = 60


def tiny_bert(**kwargs):
    options = dict(hidden=32, layers=2, heads=4, max_len=16, dropout=0.0, device="cpu")
    return bert(VOCAB, **{**options, **kwargs})


def batch_with_padding(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(5, VOCAB, (3, 12), generator=gen)
    mask = torch.ones(3, 12, dtype=torch.bool)
    mask[1, 7:] = False
    mask[2, 3:] = False
    return ids.masked_fill(~mask, 0), mask


# --- tokenisers and vocabulary ------------------------------------------------------------------

def test_simple_tokenize_keeps_words_numbers_and_punctuation():
    assert text.simple_tokenize("Don't divide 3.5 by Zero!") == ["don't", "divide", "3.5", "by", "zero", "!"]


def test_vocabulary_orders_by_frequency_then_alphabet_with_specials_first():
    vocab = text.Vocabulary.build([["b", "a", "c"], ["a", "b", "d"], ["a"]], max_size=5)
    assert vocab.tokens == ["[PAD]", "[UNK]", "a", "b", "c"]
    assert (vocab.pad_id, vocab.unk_id) == (0, 1)
    assert vocab.encode(["a", "zebra", "c"]) == [2, 1, 4] and vocab.decode([3, 0]) == ["b", "[PAD]"]
    assert text.Vocabulary.build([["a", "b", "b"]], min_freq=2).tokens == ["[PAD]", "[UNK]", "b"]


def test_vocabulary_too_small_for_its_specials_is_refused():
    with pytest.raises(ValueError, match="no room beside the 2 special tokens"):
        text.Vocabulary.build([["a"]], max_size=2)


def test_pad_truncates_and_masks():
    ids, mask = text.pad([[5, 6, 7, 8], [9], torch.tensor([10, 11])], pad_id=0, max_len=3)
    assert ids.tolist() == [[5, 6, 7], [9, 0, 0], [10, 11, 0]]
    assert mask.tolist() == [[True] * 3, [True, False, False], [True, True, False]]
    with pytest.raises(ValueError, match="at least one"):
        text.pad([])


def test_length_batches_cover_every_sequence_once_with_its_label_and_less_padding():
    gen = torch.Generator().manual_seed(0)
    sequences = [list(range(5, 5 + int(n))) for n in torch.randint(1, 60, (300,), generator=gen)]
    labels = torch.arange(300)
    grouped = text.LengthBatches(sequences, labels, batch_size=16, seed=1)
    shuffled = text.LengthBatches(sequences, labels, batch_size=16, seed=1, bucket=0)
    first = list(grouped)
    assert len(first) == len(grouped) == 19
    seen = torch.cat([b["labels"] for b in first])
    assert sorted(seen.tolist()) == list(range(300))                     # every sequence, once
    for batch in first:                                                  # ids, mask and label stay together
        for row, real, label in zip(batch["ids"], batch["mask"], batch["labels"]):
            assert row[real].tolist() == sequences[label]
    second = torch.cat([b["labels"] for b in grouped])
    assert not torch.equal(seen, second)                                 # a new order each epoch
    assert grouped.padding_fraction() < 0.5 * shuffled.padding_fraction()
    with pytest.raises(ValueError, match="labels for"):
        text.LengthBatches(sequences, labels[:5])


def test_wordpiece_round_trip_specials_and_errors():
    corpus = ["The quick brown fox jumps over the lazy dog. " * 3, "Tokenizers split rare words into pieces."] * 20
    tokenizer = text.train_wordpiece(corpus, vocab_size=120, min_frequency=1)
    assert [tokenizer.token_to_id(t) for t in text.SPECIAL_TOKENS] == [0, 1, 2, 3, 4]
    sentence = "the lazy fox splits pieces"
    encoding = tokenizer.encode(sentence)
    assert encoding.tokens[0] == "[CLS]" and encoding.tokens[-1] == "[SEP]"
    assert any(t.startswith("##") for t in encoding.tokens)
    assert tokenizer.decode(encoding.ids) == sentence
    ids, mask = text.encode(tokenizer, [sentence, "fox"], max_len=6)
    assert ids.shape == (2, 6) and ids[0, 0] == 2 and ids[0, -1] == 3 and mask[1].sum() == 3
    with pytest.raises(ValueError, match="too small for the 5 special tokens"):
        text.train_wordpiece(corpus, vocab_size=5)
    with pytest.raises(ValueError, match="non-empty texts"):
        text.train_wordpiece(["", "  "])


# --- the encoder --------------------------------------------------------------------------------

def test_bert_shapes_tying_and_parameter_count():
    model = tiny_bert()
    assert isinstance(model, BertForMaskedLM)
    assert model.decoder.weight is model.encoder.tokens.weight
    ids, mask = batch_with_padding()
    hidden = model(ids, mask)
    assert hidden.shape == (3, 12, 32)
    assert model.mlm_logits(hidden[mask]).shape == (int(mask.sum()), VOCAB)
    every_use = sum(p.numel() for _, p in model.named_parameters(remove_duplicate=False))
    assert every_use == sum(p.numel() for p in model.parameters()) + VOCAB * 32     # one matrix, counted once


def test_padding_changes_nothing_at_real_positions():
    model = tiny_bert().eval()
    ids, mask = batch_with_padding()
    other = ids.masked_fill(~mask, 17)                                   # different tokens under the padding
    assert torch.allclose(model(ids, mask)[mask], model(other, mask)[mask], atol=1e-6)
    classifier = tiny_bert(num_classes=3).eval()
    assert torch.allclose(classifier(ids, mask), classifier(other, mask), atol=1e-6)


def test_attention_maps_are_the_weights_forward_uses():
    model = tiny_bert().eval()
    ids, mask = batch_with_padding()
    maps = model.encoder.attention_maps(ids, mask)
    assert maps.shape == (2, 3, 4, 12, 12)
    assert torch.allclose(maps.sum(-1), torch.ones(()), atol=1e-6)
    assert maps[:, 2, :, :, 3:].abs().max() == 0                         # padded keys get no weight
    block = model.encoder.blocks[0]
    x = block.norm1(model.encoder.embed(ids))
    _, _, v = block.attention._heads(x)
    by_hand = block.attention.out((maps[0] @ v).transpose(1, 2).flatten(2))
    assert torch.allclose(by_hand, block.attention(x, mask[:, None, None, :]), atol=1e-5)


def test_bert_rejects_bad_shapes_with_clear_messages():
    with pytest.raises(ValueError, match="heads=5 must divide hidden=32"):
        tiny_bert(heads=5)
    with pytest.raises(ValueError, match="special tokens"):
        bert(4, hidden=32)
    with pytest.raises(ValueError, match="longer than the model's 16 positions"):
        tiny_bert()(torch.randint(5, VOCAB, (1, 17)))
    with pytest.raises(ValueError, match="must have the shape of ids"):
        tiny_bert()(torch.randint(5, VOCAB, (2, 8)), torch.ones(2, 7, dtype=torch.bool))


def test_from_pretrained_copies_the_encoder_and_leaves_the_original_alone():
    pretrained = tiny_bert()
    before = {k: v.clone() for k, v in pretrained.state_dict().items()}
    classifier = BertClassifier.from_pretrained(pretrained, num_classes=3, dropout=0.2)
    assert classifier.config.dropout == 0.2 and classifier.encoder.blocks[0].attention.dropout == 0.2
    for name, value in pretrained.encoder.state_dict().items():
        assert torch.equal(classifier.encoder.state_dict()[name], value)
    ids, mask = batch_with_padding()
    F.cross_entropy(classifier(ids, mask), torch.tensor([0, 1, 2])).backward()
    torch.optim.SGD(classifier.parameters(), lr=1.0).step()
    assert all(torch.equal(before[k], v) for k, v in pretrained.state_dict().items())
    with pytest.raises(TypeError, match="expects a BertForMaskedLM"):
        BertClassifier.from_pretrained(classifier, 3)


# --- masked language modelling ------------------------------------------------------------------

def test_mask_tokens_follows_bert_rule_statistically():
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(5, 1000, (400, 128), generator=gen)
    special = torch.zeros_like(ids, dtype=torch.bool)
    special[:, 0] = special[:, -1] = True
    special[:, 100:] = True                                              # padding
    inputs, labels = mlm.mask_tokens(ids, mask_id=4, vocab_size=1000, special=special, generator=gen)
    chosen = labels != -100
    eligible = int((~special).sum())
    share = chosen.sum().item() / eligible
    assert abs(share - 0.15) < 4 * math.sqrt(0.15 * 0.85 / eligible)
    assert not chosen[special].any()
    assert torch.equal(labels[chosen], ids[chosen]) and torch.equal(inputs[~chosen], ids[~chosen])
    n = int(chosen.sum())
    masked = (inputs[chosen] == 4).float().mean().item()
    kept = (inputs[chosen] == ids[chosen]).float().mean().item()
    swapped = 1 - masked - kept
    for observed, expected in ((masked, 0.8), (kept, 0.1), (swapped, 0.1)):
        assert abs(observed - expected) < 4 * math.sqrt(expected * (1 - expected) / n)
    assert inputs[chosen].ge(4).all() and inputs.lt(1000).all()
    again = mlm.mask_tokens(ids, mask_id=4, vocab_size=1000, special=special, generator=torch.Generator().manual_seed(0))
    replay = torch.Generator().manual_seed(0)
    torch.randint(5, 1000, (400, 128), generator=replay)
    assert not torch.equal(again[1], labels)                             # the generator decides the draw
    assert all(torch.equal(a, b) for a, b in zip(
        mlm.mask_tokens(ids, mask_id=4, vocab_size=1000, special=special, generator=replay), (inputs, labels)))


def test_mask_tokens_rejects_bad_arguments():
    ids = torch.randint(5, 50, (2, 8))
    with pytest.raises(ValueError, match="in \\(0, 1\\)"):
        mlm.mask_tokens(ids, mask_id=4, vocab_size=50, prob=1.5)
    with pytest.raises(ValueError, match="shape of ids"):
        mlm.mask_tokens(ids, mask_id=4, vocab_size=50, special=torch.zeros(2, 7, dtype=torch.bool))


def test_warmup_linear_rises_then_decays_to_zero():
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    schedule = mlm.warmup_linear(optimizer, warmup_steps=4, total_steps=10)
    rates = []
    for _ in range(10):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[:5] == pytest.approx([0.25, 0.5, 0.75, 1.0, 1.0])
    assert rates[5:] == pytest.approx([5 / 6, 4 / 6, 3 / 6, 2 / 6, 1 / 6])
    assert optimizer.param_groups[0]["lr"] == 0
    with pytest.raises(ValueError, match="warmup_steps"):
        mlm.warmup_linear(optimizer, warmup_steps=10, total_steps=10)


def test_mlm_step_learns_to_fill_in_a_repeated_pattern():
    torch.manual_seed(0)
    pattern = torch.arange(5, 17).repeat(64, 1)                          # every sequence is 5, 6, ..., 16
    mask = torch.ones_like(pattern, dtype=torch.bool)
    model = tiny_bert()
    step = mlm.mlm_step(mask_id=4, vocab_size=VOCAB)
    history = labkit.fit(model, (pattern, mask), epochs=8, step_fn=step, optimizer=torch.optim.AdamW(model.parameters(), 5e-3),
                         batch_size=16, val=(pattern, mask), val_step_fn=mlm.mlm_step(mask_id=4, vocab_size=VOCAB, train=False),
                         plot=False, progress=False)
    assert history.rows[0]["loss"] > math.log(VOCAB) - 1                # starts near uniform guessing
    assert history.rows[-1]["val_accuracy"] > 0.9                       # positions make the tokens predictable


def test_classification_step_and_predict_on_length_batches():
    torch.manual_seed(0)
    gen = torch.Generator().manual_seed(1)
    labels = torch.randint(0, 2, (120,), generator=gen)
    sequences = [[5 + int(y)] * int(n) for y, n in zip(labels, torch.randint(2, 12, (120,), generator=gen))]
    batches = text.LengthBatches(sequences, labels, batch_size=16)
    model = tiny_bert(num_classes=2)
    labkit.fit(model, batches, epochs=4, step_fn=text.classification_step(), plot=False, progress=False,
               optimizer=torch.optim.Adam(model.parameters(), 3e-3))
    predicted, truth = text.predict(model, text.LengthBatches(sequences, labels, shuffle=False))
    assert sorted(truth.tolist()) == sorted(labels.tolist())
    assert (predicted == truth).float().mean() == 1


# --- pictures -----------------------------------------------------------------------------------

def test_attention_viewer_follows_its_controls():
    maps = tiny_bert().encoder.attention_maps(*batch_with_padding())[:, 1:2]
    viewer = labkit.widgets.AttentionViewer(maps, [f"w{i}" for i in range(7)])
    assert viewer.weights.shape == (7, 7)
    viewer.layer.value, viewer.head.value = 1, 2
    assert torch.allclose(torch.as_tensor(viewer.weights), maps[1, 0, 2, :7, :7].double())
    assert "layer 1, head 2" in viewer.figure.axes[0].get_title()
    with pytest.raises(ValueError, match="holds? 3 sequences"):
        labkit.widgets.AttentionViewer(tiny_bert().encoder.attention_maps(*batch_with_padding()), ["a"])
    with pytest.raises(ValueError, match="tokens for 4 positions"):
        labkit.plots.attention_map(torch.ones(4, 4) / 4, ["a", "b"])


def test_mask_tokens_caps_predictions_per_sequence():
    ids = torch.randint(5, 50, (64, 40), generator=torch.Generator().manual_seed(3))
    _, labels = mlm.mask_tokens(ids, mask_id=4, vocab_size=50, prob=0.5, max_per_sequence=6,
                                generator=torch.Generator().manual_seed(4))
    per_sequence = (labels != -100).sum(1)
    assert per_sequence.max() == 6 and per_sequence.min() >= 1
    assert mlm.max_predictions(128) == 32 and mlm.max_predictions(8) == 8


def test_mlm_step_scores_exactly_the_masked_tokens():
    """The step's loss equals cross-entropy over the masked positions, computed the plain way."""
    model = tiny_bert()
    ids, mask = batch_with_padding(5)

    class Context:
        def __init__(self):
            self.model = model

        def autocast(self):
            return torch.autocast("cpu", enabled=False)

    torch.manual_seed(7)
    logged = mlm.mlm_step(mask_id=4, vocab_size=VOCAB, prob=0.3, train=False)((ids, mask), Context())
    torch.manual_seed(7)
    special = (ids < 5) | ~mask
    inputs, labels = mlm.mask_tokens(ids, mask_id=4, vocab_size=VOCAB, special=special, prob=0.3,
                                     max_per_sequence=mlm.max_predictions(ids.shape[1], 0.3))
    chosen = labels != -100
    logits = model.mlm_logits(model(inputs, mask)[chosen])
    assert logged["count"] == chosen.sum()
    assert torch.allclose(logged["loss"], F.cross_entropy(logits, labels[chosen]), atol=1e-5)
    assert torch.allclose(logged["accuracy"], (logits.argmax(-1) == labels[chosen]).float().mean())
