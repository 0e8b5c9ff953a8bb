"""Human-readable messages produced below the translation layer.

`erasure` does not translate (it knows nothing of languages); it returns `Msg` objects:
strings whose value is the English text (what JSON carries) and which remember their
template and parameters so a front end can render them in the reader's language.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def N_(message: str) -> str:
    """Mark a string for the catalog without translating it."""
    return message


class Msg(str):
    template: str
    params: dict[str, Any]

    def __new__(cls, template: str, **params: Any) -> Msg:
        obj = super().__new__(cls, template.format(**params) if params else template)
        obj.template = template
        obj.params = params
        return obj

    def localise(self, gettext: Callable[[str], str]) -> str:
        """The text in the reader's language; parameters that are Msg are rendered too."""
        text = gettext(self.template)
        if not self.params:
            return text
        # a message inside a message (a reason) is rendered in the same language
        return text.format(**{k: v.localise(gettext) if isinstance(v, Msg) else v
                              for k, v in self.params.items()})
