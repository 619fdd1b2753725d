"""Wrong and alternative solutions to lab 02's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "ex1_softmax_cross_entropy": {
        "wrong": [
            ("no max subtraction: exp overflows for logits in the thousands",
             "def softmax_cross_entropy(logits, labels):\n"
             "    n = logits.shape[0]\n"
             "    e = np.exp(logits)\n"
             "    p = e / e.sum(axis=1, keepdims=True)\n"
             "    loss = -np.log(p[np.arange(n), labels]).mean()\n"
             "    grad = p.copy()\n"
             "    grad[np.arange(n), labels] -= 1\n"
             "    return float(loss), grad / n\n"),
            ("forgets to divide the gradient by n",
             "def softmax_cross_entropy(logits, labels):\n"
             "    n = logits.shape[0]\n"
             "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
             "    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
             "    grad = np.exp(log_p)\n"
             "    grad[np.arange(n), labels] -= 1\n"
             "    return float(-log_p[np.arange(n), labels].mean()), grad\n"),
            ("returns the per-sample losses instead of their mean",
             "def softmax_cross_entropy(logits, labels):\n"
             "    n = logits.shape[0]\n"
             "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
             "    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
             "    grad = np.exp(log_p)\n"
             "    grad[np.arange(n), labels] -= 1\n"
             "    return -log_p[np.arange(n), labels], grad / n\n"),
            ("library shortcut: F.cross_entropy and autograd (.backward)",
             "def softmax_cross_entropy(logits, labels):\n"
             "    z = torch.tensor(logits, requires_grad=True)\n"
             "    loss = F.cross_entropy(z, torch.as_tensor(labels))\n"
             "    loss.backward()\n"
             "    return loss.item(), z.grad.numpy()\n"),
        ],
        "alternative":
            "def softmax_cross_entropy(logits, labels):\n"
            "    # log-sum-exp with np.logaddexp.reduce (stable), probabilities as exp(z - lse)\n"
            "    logits = np.asarray(logits, dtype=float)\n"
            "    lse = np.logaddexp.reduce(logits, axis=1)\n"
            "    picked = logits[np.arange(len(labels)), labels]\n"
            "    loss = np.mean(lse - picked)\n"
            "    probs = np.exp(logits - lse[:, None])\n"
            "    onehot = np.eye(logits.shape[1])[labels]\n"
            "    return loss.item(), (probs - onehot) / len(labels)\n",
    },
    "ex2_mlp_backward": {
        "wrong": [
            ("bias gradient averaged over the batch (divides by n twice)",
             "def mlp_backward(weights, biases, X, labels):\n"
             "    activations = [X]\n"
             "    for W, b in zip(weights[:-1], biases[:-1]):\n"
             "        activations.append(np.maximum(activations[-1] @ W + b, 0.0))\n"
             "    logits = activations[-1] @ weights[-1] + biases[-1]\n"
             "    n = len(labels)\n"
             "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
             "    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
             "    dZ = np.exp(log_p)\n"
             "    dZ[np.arange(n), labels] -= 1\n"
             "    dZ /= n\n"
             "    grad_W, grad_b = [None] * len(weights), [None] * len(biases)\n"
             "    for l in range(len(weights) - 1, -1, -1):\n"
             "        grad_W[l] = activations[l].T @ dZ\n"
             "        grad_b[l] = dZ.mean(axis=0)\n"
             "        if l > 0:\n"
             "            dZ = (dZ @ weights[l].T) * (activations[l] > 0)\n"
             "    return float(-log_p[np.arange(n), labels].mean()), grad_W, grad_b\n"),
            ("forgets the ReLU derivative in the backward pass",
             "def mlp_backward(weights, biases, X, labels):\n"
             "    activations = [X]\n"
             "    for W, b in zip(weights[:-1], biases[:-1]):\n"
             "        activations.append(np.maximum(activations[-1] @ W + b, 0.0))\n"
             "    logits = activations[-1] @ weights[-1] + biases[-1]\n"
             "    n = len(labels)\n"
             "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
             "    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
             "    dZ = np.exp(log_p)\n"
             "    dZ[np.arange(n), labels] -= 1\n"
             "    dZ /= n\n"
             "    grad_W, grad_b = [None] * len(weights), [None] * len(biases)\n"
             "    for l in range(len(weights) - 1, -1, -1):\n"
             "        grad_W[l] = activations[l].T @ dZ\n"
             "        grad_b[l] = dZ.sum(axis=0)\n"
             "        if l > 0:\n"
             "            dZ = dZ @ weights[l].T\n"
             "    return float(-log_p[np.arange(n), labels].mean()), grad_W, grad_b\n"),
            ("applies a ReLU to the output logits as well",
             "def mlp_backward(weights, biases, X, labels):\n"
             "    activations = [X]\n"
             "    for W, b in zip(weights, biases):\n"
             "        activations.append(np.maximum(activations[-1] @ W + b, 0.0))\n"
             "    logits = activations.pop()\n"
             "    n = len(labels)\n"
             "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
             "    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
             "    dZ = np.exp(log_p)\n"
             "    dZ[np.arange(n), labels] -= 1\n"
             "    dZ /= n\n"
             "    grad_W, grad_b = [None] * len(weights), [None] * len(biases)\n"
             "    for l in range(len(weights) - 1, -1, -1):\n"
             "        grad_W[l] = activations[l].T @ dZ\n"
             "        grad_b[l] = dZ.sum(axis=0)\n"
             "        if l > 0:\n"
             "            dZ = (dZ @ weights[l].T) * (activations[l] > 0)\n"
             "    return float(-log_p[np.arange(n), labels].mean()), grad_W, grad_b\n"),
            ("library shortcut: autograd (.backward)",
             "def mlp_backward(weights, biases, X, labels):\n"
             "    Ws = [torch.tensor(W, requires_grad=True) for W in weights]\n"
             "    bs = [torch.tensor(b, requires_grad=True) for b in biases]\n"
             "    A = torch.tensor(X)\n"
             "    for W, b in zip(Ws[:-1], bs[:-1]):\n"
             "        A = torch.relu(A @ W + b)\n"
             "    loss = F.cross_entropy(A @ Ws[-1] + bs[-1], torch.as_tensor(labels))\n"
             "    loss.backward()\n"
             "    return loss.item(), [W.grad.numpy() for W in Ws], [b.grad.numpy() for b in bs]\n"),
        ],
        "alternative":
            "def mlp_backward(weights, biases, X, labels):\n"
            "    # keeps (input, pre-activation) pairs; masks with Z > 0; einsum for the products\n"
            "    pairs, a = [], X\n"
            "    for k, (W, b) in enumerate(zip(weights, biases)):\n"
            "        z = np.einsum('nd,dm->nm', a, W) + b\n"
            "        pairs.append((a, z))\n"
            "        a = np.maximum(z, 0) if k < len(weights) - 1 else z\n"
            "    n = X.shape[0]\n"
            "    m = a.max(axis=1, keepdims=True)\n"
            "    lse = m[:, 0] + np.log(np.exp(a - m).sum(axis=1))\n"
            "    loss = float(np.mean(lse - a[np.arange(n), labels]))\n"
            "    delta = np.exp(a - lse[:, None])\n"
            "    delta[np.arange(n), labels] -= 1\n"
            "    delta = delta / n\n"
            "    grad_W, grad_b = [], []\n"
            "    for k in reversed(range(len(weights))):\n"
            "        a_in, z = pairs[k]\n"
            "        if k < len(weights) - 1:\n"
            "            delta = delta * (z > 0)\n"
            "        grad_W.insert(0, np.einsum('nd,nm->dm', a_in, delta))\n"
            "        grad_b.insert(0, delta.sum(axis=0))\n"
            "        delta = delta @ weights[k].T\n"
            "    return loss, grad_W, grad_b\n",
    },
    "ex5_per_class_scores": {
        "wrong": [
            ("precision and recall swapped (rows and columns mixed up)",
             "def per_class_scores(confusion):\n"
             "    confusion = np.asarray(confusion, dtype=float)\n"
             "    tp = np.diag(confusion)\n"
             "    rows, cols = confusion.sum(axis=1), confusion.sum(axis=0)\n"
             "    precision = np.divide(tp, rows, out=np.zeros_like(tp), where=rows > 0)\n"
             "    recall = np.divide(tp, cols, out=np.zeros_like(tp), where=cols > 0)\n"
             "    both = precision + recall\n"
             "    f1 = np.divide(2 * precision * recall, both, out=np.zeros_like(tp), where=both > 0)\n"
             "    return precision, recall, f1\n"),
            ("no guard for empty classes: NaN instead of 0",
             "def per_class_scores(confusion):\n"
             "    confusion = np.asarray(confusion, dtype=float)\n"
             "    tp = np.diag(confusion)\n"
             "    precision = tp / confusion.sum(axis=0)\n"
             "    recall = tp / confusion.sum(axis=1)\n"
             "    f1 = 2 * precision * recall / (precision + recall)\n"
             "    return precision, recall, f1\n"),
            ("F1 as the arithmetic mean of precision and recall",
             "def per_class_scores(confusion):\n"
             "    confusion = np.asarray(confusion, dtype=float)\n"
             "    tp = np.diag(confusion)\n"
             "    cols, rows = confusion.sum(axis=0), confusion.sum(axis=1)\n"
             "    precision = np.divide(tp, cols, out=np.zeros_like(tp), where=cols > 0)\n"
             "    recall = np.divide(tp, rows, out=np.zeros_like(tp), where=rows > 0)\n"
             "    return precision, recall, (precision + recall) / 2\n"),
            ("library shortcut: sklearn.metrics",
             "from sklearn.metrics import precision_recall_fscore_support\n\n\n"
             "def per_class_scores(confusion):\n"
             "    confusion = np.asarray(confusion)\n"
             "    classes = np.arange(len(confusion))\n"
             "    true = np.repeat(classes, confusion.sum(axis=1))\n"
             "    pred = np.concatenate([np.repeat(classes, row) for row in confusion])\n"
             "    precision, recall, f1, _ = precision_recall_fscore_support(true, pred, labels=classes,\n"
             "                                                               zero_division=0)\n"
             "    return precision, recall, f1\n"),
        ],
        "alternative":
            "def per_class_scores(confusion):\n"
            "    # one class at a time, F1 as 2 TP / (2 TP + FP + FN)\n"
            "    C = len(confusion)\n"
            "    precision, recall, f1 = np.zeros(C), np.zeros(C), np.zeros(C)\n"
            "    for c in range(C):\n"
            "        tp = confusion[c][c]\n"
            "        predicted = sum(confusion[r][c] for r in range(C))\n"
            "        actual = sum(confusion[c])\n"
            "        precision[c] = tp / predicted if predicted else 0.0\n"
            "        recall[c] = tp / actual if actual else 0.0\n"
            "        f1[c] = 2 * tp / (predicted + actual) if predicted + actual else 0.0\n"
            "    return precision, recall, f1\n",
    },
    "ex3_mlp_module": {
        "wrong": [
            ("layers kept in a plain Python list: not registered, parameters() misses them",
             "class MLP(nn.Module):\n"
             "    def __init__(self, sizes):\n"
             "        super().__init__()\n"
             "        self.layers = [nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:])]\n"
             "\n"
             "    def forward(self, x):\n"
             "        x = x.flatten(1)\n"
             "        for layer in self.layers[:-1]:\n"
             "            x = torch.relu(layer(x))\n"
             "        return self.layers[-1](x)\n"),
            ("a ReLU after the last layer too",
             "class MLP(nn.Module):\n"
             "    def __init__(self, sizes):\n"
             "        super().__init__()\n"
             "        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))\n"
             "\n"
             "    def forward(self, x):\n"
             "        x = x.flatten(1)\n"
             "        for layer in self.layers:\n"
             "            x = torch.relu(layer(x))\n"
             "        return x\n"),
            ("forgets to flatten image-shaped inputs",
             "class MLP(nn.Module):\n"
             "    def __init__(self, sizes):\n"
             "        super().__init__()\n"
             "        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes[:-1], sizes[1:]))\n"
             "\n"
             "    def forward(self, x):\n"
             "        for layer in self.layers[:-1]:\n"
             "            x = torch.relu(layer(x))\n"
             "        return self.layers[-1](x)\n"),
            ("library shortcut: labkit.models.mlp",
             "class MLP(nn.Module):\n"
             "    def __init__(self, sizes):\n"
             "        super().__init__()\n"
             "        self.net = labkit.models.mlp(sizes)\n"
             "\n"
             "    def forward(self, x):\n"
             "        return self.net(x)\n"),
        ],
        "alternative":
            "class MLP(nn.Sequential):\n"
            "    # an nn.Sequential subclass: Flatten, then Linear layers with ReLUs between them\n"
            "    def __init__(self, sizes):\n"
            "        layers = [nn.Flatten()]\n"
            "        for k, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:])):\n"
            "            if k > 0:\n"
            "                layers.append(nn.ReLU())\n"
            "            layers.append(nn.Linear(d_in, d_out))\n"
            "        super().__init__(*layers)\n",
    },
    "ex4_train_epoch": {
        "wrong": [
            ("forgets optimiser.zero_grad(): gradients accumulate over the batches",
             "def train_epoch(model, batches, optimiser, loss_fn):\n"
             "    model.train()\n"
             "    total, count = 0.0, 0\n"
             "    for x, y in batches:\n"
             "        loss = loss_fn(model(x), y)\n"
             "        loss.backward()\n"
             "        optimiser.step()\n"
             "        total += loss.item() * len(x)\n"
             "        count += len(x)\n"
             "    return total / count\n"),
            ("forgets model.train()",
             "def train_epoch(model, batches, optimiser, loss_fn):\n"
             "    total, count = 0.0, 0\n"
             "    for x, y in batches:\n"
             "        optimiser.zero_grad()\n"
             "        loss = loss_fn(model(x), y)\n"
             "        loss.backward()\n"
             "        optimiser.step()\n"
             "        total += loss.item() * len(x)\n"
             "        count += len(x)\n"
             "    return total / count\n"),
            ("plain mean of the batch losses, ignoring that the last batch is smaller",
             "def train_epoch(model, batches, optimiser, loss_fn):\n"
             "    model.train()\n"
             "    losses = []\n"
             "    for x, y in batches:\n"
             "        optimiser.zero_grad()\n"
             "        loss = loss_fn(model(x), y)\n"
             "        loss.backward()\n"
             "        optimiser.step()\n"
             "        losses.append(loss.item())\n"
             "    return sum(losses) / len(losses)\n"),
            ("library shortcut: labkit.fit",
             "def train_epoch(model, batches, optimiser, loss_fn):\n"
             "    history = labkit.fit(model, list(batches), epochs=1, loss_fn=loss_fn, optimizer=optimiser,\n"
             "                         plot=False, progress=False)\n"
             "    return history.last('loss')\n"),
        ],
        "alternative":
            "def train_epoch(model, batches, optimiser, loss_fn):\n"
            "    # clears the gradients after each step (set_to_none); sums the weighted losses as tensors\n"
            "    model.train(True)\n"
            "    losses, sizes = [], []\n"
            "    for inputs, targets in batches:\n"
            "        loss = loss_fn(model(inputs), targets)\n"
            "        loss.backward()\n"
            "        optimiser.step()\n"
            "        optimiser.zero_grad(set_to_none=True)\n"
            "        losses.append(loss.detach())\n"
            "        sizes.append(inputs.shape[0])\n"
            "    weights = torch.tensor(sizes, dtype=losses[0].dtype)\n"
            "    return float((torch.stack(losses) * weights).sum() / weights.sum())\n",
    },
}
