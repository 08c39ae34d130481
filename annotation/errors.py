"""Errors raised by the pure Label Studio logic."""

from __future__ import annotations


class AnnotationError(ValueError):
    """Base class for bad Label Studio input handled by the ``annotation`` package."""


class LabelConfigError(AnnotationError):
    """A label config that does not parse, or that is not a single-choice classification."""


class PredictionError(AnnotationError):
    """A prediction that does not fit the project's label config."""


class TaskPayloadError(AnnotationError):
    """A row that cannot become a Label Studio task."""


class LabelStudioDataError(AnnotationError):
    """Label Studio JSON that does not have the shape this package relies on."""
