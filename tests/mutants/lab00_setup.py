"""Wrong and alternative solutions to lab 00's practice exercise (graded by tests/test_exercise_mutants.py)."""

MUTANTS = {
    "practice_mse": {
        "wrong": [
            ("returns a tensor, not a number",
             "def mean_squared_error(pred, target):\n"
             "    if len(pred) != len(target):\n"
             "        raise ValueError('lengths differ')\n"
             "    return ((pred - target) ** 2).mean()\n"),
            ("sums instead of averaging",
             "def mean_squared_error(pred, target):\n"
             "    if len(pred) != len(target):\n"
             "        raise ValueError('lengths differ')\n"
             "    return ((pred - target) ** 2).sum().item()\n"),
            ("library shortcut: torch.nn.functional.mse_loss under another name",
             "from torch.nn.functional import mse_loss as squared_error_mean\n\n\n"
             "def mean_squared_error(pred, target):\n"
             "    if len(pred) != len(target):\n"
             "        raise ValueError('lengths differ')\n"
             "    return squared_error_mean(pred, target).item()\n"),
        ],
        "alternative":
            "def mean_squared_error(pred, target):\n"
            "    if pred.shape != target.shape:\n"
            "        raise ValueError(f'{pred.shape} vs {target.shape}')\n"
            "    total = 0.0\n"
            "    for p, t in zip(pred.tolist(), target.tolist()):\n"
            "        total += (p - t) ** 2\n"
            "    return total / len(pred)\n",
    },
}
