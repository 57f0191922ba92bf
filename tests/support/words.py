"""English words in a text meant for a Chinese-reading clerk: what a test of a page's language looks for."""

from __future__ import annotations

import re
from html.parser import HTMLParser

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
WORD = re.compile(r"[A-Za-z]{2,}")
# names and acronyms the Chinese pages keep: the product, the key's scope as `popflow keys` spells it, a file type
KEPT = frozenset({"PopFlow", "API", "XLSX", "street"})


def english_words(text: str) -> list[str]:
    """The words of two letters or more, ids and the kept names left out."""
    return [word for word in WORD.findall(UUID.sub("", text)) if word not in KEPT]


class _Visible(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.text: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._hidden += tag in ("style", "script")

    def handle_endtag(self, tag: str) -> None:
        self._hidden -= tag in ("style", "script")

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.text.append(data)


def visible_text(page: str) -> str:
    """What a browser shows of an HTML page: its text, without markup, attributes, styles or scripts."""
    parser = _Visible()
    parser.feed(page)
    return " ".join(parser.text)
