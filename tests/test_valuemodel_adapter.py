"""Residual query adapter: zero-initialised offset, padding mask, output shape."""

import torch

from valuemodel.adapter import AdapterConfig, QueryAdapter


def make(token_dim: int = 0, pooled_skip: bool = False) -> QueryAdapter:
    torch.manual_seed(0)
    cfg = AdapterConfig(hidden_size=32, n_queries=3, dim=16, n_heads=4, bottleneck=8, token_dim=token_dim, pooled_skip=pooled_skip)
    return QueryAdapter(cfg).eval()


def test_zero_init_offset_gives_the_static_queries():
    adapter = make()
    pooled = torch.randn(5, 32)
    q = adapter.query_vectors(pooled)  # (5, K, d)
    assert q.shape == (5, 3, 16)
    assert torch.equal(q, adapter.queries.unsqueeze(0).expand(5, -1, -1))
    # hence, at init, the features do not depend on the pooled embedding at all
    tokens, mask = torch.randn(2, 7, 32), torch.ones(2, 7, dtype=torch.bool)
    a = adapter(tokens, mask, torch.randn(2, 32))
    b = adapter(tokens, mask, torch.randn(2, 32))
    assert torch.equal(a, b)


def test_offset_moves_the_queries_once_trained():
    adapter = make()
    torch.nn.init.normal_(adapter.offset[2].weight)
    pooled = torch.randn(2, 32)
    assert not torch.allclose(adapter.query_vectors(pooled), adapter.queries.unsqueeze(0).expand(2, -1, -1))


def test_output_shape_and_padding_is_ignored():
    adapter = make(token_dim=8, pooled_skip=True)
    tokens = torch.randn(1, 5, 32)
    pooled = torch.randn(1, 32)
    out = adapter(tokens, torch.ones(1, 5, dtype=torch.bool), pooled)
    assert out.shape == (1, 3 * 16)
    padded = torch.cat([tokens, 100 * torch.randn(1, 4, 32)], dim=1)  # garbage padding
    mask = torch.tensor([[True] * 5 + [False] * 4])
    torch.testing.assert_close(adapter(padded, mask, pooled), out)
    projected = adapter.project_tokens(tokens)  # (1, 5, 8)
    torch.testing.assert_close(adapter(projected, mask[:, :5], pooled, projected=True), out)
    adapter.train()  # training path: explicit projection instead of the fused inference weights
    torch.testing.assert_close(adapter(tokens, mask[:, :5], pooled), out)
