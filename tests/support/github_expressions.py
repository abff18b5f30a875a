"""A small evaluator of GitHub Actions expressions, for the part of the language the workflows use.

Supported, with GitHub's semantics: string literals ('it''s'), context properties (`vars.X`,
`github.event.pull_request.head.repo.full_name`; names ignore case, a missing property is null),
`==` and `!=` (strings compare ignoring case; other mixed types compare as numbers, null and ''
both being 0), `!`, `&&` and `||` (which return an operand, not a boolean: `vars.X || 'a'` is X
when X is truthy), and parentheses. Falsy: null, false, 0, '' and NaN.

Anything else (numbers, true/false/null, functions, indexing, `<`) raises ExpressionError, so a
workflow whose expression grows beyond this fails its tests rather than passing untested.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>&&|\|\||==|!=|!|\(|\)|\.)"
    r"|(?P<name>[A-Za-z_][A-Za-z0-9_-]*))"
)
# Words GitHub reads as literals; this evaluator does not support them.
LITERALS = {"true", "false", "null", "nan", "infinity"}
WHOLE = re.compile(r"^\s*\$\{\{(?P<expr>.*)\}\}\s*$", re.S)


class ExpressionError(ValueError):
    """The expression uses syntax this evaluator does not know, or is malformed."""


@dataclass(frozen=True)
class Token:
    kind: str
    text: str


def tokenize(expression: str) -> list[Token]:
    tokens, position = [], 0
    while position < len(expression.rstrip()):
        match = TOKEN.match(expression, position)
        if not match:
            raise ExpressionError(f"unsupported syntax at {expression[position:]!r}")
        kind = match.lastgroup or ""
        tokens.append(Token(kind, match.group(kind)))
        position = match.end()
    return tokens


def truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return value not in (None, False, 0, "")


def _number(value: Any) -> float:
    """GitHub's coercion to a number: null 0, booleans 0/1, '' 0, unparsable strings NaN."""
    if value is None:
        return 0.0
    if isinstance(value, bool | int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip() or 0)
        except ValueError:
            return math.nan
    return math.nan


def equal(left: Any, right: Any) -> bool:
    if isinstance(left, str) and isinstance(right, str):
        return left.casefold() == right.casefold()
    if type(left) is type(right) and not isinstance(left, str | int | float | bool | None):
        return left is right
    return _number(left) == _number(right)


def _property(value: Any, name: str) -> Any:
    if not isinstance(value, Mapping):
        return None
    for key, item in value.items():
        if str(key).casefold() == name.casefold():
            return item
    return None


class _Parser:
    """Recursive descent, loosest first: `||`, `&&`, `==`/`!=`, `!`, then a primary."""

    def __init__(self, tokens: list[Token], contexts: Mapping[str, Any]) -> None:
        self.tokens = tokens
        self.position = 0
        self.contexts = contexts

    def peek(self) -> Token | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self, text: str | None = None) -> Token:
        token = self.peek()
        if token is None or (text is not None and token.text != text):
            raise ExpressionError(f"expected {text or 'more'}, found {token and token.text!r}")
        self.position += 1
        return token

    def at(self, *texts: str) -> bool:
        token = self.peek()
        return token is not None and token.kind == "op" and token.text in texts

    def parse(self) -> Any:
        value = self.either()
        extra = self.peek()
        if extra is not None:
            raise ExpressionError(f"unexpected {extra.text!r}")
        return value

    def either(self) -> Any:
        value = self.both()
        while self.at("||"):
            self.take()
            right = self.both()
            value = value if truthy(value) else right
        return value

    def both(self) -> Any:
        value = self.comparison()
        while self.at("&&"):
            self.take()
            right = self.comparison()
            value = right if truthy(value) else value
        return value

    def comparison(self) -> Any:
        value = self.negation()
        while self.at("==", "!="):
            operator = self.take().text
            right = self.negation()
            value = equal(value, right) == (operator == "==")
        return value

    def negation(self) -> Any:
        if self.at("!"):
            self.take()
            return not truthy(self.negation())
        return self.primary()

    def primary(self) -> Any:
        token = self.take()
        if token.kind == "string":
            return token.text[1:-1].replace("''", "'")
        if token.text == "(":
            value = self.either()
            self.take(")")
            return value
        if token.kind != "name":
            raise ExpressionError(f"unexpected {token.text!r}")
        return self.context_path(token.text)

    def context_path(self, name: str) -> Any:
        if name.casefold() in LITERALS:
            raise ExpressionError(f"the literal {name} is not supported")
        if self.at("("):
            raise ExpressionError(f"function {name}() is not supported")
        known = {key.casefold(): key for key in self.contexts}
        if name.casefold() not in known:
            raise ExpressionError(f"unknown context {name!r} (give it to evaluate)")
        value = self.contexts[known[name.casefold()]]
        while self.at("."):
            self.take()
            part = self.take()
            if part.kind != "name":
                raise ExpressionError(f"expected a property name after '.', found {part.text!r}")
            value = _property(value, part.text)
        return value


def evaluate(expression: str, contexts: Mapping[str, Any]) -> Any:
    """The value of a bare expression (as in `if:`), given the contexts by name."""
    tokens = tokenize(expression)
    if not tokens:
        raise ExpressionError("empty expression")
    return _Parser(tokens, contexts).parse()


def evaluate_value(value: str, contexts: Mapping[str, Any]) -> Any:
    """A workflow value: `${{ expr }}` as a whole is the expression's value; text without
    `${{` is itself. Text mixed with expressions is not supported."""
    whole = WHOLE.match(value)
    if whole:
        if "${{" in whole.group("expr") or "}}" in whole.group("expr"):
            raise ExpressionError(f"more than one expression in {value!r}")
        return evaluate(whole.group("expr"), contexts)
    if "${{" in value:
        raise ExpressionError(f"text mixed with expressions is not supported: {value!r}")
    return value
