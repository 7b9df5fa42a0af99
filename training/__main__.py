"""``python -m training ...``: the same command line as ``textgamegen train ...``."""

import sys

from training.cli import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:], prog="python -m training"))
