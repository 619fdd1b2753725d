"""Text corpora and tasks: the offline python-docs build, its splits, no leaks, and the download tiers on 127.0.0.1."""
import ast
import contextlib
import functools
import hashlib
import io
import re
import socket
import tokenize
import zipfile

import pytest

from conftest import Route
from labkit.data import Corpus, DatasetEntry, RemoteFile, TextTask, load_corpus, load_text_task
from labkit.data import ag_news, python_docs  # noqa: F401 (registers ag_news)
from labkit.data.registry import REGISTRY
from labkit.data.text import parse_wikitext

SPLITS = ("train", "validation", "test")
FAKE_WIKITEXT = {
    "train": (" \n = Valkyria Chronicles III = \n \n Senjō no Valkyria 3 is a tactical role @-@ playing game . \n"
              " \n = = Gameplay = = \n \n It sold 1 @,@ 000 copies and scored 8 @.@ 5 . \n"
              " \n = Tower Building of the Little Rock Arsenal = \n \n"
              " The building is a two @-@ storey structure . \n"),
    "validation": " \n = Homarus gammarus = \n \n Homarus gammarus is a species of clawed lobster . \n",
    "test": " \n = Robert Boulter = \n \n Robert Boulter is an English film and television actor . \n",
}
MEMBERS = {"train": "wiki.train.raw", "validation": "wiki.valid.raw", "test": "wiki.test.raw"}


