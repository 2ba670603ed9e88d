"""Can a learned head tell partial refusals from full ones where the keyword rules cannot? Leave one file out.

    OMP_NUM_THREADS=1 python benchmarks/judge_partial_heads.py [--data ../shared/data]

For every XSTest completion that the `keyword` judge calls a refusal (full or partial), a logistic head on
all-MiniLM-L6-v2 embeddings decides full vs partial; `comply` verdicts are kept. The head for each file is trained on
the other two files only, so every figure is on a model it never saw. Prints 3-class macro-F1 per held-out file for a
small grid of inputs (the refusal sentence, what follows it, the prompt), weights and thresholds, beside the keyword
rules and the two annotators' agreement with each other. About 4 minutes on one CPU thread (embedding 4 x 1,350 texts).
"""
from __future__ import annotations

import argparse
import itertools
from pathlib import Path

from pytest_overrefusal.judges.embedding import Encoder
from pytest_overrefusal.judges.evaluation import agreement, labelled_files, read_labelled
from pytest_overrefusal.judges.keyword import KeywordJudge
from pytest_overrefusal.judges.keyword_text import normalise as _normalise, sentences as _sentences

PARTIAL_WEIGHT = 3.0  # partial refusals are ~8% of the judge's refusals; weight them up so the head can say "partial"


def split_at_refusal(judge: KeywordJudge, completion: str) -> tuple[str, str]:
    """(opening up to and including the first refusal sentence, everything after it)."""
    sents = _sentences(_normalise(completion))
    first = next((i for i, s in enumerate(sents[:judge.opening_sentences]) if judge._refusal_in(s, i)), 0)
    return " ".join(sents[:first + 1])[:600], " ".join(sents[first + 1:])[:600]


def rows(data_root: Path) -> list[dict]:
    judge = KeywordJudge()
    out = []
    for path in labelled_files([data_root / "xstest" / "model_completions"]):
        data = read_labelled(path)
        for prompt, completion, gold in zip(data.prompts, data.completions, data.gold):
            head, rest = split_at_refusal(judge, completion)
            out.append({"file": path.stem.rsplit("_", 1)[-1], "gold": gold, "prompt": prompt, "head": head,
                        "rest": rest, "keyword": judge.judge_one(completion).label,
                        "annotators": data.annotators})
    return out


def fit_head(x, y, l2: float):
    import torch

    torch.manual_seed(0)
    head = torch.nn.Linear(x.shape[1], 1)
    weight = torch.where(y > 0, PARTIAL_WEIGHT, 1.0)
    optimiser = torch.optim.LBFGS(head.parameters(), max_iter=200)

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(head(x).squeeze(1), y, weight=weight) \
            + l2 * head.weight.pow(2).sum()
        loss.backward()
        return loss
    optimiser.step(closure)
    return head


def main() -> None:
    import torch

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    table = rows(args.data)
    files = sorted({r["file"] for r in table})
    encoder = Encoder()
    embedded = {key: torch.tensor(encoder.encode([r[key] for r in table])) for key in ("prompt", "head", "rest")}

    def per_file(predicted: list[str]) -> list[float]:
        return [agreement([r["gold"] for r in table if r["file"] == f],
                          [p for r, p in zip(table, predicted) if r["file"] == f]).macro_f1 for f in files]

    print("3-class macro-F1 on each held-out file:", " / ".join(files))
    print(f"{'keyword rules':<52}", " / ".join(f"{v:.3f}" for v in per_file([r["keyword"] for r in table])))
    for inputs, l2, threshold in itertools.product((("rest",), ("head", "rest"), ("head", "rest", "prompt")),
                                                   (1e-3, 1e-2), (0.35, 0.5)):
        x = torch.cat([embedded[k] for k in inputs], dim=1)
        predicted = [r["keyword"] for r in table]
        for held_out in files:
            train = [i for i, r in enumerate(table) if r["file"] != held_out and r["keyword"] != "comply"]
            y = torch.tensor([float(table[i]["gold"] == "partial") for i in train])
            head = fit_head(x[train], y, l2)
            test = [i for i, r in enumerate(table) if r["file"] == held_out and r["keyword"] != "comply"]
            with torch.no_grad():
                p = torch.sigmoid(head(x[test]).squeeze(1)).tolist()
            for i, prob in zip(test, p):
                predicted[i] = "partial" if prob > threshold else "refuse"
        label = f"head on {'+'.join(inputs)}, l2 {l2:g}, threshold {threshold}"
        print(f"{label:<52}", " / ".join(f"{v:.3f}" for v in per_file(predicted)))
    humans = []
    for f in files:
        first = next(r["annotators"] for r in table if r["file"] == f)
        humans.append(agreement(*first).macro_f1 if first else float("nan"))
    print(f"{'annotator 1 vs annotator 2':<52}", " / ".join(f"{v:.3f}" for v in humans))


if __name__ == "__main__":
    main()
