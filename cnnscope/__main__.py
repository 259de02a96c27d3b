"""``python -m cnnscope``."""

from cnnscope.cli import main

main()
