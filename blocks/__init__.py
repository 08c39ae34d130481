"""Prefect blocks of labelloop: register them with `prefect block register -m blocks`."""

from blocks.data_store import DataStore
from blocks.dataset import DatasetRegistration
from blocks.label_studio import LabelStudioCredentials

__all__ = ["DataStore", "DatasetRegistration", "LabelStudioCredentials"]
