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


def files(outputs, check, root, same=None):
    """The same for several files: writes each {path: bytes} of `outputs`, or with `check`
    compares each with the file there (`same(path, data)` when given, else byte for byte),
    printing one line a file relative to `root`. Returns the exit code."""
    if not check:
        for path, data in outputs.items():
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        return 0
    ok = True
    for path, data in outputs.items():
        if not os.path.exists(path):
            equal = False
        elif same is not None:
            equal = same(path, data)
        else:
            with open(path, "rb") as f:
                equal = f.read() == data
        print(os.path.relpath(path, root), "ok" if equal else "DIFFERS")
        ok &= equal
    return 0 if ok else 1
