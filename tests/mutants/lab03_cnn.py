"""Wrong and alternative solutions to lab 03's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "conv_im2col": {
        "wrong": [
            ("rows ordered kernel offset first, channel last (not the order weight.reshape(C_out, -1) uses)",
             "def im2col(x, kernel_size, stride=1, padding=0):\n"
             "    n, c, h, w = x.shape\n"
             "    k = kernel_size\n"
             "    h_out = (h + 2 * padding - k) // stride + 1\n"
             "    w_out = (w + 2 * padding - k) // stride + 1\n"
             "    x = F.pad(x, (padding, padding, padding, padding))\n"
             "    columns = x.new_empty(n, k, k, c, h_out, w_out)\n"
             "    for u in range(k):\n"
             "        for v in range(k):\n"
             "            columns[:, u, v] = x[:, :, u:u + stride * (h_out - 1) + 1:stride,\n"
             "                                 v:v + stride * (w_out - 1) + 1:stride]\n"
             "    return columns.reshape(n, c * k * k, h_out * w_out)\n"),
            ("slices with step 1 instead of the stride (right only for stride 1)",
             "def im2col(x, kernel_size, stride=1, padding=0):\n"
             "    n, c, h, w = x.shape\n"
             "    k = kernel_size\n"
             "    h_out = (h + 2 * padding - k) // stride + 1\n"
             "    w_out = (w + 2 * padding - k) // stride + 1\n"
             "    x = F.pad(x, (padding, padding, padding, padding))\n"
             "    columns = x.new_empty(n, c, k, k, h_out, w_out)\n"
             "    for u in range(k):\n"
             "        for v in range(k):\n"
             "            columns[:, :, u, v] = x[:, :, u:u + h_out, v:v + w_out]\n"
             "    return columns.reshape(n, c * k * k, h_out * w_out)\n"),
            ("library shortcut: F.unfold",
             "def im2col(x, kernel_size, stride=1, padding=0):\n"
             "    return F.unfold(x, kernel_size, padding=padding, stride=stride)\n"),
        ],
        "alternative":
            "def im2col(x, kernel_size, stride=1, padding=0):\n"
            "    # Tensor.unfold (allowed): sliding windows along rows, then along columns\n"
            "    n, c = x.shape[:2]\n"
            "    k = kernel_size\n"
            "    padded = torch.nn.functional.pad(x, [padding] * 4)\n"
            "    windows = padded.unfold(2, k, stride).unfold(3, k, stride)     # (N, C, H_out, W_out, k, k)\n"
            "    h_out, w_out = windows.shape[2], windows.shape[3]\n"
            "    return windows.permute(0, 1, 4, 5, 2, 3).reshape(n, c * k * k, h_out * w_out)\n",
    },
    "conv_backward": {
        "wrong": [
            ("col2im assigns instead of adding: overlapping windows lose all but one copy's gradient",
             "def conv2d_backward(x, weight, grad_out, stride=1, padding=0):\n"
             "    n, c_in, h, w = x.shape\n"
             "    c_out, _, k, _ = weight.shape\n"
             "    h_out, w_out = grad_out.shape[-2:]\n"
             "    g = grad_out.reshape(n, c_out, h_out * w_out)\n"
             "    columns = F.unfold(x, k, padding=padding, stride=stride)\n"
             "    grad_weight = (g @ columns.transpose(1, 2)).sum(dim=0).reshape(weight.shape)\n"
             "    grad_bias = g.sum(dim=(0, 2))\n"
             "    grad_columns = (weight.reshape(c_out, -1).T @ g).reshape(n, c_in, k, k, h_out, w_out)\n"
             "    grad_padded = x.new_zeros(n, c_in, h + 2 * padding, w + 2 * padding)\n"
             "    for u in range(k):\n"
             "        for v in range(k):\n"
             "            grad_padded[:, :, u:u + stride * (h_out - 1) + 1:stride,\n"
             "                              v:v + stride * (w_out - 1) + 1:stride] = grad_columns[:, :, u, v]\n"
             "    grad_x = grad_padded[:, :, padding:padding + h, padding:padding + w]\n"
             "    return grad_x, grad_weight, grad_bias\n"),
            ("averages the filter and bias gradients over the batch instead of summing",
             "def conv2d_backward(x, weight, grad_out, stride=1, padding=0):\n"
             "    n, c_in, h, w = x.shape\n"
             "    c_out, _, k, _ = weight.shape\n"
             "    h_out, w_out = grad_out.shape[-2:]\n"
             "    g = grad_out.reshape(n, c_out, h_out * w_out)\n"
             "    columns = F.unfold(x, k, padding=padding, stride=stride)\n"
             "    grad_weight = (g @ columns.transpose(1, 2)).mean(dim=0).reshape(weight.shape)\n"
             "    grad_bias = g.sum(dim=2).mean(dim=0)\n"
             "    grad_columns = (weight.reshape(c_out, -1).T @ g).reshape(n, c_in, k, k, h_out, w_out)\n"
             "    grad_padded = x.new_zeros(n, c_in, h + 2 * padding, w + 2 * padding)\n"
             "    for u in range(k):\n"
             "        for v in range(k):\n"
             "            grad_padded[:, :, u:u + stride * (h_out - 1) + 1:stride,\n"
             "                              v:v + stride * (w_out - 1) + 1:stride] += grad_columns[:, :, u, v]\n"
             "    grad_x = grad_padded[:, :, padding:padding + h, padding:padding + w]\n"
             "    return grad_x, grad_weight, grad_bias\n"),
            ("library shortcut: autograd (.backward)",
             "def conv2d_backward(x, weight, grad_out, stride=1, padding=0):\n"
             "    x = x.detach().clone().requires_grad_(True)\n"
             "    weight = weight.detach().clone().requires_grad_(True)\n"
             "    bias = torch.zeros(weight.shape[0], dtype=x.dtype, requires_grad=True)\n"
             "    (F.conv2d(x, weight, bias, stride=stride, padding=padding) * grad_out).sum().backward()\n"
             "    return x.grad, weight.grad, bias.grad\n"),
        ],
        "alternative":
            "def conv2d_backward(x, weight, grad_out, stride=1, padding=0):\n"
            "    # einsum for the parameter gradients; col2im by scattering each output position's window back\n"
            "    n, c_in, h, w = x.shape\n"
            "    c_out, _, k, _ = weight.shape\n"
            "    h_out, w_out = grad_out.shape[-2:]\n"
            "    padded = torch.nn.functional.pad(x, (padding, padding, padding, padding))\n"
            "    grad_weight = torch.zeros_like(weight)\n"
            "    grad_padded = torch.zeros_like(padded)\n"
            "    for i in range(h_out):\n"
            "        for j in range(w_out):\n"
            "            window = padded[:, :, i * stride:i * stride + k, j * stride:j * stride + k]\n"
            "            g_ij = grad_out[:, :, i, j]                                   # (N, C_out)\n"
            "            grad_weight += torch.einsum('no,ncuv->ocuv', g_ij, window)\n"
            "            grad_padded[:, :, i * stride:i * stride + k, j * stride:j * stride + k] += \\\n"
            "                torch.einsum('no,ocuv->ncuv', g_ij, weight)\n"
            "    grad_bias = grad_out.sum(dim=(0, 2, 3))\n"
            "    return grad_padded[:, :, padding:padding + h, padding:padding + w], grad_weight, grad_bias\n",
    },
    "max_pool": {
        "wrong": [
            ("forgets to crop: fails when k does not divide the side (7 x 9 with k = 2)",
             "def max_pool2d(x, k):\n"
             "    n, c, h, w = x.shape\n"
             "    return x.reshape(n, c, h // k, k, w // k, k).amax(dim=(3, 5))\n"),
            ("reshapes in the wrong order: pools pixels k rows apart instead of k x k blocks",
             "def max_pool2d(x, k):\n"
             "    n, c, h, w = x.shape\n"
             "    h_out, w_out = h // k, w // k\n"
             "    blocks = x[:, :, :h_out * k, :w_out * k].reshape(n, c, k, h_out, k, w_out)\n"
             "    return blocks.amax(dim=(2, 4))\n"),
            ("library shortcut: F.max_pool2d",
             "def max_pool2d(x, k):\n"
             "    return F.max_pool2d(x, k)\n"),
        ],
        "alternative":
            "def max_pool2d(x, k):\n"
            "    # non-overlapping windows with Tensor.unfold (allowed), then the max over each window\n"
            "    windows = x.unfold(2, k, k).unfold(3, k, k)          # (N, C, H // k, W // k, k, k)\n"
            "    return windows.amax(dim=(-2, -1))\n",
    },
    "arch_shapes": {
        "wrong": [
            ("forgets the padding in the convolution's output size",
             "def shapes_and_params(layers, input_shape):\n"
             "    shape, total, shapes = tuple(input_shape), 0, []\n"
             "    for layer in layers:\n"
             "        if layer[0] == 'conv':\n"
             "            _, c_out, k, stride, padding = layer\n"
             "            c_in, h, w = shape\n"
             "            total += c_out * c_in * k * k + c_out\n"
             "            shape = (c_out, (h - k) // stride + 1, (w - k) // stride + 1)\n"
             "        elif layer[0] == 'pool':\n"
             "            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])\n"
             "        elif layer[0] == 'flatten':\n"
             "            shape = (shape[0] * shape[1] * shape[2],)\n"
             "        elif layer[0] == 'linear':\n"
             "            total += layer[1] * shape[0] + layer[1]\n"
             "            shape = (layer[1],)\n"
             "        shapes.append(shape)\n"
             "    return shapes, total\n"),
            ("forgets the biases in the parameter count",
             "def shapes_and_params(layers, input_shape):\n"
             "    shape, total, shapes = tuple(input_shape), 0, []\n"
             "    for layer in layers:\n"
             "        if layer[0] == 'conv':\n"
             "            _, c_out, k, stride, padding = layer\n"
             "            c_in, h, w = shape\n"
             "            total += c_out * c_in * k * k\n"
             "            shape = (c_out, (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1)\n"
             "        elif layer[0] == 'pool':\n"
             "            shape = (shape[0], shape[1] // layer[1], shape[2] // layer[1])\n"
             "        elif layer[0] == 'flatten':\n"
             "            shape = (shape[0] * shape[1] * shape[2],)\n"
             "        elif layer[0] == 'linear':\n"
             "            total += layer[1] * shape[0]\n"
             "            shape = (layer[1],)\n"
             "        shapes.append(shape)\n"
             "    return shapes, total\n"),
            ("library shortcut: builds the torch.nn layers and runs them",
             "def shapes_and_params(layers, input_shape):\n"
             "    h, shapes, total = torch.zeros(1, *input_shape), [], 0\n"
             "    for layer in layers:\n"
             "        if layer[0] == 'conv':\n"
             "            module = nn.Conv2d(h.shape[1], layer[1], layer[2], stride=layer[3], padding=layer[4])\n"
             "        elif layer[0] == 'pool':\n"
             "            module = nn.MaxPool2d(layer[1])\n"
             "        elif layer[0] == 'relu':\n"
             "            module = nn.ReLU()\n"
             "        elif layer[0] == 'flatten':\n"
             "            module = nn.Flatten()\n"
             "        else:\n"
             "            module = nn.Linear(h.shape[1], layer[1])\n"
             "        h = module(h)\n"
             "        shapes.append(tuple(h.shape[1:]))\n"
             "        total += sum(p.numel() for p in module.parameters())\n"
             "    return shapes, total\n"),
        ],
        "alternative":
            "def shapes_and_params(layers, input_shape):\n"
            "    # the output-size formula written out, math.prod for flatten, a dict of handlers\n"
            "    def side(n, k, s, p):\n"
            "        return (n + 2 * p - k) // s + 1\n"
            "\n"
            "    c, h, w = input_shape\n"
            "    flat = None\n"
            "    shapes, total = [], 0\n"
            "    for layer in layers:\n"
            "        kind = layer[0]\n"
            "        if kind == 'conv':\n"
            "            total += layer[1] * (c * layer[2] ** 2 + 1)\n"
            "            c, h, w = layer[1], side(h, layer[2], layer[3], layer[4]), side(w, layer[2], layer[3], layer[4])\n"
            "        elif kind == 'pool':\n"
            "            h, w = side(h, layer[1], layer[1], 0), side(w, layer[1], layer[1], 0)\n"
            "        elif kind == 'flatten':\n"
            "            flat = math.prod((c, h, w))\n"
            "        elif kind == 'linear':\n"
            "            total += (flat + 1) * layer[1]\n"
            "            flat = layer[1]\n"
            "        shapes.append((flat,) if flat is not None else (c, h, w))\n"
            "    return shapes, total\n",
    },
}
