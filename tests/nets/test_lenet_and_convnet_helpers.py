"""LeNet at MNIST / CIFAR-10 and ConvNet at Fashion-MNIST: layer-by-layer parameter counts."""

import pytest

from nets import NetConfig, create_model_helper


def _lenet_params(height, width, channels, filters=(32, 64), units=256, nb_classes=10):
    """conv5x5 'same' + bias, 2x2 'same' max-pools (ceil), then two Dense layers with bias."""
    conv1 = 5 * 5 * channels * filters[0] + filters[0]
    conv2 = 5 * 5 * filters[0] * filters[1] + filters[1]
    pooled = -(-height // 4) * -(-width // 4) * filters[1]
    return conv1 + conv2 + (pooled * units + units) + (units * nb_classes + nb_classes)


@pytest.mark.parametrize("name, shape", [("lenet_at_mnist", (28, 28, 1)),
                                         ("lenet_at_cifar10", (32, 32, 3))])
def test_lenet_parameter_count(name, shape):
    model = create_model_helper(name, NetConfig()).build_model(shape, 10)
    assert model.count_params() == _lenet_params(*shape)


def test_lenet_mnist_count_written_out():
    model = create_model_helper("lenet_at_mnist", NetConfig()).build_model((28, 28, 1), 10)
    # conv1 5*5*1*32+32 = 832; conv2 5*5*32*64+64 = 51,264; fc3 7*7*64*256+256 = 803,072;
    # logits 256*10+10 = 2,570.
    assert model.count_params() == 832 + 51_264 + 803_072 + 2_570 == 857_738


def test_convnet_parameter_count_and_layers():
    helper = create_model_helper("convnet_at_fmnist", NetConfig())
    model = helper.build_model((28, 28, 1), 10)
    assert helper.model_name == "convnet"
    # As LeNet but a 1024-unit hidden layer: 832 + 51,264 + (3136*1024 + 1024) + 10,250.
    assert model.count_params() == _lenet_params(28, 28, 1, units=1024) == 3_274_634
    assert model.get_layer("fc3").units == 1024


def test_lenet_helpers_share_defaults_but_not_datasets():
    mnist = create_model_helper("lenet_at_mnist", NetConfig())
    cifar = create_model_helper("lenet_at_cifar10", NetConfig())
    assert (mnist.default_dataset, cifar.default_dataset) == ("mnist", "cifar10")
    assert mnist.train_defaults() == cifar.train_defaults()
    assert mnist.train_defaults().decay_rates == (1.0, 0.1, 0.01, 0.001)


@pytest.mark.parametrize("name, shape", [("lenet_at_mnist", (28, 28, 1)),
                                         ("lenet_at_cifar10", (32, 32, 3)),
                                         ("convnet_at_fmnist", (28, 28, 1))])
def test_tiny_variants(name, shape):
    model = create_model_helper(name, NetConfig(tiny=True)).build_model(shape, 10)
    assert model.count_params() == _lenet_params(*shape, filters=(4, 8), units=16)
