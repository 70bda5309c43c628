"""3D-R2N2 against the released code (chrischoy/3D-R2N2 at 13a30e257cb2158c3bf5c2370d791073517ad22e).

Line numbers below are of that commit: ``res_gru_net.py`` is ``models/res_gru_net.py``, ``layers.py``
``lib/layers.py``, ``config.py`` ``lib/config.py``, ``data_augmentation.py`` ``lib/data_augmentation.py``.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from recon.models.method import method_config
from recon.models.r2n2 import GRU3d, LSTM3d, R2N2Net
from recon.models.r2n2.augment import draw_augmentation, prepare_views
from recon.models.r2n2.decoder import unpool3d
from recon.seeding import rng

EXPERIMENTS = Path(__file__).resolve().parents[3] / "config" / "experiments"

IMG = 127  # config.py:19-20 (CONST.IMG_W, IMG_H)
N_CONV = [96, 128, 256, 256, 256, 256]  # res_gru_net.py:27
N_FC = 1024  # res_gru_net.py:28
N_DECONV = [128, 128, 128, 64, 32, 2]  # res_gru_net.py:29
N_GRU_VOX = 4  # res_gru_net.py:24


def _pooled(size: int) -> int:
    """PoolLayer's output side (layers.py:338-345: 2x2, padding 1, ignore_border)."""
    return (size + 2 * 1 - 2) // 2 + 1


def _released_layers() -> dict[str, list[tuple[int, ...]]]:
    """Parameter shapes of ResidualGRUNet's layers, from their definitions (res_gru_net.py:33-76, 165-197)."""

    def conv(out, inp, k):  # ConvLayer: W (out, in, k, k), b (out,) (layers.py:276-280)
        return [(out, inp, k, k), (out,)]

    def conv3d(out, inp, k):  # Conv3DLayer: W (out, k, in, k, k), b (out,) (layers.py:394-408)
        return [(out, k, inp, k, k), (out,)]

    def fcconv3d(fc_in, ch):  # FCConv3DLayer: Wh (out, 3, in, 3, 3), Wx, b (out,) (layers.py:452-479)
        return [(ch, 3, ch, 3, 3), (fc_in, N_GRU_VOX * ch * N_GRU_VOX * N_GRU_VOX), (ch,)]

    side = IMG
    for _ in range(6):  # pool1 .. pool6 (res_gru_net.py:36, 41, 46, 50, 55, 59)
        side = _pooled(side)
    c = N_CONV
    return {
        "encoder.conv1a": conv(c[0], 3, 7),  # res_gru_net.py:34
        "encoder.conv1b": conv(c[0], c[0], 3),  # res_gru_net.py:35
        "encoder.conv2a": conv(c[1], c[0], 3),  # res_gru_net.py:38
        "encoder.conv2b": conv(c[1], c[1], 3),  # res_gru_net.py:39
        "encoder.conv2c": conv(c[1], c[0], 1),  # res_gru_net.py:40
        "encoder.conv3a": conv(c[2], c[1], 3),  # res_gru_net.py:43
        "encoder.conv3b": conv(c[2], c[2], 3),  # res_gru_net.py:44
        "encoder.conv3c": conv(c[2], c[1], 1),  # res_gru_net.py:45
        "encoder.conv4a": conv(c[3], c[2], 3),  # res_gru_net.py:48
        "encoder.conv4b": conv(c[3], c[3], 3),  # res_gru_net.py:49
        "encoder.conv5a": conv(c[4], c[3], 3),  # res_gru_net.py:52
        "encoder.conv5b": conv(c[4], c[4], 3),  # res_gru_net.py:53
        "encoder.conv5c": conv(c[4], c[3], 1),  # res_gru_net.py:54
        "encoder.conv6a": conv(c[5], c[4], 3),  # res_gru_net.py:57
        "encoder.conv6b": conv(c[5], c[5], 3),  # res_gru_net.py:58
        # TensorProductLayer of the flattened pool6: W (n_in, n_out), b (n_out,) (layers.py:141-143)
        "encoder.fc7": [(c[5] * side * side, N_FC), (N_FC,)],  # res_gru_net.py:61-62
        "recurrent.update": fcconv3d(N_FC, N_DECONV[0]),  # res_gru_net.py:70
        "recurrent.reset": fcconv3d(N_FC, N_DECONV[0]),  # res_gru_net.py:71
        "recurrent.candidate": fcconv3d(N_FC, N_DECONV[0]),  # res_gru_net.py:76
        "decoder.conv7a": conv3d(N_DECONV[1], N_DECONV[0], 3),  # res_gru_net.py:167
        "decoder.conv7b": conv3d(N_DECONV[1], N_DECONV[1], 3),  # res_gru_net.py:169
        "decoder.conv8a": conv3d(N_DECONV[2], N_DECONV[1], 3),  # res_gru_net.py:174
        "decoder.conv8b": conv3d(N_DECONV[2], N_DECONV[2], 3),  # res_gru_net.py:176
        "decoder.conv9a": conv3d(N_DECONV[3], N_DECONV[2], 3),  # res_gru_net.py:181
        "decoder.conv9b": conv3d(N_DECONV[3], N_DECONV[3], 3),  # res_gru_net.py:183
        "decoder.conv9c": conv3d(N_DECONV[3], N_DECONV[2], 1),  # res_gru_net.py:186
        "decoder.conv10a": conv3d(N_DECONV[4], N_DECONV[3], 3),  # res_gru_net.py:189
        "decoder.conv10b": conv3d(N_DECONV[4], N_DECONV[4], 3),  # res_gru_net.py:191
        "decoder.conv10c": conv3d(N_DECONV[4], N_DECONV[4], 3),  # res_gru_net.py:194 (of rect10a)
        "decoder.conv11": conv3d(N_DECONV[5], N_DECONV[4], 3),  # res_gru_net.py:197
    }


