#!/usr/bin/env python3
"""Trims Atlassian's OpenAPI description of the Jira Cloud platform REST API v3
to the operations the tests' fake Jira serves, with every schema they refer to.

    scripts/trim-jira-openapi.py SOURCE.json test-support/fixtures/jira-cloud-platform-v3.trimmed.json

Run by hand when the description is refreshed; the tests read only the output,
which is committed (with its source noted in test-support/fixtures/README.md).
"""
import json
import sys

# The operations the fake Jira serves (test-support's fake_jira routes):
# those the Jira connector calls (plugins/jira), and serverInfo and field,
# which the `jira` Python client reads (tests/vendor_clients).
PATHS = {
    "/rest/api/3/myself",
    "/rest/api/3/serverInfo",
    "/rest/api/3/field",
    "/rest/api/3/project",
    "/rest/api/3/project/search",
    "/rest/api/3/project/{projectIdOrKey}",
    "/rest/api/3/project/{projectIdOrKey}/statuses",
    "/rest/api/3/issue/createmeta/{projectIdOrKey}/issuetypes",
    "/rest/api/3/priority",
    "/rest/api/3/priority/search",
    "/rest/api/3/issue",
    "/rest/api/3/issue/{issueIdOrKey}",
    "/rest/api/3/issue/{issueIdOrKey}/transitions",
    "/rest/api/3/issue/{issueIdOrKey}/comment",
    "/rest/api/3/search/jql",
    "/rest/api/3/search",
}


def refs(node, found):
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/"):
            found.add(tuple(ref[len("#/components/"):].split("/", 1)))
        for value in node.values():
            refs(value, found)
    elif isinstance(node, list):
        for value in node:
            refs(value, found)


# Prose and samples the validator never reads; dropped to keep the copy small.
PROSE = {"description", "summary", "example", "examples", "externalDocs"}


def without_prose(node, in_properties=False):
    """`node` without PROSE keys and `x-` extensions, except where the keys
    are names (the property names of a schema)."""
    if isinstance(node, dict):
        return {
            key: without_prose(value, key == "properties" and not in_properties)
            for key, value in node.items()
            if in_properties or not (key in PROSE or key.startswith("x-"))
        }
    if isinstance(node, list):
        return [without_prose(value) for value in node]
    return node


def main(source, target):
    with open(source) as f:
        doc = json.load(f)
    missing = PATHS - doc["paths"].keys()
    if missing:
        sys.exit(f"not in the description: {sorted(missing)}")
    paths = {path: doc["paths"][path] for path in PATHS}
    wanted = set()
    refs(paths, wanted)
    components = {}
    seen = set()
    while wanted:
        kind, name = wanted.pop()
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        value = doc["components"][kind][name]
        components.setdefault(kind, {})[name] = value
        refs(value, wanted)
    for kind in ("securitySchemes",):
        if kind in doc["components"]:
            components[kind] = doc["components"][kind]
    out = {
        "openapi": doc["openapi"],
        "info": doc["info"],
        "paths": without_prose(dict(sorted(paths.items()))),
        "components": without_prose(
            {k: dict(sorted(v.items())) for k, v in sorted(components.items())}
        ),
    }
    with open(target, "w") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"{len(paths)} paths, {sum(len(v) for v in components.values())} components", file=sys.stderr)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
