#!/usr/bin/env python3
"""The core's top-level modules import one another without a cycle (ARCHITECTURE.md: the layers
only point down). Reads `crate::<module>` paths in code — comments, doc comments and
`#[cfg(test)]` parts left out — and fails naming each cycle found.

    check_module_cycles.py [SRC_DIR] [--self-test]

`--self-test` first proves the check can fail: with an added edge that closes a known path into
a cycle, it must find one.
"""
import os
import re
import sys

PATH = re.compile(r"\bcrate::([a-z_]+)")


def code_of(text):
    """The text without `//` comments and without what follows the first `#[cfg(test)]`."""
    text = text.split("#[cfg(test)]")[0]
    return "\n".join(line.split("//")[0] for line in text.splitlines())


def modules(src):
    found = {}
    for name in sorted(os.listdir(src)):
        path = os.path.join(src, name)
        module = name[:-3] if name.endswith(".rs") else name
        if module in ("lib", "main", "testing"):  # the root, and the in-memory stand-ins for tests
            continue
        if os.path.isdir(path):
            files = [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs
                     if f.endswith(".rs") and f != "tests.rs" and "tests" not in d.split(os.sep)]
        elif name.endswith(".rs"):
            files = [path]
        else:
            continue
        found[module] = files
    return found


def edges(found):
    out = {m: set() for m in found}
    for module, files in found.items():
        for f in files:
            with open(f, encoding="utf-8") as fh:
                for target in PATH.findall(code_of(fh.read())):
                    if target != module and target in found:
                        out[module].add(target)
    return out


def cycles(graph):
    """Every elementary cycle, each once (as the sorted tuple of its modules)."""
    seen = set()
    for start in graph:
        stack = [(start, [start])]
        while stack:
            node, path = stack.pop()
            for nxt in graph[node]:
                if nxt == start:
                    seen.add(tuple(path))
                elif nxt not in path and nxt > start:
                    stack.append((nxt, path + [nxt]))
    return sorted(seen)


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    src = args[0] if args else "shared/src"
    graph = edges(modules(src))
    if "--self-test" in sys.argv:
        # `lifecycle` imports `image`: an edge back closes a cycle the check must see.
        if "image" not in graph.get("lifecycle", set()):
            sys.exit("module-cycles: self-test needs lifecycle -> image, which is gone; pick another edge")
        broken = {m: set(t) for m, t in graph.items()}
        broken["image"].add("lifecycle")
        if not cycles(broken):
            sys.exit("module-cycles: self-test: an added cycle was not found; the check is broken")
    found = cycles(graph)
    if found:
        for cycle in found:
            print("module-cycles: " + " -> ".join(cycle + (cycle[0],)), file=sys.stderr)
        sys.exit(f"module-cycles: {len(found)} import cycle(s) among the core's modules; "
                 "move what both need to a module below them")
    print(f"module-cycles: {len(graph)} core modules, {sum(len(t) for t in graph.values())} imports, no cycle")


if __name__ == "__main__":
    main()
