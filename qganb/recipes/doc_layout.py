"""How a recipe's doc text is wrapped into `#` comment lines: one home for the schema writer and the checks.

QAPI reads a line that starts with `Since:`, `Note:`, `@x:`... as a new section, so what matters is
where words land once wrapped, not how the author broke the lines.
"""

from __future__ import annotations

import re
import textwrap

WIDTH = 70


def paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", text.strip()) if p.strip()]


def _wrap(text: str, width: int, first: str, rest: str) -> list[tuple[str, str]]:
    # Long words stay whole so every written line starts at a word of the source.
    lines = textwrap.wrap(text, width, initial_indent=first, subsequent_indent=rest,
                          break_on_hyphens=False, break_long_words=False)
    return [(first if i == 0 else rest, line[len(first if i == 0 else rest):]) for i, line in enumerate(lines)]


def text_lines(text: str) -> list[tuple[str, str]]:
    """(prefix, text) of each written line of a definition's free text; paragraphs apart by `#`."""
    out: list[tuple[str, str]] = []
    for i, paragraph in enumerate(paragraphs(text)):
        if i:
            out.append(("#", ""))
        out += _wrap(paragraph, WIDTH, "# ", "# ")
    return out


def member_lines(name: str, text: str) -> list[tuple[str, str]]:
    # Continuation lines align with the text after "@name: ": every QAPI parser from 2.12 to
    # 10.x accepts that, while 5.2/7.2 reject the 4-space indent newer QEMU uses.
    head = f"# @{name}: "
    return _wrap(" ".join(paragraphs(text)), WIDTH, head, "#" + " " * (len(head) - 1))


def returns_lines(text: str) -> list[tuple[str, str]]:
    return _wrap(" ".join(paragraphs(text)), WIDTH, "# Returns: ", "#     ")


def written(lines: list[tuple[str, str]]) -> list[str]:
    return [prefix + text if text else prefix.rstrip() for prefix, text in lines]


SECTION = re.compile(r"(@|(Since|Returns|Errors|Features|Example|Examples|Note|Notes|TODO)\s*:)")


def first_section_start(text: str, lines: list[tuple[str, str]], has_head: bool) -> tuple[int, str] | None:
    """(line of `text`, 1-based, and the word) where a written line would open a QAPI section.

    With `has_head`, the first written line starts with qganb's own `@name:` or `Returns:`.
    """
    words_before = 0
    for i, (_, line) in enumerate(lines):
        if SECTION.match(line) and not (has_head and i == 0):
            return _source_line(text, words_before), line.split()[0]
        words_before += len(line.split())
    return None


def _source_line(text: str, word_index: int) -> int:
    """Line of `text` (1-based) that holds its `word_index`-th word (0-based)."""
    seen = 0
    for number, line in enumerate(text.splitlines(), 1):
        seen += len(line.split())
        if seen > word_index:
            return number
    return 1
