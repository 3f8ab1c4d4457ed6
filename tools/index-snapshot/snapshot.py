#!/usr/bin/env python3
"""Build the built-in version index snapshot from vendors' own release lists.

Python 3.11 standard library only. Reads bare git snapshots of the vendors' public
repositories (directory given with --mirror, one `<owner>+<name>/repo` per repository),
text files saved beside it (--saved, for sources read another way) and writes
crates/imagesmith-catalog/catalog/index/<component>.json. See README.md for how it was run.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from datetime import datetime
from pathlib import Path

UPDATED = "2026-12-02"
FINAL = re.compile(r"^\d+(\.\d+)+$")
MONTHS = "January February March April May June July August September October November December".split()


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


class Snapshot:
    def __init__(self, mirror: Path, saved: Path) -> None:
        self.mirror = mirror
        self.saved = saved

    def git(self, repo: str, *args: str) -> str:
        git_dir = self.mirror / repo.replace("/", "+") / "repo"
        result = subprocess.run(
            ["git", f"--git-dir={git_dir}", *args], capture_output=True, text=True, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(f"git {' '.join(args)} in {repo} failed: {result.stderr.strip()}")
        return result.stdout

    def show(self, repo: str, ref: str, path: str) -> str:
        return self.git(repo, "show", f"{ref}:{path}")

    def refs(self, repo: str, prefix: str) -> list[str]:
        out = self.git(repo, "for-each-ref", "--format=%(refname)", prefix)
        return [line for line in out.splitlines() if line]

    def tags(self, repo: str, prefix: str = "v", single: bool = False) -> dict[str, str | None]:
        """Final-release tags `<prefix>X.Y.Z` -> tagger date of an annotated tag (None if lightweight).

        `single` also accepts one-number versions (systemd's `v252`)."""
        out = self.git(
            repo, "for-each-ref", "--format=%(refname:short)\t%(objecttype)\t%(taggerdate:short)", "refs/tags"
        )
        found: dict[str, str | None] = {}
        for line in out.splitlines():
            name, kind, date = line.split("\t")
            if not name.startswith(prefix):
                continue
            version = name[len(prefix):]
            if FINAL.match(version) or (single and version.isdigit()):
                found[version] = date if kind == "tag" and date else None
        return found

    def read_saved(self, name: str) -> str:
        return (self.saved / name).read_text(encoding="utf-8")


def long_date(text: str) -> str:
    """`August 19, 2026` / `Aug 19, 2026` -> `2026-08-19`."""
    text = re.sub(r"(\d)(st|nd|rd|th)\b", r"\1", text.strip().replace("Sept ", "Sep "))
    for fmt in ("%B %d, %Y", "%b %d, %Y", "%B %d %Y", "%b %d %Y", "%d %B %Y"):
        try:
            return datetime.strptime(text, fmt).strftime("%Y-%m-%d")
        except ValueError:
            pass
    raise ValueError(f"unparsed date `{text}`")


def iso(text: str) -> str:
    return datetime.strptime(text, "%Y-%m-%d").strftime("%Y-%m-%d")


def merge(into: dict[str, str | None], version: str, date: str | None) -> None:
    if not FINAL.match(version) and not version.isdigit():
        return
    if into.get(version) is None:
        into[version] = date


# --- one function per component: each returns (source, cited, {version: date|None}) ---


def terraform(s: Snapshot):
    repo = "hashicorp/terraform"
    releases: dict[str, str | None] = {}
    heading = re.compile(r"^## (\d+\.\d+\.\d+) \(([^)]*)\)", re.M)
    branches = sorted(
        (r for r in s.refs(repo, "refs/heads") if re.search(r"/v\d+\.\d+$", r)),
        key=lambda r: version_key(r.rsplit("/v", 1)[1]),
    )
    cited = []
    # A minor's own branch first, so its dates win over copies in older files.
    for ref in reversed(branches):
        minor = ref.rsplit("/v", 1)[1]
        for version, when in heading.findall(s.show(repo, ref, "CHANGELOG.md")):
            if when.lower() in ("unreleased", "never released", "not released"):
                continue
            merge(releases, version, long_date(when))
        cited.append(minor)
    cite = [
        "HashiCorp Terraform CHANGELOG.md (https://github.com/hashicorp/terraform/blob/main/CHANGELOG.md)",
        "and the per-minor changelogs it links, "
        + ", ".join(f"v{m}" for m in reversed(cited))
        + " (https://github.com/hashicorp/terraform/blob/v<minor>/CHANGELOG.md)",
    ]
    return {"kind": "hashicorp", "product": "terraform"}, [" ".join(cite)], releases


def trivy(s: Snapshot):
    repo = "aquasecurity/trivy"
    heading = re.compile(r"^## \[(\d+\.\d+\.\d+)\]\([^)]*\) \((\d{4}-\d{2}-\d{2})\)", re.M)
    releases: dict[str, str | None] = {}
    for ref in ["HEAD", *s.refs(repo, "refs/heads/release")]:
        for version, when in heading.findall(s.show(repo, ref, "CHANGELOG.md")):
            merge(releases, version, iso(when))
    for version in s.tags(repo):
        merge(releases, version, None)
    return (
        {"kind": "github_releases", "repository": repo, "checksum_asset": "trivy_{version}_checksums.txt"},
        [
            "Trivy CHANGELOG.md on main and the release/v0.NN branches, dates from 0.52.0 on "
            "(https://github.com/aquasecurity/trivy/blob/main/CHANGELOG.md)",
            "Trivy release tags vX.Y.Z (https://github.com/aquasecurity/trivy/tags): versions before 0.52.0 have no date",
        ],
        releases,
    )


def tflint(s: Snapshot):
    repo = "terraform-linters/tflint"
    releases: dict[str, str | None] = {}
    for version, when in re.findall(r"^## (\d+\.\d+\.\d+) \((\d{4}-\d{2}-\d{2})\)", s.show(repo, "HEAD", "CHANGELOG.md"), re.M):
        merge(releases, version, iso(when))
    for version in s.tags(repo):
        merge(releases, version, None)
    return (
        {"kind": "github_releases", "repository": repo, "checksum_asset": "checksums.txt"},
        [
            "TFLint CHANGELOG.md, releases up to 0.47.0 with dates (https://github.com/terraform-linters/tflint/blob/master/CHANGELOG.md)",
            "TFLint release tags vX.Y.Z (https://github.com/terraform-linters/tflint/tags): later releases, no date",
        ],
        releases,
    )


def node_exporter(s: Snapshot):
    repo = "prometheus/node_exporter"
    releases: dict[str, str | None] = {}
    text = s.show(repo, "HEAD", "CHANGELOG.md")
    for version, when in re.findall(r"^## (\d+\.\d+\.\d+) / (\d{4}-\d{2}-\d{2})", text, re.M):
        merge(releases, version, iso(when))
    for version in s.tags(repo):
        merge(releases, version, None)
    return (
        {"kind": "github_releases", "repository": repo, "checksum_asset": "sha256sums.txt"},
        ["Prometheus node_exporter CHANGELOG.md (https://github.com/prometheus/node_exporter/blob/master/CHANGELOG.md)"],
        releases,
    )


def cloudwatch_agent(s: Snapshot):
    repo = "aws/amazon-cloudwatch-agent"
    releases: dict[str, str | None] = {}
    text = s.show(repo, "HEAD", "RELEASE_NOTES")
    for version, when in re.findall(r"^Amazon CloudWatch Agent (\d+\.\d+\.\d+) \((\d{4}-\d{1,2}-\d{1,2})\)", text, re.M):
        merge(releases, version, iso(when))
    return (
        {"kind": "github_releases", "repository": repo},
        ["Amazon CloudWatch Agent RELEASE_NOTES (https://github.com/aws/amazon-cloudwatch-agent/blob/main/RELEASE_NOTES)"],
        releases,
    )


def tags_only(repo: str, component: str, extra: dict | None = None, prefix: str = "v"):
    def build(s: Snapshot):
        releases = dict(s.tags(repo, prefix))
        annotated = any(d for d in releases.values())
        note = (
            "a date is the tagger date of an annotated release tag; lightweight tags have none"
            if annotated
            else "lightweight tags, so no dates"
        )
        source = {"kind": "github_releases", "repository": repo, **(extra or {})}
        cited = [f"{component} release tags vX.Y.Z of https://github.com/{repo} (https://github.com/{repo}/tags): {note}"]
        return source, cited, releases

    return build


def aws_cli(s: Snapshot):
    repo = "aws/aws-cli"
    text = s.show(repo, "refs/heads/v2", "CHANGELOG.rst")
    releases: dict[str, str | None] = {}
    for version in re.findall(r"^(\d+\.\d+\.\d+)\n=+\n", text, re.M):
        if version.startswith("2."):
            merge(releases, version, None)
    return (
        {"kind": "aws_cli"},
        ["AWS CLI v2 CHANGELOG.rst on the v2 branch, which has no dates (https://github.com/aws/aws-cli/blob/v2/CHANGELOG.rst)"],
        releases,
    )


def corretto_changelog(text: str, releases: dict[str, str | None]) -> None:
    """Corretto CHANGELOG.md headings (several wordings over the years) and their `Release Date:`.

    Previews, release candidates and per-platform re-spins (`-1`, `(macOS)`) are left out; a
    version listed twice (`GA release: …` after a critical patch update) keeps its earliest date.
    """
    skip = re.compile(r"preview|candidate|macos|windows|aarch64|linux 2", re.I)
    version_at = re.compile(r"(?:Corretto version:?\s*|Corretto-|^## (?:GA release: )?)(\d+\.\d+(?:\.\d+)+)(?=\s*$|:)")
    sections = re.split(r"^(?=## )", text, flags=re.M)
    for section in sections:
        heading, _, body = section.partition("\n")
        if not heading.startswith("## ") or skip.search(heading):
            continue
        match = version_at.search(heading.rstrip())
        if not match:
            continue
        version = match.group(1)
        when = re.search(r"^Release Date:\s*(.+?)\s*$", body, re.M)
        date = None
        if when:
            try:
                date = long_date(when.group(1))
            except ValueError:
                date = None
        if FINAL.match(version):
            known = releases.get(version)
            releases[version] = min(d for d in (known, date) if d) if (known or date) else None


def java(s: Snapshot):
    releases: dict[str, str | None] = {}
    cited = []
    for major in ("8", "11", "17", "21", "25"):
        name = f"corretto-{major}-CHANGELOG.md"
        repo = f"corretto/corretto-{major}"
        try:
            text = s.show(repo, "HEAD", "CHANGELOG.md")
        except RuntimeError:
            path = s.saved / name
            if not path.exists():
                continue
            text = path.read_text(encoding="utf-8")
        corretto_changelog(text, releases)
        cited.append(f"Amazon Corretto {major} CHANGELOG.md (https://github.com/{repo}/blob/develop/CHANGELOG.md)")
    # Versions of the other LTS lines (and later 8/11 ones) from endoflife.date's collection of the
    # corretto/corretto-N GitHub releases. endoflife.date notes those release dates are often wrong,
    # so these versions carry no date.
    for version in release_data(s, "amazon-corretto"):
        if version.split(".")[0] in ("8", "11", "17", "21", "25"):
            merge(releases, version, None)
    cited.append(
        "Amazon Corretto GitHub releases of corretto/corretto-8, -11, -17, -21 and -25 as collected by endoflife.date "
        "release-data, versions only (https://github.com/endoflife-date/release-data/blob/main/releases/amazon-corretto.json)"
    )
    return {"kind": "vendor", "description": "Amazon Corretto releases: one GitHub repository per LTS major (corretto/corretto-8, -11, -17, -21), each with a CHANGELOG.md and GitHub releases; customers order the major (`java: 21`)"}, cited, releases


def release_data(s: Snapshot, product: str) -> dict[str, str]:
    """endoflife.date release-data: every version of a product with its date."""
    data = json.loads(s.show("endoflife-date/release-data", "HEAD", f"releases/{product}.json"))
    return {version: entry.get("date") for version, entry in data["versions"].items()}


def nodejs(s: Snapshot):
    releases: dict[str, str | None] = {}
    for version, when in release_data(s, "nodejs").items():
        major = int(version.split(".")[0])
        # 1.x-3.x are io.js releases, not Node.js.
        if major == 0 or major >= 4:
            merge(releases, version, iso(when) if when else None)
    return (
        {"kind": "nodejs_dist"},
        [
            "Node.js release tags of https://github.com/nodejs/node with their dates, as collected by endoflife.date "
            "release-data (https://github.com/endoflife-date/release-data/blob/main/releases/nodejs.json)",
            "Node.js changelogs, dates of 20.18.1, 20.18.2, 24.0.0 and 24.0.1 checked against them "
            "(https://github.com/nodejs/node/blob/main/doc/changelogs/CHANGELOG_V20.md, https://github.com/nodejs/node/blob/main/doc/changelogs/CHANGELOG_V24.md)",
        ],
        releases,
    )


def docker(s: Snapshot):
    releases: dict[str, str | None] = {}
    for version, when in release_data(s, "docker-engine").items():
        # Static archives are named docker-<version>.tgz from 18.09 on (earlier ones carry -ce).
        if version_key(version) >= (18, 9):
            merge(releases, version, iso(when) if when else None)
    return (
        {
            "kind": "vendor",
            "description": "Docker Engine releases (Docker docs, Engine release notes; moby/moby tags); static archives at download.docker.com/linux/static/stable/<arch>/docker-<version>.tgz with no published checksum file",
        },
        [
            "Docker Engine release tags of https://github.com/moby/moby with their dates, as collected by endoflife.date "
            "release-data (https://github.com/endoflife-date/release-data/blob/main/releases/docker-engine.json)",
            "Docker Engine version 27 release notes, dates of 27.1.0 to 27.3.1 checked against them "
            "(https://docs.docker.com/engine/release-notes/27/, source https://github.com/docker/docs/blob/main/content/manuals/engine/release-notes/27.md)",
        ],
        releases,
    )


def chrony(s: Snapshot):
    releases = dict(s.tags("mlichvar/chrony", prefix=""))
    return (
        {
            "kind": "vendor",
            "description": "chrony releases are announced on https://chrony-project.org/ (news and download pages, tarballs with signatures) and tagged in chrony's git repository; the GitHub copy has tags but no GitHub releases",
        },
        [
            "chrony release tags (annotated, signed) of the maintainer's repository https://github.com/mlichvar/chrony "
            "(https://github.com/mlichvar/chrony/tags) and its NEWS file; chrony's home is https://chrony-project.org/",
            "Debian 12 archive, package chrony 4.3-2+deb12u3 (https://packages.debian.org/bookworm/chrony)",
        ],
        releases,
    )


def systemd_timesyncd(s: Snapshot):
    releases = dict(s.tags("systemd/systemd-stable", single=True))
    # Debian 12's current stable updates, newer than the archived systemd-stable repository.
    for debian in s.read_saved("apt-madison-systemd-timesyncd.txt").splitlines():
        version = debian.split("|")[1].strip().split("-")[0]
        merge(releases, version, None)
    return (
        # Live: systemd/systemd, where stable releases have been tagged since systemd-stable was archived.
        {"kind": "github_releases", "repository": "systemd/systemd"},
        [
            "systemd release tags vN and vN.M of https://github.com/systemd/systemd-stable (https://github.com/systemd/systemd-stable/tags), "
            "archived in October 2024 at v252.31 (later stable tags are in https://github.com/systemd/systemd)",
            "Debian 12 archive, package systemd-timesyncd 252.38-1~deb12u1 and 252.39-1~deb12u2 (https://packages.debian.org/bookworm/systemd-timesyncd)",
        ],
        releases,
    )


def vendor(description: str, cited: list[str]):
    def build(s: Snapshot):
        return {"kind": "vendor", "description": description}, cited, {}

    return build


def python(s: Snapshot):
    text = s.show("endoflife-date/endoflife.date", "HEAD", "products/python.md")
    releases: dict[str, str | None] = {}
    blocks = re.split(r"\n\s*-\s+releaseCycle:", text)
    for block in blocks[1:]:
        cycle = re.match(r'\s*"?([0-9.]+)"?', block)
        date = re.search(r"\breleaseDate:\s*(\d{4}-\d{2}-\d{2})", block)
        if cycle and version_key(cycle.group(1)) >= (3, 8):
            merge(releases, cycle.group(1), date.group(1) if date else None)
    return (
        {"kind": "vendor", "description": "Python minor lines (customers order `python: 3.12`), each installed from the OS's own packages; the lines and their first-release dates are python.org's, as collected by endoflife.date (products/python.md)"},
        ["endoflife.date, Python (https://endoflife.date/python; source products/python.md in https://github.com/endoflife-date/endoflife.date)"],
        releases,
    )


def snyk(s: Snapshot):
    # `npm view snyk time` as served here gave publish times that cannot be right (0.5.0, a 2015
    # release, in 2026; 526 versions on one day), so only the version list is kept.
    releases: dict[str, str | None] = {}
    for version in json.loads(s.read_saved("npm-snyk-versions.json")):
        merge(releases, version, None)
    return (
        {"kind": "npm", "package": "snyk"},
        ["npm registry, package snyk (https://www.npmjs.com/package/snyk), `npm view snyk versions --json`"],
        releases,
    )


def vendor_placeholder_opa(s: Snapshot):
    # The OPA repository snapshot is over the fetch limit and the indexed CHANGELOG.md is from the
    # 0.50 era, so no release list could be confirmed here: `imagesmith index update` fills it.
    return (
        {"kind": "github_releases", "repository": "open-policy-agent/opa"},
        ["Open Policy Agent CHANGELOG.md (https://github.com/open-policy-agent/opa/blob/main/CHANGELOG.md): not read, see README.md"],
        {},
    )


COMPONENTS = {
    "terraform": terraform,
    "trivy": trivy,
    "tflint": tflint,
    "node_exporter": node_exporter,
    "cloudwatch_agent": cloudwatch_agent,
    "grype": tags_only("anchore/grype", "Grype", {"checksum_asset": "grype_{version}_checksums.txt"}),
    "terragrunt": tags_only("gruntwork-io/terragrunt", "Terragrunt", {"checksum_asset": "SHA256SUMS"}),
    "terratest": tags_only("gruntwork-io/terratest", "Terratest"),
    "process_exporter": tags_only("ncabatoff/process-exporter", "process-exporter", {"checksum_asset": "checksums.txt"}),
    "windows_exporter": tags_only("prometheus-community/windows_exporter", "windows_exporter", {"checksum_asset": "sha256sums.txt"}),
    "aws_cli": aws_cli,
    "java": java,
    "python": python,
    "snyk": snyk,
    "nodejs": nodejs,
    "docker": docker,
    "chrony": chrony,
    "systemd_timesyncd": systemd_timesyncd,
    "opa": vendor_placeholder_opa,
    "falcon_sensor": vendor(
        "CrowdStrike publishes sensor versions only through the Falcon API (sensor installers endpoint, with the customer's OAuth2 API client, scope Sensor Download read); the API lists versions, their release dates and SHA-256 per OS",
        ["CrowdStrike falcon-scripts, bash/install/falcon-linux-install.sh (https://github.com/CrowdStrike/falcon-scripts)"],
    ),
    "wiz": vendor(
        "Wiz publishes sensor package versions only in its signed package repositories and documentation for customers (tenant credentials); no open release list was found",
        ["Wiz sensor installer, which pins sensor versions such as its own 1.0.3045 (https://downloads.wiz.io/sensor/sensor_install.sh)"],
    ),
    "splunk_forwarder": vendor(
        "Splunk Universal Forwarder: Splunk's downloads give each version with its build hash in the file name (splunkforwarder-<version>-<build>-linux-amd64.tgz) and a .sha512 beside it; no open machine-readable list of versions",
        ["Splunk downloads, per-version directories with the build hash in the file name (https://download.splunk.com/products/universalforwarder/releases/)"],
    ),
    "splunk_indexer": vendor(
        "Splunk Enterprise: Splunk's downloads give each version with its build hash in the file name (splunk-<version>-<build>-linux-amd64.tgz) and a .sha512 beside it; no open machine-readable list of versions",
        ["Splunk downloads, per-version directories with the build hash in the file name (https://download.splunk.com/products/splunk/releases/)"],
    ),
}


def render(component: str, source: dict, cited: list[str], releases: dict) -> str:
    ordered = sorted(releases.items(), key=lambda item: version_key(item[0]))
    lines = []
    for version, date in ordered:
        entry: dict = {"version": version}
        if isinstance(date, dict):
            entry.update(date)
        elif date:
            entry["date"] = date
        lines.append("    " + json.dumps(entry, ensure_ascii=False))
    head = {"format": 1, "component": component, "source": source, "cited": cited, "updated": UPDATED}
    text = json.dumps(head, indent=2, ensure_ascii=False)[:-2]
    body = ",\n".join(lines)
    if lines:
        return text + ',\n  "releases": [\n' + body + "\n  ]\n}\n"
    return text + ',\n  "releases": []\n}\n'


def print_table(out: Path) -> None:
    print("| Component | Source kind | What was read | Releases (dated) | Newest |")
    print("| --- | --- | --- | --- | --- |")
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        releases = data["releases"]
        source = data["source"]
        detail = source.get("repository") or source.get("product") or source.get("package") or ""
        kind = f"`{source['kind']}`" + (f" `{detail}`" if detail else "")
        dated = sum(1 for r in releases if "date" in r)
        newest = f"{releases[-1]['version']} ({releases[-1].get('date', 'no date')})" if releases else "none"
        cited = "; ".join(data["cited"]).replace("|", "\\|")
        print(f"| `{data['component']}` | {kind} | {cited} | {len(releases)} ({dated}) | {newest} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mirror", type=Path, required=True, help="directory of bare git snapshots")
    parser.add_argument("--saved", type=Path, required=True, help="directory of saved source files")
    parser.add_argument("--out", type=Path, required=True, help="catalog/index directory")
    parser.add_argument("--table", action="store_true", help="print the README table of the files in --out")
    parser.add_argument("components", nargs="*", help="components to build (default: all)")
    args = parser.parse_args()
    if args.table:
        print_table(args.out)
        return 0
    snapshot = Snapshot(args.mirror, args.saved)
    for name in args.components or sorted(COMPONENTS):
        source, cited, releases = COMPONENTS[name](snapshot)
        (args.out / f"{name}.json").write_text(render(name, source, cited, releases), encoding="utf-8")
        dated = sum(1 for d in releases.values() if d)
        print(f"{name}: {len(releases)} releases, {dated} dated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