def wikitext_zip(texts: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for split, text in texts.items():
            archive.writestr(zipfile.ZipInfo(f"wikitext-2-raw/{MEMBERS[split]}", (2020, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The python-docs corpus built once for this module (saved in a cache of its own), and what it printed."""
    root = tmp_path_factory.mktemp("python-docs-cache")
    python_docs._SESSION.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        corpus = load_corpus("python-docs", root=root)
    return corpus, out.getvalue(), root


@pytest.fixture(scope="module")
def task(built):
    with contextlib.redirect_stdout(io.StringIO()):
        return load_text_task(corpus=built[0])


def test_offline_corpus_says_where_it_came_from_and_is_cached(built, capsys):
    corpus, printed, root = built
    assert corpus.name == "python-docs" and corpus.tier == "offline" and "pydoc_data.topics" in corpus.origin
    assert "built from this Python's documentation" in printed and "saved in the cache" in printed
    sizes = [len(corpus.split(s)) for s in SPLITS]
    assert f"{sizes[0]:,} / {sizes[1]:,} / {sizes[2]:,} documents" in printed and "words" in printed
    assert sum(sizes) > 2000 and corpus.words() > 150_000 and 0.75 < sizes[0] / sum(sizes) < 0.85
    assert corpus.words() == sum(corpus.words(s) for s in SPLITS) and corpus.texts("val") == corpus.texts("validation")
    python_docs._SESSION.clear()                                   # a new session reads the cache file
    again = load_corpus("python-docs", root=root)
    assert "read from the cache" in capsys.readouterr().out and again == corpus
    assert any(d.id == "pydoc/assignment" and d.label is None for d in corpus.train + corpus.validation + corpus.test)
    with pytest.raises(ValueError, match="unknown split"):
        corpus.texts("dev")


def test_an_unreadable_cache_file_is_rebuilt(tmp_path):
    path = tmp_path / python_docs.CACHE_FOLDER / python_docs.cache_name()
    path.parent.mkdir()
    path.write_bytes(b"not gzip")
    assert python_docs._read(path) is None
    path.write_bytes(__import__("gzip").compress(b'{"format": -1, "records": [["a", "b", null, null]]}'))
    assert python_docs._read(path) is None                           # another format: rebuilt


def test_split_is_by_document_and_deterministic(built):
    corpus = built[0]
    ids = {split: [doc.id for doc in corpus.split(split)] for split in SPLITS}
    every = [i for split in SPLITS for i in ids[split]]
    assert len(every) == len(set(every))                             # no id twice, no id in two splits
    assert all(python_docs.split_of(i) == split for split in SPLITS for i in ids[split])
    assert len({doc.text for split in SPLITS for doc in corpus.split(split)}) == len(every)   # no exact duplicates
    # A second build of part of it, in another order, gives the same documents in the same splits.
    root = python_docs.stdlib_dir()
    files = python_docs.stdlib_files(root)[::12][::-1]
    rebuilt = python_docs.topic_records() + [r for path in files for r in python_docs.file_records(path, root)]
    where = {i: split for split in SPLITS for i in ids[split]}
    kept = [r for r in rebuilt if r.id in where]
    assert len(kept) > 200 and all(where[r.id] == r.split for r in kept)
    assert "stdlib/email/message.py:Message.get_payload" in where


def test_task_splits_are_the_corpus_splits(built, task):
    corpus = built[0]
    assert isinstance(task, TextTask) and task.tier == "offline" and len(task.classes) >= 5
    for split, ids in (("train", task.train_ids), ("validation", task.val_ids), ("test", task.test_ids)):
        texts, labels = task.split(split)
        assert len(ids) == len(texts) == len(labels) > 0 and labels.dtype.is_floating_point is False
        assert set(ids) <= {doc.id for doc in corpus.split(split)}   # pretraining on train never sees val/test
        labelled = {doc.id: doc.label for doc in corpus.split(split)}
        assert all(task.classes[y] == labelled[i] for i, y in zip(ids, labels.tolist()))
    counts = task.counts()
    assert all(sum(counts[s][c] for s in SPLITS) >= 150 for c in range(len(task.classes)))
    assert not set(task.val_texts) & set(task.train_texts) and not set(task.test_texts) & set(task.train_texts)
    assert "files & OS" in task.describe() and task.split("val")[0] is task.val_texts


@functools.lru_cache(maxsize=None)
def _defined(rel: str) -> frozenset[str]:
    """Every class and function name in a file, from its tokens (independent of the ast-based stripping)."""
    with tokenize.open(python_docs.stdlib_dir() / rel) as source:
        tokens = [t.string for t in tokenize.generate_tokens(source.readline) if t.type == tokenize.NAME]
    return frozenset(name for keyword, name in zip(tokens, tokens[1:]) if keyword in ("def", "class") and len(name) > 1)


def test_task_texts_do_not_name_their_module(task):
    sample = list(zip(task.train_ids, task.train_texts))[::10]
    for doc_id, text in sample:
        rel = doc_id.removeprefix("stdlib/").partition(":")[0]
        module = {p.lower() for p in rel.removesuffix(".py").split("/") if p != "__init__"}
        tokens = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
        assert not tokens & _defined(rel), doc_id
        assert not {t.lower() for t in tokens} & module, doc_id
    assert len(sample) > 150


def test_strip_names_works_inside_dotted_names():
    stripped = python_docs.strip_names("See email.message.Message.get_payload() and Message; LZMACompressor is lzma's.",
                                       frozenset({"Message", "email"}), frozenset({"email", "message", "lzma"}))
    assert stripped == "See get_payload() and ; is 's."
    docstring = "  Split it.\n\n  >>> split('a b')\n  ['a', 'b']\n\n  import os\n  Done."
    assert python_docs.clean(docstring) == "Split it. Done."


def test_baselines_bag_of_words_beats_the_majority_class(task):
    scores = task.baselines()
    assert set(scores) == {"majority", "bag_of_words"}
    assert 0 < scores["majority"] < 0.5 < scores["bag_of_words"] <= 1


# --- WikiText-2's tiers, served on 127.0.0.1 --------------------------------------------------------

def _entry(body: bytes, mirrors) -> DatasetEntry:
    remote = RemoteFile("wikitext-2-raw-v1.zip", "sha256:" + hashlib.sha256(body).hexdigest(), len(body))
    return DatasetEntry("wikitext-2", "test copy", (remote,), tuple(mirrors), "CC BY-SA 3.0", "", "python-docs")


def _closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}/wikitext/"


def test_download_is_verified_cached_and_parsed(loopback, tmp_path, monkeypatch, capsys):
    body = wikitext_zip(FAKE_WIKITEXT)
    loopback.routes["/w/wikitext-2-raw-v1.zip"] = Route(body)
    monkeypatch.setitem(REGISTRY, "wikitext-2", _entry(body, [loopback.url("/w/")]))
    corpus = load_corpus(root=tmp_path, progress=False)
    out = capsys.readouterr().out
    assert isinstance(corpus, Corpus) and corpus.tier == "download" and "downloaded and verified" in out
    assert "2 / 1 / 1 documents" in out
    first, second = corpus.train
    assert first.id == "wikitext-2/train/Valkyria Chronicles III" and first.label is None
    assert "role-playing game" in first.text and "1,000 copies" in first.text and "8.5" in first.text
    assert "Gameplay" in first.text and "=" not in first.text and "two-storey" in second.text
    again = load_corpus(root=tmp_path, progress=False)
    assert again.tier == "cache" and "from the cache" in capsys.readouterr().out and again.train == corpus.train
    assert loopback.routes["/w/wikitext-2-raw-v1.zip"].hits == 1


def test_corrupt_download_falls_back_to_python_docs(loopback, built, tmp_path, monkeypatch, capsys):
    body = wikitext_zip(FAKE_WIKITEXT)
    corrupt = bytearray(body)
    corrupt[len(corrupt) // 2] ^= 0xFF
    loopback.routes["/w/wikitext-2-raw-v1.zip"] = Route(bytes(corrupt))
    monkeypatch.setitem(REGISTRY, "wikitext-2", _entry(body, [loopback.url("/w/")]))
    corpus = load_corpus(root=tmp_path, progress=False)
    out = capsys.readouterr().out
    assert corpus.tier == "offline" and corpus.name == "python-docs"
    assert "checksum mismatch" in out and "using the offline corpus instead" in out and "python-docs:" in out
    assert not (tmp_path / "wikitext-2" / "wikitext-2-raw-v1.zip").exists()


def test_no_network_falls_back_and_download_false_skips_it(built, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(REGISTRY, "wikitext-2", _entry(wikitext_zip(FAKE_WIKITEXT), [_closed_port_url()]))
    assert load_corpus(root=tmp_path, timeout=2, progress=False).tier == "offline"
    assert "could not be downloaded (1 mirror(s) tried" in capsys.readouterr().out
    assert load_corpus(root=tmp_path, download=False).tier == "offline"
    assert "downloads disabled (download=False)" in capsys.readouterr().out


def test_a_cached_copy_is_used_without_the_network(tmp_path, monkeypatch, capsys):
    body = wikitext_zip(FAKE_WIKITEXT)
    (tmp_path / "wikitext-2").mkdir()
    (tmp_path / "wikitext-2" / "wikitext-2-raw-v1.zip").write_bytes(body)
    monkeypatch.setitem(REGISTRY, "wikitext-2", _entry(body, [_closed_port_url()]))
    for download in (True, False):
        corpus = load_corpus(root=tmp_path, download=download, progress=False)
        assert corpus.tier == "cache" and len(corpus.validation) == 1 and "from the cache" in capsys.readouterr().out


def test_an_empty_or_broken_corpus_file_says_which_and_what_to_do(tmp_path, monkeypatch):
    for body, message in ((wikitext_zip({**FAKE_WIKITEXT, "test": " \n"}), "wiki.test.raw holds no articles"),
                          (b"not a zip", "not a readable WikiText-2 archive")):
        (tmp_path / "wikitext-2").mkdir(exist_ok=True)
        (tmp_path / "wikitext-2" / "wikitext-2-raw-v1.zip").write_bytes(body)
        monkeypatch.setitem(REGISTRY, "wikitext-2", _entry(body, []))
        with pytest.raises(ValueError, match=f"{message}.*Delete .*wikitext-2-raw-v1.zip"):
            load_corpus(root=tmp_path, progress=False)


def test_sections_are_not_articles():
    docs = parse_wikitext(FAKE_WIKITEXT["train"] + " = = = Deeper = = = \n More text . \n", "train")
    assert [d.id for d in docs] == ["wikitext-2/train/Valkyria Chronicles III",
                                    "wikitext-2/train/Tower Building of the Little Rock Arsenal"]
    assert docs[1].text.endswith("Deeper\nMore text .")


AG_ROWS = ['"3","Wall St. Bears Claw Back (Reuters)","Reuters - Short-sellers, Wall Street#39;s dwindling\\band."',
           '"2","Phelps Wins Again","ATHENS - Michael Phelps won quot;goldquot; &lt;b&gt;again&lt;/b&gt;."',
           '"1","Talks Resume","Negotiators met on Monday."', '"4","New Chip","A faster chip &amp; more."']


def ag_files(train_rows: int = 40) -> dict[str, bytes]:
    train = "\n".join(AG_ROWS[i % 4] for i in range(train_rows)) + "\n"
    return {"train.csv": train.encode(), "test.csv": ("\n".join(AG_ROWS) + "\n").encode()}


def _ag_entry(files, mirrors) -> DatasetEntry:
    remote = tuple(RemoteFile(name, "md5:" + hashlib.md5(body).hexdigest()) for name, body in files.items())
    return DatasetEntry("ag_news", "test copy", remote, tuple(mirrors), "research", "", "python-areas")


def test_ag_news_is_downloaded_verified_and_split(loopback, tmp_path, monkeypatch, capsys):
    files = ag_files()
    for name, body in files.items():
        loopback.routes[f"/ag/{name}"] = Route(body)
    monkeypatch.setitem(REGISTRY, "ag_news", _ag_entry(files, [loopback.url("/ag/")]))
    task = load_text_task("ag_news", root=tmp_path, progress=False)
    assert task.tier == "download" and "downloaded and verified" in capsys.readouterr().out
    assert task.classes == ("World", "Sports", "Business", "Sci/Tech") and len(task.test_texts) == 4
    assert len(task.train_texts) + len(task.val_texts) == 40 and 0 < len(task.val_texts) < 15
    assert task.test_texts[0] == ("Wall St. Bears Claw Back (Reuters). Reuters - Short-sellers, Wall Street's "
                                  "dwindling band.")
    assert task.test_texts[1].endswith('won "gold" <b>again</b>.') and task.test_labels.tolist() == [2, 1, 0, 3]
    again = load_text_task("ag_news", root=tmp_path, download=False)
    assert again.tier == "cache" and again.val_ids == task.val_ids


def test_ag_news_falls_back_to_python_areas(loopback, built, tmp_path, monkeypatch, capsys):
    files = ag_files()
    loopback.routes["/ag/train.csv"] = Route(files["train.csv"])
    loopback.routes["/ag/test.csv"] = Route(files["test.csv"][:-3] + b"x\n")          # corrupt
    monkeypatch.setitem(REGISTRY, "ag_news", _ag_entry(files, [loopback.url("/ag/")]))
    task = load_text_task("ag_news", root=tmp_path, progress=False)
    out = capsys.readouterr().out
    assert task.name == "python-areas" and "checksum mismatch" in out and "using the offline task python-areas" in out
    assert load_text_task("ag_news", root=tmp_path, download=False).name == "python-areas"
    assert "downloads disabled" in capsys.readouterr().out


def test_unknown_names_suggest_close_ones():
    with pytest.raises(ValueError, match="Did you mean 'wikitext-2'"):
        load_corpus("wikitext2")
    with pytest.raises(ValueError, match="Did you mean 'python-areas'"):
        load_text_task("python-area")
    with pytest.raises(ValueError, match="Did you mean 'ag_news'"):
        load_text_task("ag-news")
