"""Bot handler modules stay independent: a topic reaches another through `bot.navigation`."""

import ast
import importlib
import pkgutil
from pathlib import Path

import bot.handlers

SHARED = {"bot.handlers", "bot.handlers.common"}  # the package and what every topic shares


def _handler_modules() -> list[str]:
    return [
        f"bot.handlers.{info.name}"
        for info in pkgutil.iter_modules(bot.handlers.__path__)
        if f"bot.handlers.{info.name}" not in SHARED
    ]


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            # `from bot.handlers import family` names a module too.
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_there_are_handler_modules() -> None:
    assert {"bot.handlers.help", "bot.handlers.onboarding"} <= set(_handler_modules())


def test_no_handler_module_imports_another() -> None:
    handlers = set(_handler_modules())
    for name in sorted(handlers):
        module = importlib.import_module(name)
        assert module.__file__ is not None
        assert hasattr(module, "router"), name
        others = (_imported(Path(module.__file__)) & handlers) - {name}
        assert not others, f"{name} imports {sorted(others)}"


def test_postback_actions_are_named_in_one_module() -> None:
    from notifier import postbacks

    names = {v for k, v in vars(postbacks).items() if k.isupper() and isinstance(v, str)}
    assert len(names) == len([k for k in vars(postbacks) if k.isupper()])  # no duplicates
    for name in sorted(_handler_modules()):
        module = importlib.import_module(name)
        assert module.__file__ is not None
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("postback", "date_picker")
            ):
                literals = [
                    a.value
                    for a in node.args
                    if isinstance(a, ast.Constant) and isinstance(a.value, str)
                ]
                # Handlers and buttons name actions through `notifier.postbacks`, never as text.
                assert not literals, f"{name}:{node.lineno} {literals}"
