"""What every figure notebook shares besides its figures: typed parameters and checked claims.

``check_parameters(globals())`` runs right after a notebook's parameters: each parameter the
``parameters`` cell declares with a type (``levels_bits: list[float] = [...]``) is converted to
that type or refused by name. Plain ``papermill -p levels_bits "[1.0, 3.0]"`` hands the notebook
text; this turns it into the list (YAML syntax, as ``python -m anchor.reproduce --set``).

``Claims`` collects the paper's claims a notebook checks on its own runs. A claim whose settings
were not run (a level, an objective, a task left out by the parameters) is skipped with the
reason; the others are asserted (with ``check_claims``, or always for what must hold at any run
length) or printed only. ``claims.report()`` prints one line per claim and raises
``AssertionError`` naming every claim that failed.
"""

from __future__ import annotations

import ast
import re
import typing
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from typing import Any

import yaml

TYPES = {"int": int, "float": float, "str": str, "bool": bool, "list": list, "dict": dict}
"""The parameter annotations a notebook may use, besides ``Any``, ``Optional[X]`` / ``X | None``,
``list[X]`` and ``dict[K, V]``."""

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def number(text: str) -> float | None:
    """``text`` as a number if it is written as one in decimal notation (1e-3, -2.5, 7), else None."""
    return float(text) if _NUMBER.fullmatch(text.strip()) else None


def parse_value(text: str) -> Any:
    """A parameter value given as text: YAML (100, 0.5, true, null, [1, 2], {a: 1}), with numbers
    such as 1e-3 read as numbers (YAML 1.1 reads them as text)."""
    value = yaml.safe_load(text)
    if isinstance(value, str) and number(value) is not None:
        return int(value) if value.strip().lstrip("+-").isdigit() else float(value)
    return value


def matches(value: Any, annotation: ast.expr) -> bool:
    """Whether ``value`` fits a parameter's annotation (an expression such as ``list[float]``):
    ``TYPES``, ``Optional[X]`` (or ``X | None``), ``list[X]``, ``dict[K, V]`` and ``Any``; an int is
    a valid float."""
    if isinstance(annotation, ast.Constant) and annotation.value is None:
        return value is None
    if isinstance(annotation, ast.BinOp) and isinstance(annotation.op, ast.BitOr):
        return matches(value, annotation.left) or matches(value, annotation.right)
    if isinstance(annotation, ast.Name):
        if annotation.id == "Any":
            return True
        if annotation.id not in TYPES:
            raise ValueError(f"unsupported parameter annotation {annotation.id!r}; use {', '.join(TYPES)}, Any")
        kind = TYPES[annotation.id]
        if isinstance(value, bool) and kind is not bool:
            return False
        return isinstance(value, (int, float) if kind is float else kind)
    if isinstance(annotation, ast.Subscript) and isinstance(annotation.value, ast.Name):
        args = annotation.slice.elts if isinstance(annotation.slice, ast.Tuple) else [annotation.slice]
        if annotation.value.id == "Optional":  # what papermill's --help-notebook can read
            return value is None or matches(value, args[0])
        if annotation.value.id == "list":
            return isinstance(value, list) and all(matches(v, args[0]) for v in value)
        if annotation.value.id == "dict":
            return isinstance(value, dict) and all(
                matches(k, args[0]) and matches(v, args[1]) for k, v in value.items()
            )
    raise ValueError(f"unsupported parameter annotation {ast.unparse(annotation)!r}")


def _expression(annotation: Any) -> ast.expr:
    """A run-time annotation (``int``, ``list[float]``, ``typing.Optional[str]``) as the expression
    ``matches`` reads."""
    if isinstance(annotation, str):
        text = annotation
    elif isinstance(annotation, type) and not typing.get_args(annotation):
        text = annotation.__name__
    else:
        text = repr(annotation).replace("typing.", "")
    return ast.parse(text, mode="eval").body


def check_parameters(namespace: MutableMapping[str, Any]) -> dict[str, Any]:
    """Convert each typed parameter in a notebook's ``namespace`` (its ``globals()``) to its declared
    type, in place, and return the converted ones.

    A value given as text where the type is not text (papermill's ``-p``) is read as YAML; a value
    that still does not fit is refused with a ValueError naming the parameter, its type and the
    value. Only names the notebook annotated are checked (``__annotations__``)."""
    converted = {}
    for name, annotation in dict(namespace.get("__annotations__", {})).items():
        if name not in namespace:
            continue
        expression, value = _expression(annotation), namespace[name]
        if matches(value, expression):
            continue
        if isinstance(value, str):
            try:
                parsed = parse_value(value)
            except yaml.YAMLError:
                parsed = value
            if matches(parsed, expression):
                namespace[name] = converted[name] = parsed
                continue
        raise ValueError(
            f"parameter {name} must be {ast.unparse(expression)}, got {value!r} ({type(value).__name__}); "
            "lists and dicts are written in YAML, e.g. -p levels_bits '[2.0, 4.0]'"
        )
    return converted


@dataclass
class _Claim:
    text: str
    status: str  # "holds", "FAILED", "not asserted", "skipped"
    detail: str = ""


@dataclass
class Claims:
    """The claims a notebook checks on its runs; ``check`` asserts those marked as needing a full
    run (the notebook's ``check_claims``: the quick and paper profiles)."""

    check: bool
    claims: list[_Claim] = field(default_factory=list)

    def test(self, text: str, holds: bool, detail: str = "", *, always: bool = False) -> bool:
        """Record claim ``text``: asserted when ``check`` (or ``always``), else printed as not
        asserted. ``detail`` says what was measured. Returns ``holds``."""
        holds = bool(holds)
        if always or self.check:
            self.claims.append(_Claim(text, "holds" if holds else "FAILED", detail))
        else:
            self.claims.append(_Claim(text, "not asserted", f"{'holds' if holds else 'does not hold'}; {detail}"))
        return holds

    def skip(self, text: str, why: str) -> None:
        """Record claim ``text`` as not checked, because ``why`` (e.g. its level was not run)."""
        self.claims.append(_Claim(text, "skipped", why))

    def report(self) -> None:
        """Print one line per claim, then raise AssertionError naming every claim that failed."""
        for claim in self.claims:
            detail = f": {claim.detail}" if claim.detail else ""
            print(f"[{claim.status}] {claim.text}{detail}")
        if not self.check:
            print("(check_claims is off: only the claims that hold at any run length were asserted)")
        failed = [c for c in self.claims if c.status == "FAILED"]
        if failed:
            raise AssertionError("claims that failed: " + "; ".join(f"{c.text} ({c.detail})" for c in failed))