def _shapenet_config():
    from recon.train import resolve_experiment

    return resolve_experiment(EXPERIMENTS / "r2n2_shapenet.yaml")[1]


def test_r2n2_shapenet_has_the_released_parameters_layer_by_layer():
    released = _released_layers()
    net = R2N2Net(_shapenet_config())
    ours: dict[str, int] = {}
    for name, p in net.named_parameters():
        layer = name.rsplit(".", 1)[0].removesuffix(".fc").removesuffix(".conv")
        ours[layer] = ours.get(layer, 0) + p.numel()
    expected = {name: sum(math.prod(s) for s in shapes) for name, shapes in released.items()}
    assert ours == expected
    total = sum(expected.values())
    assert sum(p.numel() for p in net.parameters()) == total
    assert 35_000_000 < total < 37_000_000  # the sum is of the list above, this only bounds it


def test_unpooling_puts_each_cell_where_the_release_does():
    x = torch.arange(1, 2 * 3 * 2 * 2 * 2 + 1, dtype=torch.float32).view(2, 3, 2, 2, 2)
    out = unpool3d(x)
    # Unpool3DLayer.set_output (layers.py:371-386) on its (B, D, C, H, W) layout, padding 0.
    theano = x.permute(0, 2, 1, 3, 4).numpy()
    expected = np.zeros((2, 4, 3, 4, 4), np.float32)
    expected[:, 0:4:2, :, 0:4:2, 0:4:2] = theano
    assert out.shape == (2, 3, 4, 4, 4)
    assert np.array_equal(out.permute(0, 2, 1, 3, 4).numpy(), expected)
    assert int((out != 0).sum()) == x.numel() and float(out[0, 0, 1, 0, 0]) == 0.0
    assert torch.equal(unpool3d(x.contiguous(memory_format=torch.channels_last_3d)), out)


