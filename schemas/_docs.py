"""Field docstrings as descriptions, read when a JSON Schema is made (`recipe schema`, `recipe init`).

pydantic's `use_attribute_docstrings` reads them at class creation by finding each class's source, which
costs about a quarter of importing the schemas on every command; validation never needs them. Here each
module is parsed once, and each property of the generated schema gets the docstring written under its field.
"""

from __future__ import annotations

import ast
import inspect
import sys
from functools import cache


def _field_docs(module_name: str) -> dict[str, dict[str, str]]:
    """Class name -> field -> the string literal right after the field's annotated assignment."""
    module = sys.modules.get(module_name)
    try:
        tree = ast.parse(inspect.getsource(module)) if module is not None else None
    except (OSError, TypeError):
        return {}
    found: dict[str, dict[str, str]] = {}
    for node in ast.walk(tree) if tree is not None else ():
        if not isinstance(node, ast.ClassDef):
            continue
        docs: dict[str, str] = {}
        for stmt, after in zip(node.body, node.body[1:], strict=False):
            if (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)
                    and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                    and isinstance(after.value.value, str)):
                docs[stmt.target.id] = inspect.cleandoc(after.value.value)
        found[node.name] = docs
    return found


def field_doc(cls: type, name: str) -> str | None:
    """The docstring of field `name` of a model class: from the class whose own body annotates it (a field
    redefined without one has none, as pydantic's `use_attribute_docstrings` reads it)."""
    for owner in cls.__mro__:
        if name in owner.__dict__.get("__annotations__", {}):
            return _module_docs(owner.__module__).get(owner.__name__, {}).get(name)
    return None


@cache
def _module_docs(module_name: str) -> dict[str, dict[str, str]]:
    return _field_docs(module_name)


def describe_fields(raw: dict, root: type) -> None:
    """Fill each property's description in a pydantic JSON Schema (`$defs` named by class) from its docstring
    (`root`: the base class of the models in it)."""
    classes, todo = {}, [root]
    while todo:
        cls = todo.pop()
        classes.setdefault(cls.__name__, cls)
        todo.extend(cls.__subclasses__())
    for name, body in raw.get("$defs", {}).items():
        cls = classes.get(name)
        # a block with a shorthand is `anyOf: [short form, mapping]`: its properties are one level down
        for node in [body, *body.get("anyOf", [])] if cls is not None else ():
            for field, prop in node.get("properties", {}).items():
                if "description" not in prop and (doc := field_doc(cls, field)):
                    prop["description"] = doc
