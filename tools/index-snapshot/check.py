#!/usr/bin/env python3
"""Check the version index snapshot files (format 1). Python 3.11 standard library only.

Usage: python3 tools/index-snapshot/check.py [crates/imagesmith-catalog/catalog/index]
Exits 1 and names the file and entry for every problem found.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path

TOP = {"format", "component", "source", "cited", "updated", "releases"}
OPTIONAL_TOP = {"partial"}
RELEASE = {"version", "date", "artifacts", "build", "revoked", "withdrawn"}
SOURCES = {
    "github_releases": ({"repository"}, {"checksum_asset"}),
    "hashicorp": ({"product"}, set()),
    "pypi": ({"package"}, set()),
    "npm": ({"package"}, set()),
    "nodejs_dist": (set(), set()),
    "corretto": ({"major"}, set()),
    "aws_cli": (set(), set()),
    "apt": ({"url", "suite", "component", "package"}, set()),
    "dnf": ({"url", "package"}, set()),
    "registry": ({"registry", "repository"}, set()),
    "vendor": ({"description"}, set()),
}
VERSION = re.compile(r"^\d+(\.\d+)*$")
ARTIFACT_KEY = re.compile(r"^[a-z0-9]+/[a-z0-9_]+$")
SHA256 = re.compile(r"^[0-9a-f]{64}$")
DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def valid_date(text: object) -> bool:
    if not isinstance(text, str) or not DATE.match(text):
        return False
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True


def check_file(path: Path) -> list[str]:
    problems: list[str] = []
    raw = path.read_text(encoding="utf-8")
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as error:
        return [f"{path}: not JSON: {error}"]
    if not isinstance(data, dict):
        return [f"{path}: top level is not an object"]
    if not TOP <= set(data) <= TOP | OPTIONAL_TOP:
        problems.append(f"{path}: fields {sorted((set(data) ^ TOP) - OPTIONAL_TOP)} missing or unknown")

    if data.get("format") != 1:
        problems.append(f"{path}: `format` is not 1")
    if data.get("component") != path.stem:
        problems.append(f"{path}: `component` `{data.get('component')}` does not match the file name")
    source = data.get("source")
    if not isinstance(source, dict) or source.get("kind") not in SOURCES:
        problems.append(f"{path}: `source.kind` missing or unknown")
    else:
        required, optional = SOURCES[source["kind"]]
        fields = set(source) - {"kind"}
        if not required <= fields or not fields <= required | optional:
            problems.append(f"{path}: source fields {sorted(fields)} do not fit kind `{source['kind']}`")
        if any(not isinstance(v, str) or not v for v in source.values()):
            problems.append(f"{path}: source values must be non-empty strings")
    cited = data.get("cited")
    if not isinstance(cited, list) or not cited or not all(isinstance(c, str) and "http" in c for c in cited):
        problems.append(f"{path}: `cited` must list sources with their URLs")
    if not valid_date(data.get("updated")):
        problems.append(f"{path}: `updated` is not a YYYY-MM-DD date")
    releases = data.get("releases")
    if not isinstance(releases, list):
        return problems + [f"{path}: `releases` is not a list"]
    keys = []
    for index, release in enumerate(releases):
        where = f"{path}: releases[{index}]"
        if not isinstance(release, dict) or "version" not in release:
            problems.append(f"{where}: not an object with `version`")
            continue
        if not set(release) <= RELEASE:
            problems.append(f"{where}: unknown fields {sorted(set(release) - RELEASE)}")
        version = release["version"]
        if not isinstance(version, str) or not VERSION.match(version):
            problems.append(f"{where}: version `{version}` is not a final dotted version")
            continue
        keys.append((tuple(int(p) for p in version.split(".")), version))
        if "date" in release and not valid_date(release["date"]):
            problems.append(f"{where}: date `{release['date']}` is not a valid YYYY-MM-DD date")
        if "date" in release and valid_date(release["date"]) and release["date"] > data.get("updated", ""):
            problems.append(f"{where}: date `{release['date']}` is after `updated`")
        for key, artifact in (release.get("artifacts") or {}).items():
            if not ARTIFACT_KEY.match(key) or not isinstance(artifact, dict) or "url" not in artifact:
                problems.append(f"{where}: artifact `{key}` malformed")
            elif not set(artifact) <= {"url", "sha256"} or ("sha256" in artifact and not SHA256.match(artifact["sha256"])):
                problems.append(f"{where}: artifact `{key}` has unknown fields or a bad sha256")
        for field in ("build", "revoked"):
            if field in release and (not isinstance(release[field], str) or not release[field]):
                problems.append(f"{where}: `{field}` must be a non-empty string")
        if "withdrawn" in release:
            withdrawn = release["withdrawn"]
            if (
                not isinstance(withdrawn, dict)
                or not set(withdrawn) <= {"reason", "since"}
                or not isinstance(withdrawn.get("reason"), str)
                or not withdrawn["reason"]
                or ("since" in withdrawn and not valid_date(withdrawn["since"]))
            ):
                problems.append(f"{where}: `withdrawn` must be {{\"reason\": non-empty, \"since\": YYYY-MM-DD (optional)}}")
    if [k for k, _ in keys] != sorted(k for k, _ in keys):
        problems.append(f"{path}: releases are not sorted ascending by version")
    seen = [v for _, v in keys]
    numeric = [k for k, _ in keys]
    if len(set(seen)) != len(seen) or len(set(numeric)) != len(numeric):
        problems.append(f"{path}: duplicate versions")
    # Layout: pretty-printed with 2 spaces, one release object per line, trailing newline.
    expected = render(data) if not problems else None
    if expected is not None and raw != expected:
        problems.append(f"{path}: layout differs from the canonical one (2-space indent, one release per line)")
    return problems


def render(data: dict) -> str:
    head = {k: data[k] for k in ("format", "component", "source", "cited", "updated", "partial") if k in data}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    lines = ["    " + json.dumps(r, ensure_ascii=False) for r in data["releases"]]
    if not lines:
        return text + ',\n  "releases": []\n}\n'
    return text + ',\n  "releases": [\n' + ",\n".join(lines) + "\n  ]\n}\n"


def main() -> int:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else "crates/imagesmith-catalog/catalog/index")
    files = sorted(root.glob("*.json"))
    if not files:
        print(f"No index files in `{root}`", file=sys.stderr)
        return 1
    problems = [p for f in files for p in check_file(f)]
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"{len(files)} files checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
