"""The command line the model generators here share: write the model they
build, or with --check rebuild it in memory and compare with the committed
file (exit 1 when it differs)."""

import os
import sys


def main(out, data):
    if "--check" in sys.argv:
        with open(out, "rb") as f:
            same = f.read() == data
        print(os.path.basename(out), "ok" if same else "DIFFERS")
        return 0 if same else 1
    with open(out, "wb") as f:
        f.write(data)
    return 0
