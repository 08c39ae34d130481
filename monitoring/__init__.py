"""Monitoring: drift of data and predictions against a reference profile, live accuracy,
degradation and disputed labels. Pure: imports no prefect."""
