"""sparsegnn.nn.packed: oneDNN-packed linear maps for CPU inference against torch.nn.Linear."""

from __future__ import annotations

import pytest
import torch

from sparsegnn.data import sbm
from sparsegnn.nn import GCN, MLP, LayerStack
from sparsegnn.nn.packed import PackedLinear, onednn_linear_available, pack_linears


@pytest.mark.parametrize("shape", [(37, 24), (0, 24), (3, 5, 24)])
@pytest.mark.parametrize("bias", [True, False])
def test_packed_linear_equals_linear(shape, bias):
    torch.manual_seed(0)
    lin = torch.nn.Linear(24, 40, bias=bias)
    packed = PackedLinear(lin)
    assert (packed.packed is not None) == onednn_linear_available()
    x = torch.randn(*shape)
    with torch.inference_mode():
        got = packed(x)
    assert got.shape == (*shape[:-1], 40)
    torch.testing.assert_close(got, lin(x).detach(), rtol=1e-5, atol=1e-5)


def test_packed_linear_falls_back_where_onednn_cannot_take_the_input():
    torch.manual_seed(0)
    lin = torch.nn.Linear(8, 3).double()
    packed = PackedLinear(lin)
    assert packed.packed is None and "F.linear" in repr(packed)
    x = torch.randn(5, 8, dtype=torch.float64)
    assert torch.equal(packed(x), lin(x))
    lin32 = torch.nn.Linear(8, 3)
    packed32 = PackedLinear(lin32)
    x32 = torch.randn(5, 8, requires_grad=True)
    out = packed32(x32)  # autograd records: F.linear, so gradients flow
    out.sum().backward()
    torch.testing.assert_close(x32.grad, lin32.weight.sum(0).expand(5, 8))


@pytest.mark.parametrize("model_cls", [GCN, MLP])
def test_pack_linears_keeps_the_model_output(model_cls):
    data = sbm(200, 3, 6.0, homophily=0.9, num_features=16, seed=0)
    torch.manual_seed(0)
    model: LayerStack = model_cls(16, 32, 3, num_layers=2, dropout=0.5).eval()
    packed = pack_linears(model)
    assert packed is not model and not any(isinstance(m, torch.nn.Linear) for m in packed.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in model.modules())  # the original is untouched
    assert packed.state_dict().keys() == model.state_dict().keys()
    with torch.inference_mode():
        torch.testing.assert_close(packed(data.x, data.graph), model(data.x, data.graph), rtol=1e-4, atol=1e-5)
    assert pack_linears(model, inplace=True) is model


def test_pack_linears_errors():
    with pytest.raises(ValueError, match="model: expected an eval-mode"):
        pack_linears(MLP(4, 8, 2))
    with pytest.raises(ValueError, match="still lazy"):
        pack_linears(MLP(-1, 8, 2).eval())
    with pytest.raises(ValueError, match="lin: expected a torch.nn.Linear"):
        PackedLinear(torch.nn.ReLU())
