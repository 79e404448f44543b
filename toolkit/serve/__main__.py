"""`python -m toolkit.serve ...`: the engine's server (see `toolkit.serve.server`)."""

from toolkit.serve.server import main

main()
