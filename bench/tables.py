"""Copy the latest bench results into the docs.

bench/README.md holds a block ``<!-- name -->`` ... ``<!-- /name -->`` per
results file ``bench/results/name.md``; README.md holds ``<!-- bench -->``
for ``bench/results/latest.md``. This script replaces each block's body
with the file's text, so the docs show what the scripts last measured.

Usage: python bench/tables.py
"""

import pathlib
import re
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"


def fill(text, name, body):
    pattern = re.compile(rf"(<!-- {name} -->\n).*?(<!-- /{name} -->)", re.S)
    if not pattern.search(text):
        raise SystemExit(f"no <!-- {name} --> block")
    return pattern.sub(lambda m: m.group(1) + body.rstrip("\n") + "\n" + m.group(2), text)


def main():
    readme = ROOT / "bench" / "README.md"
    text = readme.read_text()
    for name in ("latest", "first_run", "extended", "large", "many", "families", "student", "labels", "missing", "mclust", "progress",
                 "revisions"):
        text = fill(text, name, (RESULTS / f"{name}.md").read_text())
    readme.write_text(text)
    top = ROOT / "README.md"
    top.write_text(fill(top.read_text(), "bench", (RESULTS / "latest.md").read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
