"""AG News (4 classes of news: World, Sports, Business, Sci/Tech): torchtext's CSV mirror and checksums.

The official files are train.csv (120,000 rows) and test.csv (7,600); a fixed tenth of the
training rows (by a sha1 of the row number) is the validation split.
"""
from __future__ import annotations

import csv
import hashlib
import html
import re
from pathlib import Path

from labkit.data.registry import DatasetEntry, RemoteFile, register

CLASSES = ("World", "Sports", "Business", "Sci/Tech")
ORIGIN = ("AG News: titles and descriptions of news articles from AG's corpus (A. Gulli), as prepared by Zhang, "
          "Zhao & LeCun (2015), for non-commercial research and teaching")
_ENTITY = re.compile(r"(?<!&)(#\d+|quot|amp|lt|gt);")           # AG's "#39;" and "quot;" lost their "&"

ENTRY = register(DatasetEntry(
    "ag_news", "AG News: 120,000 training and 7,600 test news articles, 4 classes",
    (RemoteFile("train.csv", "md5:b1a00f826fdfbd249f79597b59e1dc12"),
     RemoteFile("test.csv", "md5:d52ea96a97a2d943681189a97654912d")),
    ("https://raw.githubusercontent.com/mhjabreel/CharCnn_Keras/master/data/ag_news_csv/",),
    "non-commercial research and teaching (AG's corpus of news articles, A. Gulli)",
    "http://groups.di.unipi.it/~gulli/AG_corpus_of_news_articles.html",
    "python-areas (labkit.data.load_text_task), with the reason printed"))


def clean(text: str) -> str:
    """One line of plain text: AG's escaped entities and "\\" line breaks undone."""
    return " ".join(html.unescape(_ENTITY.sub(r"&\1;", text.replace("\\", " "))).split())


def read_rows(path: Path) -> list[tuple[str, int]]:
    """(text, label index) per row of an AG News CSV file (class index 1-4, title, description)."""
    with open(path, encoding="utf-8", newline="") as handle:
        rows = [(clean(f"{title}. {description}"), int(index) - 1)
                for index, title, description, *_ in csv.reader(handle) if index.strip()]
    if not rows or any(not 0 <= label < len(CLASSES) for _, label in rows):
        raise ValueError(f"{path} is not an AG News file (no rows, or a class index outside 1-4). Delete it and "
                         "run load_text_task('ag_news') again to download a fresh copy.")
    return rows


def is_validation(row: int) -> bool:
    """A fixed tenth of the training rows, the same everywhere: sha1 of the row number."""
    return int(hashlib.sha1(f"ag_news/train/{row}".encode()).hexdigest()[:8], 16) % 10 == 0
