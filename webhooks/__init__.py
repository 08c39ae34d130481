"""The webhook receiver: Label Studio's webhooks in, Prefect events out."""
