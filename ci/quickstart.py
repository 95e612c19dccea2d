"""Print one of README's two quick-start commands.

README.md holds them in the block between ``<!-- quickstart -->`` and
``<!-- /quickstart -->``: the first installs and runs ``fastem demo``, the
second installs the test extras and runs the whole suite. ``.ci/run`` runs
the second one through this script, so CI runs exactly what README says.

Usage: python ci/quickstart.py {demo,test}
"""

import pathlib
import re
import sys


def commands(readme_text):
    block = re.search(r"<!-- quickstart -->(.*?)<!-- /quickstart -->", readme_text, re.S)
    if block is None:
        raise SystemExit("README.md has no <!-- quickstart --> block")
    lines = [line.strip() for line in block.group(1).splitlines()]
    found = [line for line in lines if line and not line.startswith(("```", "#"))]
    if len(found) != 2:
        raise SystemExit(f"README.md's quick start must hold exactly two commands, found {len(found)}")
    return dict(zip(("demo", "test"), found))


def main(argv):
    if len(argv) != 2 or argv[1] not in ("demo", "test"):
        raise SystemExit(__doc__)
    readme = pathlib.Path(__file__).resolve().parent.parent / "README.md"
    print(commands(readme.read_text())[argv[1]])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
