import numpy as np
import pytest
import torch

from labkit import metrics, plots


def test_accuracy_for_scores_and_binary_logits():
    scores = torch.tensor([[2.0, 1.0], [0.1, 0.9], [3.0, -1.0]])
    assert metrics.accuracy(scores, torch.tensor([0, 1, 1])).item() == pytest.approx(2 / 3)
    assert metrics.accuracy(torch.tensor([1.5, -0.3, 0.2]), torch.tensor([1.0, 0.0, 0.0])).item() == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match=r"got output \(3, 2\) and target \(2,\): the batch sizes differ"):
        metrics.accuracy(scores, torch.tensor([0, 1]))


def test_classification_summary_matches_hand_counts():
    y_true = [0, 0, 1, 1, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0]
    summary = metrics.classification_summary(y_true, y_pred, class_names=["a", "b", "c"])
    assert summary["accuracy"] == pytest.approx(4 / 6)
    # precision: a 1/2, b 2/3, c 1/1; recall: a 1/2, b 2/2, c 1/2
    assert summary["precision"] == pytest.approx((1 / 2 + 2 / 3 + 1) / 3)
    assert summary["recall"] == pytest.approx((1 / 2 + 1 + 1 / 2) / 3)
    np.testing.assert_array_equal(summary["confusion"], [[1, 1, 0], [0, 2, 0], [1, 0, 1]])
    assert "precision" in summary["report"] and "c" in summary["report"]
    with pytest.raises(ValueError, match="same length"):
        metrics.classification_summary([0, 1], [0])


def test_predict_classes_keeps_the_model_mode():
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 3)).train()
    predicted = metrics.predict_classes(model, torch.randn(10, 1, 2, 2), batch_size=4)
    assert predicted.shape == (10,) and predicted.dtype == torch.long and model.training


def test_figures_and_their_input_checks():
    assert plots.plot_confusion_matrix(np.eye(3, dtype=int) * 5).axes
    X = np.random.default_rng(0).normal(size=(50, 2))
    fig = plots.plot_decision_boundary(lambda p: 1 / (1 + np.exp(-p[:, 0])), X, X[:, 0] > 0)
    assert fig.axes
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        plots.plot_decision_boundary(lambda p: p[:, 0], np.zeros((5, 3)), np.zeros(5))
    assert len(plots.image_grid(torch.zeros(10, 1, 28, 28), labels=list(range(10)), ncols=5).axes) == 10
    with pytest.raises(ValueError, match="one-channel"):
        plots.image_grid(torch.zeros(2, 3, 8, 8))
