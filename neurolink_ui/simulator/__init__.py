"""A Replicate-compatible local server (the simulator) that the product and every test run against.

`Simulator` (runner.py) serves `create_app` (server.py, one route module per resource in
routes/) on a loopback port; models come from catalog.py. Import submodules directly; this package
imports nothing heavy on its own.
"""
