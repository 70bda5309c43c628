"""Image encoders: torchvision's architectures and parameter names, feature maps, weight loading."""

from __future__ import annotations

import pytest
import torch

from recon.models.encoders import (
    ENCODERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    VGG16,
    build_encoder,
    load_pretrained,
    normalize_images,
)

# Parameters of torchvision's convolutional parts: the published totals less the classifier head
# (VGG-16 138,357,544 less 123,642,856 in classifier; ResNet-18 11,689,512, ResNet-34 21,797,672 less
# fc 512 * 1000 + 1000; ResNet-50 25,557,032 less fc 2048 * 1000 + 1000), vgg16_bn adds 2 * 4224 BN.
PARAMS = {
    "vgg16": 14_714_688,
    "vgg16_bn": 14_723_136,
    "resnet18": 11_176_512,
    "resnet34": 21_284_672,
    "resnet50": 23_508_032,
}
# Tensors in torchvision's state dicts less the head's: VGG 13 convs x 2 (+ 13 BN x 5 for vgg16_bn); ResNet
# 20 / 36 / 53 convs and as many BN (weight, bias, running mean and var, num_batches_tracked).
STATE_KEYS = {"vgg16": 26, "vgg16_bn": 91, "resnet18": 120, "resnet34": 216, "resnet50": 318}
VGG_CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision's vgg16().features indices
CHANNELS = {
    "vgg16": [64, 128, 256, 512, 512],
    "vgg16_bn": [64, 128, 256, 512, 512],
    "resnet18": [64, 64, 128, 256, 512],
    "resnet34": [64, 64, 128, 256, 512],
    "resnet50": [64, 256, 512, 1024, 2048],
}
HEADS = {  # classifier head keys of torchvision's files (small fake shapes: they are skipped)
    "vgg": {"classifier.0.weight": (8, 16), "classifier.0.bias": (8,), "classifier.6.bias": (1000,)},
    "resnet": {"fc.weight": (1000, 8), "fc.bias": (1000,)},
}


def _encoder(name: str, seed: int = 0):
    torch.manual_seed(seed)
    return build_encoder(name)


def _images(b: int, size: int, seed: int = 1) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return normalize_images(torch.rand(b, 3, size, size, generator=g))


