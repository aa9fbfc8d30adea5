"""The format copies of the real Docker 2.2 export (make_format_copies.py),
for the checks that load them: check_formats.py and check_format_errors.py.

add_arguments(ap) adds the options both take (--edgevision, --copies);
folder(copies, tmp) is the folder holding the copies: --copies when given,
else copies made now under tmp.
"""

import os
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))


def add_arguments(ap):
    ap.add_argument("--edgevision", required=True)
    ap.add_argument("--copies", help="folder made by make_format_copies.py (default: made now)")


def folder(copies, tmp):
    if copies:
        return copies
    out = os.path.join(tmp, "copies")
    subprocess.run(["/usr/bin/python3", os.path.join(HERE, "make_format_copies.py"), "--out", out],
                   check=True, stdout=subprocess.DEVNULL)
    return out
