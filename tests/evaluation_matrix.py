"""The tiny hand-checked prediction matrix the evaluation tests share.

3 models (costs 1, 2, 4 per request) x 4 prompts: P(success), cost per request, true score.
"""

import numpy as np

P = np.array([
    [0.90, 0.20, 0.60, 0.10],
    [0.95, 0.70, 0.40, 0.30],
    [0.99, 0.80, 0.90, 0.50],
])
COST = np.repeat(np.array([[1.0], [2.0], [4.0]]), 4, axis=1)
SCORE = np.array([
    [1.0, 0.0, 1.0, 0.0],
    [1.0, 1.0, 0.0, 0.0],
    [1.0, 1.0, 1.0, 0.0],
])
