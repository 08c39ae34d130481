"""The local stack: real Prefect, Label Studio and S3-compatible servers on loopback.

Everything here manages processes on this machine for development, tests and the
demo; flows never import it.
"""
