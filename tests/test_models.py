import pytest
import torch

from umalib.models import ARCHS, build_model


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("channels,size,classes", [(1, 28, 10), (3, 32, 7)])
def test_shapes(arch, channels, size, classes):
    width = 4 if arch != "cnn" else 4
    m = build_model(arch, in_channels=channels, num_classes=classes, image_size=size,
                    mean=[0.5] * channels, std=[0.25] * channels, width=width).eval()
    x = torch.rand(2, channels, size, size)
    out = m(x)
    assert out.shape == (2, classes)
    assert m.features(x).shape[0] == 2


def test_normalisation_is_inside():
    m = build_model("cnn", in_channels=1, num_classes=3, image_size=8, mean=[0.5], std=[0.25], width=2).eval()
    x = torch.rand(3, 1, 8, 8)
    z = (x - 0.5) / 0.25
    assert torch.allclose(m.normalize(x), z)
    assert torch.allclose(m(x), m.fc(m.body(z)))


def test_errors():
    with pytest.raises(ValueError, match="model.arch"):
        build_model("vgg", in_channels=1, num_classes=2, image_size=8, mean=[0], std=[1])
    with pytest.raises(ValueError, match="mean/std"):
        build_model("cnn", in_channels=3, num_classes=2, image_size=8, mean=[0], std=[1])
