"""Labelled text tasks: "python-areas" (offline) and "ag_news" (online, falling back to python-areas).

python-areas: which area of the standard library a docstring comes from. Its documents are the
labelled docstrings of the python-docs corpus (:mod:`labkit.data.python_docs`), with the
identifiers that name the answer stripped, in that corpus's train/validation/test split: a model
pretrained on ``load_corpus("python-docs").train`` never sees a validation or test document.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from labkit.arguments import check_choice
from labkit.data import ag_news as ag_source            # registers the "ag_news" entry (cheap: csv, html)
from labkit.data.download import DownloadError, fetch_entry, unavailable_reason
from labkit.data.registry import get_entry
from labkit.data.text import SPLITS, Corpus

TASKS = ("python-areas", "ag_news")
_SPLIT_NAMES = {"train": "train", "validation": "val", "val": "val", "test": "test"}


@dataclass(frozen=True)
class TextTask:
    """Texts and int64 labels (indices into ``classes``) per split, and where they came from."""

    name: str
    classes: tuple[str, ...]
    tier: str                               # "cache" | "download" | "offline"
    origin: str
    train_texts: list[str]
    val_texts: list[str]
    test_texts: list[str]
    train_labels: torch.Tensor
    val_labels: torch.Tensor
    test_labels: torch.Tensor
    train_ids: tuple[str, ...] = ()         # the documents' ids, in the order of the texts
    val_ids: tuple[str, ...] = ()
    test_ids: tuple[str, ...] = ()

    def split(self, split: str) -> tuple[list[str], torch.Tensor]:
        """(texts, labels) of "train", "validation" (or "val") or "test"."""
        if split not in _SPLIT_NAMES:
            raise ValueError(f"unknown split {split!r}; use 'train', 'validation' or 'test'")
        prefix = _SPLIT_NAMES[split]
        return getattr(self, f"{prefix}_texts"), getattr(self, f"{prefix}_labels")

    def counts(self) -> dict[str, list[int]]:
        """Documents per class (in the order of ``classes``) for each split."""
        return {split: torch.bincount(self.split(split)[1], minlength=len(self.classes)).tolist()
                for split in SPLITS}

    def describe(self) -> str:
        """A few lines: the task, where it came from, the classes and their counts per split."""
        counts = self.counts()
        width = max(map(len, self.classes))
        rows = [f"  {name:<{width}}  " + " / ".join(f"{counts[s][i]:>4}" for s in SPLITS)
                for i, name in enumerate(self.classes)]
        return (f"{self.name} ({self.tier} tier): {self.origin}.\n{len(self.classes)} classes, {_sizes(self)} documents "
                f"in train / validation / test:\n" + "\n".join(rows))

    def baselines(self) -> dict[str, float]:
        """Validation accuracy of two baselines fit on train: the majority class, and bag-of-words.

        Bag-of-words: TF-IDF features of the words (seen in two documents or more) and a logistic
        regression, with scikit-learn, on one thread (much faster than many on a small problem).
        The test split is not touched.
        """
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.linear_model import LogisticRegression
        from threadpoolctl import threadpool_limits

        majority = int(torch.bincount(self.train_labels, minlength=len(self.classes)).argmax())
        vectorizer = TfidfVectorizer(sublinear_tf=True, min_df=2)
        with threadpool_limits(1):
            model = LogisticRegression(C=10.0, max_iter=1000)
            model.fit(vectorizer.fit_transform(self.train_texts), self.train_labels.numpy())
            predicted = torch.as_tensor(model.predict(vectorizer.transform(self.val_texts)))
        return {"majority": float((self.val_labels == majority).float().mean()),
                "bag_of_words": float((predicted == self.val_labels).float().mean())}


def load_text_task(name: str = "python-areas", *, corpus: Corpus | None = None,
                   root: str | os.PathLike | None = None, download: bool = True, timeout: float = 20.0,
                   progress: bool = True) -> TextTask:
    """A labelled text task: "python-areas" (offline) or "ag_news" (cache, else download, else python-areas).

    ``corpus``
        the python-docs corpus if already loaded: python-areas' splits are then checked to be
        its splits. Another corpus (WikiText-2) shares no text with the task and is ignored.
    ``download``
        False skips the network (ag_news: cache or python-areas only).
    ``root``
        one cache folder to use instead of the search path of :mod:`labkit.data.cache`.

    Prints which tier served, and why when AG News fell back, and the documents per split.
    """
    check_choice(name, TASKS, "text task", "tasks")
    if name == "ag_news":
        task = ag_news(root, download, timeout, progress)
        if task is not None:
            return task
    task = python_areas(root, corpus if corpus is not None and corpus.name == "python-docs" else None)
    print(f"{task.name}: {len(task.classes)} classes ({', '.join(task.classes)}), {_sizes(task)} documents in "
          f"train / validation / test, from the offline python-docs corpus.")
    return task


def _sizes(task: TextTask) -> str:
    return " / ".join(f"{len(task.split(s)[0]):,}" for s in SPLITS)


def ag_news(root: str | os.PathLike | None, download: bool, timeout: float, progress: bool) -> TextTask | None:
    """AG News from a cache or a verified download; None (saying why) if neither serves."""
    entry = get_entry("ag_news")
    try:
        fetched = fetch_entry(entry, root, download=download, timeout=timeout, progress=progress)
    except DownloadError as err:
        print(f"AG News: not in any data cache and {unavailable_reason(err, download)}; using the offline task "
              "python-areas instead.")
        return None
    rows: dict[str, list[tuple[str, str, int]]] = {split: [] for split in SPLITS}
    for i, (text, label) in enumerate(ag_source.read_rows(fetched.paths["train.csv"])):
        rows["validation" if ag_source.is_validation(i) else "train"].append((f"ag_news/train/{i}", text, label))
    rows["test"] = [(f"ag_news/test/{i}", text, label)
                    for i, (text, label) in enumerate(ag_source.read_rows(fetched.paths["test.csv"]))]
    task = _task("ag_news", ag_source.CLASSES, fetched.tier, ag_source.ORIGIN, rows)
    print(f"AG News: {_sizes(task)} articles in train / validation / test, {fetched.where()}.")
    return task


def _task(name: str, classes: tuple[str, ...], tier: str, origin: str,
          rows: dict[str, list[tuple[str, str, int]]]) -> TextTask:
    """A TextTask from (id, text, label index) rows per split."""
    texts = {s: [row[1] for row in rows[s]] for s in SPLITS}
    labels = {s: torch.tensor([row[2] for row in rows[s]], dtype=torch.int64) for s in SPLITS}
    ids = {s: tuple(row[0] for row in rows[s]) for s in SPLITS}
    return TextTask(name, classes, tier, origin, texts["train"], texts["validation"], texts["test"],
                    labels["train"], labels["validation"], labels["test"], ids["train"], ids["validation"],
                    ids["test"])


def python_areas(root: str | os.PathLike | None = None, corpus: Corpus | None = None) -> TextTask:
    """The python-areas task from the python-docs build; a document seen in an earlier split is dropped.

    Stripping names can make two docstrings identical ("Return the X." for two classes): a
    validation or test text equal to a training (or, for test, a validation) text is left out.
    """
    from labkit.data import python_docs

    records, _ = python_docs.load(root)
    membership = ({doc.id: split for split in SPLITS for doc in corpus.split(split)} if corpus is not None
                  else {r.id: r.split for r in records})
    index = {area: i for i, area in enumerate(python_docs.CLASSES)}
    rows: dict[str, list[tuple[str, str, int]]] = {split: [] for split in SPLITS}
    for record in records:
        if record.label is not None and record.task_text:
            if record.id not in membership:
                raise ValueError(f"{record.id} is not in the corpus given: pass corpus=load_corpus('python-docs')")
            rows[membership[record.id]].append((record.id, record.task_text, index[record.label]))
    seen: set[str] = set()
    for split in SPLITS:
        rows[split] = [row for row in rows[split] if row[1] not in seen or split == "train"]
        seen.update(row[1] for row in rows[split])
    origin = ("the area of Python's standard library each docstring of the python-docs corpus comes from, "
              "with the names that give it away stripped")
    return _task("python-areas", python_docs.CLASSES, "offline", origin, rows)
