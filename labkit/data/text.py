"""Text corpora in three tiers: a data cache, a verified download of WikiText-2, the offline python-docs.

WikiText-2 (raw) is Wikipedia prose, 600 training articles, ~2 million words, read straight from
its zip file; its official train/valid/test files are the splits. Without the cache or a network,
:func:`load_corpus` falls back to "python-docs" (:mod:`labkit.data.python_docs`), the
documentation shipped with every CPython, and says why.
"""
from __future__ import annotations

import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

from labkit.arguments import check_choice
from labkit.data.download import DownloadError, fetch_entry, unavailable_reason
from labkit.data.registry import DatasetEntry, RemoteFile, get_entry, register

SPLITS = ("train", "validation", "test")
CORPORA = ("wikitext-2", "python-docs")
WIKITEXT_FILES = {"train": "wikitext-2-raw/wiki.train.raw", "validation": "wikitext-2-raw/wiki.valid.raw",
                  "test": "wikitext-2-raw/wiki.test.raw"}
WIKITEXT_ORIGIN = ("WikiText-2 (raw): Wikipedia's Good and Featured articles, collected by Merity et al. (2016), "
                   "CC BY-SA 3.0")
OFFLINE_NOTE = ("python-docs, the documentation that ships with Python (reference topics and standard-library "
                "docstrings)")
_ESCAPES = ((" @-@ ", "-"), (" @,@ ", ","), (" @.@ ", "."))
_TITLE = re.compile(r"^\s*=\s+([^=].*?)\s+=\s*$")     # " = Title = " starts an article; " = = Section = = " does not
_SECTION = re.compile(r"^\s*(?:=\s+)+(.*?)(?:\s+=)+\s*$")

WIKITEXT_2 = register(DatasetEntry(
    "wikitext-2", "WikiText-2 (raw): 720 Wikipedia articles (600 / 60 / 60), ~2.5 million tokens",
    (RemoteFile("wikitext-2-raw-v1.zip", "sha256:ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11",
                4_721_645),),
    ("https://s3.amazonaws.com/research.metamind.io/wikitext/",
     "https://huggingface.co/datasets/ggml-org/ci/resolve/main/"),
    "CC BY-SA 3.0 (Wikipedia contributors; Merity et al., 2016)",
    "https://blog.salesforceairesearch.com/the-wikitext-long-term-dependency-language-modeling-dataset/",
    OFFLINE_NOTE))


@dataclass(frozen=True)
class Document:
    """One document: a stable id, its text, and its class (None: unlabelled)."""

    id: str
    text: str
    label: str | None = None


@dataclass(frozen=True)
class Corpus:
    """Documents split into train, validation and test, and where they came from."""

    name: str
    tier: str                               # "cache" | "download" | "offline"
    origin: str                             # one sentence: what the text is and its licence
    train: tuple[Document, ...]
    validation: tuple[Document, ...]
    test: tuple[Document, ...]

    def split(self, split: str = "train") -> tuple[Document, ...]:
        """The documents of "train", "validation" (or "val") or "test"."""
        split = "validation" if split == "val" else split
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}; use 'train', 'validation' or 'test'")
        return getattr(self, split)

    def texts(self, split: str = "train") -> list[str]:
        """The texts of one split."""
        return [doc.text for doc in self.split(split)]

    def words(self, split: str | None = None) -> int:
        """Whitespace-separated words in one split, or in all three (None)."""
        splits = SPLITS if split is None else (split,)
        return sum(len(doc.text.split()) for name in splits for doc in self.split(name))

    def counts(self) -> str:
        """ "N / N / N documents (W / W / W words) in train / validation / test"."""
        docs = " / ".join(f"{len(self.split(s)):,}" for s in SPLITS)
        words = " / ".join(f"{self.words(s):,}" for s in SPLITS)
        return f"{docs} documents ({words} words) in train / validation / test"

    def describe(self) -> str:
        """A few lines: name, tier, origin, documents and words per split."""
        return f"{self.name} ({self.tier} tier): {self.origin}.\n{self.counts()}."