@pytest.mark.parametrize(
    "name,size", [("vgg16", 224), ("resnet18", 224), ("vgg16_bn", 64), ("resnet34", 64), ("resnet50", 64)]
)
def test_maps_channels_strides(name, size):
    enc = _encoder(name).eval()
    with torch.no_grad():
        maps = enc(_images(2, size))
    assert enc.channels == CHANNELS[name]
    assert enc.strides == ([1, 2, 4, 8, 16] if name.startswith("vgg") else [2, 4, 8, 16, 32])
    assert [tuple(m.shape) for m in maps] == [
        (2, c, size // s, size // s) for c, s in zip(enc.channels, enc.strides, strict=True)
    ]
    assert all(bool((m >= 0).all()) for m in maps)  # every returned map is after a ReLU


@pytest.mark.parametrize("name", list(ENCODERS))
def test_parameter_counts_and_names(name):
    enc = build_encoder(name)
    assert sum(p.numel() for p in enc.parameters()) == PARAMS[name]
    keys = list(enc.state_dict())
    assert len(keys) == STATE_KEYS[name]
    if name.startswith("vgg"):
        convs = sorted({int(k.split(".")[1]) for k, v in enc.state_dict().items() if v.ndim == 4})
        # vgg16_bn: every earlier conv adds a BatchNorm2d layer (0, 3, 7, 10, 14, 17, 20, 24, ...)
        assert convs == (VGG_CONVS if name == "vgg16" else [i + n for n, i in enumerate(VGG_CONVS)])
    else:
        expected = [
            "conv1.weight",
            "bn1.running_var",
            "layer1.0.conv1.weight",
            "layer2.0.downsample.0.weight",
        ]
        expected += ["layer2.0.downsample.1.running_mean", "layer4.1.bn2.bias"]
        if name == "resnet50":
            expected += ["layer1.0.downsample.0.weight", "layer1.0.conv3.weight", "layer4.2.bn3.weight"]
        assert set(expected) <= set(keys)
        assert not any(k.startswith(("fc.", "avgpool")) for k in keys)


def test_vgg_bn_conv_indices():
    enc = build_encoder("vgg16", batch_norm=True)
    assert enc.batch_norm
    assert isinstance(enc.features[1], torch.nn.BatchNorm2d) and len(enc.features) == 44
    assert enc.taps == [5, 12, 22, 32, 42] and all(
        isinstance(enc.features[i], torch.nn.ReLU) for i in enc.taps
    )
    assert [i for i, m in enumerate(enc.features) if isinstance(m, torch.nn.MaxPool2d)] == [6, 13, 23, 33, 43]


def test_vgg_taps_are_block_ends():
    """The returned maps are features[: i + 1](x) for i = 3, 8, 15, 22, 29 (conv1_2 .. conv5_3 + ReLU)."""
    enc = VGG16().eval()
    assert enc.taps == [3, 8, 15, 22, 29]
    x = _images(2, 32)
    with torch.no_grad():
        maps = enc(x)
        for m, i in zip(maps, [3, 8, 15, 22, 29], strict=True):
            assert isinstance(enc.features[i], torch.nn.ReLU)
            torch.testing.assert_close(m, enc.features[: i + 1](x))


def _fake_torchvision_file(enc, name, path, wrap=None, drop=(), prefix=""):
    state = {k: v.clone() for k, v in enc.state_dict().items() if k not in drop}  # plain dict, no metadata
    for k, shape in HEADS["vgg" if name.startswith("vgg") else "resnet"].items():
        state[k] = torch.randn(shape) if len(shape) == 1 else torch.zeros(shape)
    state = {prefix + k: v for k, v in state.items()}
    torch.save(state if wrap is None else {wrap: state, "epoch": 3}, path)
    return path


@pytest.mark.parametrize(
    "name,wrap,prefix",
    [
        ("vgg16_bn", None, ""),
        ("resnet18", "state_dict", ""),
        ("resnet18", "model", "module."),
    ],
)
def test_load_torchvision_state_dict(tmp_path, name, wrap, prefix):
    src = _encoder(name, seed=0)
    with torch.no_grad():  # non-default BN statistics, so buffers are checked too
        for m in src.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
                m.num_batches_tracked.fill_(7)
    path = _fake_torchvision_file(src, name, tmp_path / "w.pth", wrap=wrap, prefix=prefix)
    torch.manual_seed(1)
    dst = build_encoder(name, pretrained=path)
    assert dst.state_dict().keys() == src.state_dict().keys()
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    dst2 = build_encoder(name)
    assert load_pretrained(dst2, path) == sorted(HEADS["vgg" if name.startswith("vgg") else "resnet"])


def test_load_old_file_without_num_batches_tracked(tmp_path):
    src = _encoder("resnet18")
    drop = [k for k in src.state_dict() if k.endswith("num_batches_tracked")]
    path = _fake_torchvision_file(src, "resnet18", tmp_path / "w.pth", drop=drop)
    dst = build_encoder("resnet18", pretrained=path)
    torch.testing.assert_close(dst.conv1.weight, src.conv1.weight, rtol=0, atol=0)


def test_load_errors(tmp_path):
    """Files that do not fit raise ValueError naming keys: missing (first 10), unexpected, wrong shapes."""
    src = _encoder("resnet18")
    missing = _fake_torchvision_file(
        src, "resnet18", tmp_path / "m.pth", drop=["layer2.0.downsample.0.weight"]
    )
    with pytest.raises(
        ValueError, match=r"missing keys \['layer2.0.downsample.0.weight'\], unexpected keys \[\]"
    ):
        build_encoder("resnet18", pretrained=missing)
    with pytest.raises(
        ValueError, match=r"missing keys \['layer1.2.conv1.weight', .*\(81 in all\)\], unexpected"
    ):
        build_encoder("resnet34", pretrained=missing)  # a ResNet-18 file: 8 blocks x 10 keys + 1 missing
    bn_file = _fake_torchvision_file(_encoder("vgg16_bn"), "vgg16_bn", tmp_path / "b.pth")
    with pytest.raises(ValueError, match=r"unexpected keys \[.*'features.1.running_mean'"):
        build_encoder("vgg16", pretrained=bn_file)
    state = dict(src.state_dict())
    state["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    torch.save(state, tmp_path / "s.pth")
    with pytest.raises(
        ValueError, match=r"keys \[\], .* shapes .*'conv1.weight \(64, 3, 3, 3\) vs \(64, 3, 7, 7\)'"
    ):
        build_encoder("resnet18", pretrained=tmp_path / "s.pth")
    with pytest.raises(FileNotFoundError):
        build_encoder("resnet18", pretrained=tmp_path / "nope.pth")
    with pytest.raises(ValueError, match="unknown encoder 'vgg19'"):
        build_encoder("vgg19")


@pytest.mark.parametrize("name", ["vgg16", "resnet18"])
def test_gradients_and_determinism(name):
    enc, again = _encoder(name), _encoder(name)
    for (k, a), b in zip(enc.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    x = _images(2, 32)
    with torch.no_grad():
        for a, b in zip(enc.eval()(x), again.eval()(x), strict=True):
            assert torch.equal(a, b)
    enc.train()
    maps, glob = enc(x), enc.global_features(x)
    assert glob.shape == (2, enc.channels[-1])
    torch.testing.assert_close(glob, maps[-1].mean((2, 3)))
    loss = sum(m.square().mean() for m in maps) + glob.sum()
    loss.backward()
    first = enc.features[0] if name == "vgg16" else enc.conv1
    assert first.weight.grad is not None
    assert torch.isfinite(first.weight.grad).all() and first.weight.grad.abs().sum() > 0
    assert all(p.grad is not None for p in enc.parameters())


@pytest.mark.parametrize("name", ["vgg16_bn", "resnet18"])
def test_batch_norm_train_vs_eval(name):
    """Train mode normalizes with the batch's statistics and updates the running ones; eval mode uses them."""
    enc = _encoder(name)
    x = _images(2, 32)
    y = torch.cat([x[:1], 2 * x[1:]])  # the same first image next to another second one
    bn = next(m for m in enc.modules() if isinstance(m, torch.nn.BatchNorm2d))
    with torch.no_grad():
        enc.train()
        out_x, out_y = enc(x)[-1][0], enc(y)[-1][0]
        assert not torch.allclose(out_x, out_y)  # the first image's features depend on the second
        assert int(bn.num_batches_tracked) == 2 and bool(bn.running_mean.abs().sum() > 0)
        stats = bn.running_mean.clone()
        enc.eval()
        torch.testing.assert_close(enc(x)[-1][0], enc(y)[-1][0])  # running statistics: independent
        assert torch.equal(bn.running_mean, stats) and int(bn.num_batches_tracked) == 2


def test_normalize_images():
    g = torch.Generator().manual_seed(0)
    rgb = torch.rand(2, 3, 5, 6, generator=g)
    out = normalize_images(rgb)
    assert out.shape == (2, 3, 5, 6) and out.dtype == torch.float32
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(out, (rgb - mean) / std)
    torch.testing.assert_close(normalize_images(rgb.permute(0, 2, 3, 1)), out)  # channels-last
    rgba = torch.cat([rgb, torch.zeros(2, 1, 5, 6)], 1).permute(0, 2, 3, 1)  # fully transparent
    torch.testing.assert_close(normalize_images(rgba), ((1 - mean) / std).expand(2, 3, 5, 6))
    rgba[..., 3] = 1  # opaque
    torch.testing.assert_close(normalize_images(rgba), out)
    torch.testing.assert_close(normalize_images(rgba, background=0.0), out)
    for bad in (torch.rand(3, 5, 6), torch.rand(2, 2, 5, 5), (rgb * 255).to(torch.uint8)):
        with pytest.raises(ValueError):
            normalize_images(bad)


def test_vgg_fc6_fc7_are_torchvision_classifier_0_and_3(tmp_path):
    """``fc=True`` builds fc6 and fc7 under torchvision's names: its files load them, less classifier.6."""
    enc = build_encoder("vgg16", fc=True)
    # torchvision's vgg16: 138,357,544 parameters, less classifier.6 (4096 * 1000 + 1000).
    assert sum(p.numel() for p in enc.parameters()) == 138_357_544 - 4_097_000
    shapes = {k: tuple(v.shape) for k, v in enc.state_dict().items() if k.startswith("classifier.")}
    assert shapes == {
        "classifier.0.weight": (4096, 25088),
        "classifier.0.bias": (4096,),
        "classifier.3.weight": (4096, 4096),
        "classifier.3.bias": (4096,),
    }
    assert enc.global_channels == 4096 and enc.head_prefixes == ("classifier.6.",)
    state = dict(enc.state_dict())
    state["classifier.6.weight"], state["classifier.6.bias"] = torch.zeros(1000, 4096), torch.zeros(1000)
    with torch.no_grad():
        state["classifier.3.bias"] = torch.arange(4096.0)
    torch.save(state, tmp_path / "vgg16.pth")
    loaded = build_encoder("vgg16", fc=True)
    assert load_pretrained(loaded, tmp_path / "vgg16.pth") == ["classifier.6.bias", "classifier.6.weight"]
    assert torch.equal(loaded.classifier[3].bias, torch.arange(4096.0))
    assert torch.equal(loaded.classifier[0].weight, enc.classifier[0].weight)
    plain = build_encoder("vgg16")  # without fc6 and fc7 the whole classifier is skipped
    assert load_pretrained(plain, tmp_path / "vgg16.pth")[:2] == ["classifier.0.bias", "classifier.0.weight"]
    with pytest.raises(ValueError, match="only VGG"):
        build_encoder("resnet18", fc=True)


def test_vgg_fc_global_vector_is_fc7_of_pool5():
    enc = build_encoder("vgg16", fc=True).eval()
    x = _images(2, 64)
    with torch.no_grad():
        maps = enc(x)
        glob = enc.global_vector(maps)
        pool5 = torch.nn.functional.max_pool2d(maps[-1], 2)  # (2, 512, 2, 2) for 64 px
        flat = torch.nn.functional.adaptive_avg_pool2d(pool5, 7).flatten(1)
        fc6 = torch.relu(flat @ enc.classifier[0].weight.T + enc.classifier[0].bias)
        fc7 = torch.relu(fc6 @ enc.classifier[3].weight.T + enc.classifier[3].bias)
    assert glob.shape == (2, 4096)
    torch.testing.assert_close(glob, fc7)
    torch.testing.assert_close(enc.global_features(x), glob)
    assert build_encoder("vgg16").global_channels == 512  # without fc: conv5_3 averaged
