"""CEL in fleet.yaml: cluster selectors (``{cel: ...}``) and guardrails, under a cost limit.

cel-python (``celpy``) is imported only by the functions here that need it, so a fleet with no
CEL never pays for it. Each distinct expression is compiled once per process.

cel-python has no cost limit of its own, so this module adds two layers:

- static limits, checked before anything runs: the expression's length, how deeply brackets
  nest (the parser and the evaluator recurse), the depth of the syntax tree, how deeply
  comprehensions (``all``, ``exists``, ``map``...) nest, and no ``reduce`` (celpy's extension
  whose accumulator could double a value on every step);
- a runtime budget: the evaluator is subclassed so every syntax-tree node it visits costs one
  step; an evaluation stops with ``cel-cost`` when it runs out. Steps are what make the limit
  deterministic. A deadline backs them up for the rare single step that is slow (a deep
  equality over the whole fleet inside a comprehension); it is the only clock read in
  validate, and only changes the outcome for an expression that was about to hang the run.

Errors carry an offset into the expression; `cel_position.expression_position` maps it to
the line and column in fleet.yaml, whether the expression was written plain, quoted, or as a
block scalar. Cluster selectors are evaluated in `cel_select`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from compiler.diagnostics import Diagnostics, Position
from compiler.load import Source
from compiler.validate.cel_position import expression_position

MAX_CHARS = 8192
MAX_BRACKET_DEPTH = 32
MAX_TREE_DEPTH = 400
MAX_COMPREHENSION_DEPTH = 3
MAX_STEPS = 150_000
MAX_SECONDS = 3.0

_COMPREHENSIONS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_UNSUPPORTED = frozenset({"reduce"})

COST_HINT = (
    "CEL here is limited: at most {steps} evaluation steps per expression; avoid nesting"
    " comprehensions over large lists"
)


@dataclass(frozen=True)
class CelError:
    """A problem with one expression: a diagnostic code, a message and where in the text."""

    code: str
    message: str
    offset: int | None = None
    hint: str | None = None


@dataclass(frozen=True)
class Compiled:
    """An expression after parsing and the static limits: a program, or the error."""

    text: str
    program: Any = None
    error: CelError | None = None


class CostExceeded(Exception):
    """Raised from inside the evaluator when the budget is spent."""


class Budget:
    """Steps and a deadline shared by one evaluation and the comprehensions inside it."""

    def __init__(self, steps: int = MAX_STEPS, seconds: float = MAX_SECONDS) -> None:
        self.steps = steps
        self.limit = steps
        self.deadline = time.monotonic() + seconds
        self.seconds = seconds

    def spend(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise CostExceeded(f"exceeded the cost limit of {self.limit} evaluation steps")
        if self.steps & 0xFF == 0 and time.monotonic() > self.deadline:
            raise CostExceeded(f"exceeded the time limit of {self.seconds:g} s")


_compiled: dict[str, Compiled] = {}
_environment: list[Any] = []
_evaluator_class: list[Any] = []


def _env() -> Any:
    if not _environment:
        import logging

        import celpy

        from compiler.validate.cel_parser import install_cached_parser

        # celpy logs (at error level) every exception that passes its function wrappers,
        # including our own CostExceeded; those would reach stderr through logging's fallback.
        celpy_log = logging.getLogger("celpy")
        celpy_log.addHandler(logging.NullHandler())
        celpy_log.propagate = False
        install_cached_parser()
        _environment.append(celpy.Environment())
    return _environment[0]


def _budgeted_evaluator() -> Any:
    """celpy's tree-walking Evaluator, charging the budget for every node it visits."""
    if not _evaluator_class:
        from celpy.evaluation import Evaluator

        class BudgetedEvaluator(Evaluator):
            def __init__(self, ast: Any, activation: Any, budget: Budget) -> None:
                super().__init__(ast, activation)
                self.budget = budget

            def sub_evaluator(self, ast: Any) -> Any:
                # Comprehension bodies get their own evaluator: share the budget with it.
                return BudgetedEvaluator(ast, self.activation, self.budget)

            def _visit_tree(self, tree: Any) -> Any:
                # lark's Interpreter routes visit() and visit_children() through here.
                self.budget.spend()
                return super()._visit_tree(tree)

        _evaluator_class.append(BudgetedEvaluator)
    return _evaluator_class[0]


def compile_expression(text: str) -> Compiled:
    """Parse `text` and check the static limits; cached per distinct expression."""
    found = _compiled.get(text)
    if found is None:
        found = _compile(text)
        _compiled[text] = found
    return found


def _compile(text: str) -> Compiled:
    if len(text) > MAX_CHARS:
        return Compiled(
            text, error=CelError("cel-cost", f"expression longer than {MAX_CHARS} characters", 0)
        )
    depth, deepest = _bracket_depth(text)
    if depth > MAX_BRACKET_DEPTH:
        return Compiled(
            text,
            error=CelError(
                "cel-cost", f"brackets nest deeper than {MAX_BRACKET_DEPTH} levels", deepest
            ),
        )
    env = _env()
    from celpy.celparser import CELParseError

    try:
        ast = env.compile(text)
    except CELParseError as exc:
        return Compiled(text, error=_syntax_error(text, exc))
    except RecursionError:
        return Compiled(text, error=CelError("cel-cost", "expression nests too deeply", 0))
    error = _check_tree(text, ast)
    if error is not None:
        return Compiled(text, error=error)
    return Compiled(text, program=env.program(ast))


