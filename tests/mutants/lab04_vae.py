"""Wrong and alternative solutions to lab 04's exercises, graded for real by tests/test_exercise_mutants.py."""

MUTANTS = {
    "vae_reparameterize": {
        "wrong": [
            ("the articles' version: z = mu + exp(0.5 * logvar), the noise left out",
             "def reparameterize(mu, logvar, eps):\n"
             "    return mu + torch.exp(0.5 * logvar)\n"),
            ("scales the noise by the variance exp(logvar) instead of the standard deviation",
             "def reparameterize(mu, logvar, eps):\n"
             "    return mu + torch.exp(logvar) * eps\n"),
            ("computes z in NumPy: the right values, but no gradient reaches mu and logvar",
             "def reparameterize(mu, logvar, eps):\n"
             "    z = mu.detach().numpy() + np.exp(0.5 * logvar.detach().numpy()) * eps.numpy()\n"
             "    return torch.as_tensor(z)\n"),
            ("library shortcut: torch.distributions.Normal(...).rsample()",
             "def reparameterize(mu, logvar, eps):\n"
             "    return torch.distributions.Normal(mu, torch.exp(0.5 * logvar)).rsample()\n"),
        ],
        "alternative":
            "def reparameterize(mu, logvar, eps):\n"
            "    # sigma as the square root of the variance\n"
            "    sigma = torch.sqrt(logvar.exp())\n"
            "    return torch.addcmul(mu, sigma, eps)\n",
    },
    "vae_gaussian_kl": {
        "wrong": [
            ("sign flipped: returns -KL, the form that appears in the ELBO",
             "def gaussian_kl(mu, logvar):\n"
             "    return -0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum(dim=1)\n"),
            ("reads logvar as log sigma: exp(2 logvar) and 2 logvar (right only at logvar = 0)",
             "def gaussian_kl(mu, logvar):\n"
             "    return 0.5 * (mu ** 2 + torch.exp(2 * logvar) - 2 * logvar - 1).sum(dim=1)\n"),
            ("averages over the coordinates instead of summing",
             "def gaussian_kl(mu, logvar):\n"
             "    return 0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).mean(dim=1)\n"),
            ("library shortcut: torch.distributions.kl_divergence",
             "def gaussian_kl(mu, logvar):\n"
             "    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))\n"
             "    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))\n"
             "    return torch.distributions.kl_divergence(q, p).sum(dim=1)\n"),
        ],
        "alternative":
            "def gaussian_kl(mu, logvar):\n"
            "    # per coordinate: -log sigma + (sigma^2 + mu^2) / 2 - 1/2, then a sum over the columns\n"
            "    log_sigma = 0.5 * logvar\n"
            "    per_coordinate = -log_sigma + 0.5 * (torch.exp(2 * log_sigma) + mu * mu) - 0.5\n"
            "    return per_coordinate @ torch.ones(mu.shape[1], dtype=mu.dtype)\n",
    },
    "vae_negative_elbo": {
        "wrong": [
            ("BCE averaged over the pixels (reduction='mean'): the reconstruction term 1/784 of its size",
             "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
             "    recon = F.binary_cross_entropy_with_logits(logits, x)\n"
             "    kl = (0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum(dim=1)).mean()\n"
             "    return {'loss': recon + beta * kl, 'recon': recon, 'kl': kl}\n"),
            ("beta weighs the reconstruction term instead of the KL term",
             "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
             "    recon = F.binary_cross_entropy_with_logits(logits, x, reduction='sum') / len(x)\n"
             "    kl = 0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum() / len(x)\n"
             "    return {'loss': beta * recon + kl, 'recon': recon, 'kl': kl}\n"),
            ("the articles' loss: BCE alone, the KL term left out of 'loss'",
             "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
             "    recon = F.binary_cross_entropy_with_logits(logits, x, reduction='sum') / len(x)\n"
             "    kl = 0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum() / len(x)\n"
             "    return {'loss': recon, 'recon': recon, 'kl': kl}\n"),
            ("BCE as log(sigmoid(...)): infinite for logits of +-1000",
             "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
             "    p = torch.sigmoid(logits)\n"
             "    recon = -(x * torch.log(p) + (1 - x) * torch.log(1 - p)).sum() / len(x)\n"
             "    kl = 0.5 * (mu ** 2 + torch.exp(logvar) - logvar - 1).sum() / len(x)\n"
             "    return {'loss': recon + beta * kl, 'recon': recon, 'kl': kl}\n"),
            ("library shortcut: labkit.elbo.bernoulli_nll and labkit.elbo.gaussian_kl",
             "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
             "    recon = labkit.elbo.bernoulli_nll(logits, x).mean()\n"
             "    kl = labkit.elbo.gaussian_kl(mu, logvar).mean()\n"
             "    return {'loss': recon + beta * kl, 'recon': recon, 'kl': kl}\n"),
        ],
        "alternative":
            "def negative_elbo_loss(logits, x, mu, logvar, beta=1.0):\n"
            "    # BCE with logits written out: softplus(l) - x * l, stable for any l\n"
            "    per_image_recon = (F.softplus(logits) - x * logits).flatten(1).sum(dim=1)\n"
            "    per_image_kl = 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(dim=1)\n"
            "    recon, kl = per_image_recon.mean(), per_image_kl.mean()\n"
            "    return dict(recon=recon, kl=kl, loss=recon + beta * kl)\n",
    },
    "vae_log_mean_exp": {
        "wrong": [
            ("computed as written, log(mean(exp(a))): -inf or inf for values around -1000 or 1000",
             "def log_mean_exp(a):\n"
             "    return torch.log(torch.exp(a).mean(dim=1))\n"),
            ("a log-sum-exp, not a log-mean-exp: forgets the - log K",
             "def log_mean_exp(a):\n"
             "    m = a.max(dim=1, keepdim=True).values\n"
             "    return m.squeeze(1) + torch.log(torch.exp(a - m).sum(dim=1))\n"),
            ("subtracts the maximum but forgets to add it back",
             "def log_mean_exp(a):\n"
             "    m = a.max(dim=1, keepdim=True).values\n"
             "    return torch.log(torch.exp(a - m).mean(dim=1))\n"),
            ("library shortcut: torch.logsumexp",
             "def log_mean_exp(a):\n"
             "    return torch.logsumexp(a, dim=1) - math.log(a.shape[1])\n"),
        ],
        "alternative":
            "def log_mean_exp(a):\n"
            "    # accumulate column by column with logaddexp (allowed), then divide by K\n"
            "    total = a[:, 0]\n"
            "    for k in range(1, a.shape[1]):\n"
            "        total = torch.logaddexp(total, a[:, k])\n"
            "    return total - math.log(a.shape[1])\n",
    },
}
