"""The layers contract, checked in the source: runtimes <- edge_sdk <- converters, the CLI and demo above.

    python tools/check_layers.py            # from the repository root (make lint runs it); exit 1 on a breach

* ``runtimes/`` (the device runtime, lowest) imports nothing from ``edge_sdk``, ``converters`` or ``torch``.
* ``edge_sdk/`` does not import ``converters``, except where :data:`RULES` lets a module do so lazily (inside
  a function, so the thin install imports it without the host packages): the CLI, the demo, and
  ``edge_sdk.bundles.resolve_bundle``, which exports a zoo model on first use.
* ``converters/`` is the top layer and may import the others.

An import is found wherever it is written: module level, inside functions and classes, ``if TYPE_CHECKING``
blocks, relative imports (resolved against the file's package), and ``importlib.import_module("...")`` /
``__import__("...")`` calls with a string literal. Names computed at run time (a table of module names) are
not seen; those tables are reviewed like any other code.
"""

from __future__ import annotations

import ast
import sys
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("runtimes", "edge_sdk", "converters")


@dataclass(frozen=True)
class Rule:
    prefix: str  # a package directory ("edge_sdk/cli/") or one file ("edge_sdk/demo.py"), relative to the root
    forbidden: frozenset[str]  # top-level packages it may not import
    lazily: bool  # True: allowed inside a function, refused at module (or class) level
    why: str


_UPPER = frozenset({"edge_sdk", "converters", "torch"})
_HOST = frozenset({"converters"})
# the first rule whose prefix matches a file applies: the most specific first
RULES = (
    Rule("runtimes/", _UPPER, False, "runtimes is the device runtime, the lowest layer"),
    Rule("edge_sdk/cli/", _HOST, True, "the CLI sits above converters; host commands import it when run"),
    Rule("edge_sdk/demo.py", _HOST, True, "the demo converts models, so it sits above converters"),
    Rule("edge_sdk/bundles.py", _HOST, True, "resolve_bundle exports a zoo model on first use (host install)"),
    Rule("edge_sdk/", _HOST, False, "edge_sdk (the device API) sits below converters"),
)


@dataclass(frozen=True)
class Import:
    line: int
    module: str  # absolute dotted name
    in_function: bool


def _package(path: Path, root: Path) -> list[str]:
    """The package a module's relative imports start from: its directory (for ``__init__.py`` too)."""
    return list(path.relative_to(root).parent.parts)


def _resolve(package: list[str], level: int, module: str | None) -> str | None:
    if level == 0:
        return module
    if level - 1 >= len(package):
        return None  # beyond the top-level package: Python refuses it (so relative imports never cross layers)
    base = package[: len(package) - (level - 1)]
    return ".".join(base + ([module] if module else [])) or None


def _literal(node: ast.expr | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _dynamic(node: ast.Call, package: list[str]) -> str | None:
    """The module an ``importlib.import_module("...")`` / ``import_module`` / ``__import__`` call names."""
    func = node.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in ("import_module", "__import__") or not node.args:
        return None
    target = _literal(node.args[0])
    if target is None:
        return None
    if name == "import_module" and target.startswith("."):
        anchor = _literal(node.args[1]) if len(node.args) > 1 else None
        level = len(target) - len(target.lstrip("."))
        pkg = anchor.split(".") if anchor else package
        return _resolve(pkg, level, target[level:] or None)
    return target


def imports(path: Path, root: Path) -> list[Import]:
    """Every import in ``path`` with its absolute module name and whether it runs inside a function."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = _package(path, root)
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        if isinstance(node, ast.Import):
            found.extend(Import(node.lineno, a.name, in_function) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(package, node.level, node.module)
            if base is not None:
                found.append(Import(node.lineno, base, in_function))
                if node.module is None:  # from . import x: x may be a module
                    found.extend(Import(node.lineno, f"{base}.{a.name}", in_function) for a in node.names)
        elif isinstance(node, ast.Call):
            target = _dynamic(node, package)
            if target is not None:
                found.append(Import(node.lineno, target, in_function))
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner)

    visit(tree, False)
    return found


def rule_for(relpath: str) -> Rule | None:
    return next((r for r in RULES if relpath == r.prefix or relpath.startswith(r.prefix)), None)


def violations(root: Path) -> list[str]:
    """One line per import that breaks :data:`RULES` in the packages under ``root``."""
    bad = []
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            rel = path.relative_to(root).as_posix()
            rule = rule_for(rel)
            if rule is None:
                continue
            for imp in imports(path, root):
                top = imp.module.split(".")[0]
                if top in rule.forbidden and not (rule.lazily and imp.in_function):
                    where = "inside a function" if imp.in_function else "at module level"
                    bad.append(f"{rel}:{imp.line}: imports {imp.module} {where} ({rule.why})")
    return bad


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0]) if args else Path(__file__).resolve().parent.parent
    bad = violations(root)
    for line in bad:
        print(line)
    print(f"layers: {len(bad)} breach(es) of runtimes <- edge_sdk <- converters" if bad else
          "layers: ok (runtimes <- edge_sdk <- converters; CLI and demo above)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
