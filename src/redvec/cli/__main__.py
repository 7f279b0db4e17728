"""``python -m redvec.cli``, as the ``redvec`` command."""

from redvec.cli import main

main()
