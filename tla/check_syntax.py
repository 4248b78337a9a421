#!/usr/bin/env python3
"""Syntax check of every TLA+ module in tla/, without TLC.

Parses each .tla file with the tree-sitter TLA+ grammar and fails (exit 1) on any ERROR or
MISSING node, printing where. Needs:

    pip install "tree-sitter==0.26.1" "tree-sitter-tlaplus==1.5.0"

Usage: python3 tla/check_syntax.py [FILE.tla ...]   (default: every tla/*.tla)

Before checking the files it makes sure the parser does reject a broken module, so a grammar
that accepted anything could not pass the check.
"""

import sys
import warnings
from pathlib import Path

try:
    import tree_sitter
    import tree_sitter_tlaplus
except ImportError as e:  # a clear error, not a traceback
    sys.exit(
        f"error: {e.name} is not installed; run: "
        'pip install "tree-sitter==0.26.1" "tree-sitter-tlaplus==1.5.0"'
    )


def problems(tree):
    """Every ERROR or MISSING node of the tree, as (line, column, description)."""
    found = []
    stack = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.is_error:
            found.append((node.start_point, "syntax error: cannot parse this"))
        elif node.is_missing:
            found.append((node.start_point, f"missing {node.type}"))
        if node.has_error:
            stack.extend(node.children)
    return sorted(found)


# A module with one error: the record is never closed.
BROKEN = b"""---- MODULE Broken ----
EXTENDS Naturals
VARIABLE x
Init == x = [a |-> 1
Next == x' = x
====
"""

GOOD = b"""---- MODULE Good ----
EXTENDS Naturals
VARIABLE x
Init == x = [a |-> 1]
Next == x' = x
====
"""


def main(argv):
    here = Path(__file__).resolve().parent
    files = [Path(a) for a in argv[1:]] or sorted(here.glob("*.tla"))
    if not files:
        print(f"error: no .tla files in {here}", file=sys.stderr)
        return 1
    with warnings.catch_warnings():
        # tree-sitter-tlaplus 1.5.0 hands the language over as an int, which newer
        # tree-sitter still accepts with a DeprecationWarning.
        warnings.simplefilter("ignore", DeprecationWarning)
        language = tree_sitter.Language(tree_sitter_tlaplus.language())
    parser = tree_sitter.Parser(language)
    if not problems(parser.parse(BROKEN)) or problems(parser.parse(GOOD)):
        print("error: the TLA+ grammar does not tell a broken module from a good one",
              file=sys.stderr)
        return 1
    failed = 0
    for path in files:
        try:
            source = path.read_bytes()
        except OSError as e:
            print(f"error: cannot read {path}: {e}", file=sys.stderr)
            failed += 1
            continue
        tree = parser.parse(source)
        found = problems(tree)
        modules = [c for c in tree.root_node.named_children if c.type == "module"]
        if not found and not modules:
            found.append(((0, 0), "no TLA+ module found"))
        for module in modules[:1]:
            name = module.child_by_field_name("name")
            if name is not None and name.text.decode() != path.stem:
                found.append(
                    (
                        name.start_point,
                        f"module {name.text.decode()} must be in a file named "
                        f"{name.text.decode()}.tla (TLC requires it)",
                    )
                )
        lines = source.decode("utf-8", "replace").splitlines()
        for (row, col), what in found:
            text = lines[row] if row < len(lines) else ""
            print(f"{path}:{row + 1}:{col + 1}: {what}\n    {text}", file=sys.stderr)
        if found:
            failed += 1
        else:
            print(f"ok {path}")
    print(f"{len(files) - failed} passed, {failed} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
