"""Wrong and alternative solutions to lab 05's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "gan_d_loss": {
        "wrong": [
            ("generated examples labelled real: softplus(-f) instead of softplus(f)",
             "def discriminator_loss(real_logits, fake_logits):\n"
             "    return F.softplus(-real_logits).mean() + F.softplus(-fake_logits).mean()\n"),
            ("one mean over both batches together (wrong when their sizes differ, and half the loss when equal)",
             "def discriminator_loss(real_logits, fake_logits):\n"
             "    return torch.cat([F.softplus(-real_logits), F.softplus(fake_logits)]).mean()\n"),
            ("naive log(sigmoid(.)): -inf for logits of +-100 in float32",
             "def discriminator_loss(real_logits, fake_logits):\n"
             "    return (-torch.log(torch.sigmoid(real_logits)).mean()\n"
             "            - torch.log(1 - torch.sigmoid(fake_logits)).mean())\n"),
            ("library shortcut: F.binary_cross_entropy_with_logits",
             "def discriminator_loss(real_logits, fake_logits):\n"
             "    return (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))\n"
             "            + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))\n"),
        ],
        "alternative":
            "def discriminator_loss(real_logits, fake_logits):\n"
            "    # a stable softplus written out: softplus(t) = max(t, 0) + log(1 + exp(-|t|))\n"
            "    def softplus(t):\n"
            "        return torch.clamp(t, min=0) + torch.log1p(torch.exp(-torch.abs(t)))\n"
            "    return torch.mean(softplus(-real_logits)) + torch.mean(softplus(fake_logits))\n",
    },
    "gan_g_loss": {
        "wrong": [
            ("the saturating minimax loss mean log(1 - D(G(z))) instead of -mean log D(G(z))",
             "def generator_loss(fake_logits):\n"
             "    return -F.softplus(fake_logits).mean()\n"),
            ("sign forgotten: mean log D(G(z))",
             "def generator_loss(fake_logits):\n"
             "    return F.logsigmoid(fake_logits).mean()\n"),
            ("naive -log(sigmoid(.)): inaccurate at -100 in float32",
             "def generator_loss(fake_logits):\n"
             "    return -torch.log(torch.sigmoid(fake_logits)).mean()\n"),
            ("library shortcut: labkit.adversarial.generator_loss",
             "def generator_loss(fake_logits):\n"
             "    return labkit.adversarial.generator_loss(fake_logits)\n"),
        ],
        "alternative":
            "def generator_loss(fake_logits):\n"
            "    # -log sigmoid(f) = softplus(-f)\n"
            "    return F.softplus(-fake_logits).sum() / fake_logits.numel()\n",
    },
    "gan_ring_coverage": {
        "wrong": [
            ("no 3-std cut: every sample counts for its nearest mode",
             "def ring_coverage(samples, centers, std, min_share=0.02):\n"
             "    samples = torch.as_tensor(samples, dtype=torch.float64)\n"
             "    centers = torch.as_tensor(centers, dtype=torch.float64)\n"
             "    nearest = torch.cdist(samples, centers).argmin(dim=1)\n"
             "    counts = torch.bincount(nearest, minlength=len(centers))\n"
             "    return {'counts': counts.tolist(),\n"
             "            'modes_covered': int((counts >= min_share * len(samples)).sum()),\n"
             "            'high_quality': float((counts.sum() / len(samples)).item())}\n"),
            ("min_share taken of the high-quality samples, not of all samples",
             "def ring_coverage(samples, centers, std, min_share=0.02):\n"
             "    samples = torch.as_tensor(samples, dtype=torch.float64)\n"
             "    centers = torch.as_tensor(centers, dtype=torch.float64)\n"
             "    nearest_distance, nearest = torch.cdist(samples, centers).min(dim=1)\n"
             "    good = nearest_distance <= 3 * std\n"
             "    counts = torch.bincount(nearest[good], minlength=len(centers))\n"
             "    return {'counts': counts.tolist(),\n"
             "            'modes_covered': int((counts >= min_share * int(good.sum())).sum()),\n"
             "            'high_quality': float(good.double().mean())}\n"),
            ("within 1 std instead of 3 std",
             "def ring_coverage(samples, centers, std, min_share=0.02):\n"
             "    samples = torch.as_tensor(samples, dtype=torch.float64)\n"
             "    centers = torch.as_tensor(centers, dtype=torch.float64)\n"
             "    nearest_distance, nearest = torch.cdist(samples, centers).min(dim=1)\n"
             "    good = nearest_distance <= std\n"
             "    counts = torch.bincount(nearest[good], minlength=len(centers))\n"
             "    return {'counts': counts.tolist(),\n"
             "            'modes_covered': int((counts >= min_share * len(samples)).sum()),\n"
             "            'high_quality': float(good.double().mean())}\n"),
            ("library shortcut: labkit.metrics.ring_coverage",
             "def ring_coverage(samples, centers, std, min_share=0.02):\n"
             "    result = labkit.metrics.ring_coverage(samples, centers, std, min_share)\n"
             "    return {'counts': list(result['counts']), 'modes_covered': result['modes_covered'],\n"
             "            'high_quality': result['high_quality']}\n"),
        ],
        "alternative":
            "def ring_coverage(samples, centers, std, min_share=0.02):\n"
            "    # NumPy, one mode at a time\n"
            "    points = np.asarray(samples, dtype=np.float64)\n"
            "    centres = np.asarray(centers, dtype=np.float64)\n"
            "    distance = np.linalg.norm(points[:, None, :] - centres[None, :, :], axis=2)\n"
            "    nearest = distance.argmin(axis=1)\n"
            "    good = distance.min(axis=1) <= 3 * std\n"
            "    counts = [int(np.sum(good & (nearest == k))) for k in range(len(centres))]\n"
            "    covered = sum(1 for c in counts if c >= min_share * len(points))\n"
            "    return {'counts': counts, 'modes_covered': covered, 'high_quality': float(np.mean(good))}\n",
    },
    "gan_frechet": {
        "wrong": [
            ("biased covariances (divide by N instead of N - 1)",
             "def frechet_distance(a, b):\n"
             "    a = np.asarray(a, dtype=np.float64)\n"
             "    b = np.asarray(b, dtype=np.float64)\n"
             "    cov_a = np.atleast_2d(np.cov(a, rowvar=False, bias=True))\n"
             "    cov_b = np.atleast_2d(np.cov(b, rowvar=False, bias=True))\n"
             "    eig = np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)\n"
             "    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)\n"
             "                 - 2 * np.sqrt(eig).sum())\n"),
            ("elementwise square root of Sigma_a Sigma_b instead of the matrix square root",
             "def frechet_distance(a, b):\n"
             "    a = np.asarray(a, dtype=np.float64)\n"
             "    b = np.asarray(b, dtype=np.float64)\n"
             "    cov_a = np.atleast_2d(np.cov(a, rowvar=False))\n"
             "    cov_b = np.atleast_2d(np.cov(b, rowvar=False))\n"
             "    cross = np.trace(np.sqrt(np.abs(cov_a @ cov_b)))\n"
             "    return float(((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * cross)\n"),
            ("distance between the means not squared",
             "def frechet_distance(a, b):\n"
             "    a = np.asarray(a, dtype=np.float64)\n"
             "    b = np.asarray(b, dtype=np.float64)\n"
             "    cov_a = np.atleast_2d(np.cov(a, rowvar=False))\n"
             "    cov_b = np.atleast_2d(np.cov(b, rowvar=False))\n"
             "    eig = np.clip(np.linalg.eigvals(cov_a @ cov_b).real, 0, None)\n"
             "    return float(np.linalg.norm(a.mean(0) - b.mean(0)) + np.trace(cov_a) + np.trace(cov_b)\n"
             "                 - 2 * np.sqrt(eig).sum())\n"),
            ("library shortcut: labkit.metrics.frechet_distance",
             "def frechet_distance(a, b):\n"
             "    return labkit.metrics.frechet_distance(a, b)\n"),
        ],
        "alternative":
            "def frechet_distance(a, b):\n"
            "    # torch in float64, with scipy's matrix square root of Sigma_a Sigma_b (real part)\n"
            "    import scipy.linalg\n"
            "    a = torch.as_tensor(a).double()\n"
            "    b = torch.as_tensor(b).double()\n"
            "    cov_a = torch.atleast_2d(torch.cov(a.T))\n"
            "    cov_b = torch.atleast_2d(torch.cov(b.T))\n"
            "    root = scipy.linalg.sqrtm((cov_a @ cov_b).numpy())\n"
            "    cross = float(np.trace(np.real(root)))\n"
            "    mean_term = float(((a.mean(0) - b.mean(0)) ** 2).sum())\n"
            "    return mean_term + float(torch.trace(cov_a) + torch.trace(cov_b)) - 2 * cross\n",
    },
}
