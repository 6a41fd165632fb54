"""PostgreSQL full-text lexemes: the search text as the ``tsv`` column indexes it.

Schema 3 of the PostgreSQL backend keeps, in ``search_text``, the event's
lexemes rather than its words, and derives ``tsv`` from them with
``array_to_tsvector(string_to_array(search_text, ' '))`` — no text parser runs
on the server, which halves what recording costs there (ADR 0037).

A lexeme is a run of letters and digits of the search text (:func:`words`
splits at every non-word character; this also splits at ``_``, as SQLite's
FTS5 ``unicode61`` tokenizer does), lower-cased, with diacritics removed (as
``unicode61`` does: ``Café`` is ``cafe``). Lexemes longer than
:data:`MAX_LEXEME_CHARS` are left out (PostgreSQL cannot index a lexeme over
2,047 bytes; its own parser drops such words too). Each lexeme appears once,
in order of first appearance. Queries go through the same function, so the
index and the query always agree.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["MAX_LEXEME_CHARS", "lexemes", "lexemes_of_terms", "tsquery"]

MAX_LEXEME_CHARS = 511
"""Longest lexeme kept: 511 characters are at most 2,044 bytes of UTF-8."""

_ALNUM = re.compile(r"[^\W_]+")
"""Runs of letters and digits: what a lexeme is made of (so it never needs quoting)."""


def _fold(word: str) -> str:
    """``word`` lower-cased, without combining marks (``É`` → ``e``)."""
    word = word.lower()
    if word.isascii():
        return word
    decomposed = unicodedata.normalize("NFKD", word)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def lexemes_of_terms(terms: list[str]) -> list[str]:
    """The distinct lexemes of ``terms`` (words), in order of first appearance."""
    out: dict[str, None] = {}
    for term in terms:
        for part in _ALNUM.findall(_fold(term)):
            if len(part) <= MAX_LEXEME_CHARS:
                out[part] = None
    return list(out)


def lexemes(search_text: str | None) -> str | None:
    """The ``search_text`` column of PostgreSQL schema 3: lexemes joined by single spaces.

    ``search_text`` is the backend-neutral search text
    (:func:`~logging_audit.audit.index.search_text`: words joined by spaces);
    ``None`` stays ``None`` (ledger records have no text).
    """
    if search_text is None:
        return None
    if search_text.isascii():
        parts = search_text.lower().replace("_", " ").split()
        if len(search_text) <= MAX_LEXEME_CHARS or max(map(len, parts)) <= MAX_LEXEME_CHARS:
            return " ".join(dict.fromkeys(parts))
    return " ".join(lexemes_of_terms(search_text.split()))


def tsquery(terms: list[str]) -> str | None:
    """A ``tsquery`` literal matching entries holding every lexeme of ``terms``.

    ``None`` when no lexeme remains (every term too long to be indexed).
    Lexemes are letters and digits only, so quoting them needs no escapes.
    """
    found = lexemes_of_terms(terms)
    if not found:
        return None
    return " & ".join(f"'{lexeme}'" for lexeme in found)