def _bracket_depth(text: str) -> tuple[int, int]:
    """The deepest nesting of ( [ { outside string literals, and the offset where it is."""
    depth = deepest = where = 0
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "'\"":
            quote = text[i : i + 3] if text[i : i + 3] in ("'''", '"""') else ch
            i += len(quote)
            while i < n and text[i : i + len(quote)] != quote:
                i += 2 if text[i] == "\\" else 1
            i += len(quote)
            continue
        if ch in "([{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, i
        elif ch in ")]}":
            depth -= 1
        i += 1
    return deepest, where


def _offset(text: str, line: int | None, column: int | None) -> int | None:
    """A 1-based line and column inside `text` -> an offset into it."""
    if not line or not column:
        return None
    lines = text.split("\n")
    if line > len(lines):
        return len(text)
    return sum(len(x) + 1 for x in lines[: line - 1]) + column - 1


_TOKENS = {
    "RPAR": "')'",
    "RSQB": "']'",
    "RBRACE": "'}'",
    "COLON": "':'",
    "COMMA": "','",
}


def _syntax_error(text: str, exc: Any) -> CelError:
    cause = exc.__context__
    token = getattr(cause, "token", None)
    char = getattr(cause, "char", None)
    if token is not None and token.type == "$END":
        what = "unexpected end of expression"
    elif token is not None:
        what = f"unexpected {str(token.value)!r}"
    elif char is not None:
        what = f"unexpected character {char!r}"
    else:
        what = "invalid expression"
    expected = sorted(getattr(cause, "expected", None) or ())
    hint = None
    if expected and all(e in _TOKENS for e in expected):
        hint = "expected " + " or ".join(_TOKENS[e] for e in expected)
    offset = _offset(text, exc.line, exc.column)
    if token is not None and token.type == "$END":
        offset = len(text.rstrip()) if text.strip() else 0
    return CelError("cel-syntax", f"CEL syntax error: {what}", offset, hint)


def _check_tree(text: str, ast: Any) -> CelError | None:
    """Static limits on the parsed tree: depth, comprehension nesting, unsupported macros."""
    import lark

    stack: list[tuple[Any, int, int]] = [(ast, 1, 0)]
    while stack:
        node, depth, comprehensions = stack.pop()
        where = _offset(text, getattr(node.meta, "line", None), getattr(node.meta, "column", None))
        if depth > MAX_TREE_DEPTH:
            return CelError("cel-cost", "expression nests too deeply", where)
        if node.data == "member_dot_arg" and len(node.children) >= 2:
            method = node.children[1]
            name = str(method.value) if isinstance(method, lark.Token) else ""
            at = _offset(text, getattr(method, "line", None), getattr(method, "column", None))
            if name in _UNSUPPORTED:
                return CelError(
                    "cel-unsupported", f"{name}() is not standard CEL and is not supported", at
                )
            if name in _COMPREHENSIONS:
                comprehensions += 1
                if comprehensions > MAX_COMPREHENSION_DEPTH:
                    return CelError(
                        "cel-cost",
                        f"comprehensions nest deeper than {MAX_COMPREHENSION_DEPTH} levels",
                        at,
                        "split the expression, or filter before nesting",
                    )
        for child in node.children:
            if isinstance(child, lark.Tree):
                stack.append((child, depth + 1, comprehensions))
    return None


def evaluate(compiled: Compiled, variables: dict[str, Any], budget: Budget) -> Any:
    """Run a compiled program; return its value or a CelError (never raises for bad CEL)."""
    from celpy.evaluation import CELEvalError

    assert compiled.program is not None
    evaluator = _budgeted_evaluator()(
        compiled.program.ast, compiled.program.new_activation(), budget
    )
    try:
        return evaluator.evaluate(variables)
    except CostExceeded as exc:
        return CelError("cel-cost", str(exc), None, COST_HINT.format(steps=budget.limit))
    except RecursionError:
        return CelError("cel-cost", "evaluation recursed too deeply", None)
    except CELEvalError as exc:
        message = str(exc.args[0] if exc.args else exc).split(" (in activation")[0]
        detail = exc.args[2] if len(exc.args) > 2 else ()
        if message == "no such key" and isinstance(detail, tuple) and detail:
            message = f"no such key {str(detail[0])!r}"
        offset = _offset(compiled.text, exc.line, exc.column)
        return CelError("cel-eval", f"CEL evaluation error: {message}", offset)
    except Exception as exc:  # celpy raises plain Python errors for some bad operands
        return CelError("cel-eval", f"CEL evaluation error: {type(exc).__name__}: {exc}", None)


def is_bool(value: Any) -> bool:
    import celpy

    return isinstance(value, celpy.celtypes.BoolType)


def cel_type(value: Any) -> str:
    name = type(value).__name__
    return {
        "IntType": "an int",
        "UintType": "a uint",
        "DoubleType": "a double",
        "StringType": "a string",
        "ListType": "a list",
        "MapType": "a map",
        "NoneType": "null",
        "BytesType": "bytes",
    }.get(name, name)


def report(
    diags: Diagnostics,
    error: CelError,
    expression: str,
    at: Position,
    source: Source | None,
    prefix: str = "",
) -> None:
    """Add `error` as a diagnostic at its place inside `expression`."""
    offset = 0 if error.offset is None else error.offset
    position = expression_position(source, at, expression, offset) if source else at
    diags.error(error.code, prefix + error.message, position, hint=error.hint)
