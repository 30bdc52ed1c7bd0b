"""A local Azure Functions host for the Python v2 programming model.

Core Tools cannot be installed on our machines, so this serves the same `FunctionApp` object
the Azure host indexes, reading each function's bindings from the JSON the worker would send the
host. Never imported by the app: `functions/` and `shared/` don't know which host runs them.
"""
