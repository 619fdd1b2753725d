"""Wrong and alternative solutions to lab 01's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "ex1_ridge_gradients": {
        "wrong": [
            ("forgets the factor 2 of the penalty's derivative (lam * w instead of 2 * lam * w)",
             "def ridge_gradients(X, y, w, b, lam):\n"
             "    residual = y - (X @ w + b)\n"
             "    n = len(y)\n"
             "    return -2 / n * (X.T @ residual) + lam * w, -2 / n * residual.sum()\n"),
            ("penalises the bias as well",
             "def ridge_gradients(X, y, w, b, lam):\n"
             "    residual = y - (X @ w + b)\n"
             "    n = len(y)\n"
             "    return -2 / n * (X.T @ residual) + 2 * lam * w, -2 / n * residual.sum() + 2 * lam * b\n"),
            ("sums over the houses instead of averaging (forgets 1/n)",
             "def ridge_gradients(X, y, w, b, lam):\n"
             "    residual = y - (X @ w + b)\n"
             "    return -2 * (X.T @ residual) + 2 * lam * w, -2 * residual.sum()\n"),
            ("library shortcut: autograd (.backward)",
             "def ridge_gradients(X, y, w, b, lam):\n"
             "    w = w.detach().clone().requires_grad_(True)\n"
             "    b = torch.as_tensor(b, dtype=X.dtype).detach().clone().requires_grad_(True)\n"
             "    loss = torch.mean((y - X @ w - b) ** 2) + lam * (w ** 2).sum()\n"
             "    loss.backward()\n"
             "    return w.grad, b.grad\n"),
        ],
        "alternative":
            "def ridge_gradients(X, y, w, b, lam):\n"
            "    # the MSE gradient of section 4 plus the penalty's 2 lam w; the bias is not penalised\n"
            "    grad_w, grad_b = mse_gradients(X, y, w, b)\n"
            "    return grad_w + 2 * lam * w, grad_b\n",
    },
    "ex2_ridge_fit": {
        "wrong": [
            ("penalises the bias too (D = I)",
             "def ridge_fit(X, y, lam):\n"
             "    A = add_bias_column(X)\n"
             "    eye = torch.eye(A.shape[1], dtype=A.dtype)\n"
             "    theta = torch.linalg.solve(A.T @ A + len(y) * lam * eye, A.T @ y)\n"
             "    return theta[:-1], theta[-1]\n"),
            ("forgets the factor n (adds lam instead of n lam)",
             "def ridge_fit(X, y, lam):\n"
             "    A = add_bias_column(X)\n"
             "    D = torch.diag(torch.tensor([1.0] * X.shape[1] + [0.0], dtype=A.dtype))\n"
             "    theta = torch.linalg.solve(A.T @ A + lam * D, A.T @ y)\n"
             "    return theta[:-1], theta[-1]\n"),
            ("off limits: an explicit inverse",
             "def ridge_fit(X, y, lam):\n"
             "    A = add_bias_column(X)\n"
             "    D = torch.diag(torch.tensor([1.0] * X.shape[1] + [0.0], dtype=A.dtype))\n"
             "    theta = torch.linalg.inv(A.T @ A + len(y) * lam * D) @ (A.T @ y)\n"
             "    return theta[:-1], theta[-1]\n"),
            ("library shortcut: scikit-learn's Ridge",
             "from sklearn.linear_model import Ridge\n\n\n"
             "def ridge_fit(X, y, lam):\n"
             "    model = Ridge(alpha=len(y) * lam, solver='cholesky', tol=1e-12).fit(X.numpy(), y.numpy())\n"
             "    return torch.tensor(model.coef_), torch.tensor(model.intercept_)\n"),
        ],
        "alternative":
            "def ridge_fit(X, y, lam):\n"
            "    # least squares on the data plus d extra rows sqrt(n lam) e_j with target 0\n"
            "    n, d = X.shape\n"
            "    A = add_bias_column(X)\n"
            "    extra = torch.cat([torch.eye(d, dtype=X.dtype), torch.zeros(d, 1, dtype=X.dtype)], dim=1)\n"
            "    A_aug = torch.cat([A, (n * lam) ** 0.5 * extra])\n"
            "    y_aug = torch.cat([y, torch.zeros(d, dtype=y.dtype)])\n"
            "    theta = torch.linalg.lstsq(A_aug, y_aug.unsqueeze(-1)).solution.squeeze(-1)\n"
            "    return theta[:d], theta[d]\n",
    },
    "ex3_max_stable_lr": {
        "wrong": [
            ("forgets the bias column (uses X, not X̃)",
             "def max_stable_lr(X):\n"
             "    hessian = 2 / len(X) * (X.T @ X)\n"
             "    return 2 / torch.linalg.eigvalsh(hessian)[-1].item()\n"),
            ("returns 1/λmax (forgets the 2 of η < 2/λmax)",
             "def max_stable_lr(X):\n"
             "    A = add_bias_column(X)\n"
             "    return 1 / torch.linalg.eigvalsh(2 / len(X) * (A.T @ A))[-1].item()\n"),
            ("returns a 0-dimensional tensor, not a number",
             "def max_stable_lr(X):\n"
             "    A = add_bias_column(X)\n"
             "    return 2 / torch.linalg.eigvalsh(2 / len(X) * (A.T @ A))[-1]\n"),
            ("library shortcut: the Hessian by autograd",
             "def max_stable_lr(X):\n"
             "    A = add_bias_column(X)\n"
             "    y = torch.zeros(len(X), dtype=X.dtype)\n"
             "    hessian = torch.autograd.functional.hessian(lambda t: torch.mean((y - A @ t) ** 2),\n"
             "                                                 torch.zeros(A.shape[1], dtype=X.dtype))\n"
             "    return 2 / torch.linalg.eigvalsh(hessian)[-1].item()\n"),
        ],
        "alternative":
            "def max_stable_lr(X):\n"
            "    # λmax(2/n X̃ᵀX̃) = 2 σmax(X̃)² / n, so 2 / λmax = n / σmax²\n"
            "    sigma_max = torch.linalg.svdvals(add_bias_column(X))[0].item()\n"
            "    return len(X) / sigma_max ** 2\n",
    },
    "ex4_sgd_fit": {
        "wrong": [
            ("drops the last, shorter batch",
             "def sgd_fit(X, y, lr, epochs, batch_size, seed):\n"
             "    generator = torch.Generator().manual_seed(seed)\n"
             "    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)\n"
             "    history = []\n"
             "    for _ in range(epochs):\n"
             "        order = torch.randperm(len(y), generator=generator)\n"
             "        for k in range(len(y) // batch_size):\n"
             "            batch = order[k * batch_size:(k + 1) * batch_size]\n"
             "            grad_w, grad_b = mse_gradients(X[batch], y[batch], w, b)\n"
             "            w, b = w - lr * grad_w, b - lr * grad_b\n"
             "        history.append(mse(X, y, w, b).item())\n"
             "    return w, b, history\n"),
            ("shuffles once, before the first epoch, and reuses that order",
             "def sgd_fit(X, y, lr, epochs, batch_size, seed):\n"
             "    generator = torch.Generator().manual_seed(seed)\n"
             "    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)\n"
             "    order = torch.randperm(len(y), generator=generator)\n"
             "    history = []\n"
             "    for _ in range(epochs):\n"
             "        for batch in order.split(batch_size):\n"
             "            grad_w, grad_b = mse_gradients(X[batch], y[batch], w, b)\n"
             "            w, b = w - lr * grad_w, b - lr * grad_b\n"
             "        history.append(mse(X, y, w, b).item())\n"
             "    return w, b, history\n"),
            ("history holds the mean of the batch losses, not the full-data MSE after the epoch",
             "def sgd_fit(X, y, lr, epochs, batch_size, seed):\n"
             "    generator = torch.Generator().manual_seed(seed)\n"
             "    w, b = torch.zeros(X.shape[1], dtype=X.dtype), torch.zeros((), dtype=X.dtype)\n"
             "    history = []\n"
             "    for _ in range(epochs):\n"
             "        losses = []\n"
             "        for batch in torch.randperm(len(y), generator=generator).split(batch_size):\n"
             "            losses.append(mse(X[batch], y[batch], w, b).item())\n"
             "            grad_w, grad_b = mse_gradients(X[batch], y[batch], w, b)\n"
             "            w, b = w - lr * grad_w, b - lr * grad_b\n"
             "        history.append(sum(losses) / len(losses))\n"
             "    return w, b, history\n"),
            ("library shortcut: torch.optim.SGD with autograd",
             "def sgd_fit(X, y, lr, epochs, batch_size, seed):\n"
             "    generator = torch.Generator().manual_seed(seed)\n"
             "    w = torch.zeros(X.shape[1], dtype=X.dtype, requires_grad=True)\n"
             "    b = torch.zeros((), dtype=X.dtype, requires_grad=True)\n"
             "    optimizer = torch.optim.SGD([w, b], lr=lr)\n"
             "    history = []\n"
             "    for _ in range(epochs):\n"
             "        for batch in torch.randperm(len(y), generator=generator).split(batch_size):\n"
             "            optimizer.zero_grad()\n"
             "            mse(X[batch], y[batch], w, b).backward()\n"
             "            optimizer.step()\n"
             "        history.append(mse(X, y, w, b).item())\n"
             "    return w.detach(), b.detach(), history\n"),
        ],
        "alternative":
            "def sgd_fit(X, y, lr, epochs, batch_size, seed):\n"
            "    # theta = (w, b) on [X, 1], slices of one permutation per epoch, in-place updates\n"
            "    n, d = X.shape\n"
            "    A = torch.cat([X, torch.ones(n, 1, dtype=X.dtype)], dim=1)\n"
            "    theta = torch.zeros(d + 1, dtype=X.dtype)\n"
            "    rng = torch.Generator()\n"
            "    rng.manual_seed(seed)\n"
            "    history = []\n"
            "    for epoch in range(epochs):\n"
            "        order = torch.randperm(n, generator=rng)\n"
            "        for start in range(0, n, batch_size):\n"
            "            rows = order[start:start + batch_size]\n"
            "            residual = y[rows] - A[rows] @ theta\n"
            "            theta -= lr * (-2 / len(rows)) * (A[rows].T @ residual)\n"
            "        history.append(float(torch.mean((y - A @ theta) ** 2)))\n"
            "    return theta[:d].clone(), theta[d].clone(), history\n",
    },
}
