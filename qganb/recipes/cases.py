"""Runs a recipe's verify cases against an agent and judges each result."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from qganb.errors import AgentCommandError, AgentTimedOut
from qganb.recipes.model import Predicate, Recipe, VerifyCase


@dataclass(frozen=True)
class CaseResult:
    command: str
    case: str
    passed: bool
    expected: str
    got: str
    problem: str = ""

    def line(self) -> str:
        mark = "PASS" if self.passed else "FAIL"
        text = f"{mark}  {self.command}: {self.case}"
        if not self.passed:
            text += f"\n      expected: {self.expected}\n      got:      {self.got}"
            if self.problem:
                text += f"\n      why:      {self.problem}"
        return text


_TYPES: dict[str, Callable[[Any], bool]] = {
    "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "str": lambda v: isinstance(v, str),
    "bool": lambda v: isinstance(v, bool),
    "list": lambda v: isinstance(v, list),
    "object": lambda v: isinstance(v, dict),
    "null": lambda v: v is None,
}


# `pattern` matches the whole string, as argument patterns do in the generated C (fullmatch: a
# trailing newline does not satisfy `$`).
def check_predicate(value: Any, pred: Predicate, where: str = "result") -> list[str]:
    """Every way `value` fails `pred`, as messages naming the JSON path."""
    problems: list[str] = []
    if pred.type is not None and not _TYPES[pred.type](value):
        return [f"{where} should be of type {pred.type}, is {json.dumps(value)}"]
    if pred.equals is not None and value != pred.equals:
        problems.append(f"{where} should equal {json.dumps(pred.equals)}, is {json.dumps(value)}")
    if pred.min is not None or pred.max is not None:
        if not _TYPES["number"](value):
            problems.append(f"{where} should be a number, is {json.dumps(value)}")
        else:
            if pred.min is not None and value < pred.min:
                problems.append(f"{where} should be >= {pred.min:g}, is {value}")
            if pred.max is not None and value > pred.max:
                problems.append(f"{where} should be <= {pred.max:g}, is {value}")
    if pred.pattern is not None and (not isinstance(value, str) or re.fullmatch(pred.pattern, value) is None):
        problems.append(f"{where} should match /{pred.pattern}/, is {json.dumps(value)}")
    if pred.min_items is not None or pred.max_items is not None or pred.items is not None:
        if not isinstance(value, list):
            return problems + [f"{where} should be a list, is {json.dumps(value)}"]
        if pred.min_items is not None and len(value) < pred.min_items:
            problems.append(f"{where} should have at least {pred.min_items} items, has {len(value)}")
        if pred.max_items is not None and len(value) > pred.max_items:
            problems.append(f"{where} should have at most {pred.max_items} items, has {len(value)}")
        if pred.items is not None:
            for i, item in enumerate(value):
                problems += check_predicate(item, pred.items, f"{where}[{i}]")
    if pred.fields is not None:
        if not isinstance(value, dict):
            return problems + [f"{where} should be an object, is {json.dumps(value)}"]
        for name, sub in pred.fields.items():
            if name not in value:
                problems.append(f"{where}.{name} is missing")
            else:
                problems += check_predicate(value[name], sub, f"{where}.{name}")
    return problems


def _describe(case: VerifyCase) -> str:
    if case.expect_error is not None:
        return f"an error containing {case.expect_error!r}"
    if case.satisfies is not None:
        return json.dumps(case.satisfies.model_dump(exclude_none=True, by_alias=True))
    return json.dumps(case.expect)


def judge(recipe: Recipe, case: VerifyCase, call: Callable[..., Any]) -> CaseResult:
    """Run one case through `call(command, arguments)` (with `timeout=` when the case sets one) and
    compare. A command that does not answer in time fails as slow; agent crashes propagate."""
    expected = _describe(case)
    try:
        if case.timeout is not None:
            got = call(recipe.command, case.arguments, timeout=case.timeout)
        else:
            got = call(recipe.command, case.arguments)
    except AgentTimedOut as exc:
        return CaseResult(recipe.command, case.name, False, expected, f"no answer within {exc.timeout:g} s",
                          f"slow: {exc.problem}; raise the case's `timeout` if the command is slow by nature, "
                          "or make it faster")
    except AgentCommandError as exc:
        text = f"error {exc.error_class}: {exc.desc}"
        if case.expect_error is not None and case.expect_error in exc.desc:
            return CaseResult(recipe.command, case.name, True, expected, text)
        return CaseResult(recipe.command, case.name, False, expected, text,
                          "the command failed" if case.expect_error is None else "another error")
    shown = json.dumps(got)
    if case.expect_error is not None:
        return CaseResult(recipe.command, case.name, False, expected, shown, "the command succeeded")
    if case.satisfies is not None:
        problems = check_predicate(got, case.satisfies)
        return CaseResult(recipe.command, case.name, not problems, expected, shown, "; ".join(problems))
    return CaseResult(recipe.command, case.name, got == case.expect, expected, shown,
                      "" if got == case.expect else "the result differs")


__all__ = ["CaseResult", "check_predicate", "judge"]
