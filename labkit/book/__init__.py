"""The course site: every lab as a web page built from its executed notebook, without the answers.

``labkit book`` (``make book``) writes it to ``build/book/``; see :mod:`labkit.book.build`.
"""
from labkit.book.build import BookError, build_book

__all__ = ["BookError", "build_book"]