def load_corpus(name: str = "wikitext-2", *, root: str | os.PathLike | None = None, download: bool = True,
                timeout: float = 20.0, progress: bool = True) -> Corpus:
    """A text corpus: WikiText-2 from a data cache, else downloaded and verified, else python-docs offline.

    name        "wikitext-2" (three tiers) or "python-docs" (straight to the offline corpus).
    download    False skips the network (cache or offline tier only).
    root        one cache folder to use instead of the search path of :mod:`labkit.data.cache`.

    Prints which tier served the text, and why when it is the offline one, and how many documents
    and words per split. A cached WikiText-2 file that holds no articles raises ValueError.
    """
    check_choice(name, CORPORA, "corpus", "corpora")
    if name == "python-docs":
        return offline_corpus(root)
    entry = get_entry(name)
    try:
        fetched = fetch_entry(entry, root, download=download, timeout=timeout, progress=progress)
    except DownloadError as err:
        print(f"WikiText-2: not in any data cache and {unavailable_reason(err, download)}; using the offline corpus "
              f"instead: {OFFLINE_NOTE}.")
        return offline_corpus(root)
    path = fetched.paths[entry.files[0].filename]
    splits = {split: read_wikitext(path, member, split) for split, member in WIKITEXT_FILES.items()}
    corpus = Corpus(name, fetched.tier, WIKITEXT_ORIGIN, splits["train"], splits["validation"], splits["test"])
    print(f"WikiText-2: {corpus.counts()}, {fetched.where()}.")
    return corpus


def offline_corpus(root: str | os.PathLike | None = None) -> Corpus:
    """The python-docs corpus (built once, then read from the data cache), printing its counts and source."""
    from labkit.data import python_docs

    records, where = python_docs.load(root)
    splits: dict[str, list[Document]] = {split: [] for split in SPLITS}
    for record in records:
        splits[record.split].append(Document(record.id, record.text, record.label))
    origin = (f"Python {python_docs.python_version()}'s own documentation: the reference manual's topics "
              "(pydoc_data.topics) and the standard library's docstrings, PSF licence")
    corpus = Corpus("python-docs", "offline", origin, *(tuple(splits[s]) for s in SPLITS))
    print(f"python-docs: {corpus.counts()}, {where}.")
    return corpus


def read_wikitext(path: Path, member: str, split: str) -> tuple[Document, ...]:
    """The articles of one WikiText file inside the zip at ``path``; ValueError if there are none."""
    fix = f"Delete {path} and run load_corpus again to download a fresh copy."
    try:
        with zipfile.ZipFile(path) as archive:
            text = archive.read(member).decode("utf-8")
    except (zipfile.BadZipFile, KeyError, UnicodeDecodeError) as err:
        raise ValueError(f"{path} is not a readable WikiText-2 archive ({member}: {err}). {fix}") from None
    documents = parse_wikitext(text, split)
    if not documents:
        raise ValueError(f"{path}: {member} holds no articles (an empty or malformed file). {fix}")
    return documents


def parse_wikitext(text: str, split: str) -> tuple[Document, ...]:
    """Articles (a line " = Title = " starts one), section headings kept as plain lines, escapes undone."""
    articles: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        title = _TITLE.match(line)
        if title:
            articles.append((unescape(title.group(1)), []))
        elif articles and line.strip():
            section = _SECTION.match(line)
            articles[-1][1].append(unescape(section.group(1) if section else line.strip()))
    documents, seen = [], set()
    for title, lines in articles:
        doc_id = f"wikitext-2/{split}/{title}"
        doc_id = doc_id if doc_id not in seen else f"{doc_id} #{sum(i.startswith(doc_id) for i in seen) + 1}"
        seen.add(doc_id)
        if lines:
            documents.append(Document(doc_id, "\n".join([title, *lines])))
    return tuple(documents)


def unescape(text: str) -> str:
    """Undo WikiText's tokenisation escapes: " @-@ " -> "-", " @,@ " -> ",", " @.@ " -> "."."""
    for escaped, plain in _ESCAPES:
        text = text.replace(escaped, plain)
    return text.strip()

