"""A smoothed bigram model over the same tokens, the yardstick in every model card.

Jelinek-Mercer smoothing: ``P(w | v) = lam * c(v, w) / c(v) + (1 - lam) * P_add1(w)``, with
``lam`` picked on the dev split. It is scored on exactly the tokens the GPT-2 is scored on
(each test line after its tag), so the two perplexities compare like for like.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field


@dataclass
class Bigram:
    vocab_size: int
    unigrams: Counter = field(default_factory=Counter)
    bigrams: dict = field(default_factory=lambda: defaultdict(Counter))
    lam: float = 0.8
    total: int = 0
    row_totals: dict = field(default_factory=dict)

    def fit(self, sequences: list[list[int]]) -> Bigram:
        for ids in sequences:
            self.unigrams.update(ids[1:])
            for prev, token in itertools.pairwise(ids):
                self.bigrams[prev][token] += 1
        self.total = sum(self.unigrams.values())
        self.row_totals = {prev: sum(row.values()) for prev, row in self.bigrams.items()}
        return self

    def logprob(self, prev: int, token: int) -> float:
        unigram = (self.unigrams[token] + 1) / (self.total + self.vocab_size)
        following = self.bigrams.get(prev)
        if not following:
            return math.log(unigram)
        bigram = following[token] / self.row_totals[prev]
        return math.log(self.lam * bigram + (1 - self.lam) * unigram)

    def nll(self, ids: list[int]) -> tuple[float, int]:
        """Summed negative log-likelihood of ids[1:] and how many tokens that is."""
        return -sum(self.logprob(p, t) for p, t in itertools.pairwise(ids)), len(ids) - 1

    def tune(self, dev: list[list[int]]) -> float:
        """Pick lambda on the dev sequences; returns the chosen value."""
        best = (math.inf, self.lam)
        for lam in (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95):
            self.lam = lam
            total, count = 0.0, 0
            for ids in dev:
                nll, n = self.nll(ids)
                total, count = total + nll, count + n
            best = min(best, (total / max(count, 1), lam))
        self.lam = best[1]
        return self.lam
