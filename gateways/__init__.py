"""Gateways: other protocols reaching the same application through its public HTTP API."""
