"""The local stack: real Prefect, Label Studio and S3-compatible servers on loopback,
and `labelloop serve` (`stack.serving`) with every patch of Prefect's runtime
(`stack.prefect_patches`) and the one reader of `prefect.yaml` (`stack.prefect_yaml`).

Everything here manages processes on this machine for development, tests and the
demo; flows never import it, and it imports neither the demo nor the command.
"""
