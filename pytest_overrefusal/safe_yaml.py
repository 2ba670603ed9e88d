"""YAML for manifests: PyYAML's safe loader, plus refusals of what it would take silently or blow up on: aliases
that expand past a small limit ("billion laughs"), repeated keys, and values Python cannot build."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .errors import OverrefusalError
from .textfiles import cap, show

# Extra nodes aliases may add on top of the document's own: anchors for a shared mapping are fine, a bomb is not.
MAX_ALIAS_EXPANSION = 10_000


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict[Any, Any] = {}
            for key_node, _ in node.value:
                if isinstance(key_node, ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                    key = key_node.value
                    if key in seen:
                        raise yaml.constructor.ConstructorError(
                            None, None, f"key {show(key)} appears twice (first at line {seen[key].line + 1}); "
                                        f"keep one", key_node.start_mark)
                    seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)


def load(text: str, path: Path, error: type[OverrefusalError], what: str = "suite manifest") -> Any:
    """The one document in `text`; every problem is `error` naming `path` and the line."""
    loader = None
    try:
        loader = _Loader(text)
        node = loader.get_single_node()
        if node is None:
            return None
        extra = _alias_expansion(node)
        if extra > MAX_ALIAS_EXPANSION:
            raise error(f"{path}: YAML aliases (*name) would expand it by more than {MAX_ALIAS_EXPANSION} values; "
                        f"write the values out instead of repeating anchors")
        return loader.construct_document(node)
    except yaml.reader.ReaderError as exc:  # a control character; it carries no mark, so count the line here
        line = text.count("\n", 0, exc.position) + 1
        raise error(f"{path}: line {line}: character #x{exc.character:04x} is not allowed in YAML; remove it") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}:" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise error(f"{path}:{where} {cap(problem)}; fix the YAML") from None
    except RecursionError:
        raise error(f"{path}: YAML nested too deeply to be a {what}; fix the YAML") from None
    except (ValueError, TypeError, OverflowError) as exc:  # a date like 2024-13-45, an int past the digit limit
        raise error(f"{path}: a value cannot be read ({cap(str(exc), 120)}); quote it to keep it as text") from None
    finally:
        if loader is not None:
            loader.dispose()


def _alias_expansion(root: Node) -> int:
    """How many nodes aliases add when the document is expanded as a tree (a cycle counts as endless), computed
    on the shared graph without expanding it."""
    sizes: dict[int, int] = {}
    distinct = 0
    on_path: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, leaving = stack.pop()
        key = id(node)
        children = _children(node)
        if leaving:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            distinct += 1
            if sizes[key] - distinct > MAX_ALIAS_EXPANSION:
                return sizes[key] - distinct
            continue
        if key in sizes:
            continue
        if key in on_path:
            return MAX_ALIAS_EXPANSION + 1  # a recursive anchor: expands forever
        on_path.add(key)
        stack.append((node, True))
        stack.extend((c, False) for c in children if id(c) not in sizes)
    return sizes[id(root)] - distinct


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []
