"""Which instrument a counted action rests on, for the report's table by legal basis.

A citation is free text (``legal_basis.legal_document`` and ``.article``); the registry
(``schemas.legal``, a SAMPLE) reads the instrument back from it. An article the registry lists
is its own line (Điều 129 BLTTHS is not Điều 128); any other article counts for the instrument.
A citation the registry does not know is its own line, as written, marked so.
"""

from __future__ import annotations

from schemas import legal
from schemas.labels import fold

NO_BASIS = ("", "Không ghi căn cứ pháp lý")
UNLISTED = "chưa có trong danh mục"


def basis_of(document: str | None, article: str | None) -> tuple[str, str]:
    """(code, label) of the line a citation counts on."""
    text = " ".join((document or "").split())
    if not text:
        return NO_BASIS
    instrument = legal.find(text)
    if instrument is None:
        return f"?{fold(text)}", f"{text} ({UNLISTED})"
    number = legal.article_number(article)
    if number is not None and number in instrument.articles:
        return f"{instrument.id}#{number}", f"{instrument.cite(number)}: {instrument.articles[number].title}"
    return instrument.id, instrument.cite()


__all__ = ["NO_BASIS", "basis_of"]