def _conv3d_same(h: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(C, n, n, n) correlated with (O, C, k, k, k) over a zero padding of k // 2, plus (O,) bias."""
    k = w.shape[-1]
    n = h.shape[-1]
    p = np.pad(h, ((0, 0),) + ((k // 2, k // 2),) * 3)
    out = np.zeros((w.shape[0], n, n, n))
    for i in range(n):
        for j in range(n):
            for m in range(n):
                patch = p[:, i : i + k, j : j + k, m : m + k]
                out[:, i, j, m] = np.tensordot(w, patch, axes=4)
    return out + b[:, None, None, None]


def _gate(module, x: np.ndarray, h: np.ndarray) -> np.ndarray:
    """FCConv3DLayer by hand (layers.py:488-505): fc(x) on the grid + conv(h) + bias."""
    fc = (module.fc.weight.detach().numpy().astype(np.float64) @ x).reshape(h.shape)
    conv = module.conv
    return fc + _conv3d_same(h, conv.weight.detach().numpy().astype(np.float64), conv.bias.detach().numpy())


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_gru_and_lstm_gates_against_a_hand_computation():
    torch.manual_seed(0)
    gru = GRU3d(feature_dim=5, hidden=2, kernel=3)
    for p in gru.parameters():
        torch.nn.init.normal_(p, std=0.5)
    x = np.random.default_rng(0).normal(size=5)
    h = np.random.default_rng(1).normal(size=(2, 4, 4, 4))
    got = gru.step(torch.tensor(x[None], dtype=torch.float32), torch.tensor(h[None], dtype=torch.float32))
    # res_gru_net.py:130-151: u = sigmoid(U), r = sigmoid(R), out = u h + (1 - u) tanh(C(x, r h)).
    u = _sigmoid(_gate(gru.update, x, h))
    r = _sigmoid(_gate(gru.reset, x, h))
    expected = u * h + (1 - u) * np.tanh(_gate(gru.candidate, x, r * h))
    assert np.allclose(got[0].detach().numpy(), expected, atol=1e-5)
    # From a zero state (the release's first view), the update gate scales the candidate alone.
    zero = np.zeros_like(h)
    first = gru(torch.tensor(x[None, None], dtype=torch.float32))[0].detach().numpy()
    u0 = _sigmoid(_gate(gru.update, x, zero))
    assert np.allclose(first, (1 - u0) * np.tanh(_gate(gru.candidate, x, zero)), atol=1e-5)

    lstm = LSTM3d(feature_dim=5, hidden=2, kernel=3)
    for p in lstm.parameters():
        torch.nn.init.normal_(p, std=0.5)
    s = np.random.default_rng(2).normal(size=(2, 4, 4, 4))
    th, ts = (torch.tensor(a[None], dtype=torch.float32) for a in (h, s))
    got_h, got_s = lstm.step(torch.tensor(x[None], dtype=torch.float32), th, ts)
    # The paper's 3D LSTM (imgs/lstm.png): no output gate, h = tanh(s).
    f, i = _sigmoid(_gate(lstm.forget, x, h)), _sigmoid(_gate(lstm.input, x, h))
    s_new = f * s + i * np.tanh(_gate(lstm.candidate, x, h))
    assert np.allclose(got_s[0].detach().numpy(), s_new, atol=1e-5)
    assert np.allclose(got_h[0].detach().numpy(), np.tanh(s_new), atol=1e-5)


def _released_preprocess(im: np.ndarray, train: bool, color, crop_loc=None, flip=False) -> np.ndarray:
    """preprocess_img (data_augmentation.py:55-70) with its random draws given (colour, crop, flip)."""
    alpha = (np.expand_dims(im[:, :, 3], axis=2) == 0).astype(np.float64)  # :47
    im = alpha * np.array([[color]]) + (1 - alpha) * im[:, :, :3]  # :48-50
    if train:
        cr, cc = crop_loc  # image_transform, :15-20 with PAD_X = PAD_Y = 10 (config.py:63-64)
        im = im[cr : cr + im.shape[0] - 10, cc : cc + im.shape[1] - 10]
        if flip:  # :23-24
            im = im[:, ::-1, ...]
    else:  # crop_center(im, IMG_H, IMG_W), :29-36
        top, left = (im.shape[0] - IMG) // 2, (im.shape[1] - IMG) // 2
        im = im[top : top + IMG, left : left + IMG]
    return (im / 255.0).transpose(2, 0, 1)


def _rgba(seed: int, size: int = 137) -> np.ndarray:
    gen = np.random.default_rng(seed)
    im = gen.integers(0, 256, (size, size, 4), dtype=np.uint8)
    im[..., 3] = gen.choice([0, 0, 90, 255], (size, size))  # background, partial, opaque
    return im


def test_augmentation_does_what_the_release_does_and_is_seeded():
    a, b = draw_augmentation(rng(3, "x"), 200, 10), draw_augmentation(rng(3, "x"), 200, 10)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["crop"], draw_augmentation(rng(4, "x"), 200, 10)["crop"])
    assert a["crop"].min() == 0 and a["crop"].max() == 9  # randint(0, PAD) (data_augmentation.py:13)
    assert a["background"].min() == 225 and a["background"].max() == 255  # config.py:68, inclusive (:40)
    assert 0.35 < a["flip"].mean() < 0.65  # rand() > 0.5 (data_augmentation.py:23)

    images = np.stack([_rgba(0), _rgba(1), _rgba(2)])
    params = draw_augmentation(rng(0, "views"), 3, 10)
    params["flip"][:] = [True, False, True]
    tensors = {k: torch.from_numpy(v) for k, v in params.items()}
    got = prepare_views(torch.from_numpy(images), 10, IMG, **tensors)
    assert got.shape == (3, 3, IMG, IMG) and got.dtype == torch.float32
    for k in range(3):
        color, crop, flip = params["background"][k], params["crop"][k], params["flip"][k]
        expected = _released_preprocess(images[k], True, color, crop, flip)
        assert np.allclose(got[k].numpy(), expected, atol=1e-6)

    test = prepare_views(torch.from_numpy(images), 10, IMG)  # test time: centre crop on grey 240
    for k in range(3):
        expected = _released_preprocess(images[k], False, (240, 240, 240))
        assert np.allclose(test[k].numpy(), expected, atol=1e-6)
    corner = images[0, 5:, 5:][:IMG, :IMG]
    assert np.allclose(test[0, :, corner[..., 3] == 0].numpy(), 240 / 255)


def test_the_shapenet_experiment_trains_with_the_released_schedule():
    from recon.train import resolve_experiment
    from recon.train.optim import lr_factor, make_optimizer

    method, model, train = resolve_experiment(EXPERIMENTS / "r2n2_shapenet.yaml")
    lrs = {s: train.lr * lr_factor(s, train) for s in (0, 19_999, 20_000, 39_999, 40_000, 59_999)}
    # 1e-4, then 1e-5 from iteration 20,000 (config.py:74-77; the 1e-6 at 60,000 is never used).
    expected = {0: 1e-4, 19_999: 1e-4, 20_000: 1e-5, 39_999: 1e-5, 40_000: 1e-5, 59_999: 1e-5}
    assert lrs == pytest.approx(expected)
    assert train.steps == 60_000 and train.optimizer == "adam" and train.weight_decay == 5e-5
    optimizer, _ = make_optimizer(list(method.build(model).parameters()), train)
    decays = {g["weight_decay"]: sum(p.numel() for p in g["params"]) for g in optimizer.param_groups}
    biases = sum(shapes[-1][0] for shapes in _released_layers().values())  # every layer's last is b
    assert decays[0.0] == biases  # biases are not decayed (solver.py:35-38)
    assert set(method.predict_variants(model)) == {f"{k}views" for k in range(1, 6)}


def test_small_networks_run_every_released_variant():
    views = torch.rand(2, 3, 3, 64, 64)
    small = {"image_size": 64, "feature_dim": 32, "hidden": 8, "decoder_dims": [8, 8, 4, 4]}
    paper = {"encoder": "r2n2_shallow", "decoder": "shallow", "recurrent": "lstm", "recurrent_kernel": 1}
    for extra in ({}, paper):
        net = R2N2Net(method_config("r2n2", {**small, **extra}))
        assert net(views).shape == (2, 32, 32, 32)
    # The release's initialization: biases 0.1, weights of standard deviation sqrt(4 / (fan_in + fan_out)).
    w = net.decoder.conv7.weight.detach()
    assert float(net.decoder.conv7.bias.detach()[0]) == pytest.approx(0.1)
    assert float(w.std()) == pytest.approx(math.sqrt(4 / (8 * 27 + 8 * 27)), rel=0.15)
