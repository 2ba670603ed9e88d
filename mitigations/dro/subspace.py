"""The low-dimensional refusal subspace and the two 4->1 probes on it (methods.md 2.1, steps 3-4).

PCA gives the mean and the top-m directions V_m of the anchor hidden states; Gram-Schmidt on random vectors
completes V_m to an orthonormal basis [V_m, V_perp] of the whole space, so z = V^T (h - mu) splits into the part DRO
steers (z_m) and the part it must leave alone (z_perp). The probes are logistic regressions on z_m: refusal (target:
soft compliance label, so w_r points toward compliance) and harmfulness (target: 1 for harmless).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Subspace:
    mean: "object"  # (d,)
    basis: "object"  # (d, d) orthonormal columns; the first `m` span the PCA subspace
    m: int

    def coordinates(self, hidden):
        """z = V^T (h - mu) for a batch (n, d) -> (n, d)."""
        return (hidden - self.mean) @ self.basis

    def split(self, hidden):
        z = self.coordinates(hidden)
        return z[:, :self.m], z[:, self.m:]


@dataclass
class Probe:
    """sigma(w . z_m + b)."""

    weight: "object"  # (m,)
    bias: float
    epochs: tuple[int, ...] = ()  # epochs each cross-validation fold ran before early stopping

    def probability(self, z_m):
        import torch

        return torch.sigmoid(z_m @ self.weight + self.bias)


def complete_basis(top, seed: int = 0):
    """Orthonormal (d, d) matrix whose first columns are `top` (d, m, orthonormal), by Gram-Schmidt.

    Random candidates are orthogonalised twice against everything kept so far (classical Gram-Schmidt loses
    orthogonality in float32 otherwise); near-dependent ones are skipped.
    """
    import torch

    d, m = top.shape
    generator = torch.Generator().manual_seed(seed)
    columns = [top[:, i].double() for i in range(m)]
    while len(columns) < d:
        candidate = torch.randn(d, generator=generator, dtype=torch.float64)
        for _ in range(2):
            for column in columns:
                candidate = candidate - (candidate @ column) * column
        norm = candidate.norm()
        if norm > 1e-6:
            columns.append(candidate / norm)
    return torch.stack(columns, dim=1).to(top.dtype)


def fit_subspace(hidden, m: int = 4, seed: int = 0) -> Subspace:
    """PCA with `m` components on the anchors (rows of `hidden`), completed to a full orthonormal basis."""
    import torch

    hidden = hidden.float()
    if hidden.shape[0] <= m or hidden.shape[1] <= m:
        raise ValueError(f"PCA with {m} components needs more than {m} anchors and dimensions, got "
                         f"{tuple(hidden.shape)}")
    mean = hidden.mean(dim=0)
    _, _, vh = torch.linalg.svd((hidden - mean).double(), full_matrices=False)
    top = vh[:m].T.float()
    return Subspace(mean=mean, basis=complete_basis(top, seed=seed), m=m)


@dataclass(frozen=True)
class ProbeTraining:
    """Full-batch AdamW, early stop after `patience` epochs without a `min_delta` drop in held-out BCE."""

    lr: float = 1e-4
    max_epochs: int = 10_000
    patience: int = 3
    min_delta: float = 1e-4
    folds: int = 10
    seed: int = 0


def fit_probe(z_m, target, training: ProbeTraining = ProbeTraining()) -> Probe:
    """Logistic regression of soft `target` in [0, 1] on z_m; weights averaged over k-fold runs.

    Each fold trains on the other folds and early-stops on its own held-out BCE, so the averaged probe never sees
    a stopping signal from its training rows.
    """
    import torch

    n = z_m.shape[0]
    folds = min(training.folds, n)
    if folds < 2:
        raise ValueError(f"probe training needs at least 2 rows for cross-validation, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(training.seed))
    weights, biases, epochs = [], [], []
    for fold in range(folds):
        held = order[fold::folds]
        kept = torch.ones(n, dtype=torch.bool)
        kept[held] = False
        weight, bias, ran = _fit_fold(z_m[kept], target[kept], z_m[held], target[held], training, seed=fold)
        weights.append(weight)
        biases.append(bias)
        epochs.append(ran)
    return Probe(weight=torch.stack(weights).mean(dim=0), bias=float(torch.tensor(biases).mean()),
                 epochs=tuple(epochs))


def _fit_fold(z_train, y_train, z_held, y_held, training: ProbeTraining, seed: int):
    import torch

    torch.manual_seed(training.seed * 1000 + seed)
    layer = torch.nn.Linear(z_train.shape[1], 1)
    optimiser = torch.optim.AdamW(layer.parameters(), lr=training.lr)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    best, since_best, epoch = float("inf"), 0, 0
    for epoch in range(1, training.max_epochs + 1):
        optimiser.zero_grad()
        bce(layer(z_train).squeeze(-1), y_train).backward()
        optimiser.step()
        with torch.no_grad():
            held_loss = float(bce(layer(z_held).squeeze(-1), y_held))
        if held_loss < best - training.min_delta:
            best, since_best = held_loss, 0
        else:
            since_best += 1
            if since_best >= training.patience:
                break
    return layer.weight.detach().squeeze(0).clone(), float(layer.bias.detach()), epoch
