"""``famtune-engine``: the command line, a thin layer over the engine."""
