"""Accuracy as a Hugging Face ``evaluate`` metric that loads without the Hub.

``evaluate.load("accuracy")`` downloads its script from the Hub, which fails
offline. ``raycourse.load_metric("accuracy")`` loads this file instead (by
absolute path, so it also works in Ray Train workers, whose working directory
differs). Same interface: ``metric.compute(predictions=..., references=...)``.
"""

import datasets
import evaluate
import numpy as np


class Accuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Proportion of predictions equal to the references.",
            citation="",
            inputs_description="predictions, references: sequences of class ids; normalize: bool",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, normalize=True, sample_weight=None):
        predictions = np.asarray(predictions)
        references = np.asarray(references)
        correct = (predictions == references).astype(float)
        if sample_weight is not None:
            correct = correct * np.asarray(sample_weight, dtype=float)
        value = (
            correct.sum() / (len(correct) if sample_weight is None else np.sum(sample_weight))
            if normalize
            else correct.sum()
        )
        return {"accuracy": float(value)}
